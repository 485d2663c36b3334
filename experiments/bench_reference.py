"""Our trackers beside their reference implementations on this machine: ``make bench-reference``.

    python -m experiments.bench_reference                       # SiamRPN++ AlexNet and ResNet-50, SiamFC
    python -m experiments.bench_reference --trackers siamfc --frames 40 --rounds 5

Each tracker runs on the same random weights and the same synthetic 480x640 frames, on the CPU in fp32, one
sequence at a time: ours (``SiamRPNTracker``, ``SiamFCTracker`` with their configs' values and any ``--set``), ours
compiled (the same with ``compile=true``: its search path compiled with frozen weights,
``tracking.inference.rewrites.compile_declared``; ``--no-compiled`` skips it) and the restated reference step
(``tracking.references``: pysot's SiamRPN++ tracker around the same network modules; siamfc-pytorch's
TrackerSiamFC with its own network, loaded with the same weights). The rounds alternate between them, so a change
of the machine's load hits all; each figure is the median over rounds of frames per second.

The FLOP limit: the work of one tracked frame (``torch.utils.flop_counter``: convolutions and matmuls, 2 FLOP per
multiply-add) over the machine's fp32 rate in a large matmul (best of 5 of a 2048x2048 product, measured in every
round beside the trackers, median over the rounds): the FPS a tracker would reach if every frame were spent in the
network at matmul speed. "% of limit" is the measured FPS over that limit.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from experiments import cli
from experiments.bench import device_description, synthetic_frames

SIAMRPN_CONFIGS = {"siamrpn_alex": "siamrpnpp/alex_dwxcorr", "siamrpn_r50": "siamrpnpp/r50_l234_dwxcorr"}
TRACKERS = (*SIAMRPN_CONFIGS, "siamfc")


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """fp32 GFLOP/s of a ``size`` x ``size`` matmul on this machine (best of ``repeats``)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def frame_gflop(update, image) -> float:
    """GFLOP of one ``update(image)`` (convolutions and matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        update(image)
    return counter.get_total_flops() / 1e9


def build_pair(name: str, overrides: dict | None = None):
    """(ours, reference, init box converter for the reference, frame converter for the reference) of one tracker
    on shared random weights; ``overrides``: our tracker's parameters changed (e.g. ``compile``)."""
    import torch

    torch.manual_seed(0)
    if name in SIAMRPN_CONFIGS:
        import types

        from experiments.config_library import resolved_config
        from tracking.models.config import network_config
        from tracking.models.siamrpn import SiamRPN
        from tracking.params import params_dict
        from tracking.references.pysot_siamrpn import ReferenceTracker
        from tracking.trackers.siamrpn import SiamRPNTracker

        config = resolved_config(SIAMRPN_CONFIGS[name]).model.init_args
        model = SiamRPN(network_config(config.network.as_dict())).eval()
        ours = SiamRPNTracker(model, {**config.tracker.as_dict(), **(overrides or {})})
        reference = ReferenceTracker(model, types.SimpleNamespace(**model.config.to_dict(),
                                                                  **params_dict(ours.params)))
        reference.update = reference.track

        def reference_box(box):  # pysot tools/test.py: get_axis_aligned_bbox, then a 0-based corner box
            x, y, w, h = box
            return [x + w / 2 - (w - 1) / 2, y + h / 2 - (h - 1) / 2, w, h]

        return ours, reference, reference_box, lambda image: image[:, :, ::-1].copy()  # pysot reads BGR
    if name == "siamfc":
        from tracking.models.siamfc import SiamFC
        from tracking.references.siamfc_pytorch import ReferenceNet, ReferenceTrackerSiamFC
        from tracking.trackers.siamfc import SiamFCTracker

        reference_net = ReferenceNet().eval()
        network = SiamFC()
        network.load_state_dict(reference_net.state_dict())  # the same key names
        return (SiamFCTracker(network.eval(), overrides), ReferenceTrackerSiamFC(reference_net), lambda box: box,
                lambda image: image)
    raise SystemExit(f"unknown tracker {name!r}: choose from {', '.join(TRACKERS)}")


def time_updates(tracker, frames) -> float:
    """Frames per second of ``tracker.update`` over ``frames``."""
    import torch

    with torch.inference_mode(), np.errstate(all="ignore"):  # random weights can overflow pysot's exp
        start = time.perf_counter()
        for image in frames:
            tracker.update(image)
        return len(frames) / (time.perf_counter() - start)


def compare(name: str, frames, box, rounds: int, overrides: dict | None = None, compiled: bool = True) -> dict:
    """One tracker's row: ours as configured (with ``overrides``), ours with ``compile`` (unless ``compiled`` is
    False or the overrides set it) and the reference, timed in alternating rounds; the matmul rate is measured in
    every round too (the row keeps the median), so the limit is taken under the load the trackers ran under."""
    import torch

    overrides = dict(overrides or {})
    ours, reference, reference_box, reference_frame = build_pair(name, overrides)
    contenders = {"ours": ours, "reference": reference}
    if compiled and not overrides.get("compile"):
        contenders["compiled"] = build_pair(name, {**overrides, "compile": True})[0]  # the same seeded weights
    reference_frames = [reference_frame(image) for image in frames]
    inputs = {key: reference_frames if key == "reference" else frames for key in contenders}
    with torch.inference_mode(), np.errstate(all="ignore"):
        for key, tracker in contenders.items():
            tracker.init(inputs[key][0], reference_box(box) if key == "reference" else np.asarray(box, np.float64))
        gflop = frame_gflop(ours.update, frames[1])
        reference_gflop = frame_gflop(reference.update, reference_frames[1])
        if "compiled" in contenders:
            contenders["compiled"].update(frames[1])  # it compiles the search branch here, outside the timing
    fps, rates = {key: [] for key in contenders}, []
    for _ in range(rounds):
        rates.append(matmul_gflops())
        for key, tracker in contenders.items():
            fps[key].append(time_updates(tracker, inputs[key][2:]))
    median = {key: statistics.median(values) for key, values in fps.items()}
    peak = statistics.median(rates)
    row = {"tracker": name, "matmul_gflops": peak, "ours_fps": median["ours"], "reference_fps": median["reference"],
           "ratio": median["ours"] / median["reference"], "gflop_per_frame": gflop,
           "reference_gflop_per_frame": reference_gflop, "limit_fps": peak / gflop,
           "ours_of_limit": median["ours"] * gflop / peak,
           "reference_of_limit": median["reference"] * reference_gflop / peak}
    if "compiled" in median:
        row.update(compiled_fps=median["compiled"], compiled_ratio=median["compiled"] / median["reference"],
                   compiled_of_limit=median["compiled"] * gflop / peak)
    return row


def format_rows(rows: list[dict]) -> str:
    """One line per implementation: ours, ours compiled (when timed), the reference."""
    header = ("tracker", "implementation", "FPS", "x reference", "GFLOP/frame", "limit FPS", "% of limit")
    lines = ["  ".join(f"{h:>14}" for h in header)]
    for row in rows:
        entries = [("ours", row["ours_fps"], row["gflop_per_frame"])]
        if "compiled_fps" in row:
            entries.append(("ours compiled", row["compiled_fps"], row["gflop_per_frame"]))
        entries.append(("reference", row["reference_fps"], row["reference_gflop_per_frame"]))
        for implementation, fps, gflop in entries:
            values = (row["tracker"], implementation, f"{fps:.2f}", f"{fps / row['reference_fps']:.2f}x",
                      f"{gflop:.1f}", f"{row['matmul_gflops'] / gflop:.2f}",
                      f"{100 * fps * gflop / row['matmul_gflops']:.0f}")
            lines.append("  ".join(f"{v:>14}" for v in values))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trackers", nargs="+", default=list(TRACKERS), choices=TRACKERS)
    parser.add_argument("--frames", type=int, default=20, help="timed frames per round (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per tracker (default 3)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="one of our trackers' parameters changed, e.g. --set compile=true (repeatable)")
    parser.add_argument("--no-compiled", action="store_true",
                        help="skip the compiled variant of our trackers (compile=true: a compilation per tracker)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return parser


def main(argv=None) -> list[dict]:
    args = build_parser().parse_args(argv)
    import torch
    from tqdm.auto import tqdm

    if args.frames < 1 or args.rounds < 1:
        raise SystemExit("--frames and --rounds must be positive")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    print(f"device: {device_description(device)}; fp32")
    from lightning_modules.checkpoints import parse_overrides

    overrides = parse_overrides(args.overrides)
    if overrides:
        print(f"our trackers' parameters changed: {overrides}")
    frames, box = synthetic_frames(2 + args.frames)
    rows = [compare(name, frames, box, args.rounds, overrides, not args.no_compiled)
            for name in tqdm(args.trackers, desc="bench-reference")]
    print(format_rows(rows))
    rates = ", ".join(f"{row['tracker']} {row['matmul_gflops']:.0f}" for row in rows)
    print(f"large-matmul rate (GFLOP/s, median over each tracker's rounds): {rates}")
    return rows


if __name__ == "__main__":
    cli.run(main)
