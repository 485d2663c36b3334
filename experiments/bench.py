"""Speed of the suite's models on this machine: tracker FPS and training throughput: ``make bench``.

    python -m experiments.bench                                          # every packaged config
    python -m experiments.bench --configs siamrpnpp/demo siamrpnpp/alex_dwxcorr --device cpu --frames 50
    python -m experiments.bench --configs siamrpnpp/r50_l234_dwxcorr --device cuda --precision fp32

Each config (``experiments/configs/<paper>/<variant>.yaml``) is built as ``experiments.train`` builds it, with
random weights (nothing is downloaded; speed does not depend on them). Tracker FPS: each of the model's trackers
(``--trackers``, default its main one), batch 1, on a synthetic 480x640 sequence, end to end per frame (search
crop, network, decoding); the template is set once and ``--warmup`` frames run before the clock starts.
With ``--batches 8 32`` (the default) also the frames per second of that many sequences tracked in lockstep
(one network call per frame step; ``make eval-* BATCH=N``). Training throughput: pairs per second of the module's own ``training_step`` run by a Lightning ``Trainer``
(forward, losses, backward, gradient clipping, SGD step) on random batches of the model's training crop sizes,
with the backbone in its fine-tuning state where the config fine-tunes it (the slower part of the schedule).
On a GPU the network runs under bf16 autocast unless ``--precision fp32``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from experiments import cli

PRECISIONS = ("bf16", "fp32")


@dataclass
class BenchResult:
    model: str
    tracker: str
    parameters_m: float
    tracker_fps: float
    ms_per_frame: float
    frames: int
    train_pairs_per_s: float
    batch_size: int
    train_steps: int
    batched_fps: dict = field(default_factory=dict)  # sequences in lockstep -> frames/s over all of them


def device_description(device) -> str:
    import torch

    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        return f"cuda: {properties.name} ({properties.total_memory / 2**30:.0f} GiB), torch {torch.__version__}"
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {name}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def with_precision_value(module, tracker_name: str, precision: str, overrides: dict) -> dict:
    """``overrides`` with the bench's ``precision`` as the tracker's ``precision`` value
    (``tracking.inference.precision``: it warns where bf16 is emulated), for trackers that have one (a
    ``--set precision=...`` wins)."""
    fields = {field.name for field in dataclasses.fields(module.tracker_params(tracker_name))}
    return {"precision": precision, **overrides} if "precision" in fields else dict(overrides)


def _synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synthetic_frames(count: int, size=(480, 640), seed: int = 0):
    """A synthetic sequence (frames, first box); at most 60 distinct frames, cycled when more are asked for."""
    from tracking.synthetic.video import generate_video

    video = generate_video(seed, num_frames=min(count, 60), size=size, difficulty="easy", name="bench")
    frames = [video.frames[i % len(video.frames)] for i in range(count)]
    return frames, video.boxes[0]


def bench_tracker(tracker, device, frames, box, warmup: int) -> tuple[float, int]:
    """(seconds, frames timed): ``update`` over ``frames[1 + warmup:]`` after init and ``warmup`` updates."""
    tracker.init(frames[0], box)
    for image in frames[1:1 + warmup]:
        tracker.update(image)
    timed = frames[1 + warmup:]
    _synchronize(device)
    start = time.perf_counter()
    for image in timed:
        tracker.update(image)  # returns a numpy box: the GPU has finished the frame
    _synchronize(device)
    return time.perf_counter() - start, len(timed)


def bench_lockstep(tracker, batch: int, device, frames, box, steps: int, warmup: int) -> float:
    """Frames per second of ``batch`` sequences tracked in lockstep (``tracker.batched``: one network call per
    frame step), NaN when the tracker has no batched step."""
    batched = tracker.batched(batch) if hasattr(tracker, "batched") else None
    if batched is None:
        return float("nan")
    slots = list(range(batch))
    for slot in slots:
        batched.init_slot(slot, frames[0], box)
    images = frames[1:]
    for step in range(warmup):
        batched.update_slots(slots, [images[step % len(images)]] * batch)
    _synchronize(device)
    start = time.perf_counter()
    for step in range(steps):
        batched.update_slots(slots, [images[(warmup + step) % len(images)]] * batch)
    _synchronize(device)
    return batch * steps / (time.perf_counter() - start)


def random_batch(crops: dict, batch_size: int, generator):
    """Random pairs in the pair data module's layout at the model's ``training_crops()`` sizes: targets near
    the search center, 20% negative pairs."""
    import torch

    search, exemplar = crops["search_size"], crops["template_size"]
    size = 40 + 80 * torch.rand(batch_size, 2, generator=generator)
    center = search / 2 + 64 * (torch.rand(batch_size, 2, generator=generator) - 0.5)
    box = torch.cat([center - size / 2, center + size / 2], dim=1).clamp(0, search)
    return {"template": 255 * torch.rand(batch_size, 3, exemplar, exemplar, generator=generator),
            "search": 255 * torch.rand(batch_size, 3, search, search, generator=generator),
            "search_box": box, "negative": torch.rand(batch_size, generator=generator) < 0.2}


class _RandomPairs:
    """A map-style dataset of ``count`` fixed random batches (cycled), so loading costs nothing."""

    def __init__(self, crops: dict, batch_size: int, count: int):
        import torch

        generator = torch.Generator().manual_seed(0)
        self.batches = [random_batch(crops, batch_size, generator) for _ in range(2)]
        self.count = count

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        return self.batches[index % len(self.batches)]


def bench_training(module, callbacks, device, precision: str, batch_size: int, steps: int, warmup: int) -> float:
    """Training pairs per second of ``module.training_step`` under a Lightning ``Trainer`` (see the docstring);
    ``callbacks``: the config's, whose ``BackboneUnfreeze`` says which backbone groups the schedule trains."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    from callbacks.backbone_unfreeze import BackboneUnfreeze
    from callbacks.channels_last import ChannelsLast

    class StepClock(pl.Callback):
        def __init__(self):
            self.start = None

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if batch_idx == warmup:
                _synchronize(device)
                self.start = time.perf_counter()

    # the fine-tuning state of the config's schedule: every backbone group it ever trains, at its scale
    unfreeze = [c for c in callbacks if isinstance(c, BackboneUnfreeze)]
    layers = tuple(layer for c in unfreeze for layer in c.layers)
    module.set_trainable_backbone_layers(layers, unfreeze[0].lr_scale if unfreeze else 1.0)
    clock = StepClock()
    extra = [ChannelsLast()] if device.type == "cuda" else []  # bf16 + channels-last on GPUs
    trainer = pl.Trainer(accelerator=device.type if device.type == "cuda" else "cpu", devices=1,
                         precision="bf16-mixed" if precision == "bf16" else "32-true", max_steps=warmup + steps,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, gradient_clip_val=10.0, callbacks=[clock, *extra],
                         num_sanity_val_steps=0, limit_val_batches=0)
    loader = DataLoader(_RandomPairs(module.training_crops(), batch_size, warmup + steps), batch_size=None)
    trainer.fit(module, loader)
    _synchronize(device)
    return batch_size * steps / (time.perf_counter() - clock.start)


def format_results(results: list[BenchResult]) -> str:
    from tracking.evaluation.report import format_table

    rows = []
    for r in results:
        row = {"Model": r.model, "Tracker": r.tracker, "Params (M)": r.parameters_m, "Tracker FPS": r.tracker_fps,
               "ms/frame": r.ms_per_frame}
        row.update({f"frames/s B={batch}": fps for batch, fps in r.batched_fps.items() if batch != 1})
        row.update({"Train pairs/s": r.train_pairs_per_s, "Batch": r.batch_size})
        rows.append(row)
    return format_table(rows)


def paired_costs(results: list[BenchResult], offline_paper: str = "siamfc",
                 online_paper: str = "siamfc_online") -> list[str]:
    """One line per variant timed both as ``<offline_paper>/V`` and ``<online_paper>/V`` (SiamFC online training:
    without and with online training, e.g. siamfc/imagenet_alexnet and siamfc_online/imagenet_alexnet): their batch-1
    FPS side by side and the relative cost."""
    fps = {r.model: r.tracker_fps for r in results}
    lines = []
    for model, offline in fps.items():
        paper, _, variant = model.partition("/")
        online = fps.get(f"{online_paper}/{variant}") if paper == offline_paper else None
        if online is not None and offline > 0:
            lines.append(f"{model}: {offline:.1f} FPS without, {online:.1f} FPS with online training "
                         f"({100 * (online / offline - 1):+.0f} %)")
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments.bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=None,
                        help="packaged configs (paper/variant) or YAML files; default every packaged config")
    parser.add_argument("--trackers", nargs="+", default=None,
                        help="trackers to time (default: each model's main tracker)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when available")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="bf16 (autocast) or fp32; default bf16 on cuda, fp32 on cpu (bf16 there only pays "
                             "with avx512_bf16 / amx_bf16, which the command checks)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="tracker parameter for every timed tracker, repeatable (e.g. crop_on_device=true on a "
                             "GPU, channels_last=false)")
    parser.add_argument("--frames", type=int, default=None, help="timed tracker frames (default cuda 300, cpu 30)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed frames/steps first (default cuda 20, cpu 3)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="training pairs per step (default cuda 28 as the reference's per-GPU batch, cpu 4)")
    parser.add_argument("--train-steps", type=int, default=None, help="timed training steps (default cuda 20, cpu 2)")
    parser.add_argument("--batches", type=int, nargs="*", default=[8, 32],
                        help="also frames/s with this many sequences in lockstep (trackers with a batched step; "
                             "default 8 32; none: --batches)")
    parser.add_argument("--batch-steps", type=int, default=None,
                        help="timed lockstep frame steps per batch size (default cuda 50, cpu 3)")
    parser.add_argument("--no-train", action="store_true", help="tracker FPS only")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN pick the fastest kernels")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    return parser


def main(argv=None) -> list[BenchResult]:
    args = build_parser().parse_args(argv)

    import torch
    from tqdm.auto import tqdm

    from experiments.config_library import build_model_cli, config_names
    from lightning_modules.checkpoints import parse_overrides
    from tracking.inference.precision import cpu_bf16_flags

    configs = args.configs or config_names()
    overrides = parse_overrides(args.overrides)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(cli.resolve_device(args.device))
    on_gpu = device.type == "cuda"
    precision = args.precision or ("bf16" if on_gpu else "fp32")
    bf16_flags = [] if on_gpu else cpu_bf16_flags()
    if precision == "fp32" and bf16_flags:
        print(f"note: this CPU has bf16 instructions ({', '.join(bf16_flags)}): --precision bf16 times the "
              "networks under bf16 autocast (the trackers' default stays fp32, the references' precision)")
    frames_count = args.frames if args.frames is not None else (300 if on_gpu else 30)
    warmup = args.warmup if args.warmup is not None else (20 if on_gpu else 3)
    batch_size = args.batch_size or (28 if on_gpu else 4)
    train_steps = args.train_steps or (20 if on_gpu else 2)
    batch_steps = args.batch_steps or (50 if on_gpu else 3)
    if frames_count < 1 or warmup < 0 or batch_size < 1 or train_steps < 1:
        raise SystemExit("--frames, --batch-size and --train-steps must be positive, --warmup non-negative")
    torch.backends.cudnn.benchmark = bool(args.cudnn_benchmark)

    print(f"device: {device_description(device)}; precision {precision}")
    frames, box = synthetic_frames(1 + warmup + frames_count)
    results = []
    for name in tqdm(configs, desc="bench", unit="config"):
        built = build_model_cli(["--config", name, "--seed_everything=0"])
        module = built.model.to(device).eval()
        parameters = sum(p.numel() for p in module.parameters()) / 1e6
        for tracker_name in args.trackers or [module.main_tracker]:
            tracker_overrides = with_precision_value(module, tracker_name, precision, overrides)
            seconds, timed = bench_tracker(module.build_tracker(tracker_name, **tracker_overrides), device, frames,
                                           box, warmup)
            pairs_per_s = float("nan")
            if not args.no_train:
                pairs_per_s = bench_training(module, built.config_init.trainer.callbacks or [], device, precision,
                                             batch_size, train_steps, min(warmup, 3))
                module.eval()
            batched_fps = {1: timed / seconds}
            for batch in args.batches:
                batched_fps[batch] = bench_lockstep(module.build_tracker(tracker_name, **tracker_overrides), batch,
                                                    device, frames, box, batch_steps, min(warmup, 1))
            result = BenchResult(name, tracker_name, parameters, timed / seconds, 1000 * seconds / timed, timed,
                                 pairs_per_s, batch_size, train_steps, batched_fps)
            tqdm.write(f"{name} ({tracker_name}): {result.tracker_fps:.1f} FPS tracking, {pairs_per_s:.1f} "
                       f"training pairs/s")
            results.append(result)
        del module, built
        if on_gpu:
            torch.cuda.empty_cache()
    print(f"\nspeed on {device_description(device)}; {precision}; tracker batch 1 over {frames_count} frames after "
          f"{warmup} warm-up; training batch {batch_size} x {train_steps} steps")
    print(format_results(results))
    for line in paired_costs(results):
        print(line)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"device": device_description(device), "precision": precision,
                                               "results": [asdict(r) for r in results]}, indent=2))
    return results


if __name__ == "__main__":
    cli.run(main)
