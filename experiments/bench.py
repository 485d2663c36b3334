"""Speed of the SiamRPN++ models on this machine: tracker FPS and training throughput: ``make bench``.

    python -m experiments.bench                                   # all models, cuda + bf16 when available
    python -m experiments.bench --models demo alex_dwxcorr --device cpu --frames 50
    python -m experiments.bench --models r50_l234_dwxcorr --device cuda --precision fp32

Tracker FPS: the reference tracker (``tracking.trackers.siamrpn.SiamRPNTracker``, batch 1) on a synthetic
480x640 sequence, end to end per frame (search crop, network, decoding, penalties); the template is set once and
``--warmup`` frames run before the clock starts. Training throughput: pairs per second of forward + anchor targets
+ loss + backward + gradient clipping + SGD step on random batches of the training sizes (127 template,
``train_search_size`` search), with the backbone in its fine-tuning state (the slower, second half of the
reference schedule). Weights are random (nothing is downloaded); speed does not depend on them. On a GPU the
network runs under bf16 autocast unless ``--precision fp32``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from experiments import cli

MODELS = {
    "r50_l234_dwxcorr": "siamrpn_r50_l234_dwxcorr",
    "alex_dwxcorr": "siamrpn_alex_dwxcorr",
    "mobilev2_l234_dwxcorr": "siamrpn_mobilev2_l234_dwxcorr",
    "demo": "siamrpn_demo",
}
PRECISIONS = ("bf16", "fp32")


@dataclass
class BenchResult:
    model: str
    preset: str
    parameters_m: float
    tracker_fps: float
    ms_per_frame: float
    frames: int
    train_pairs_per_s: float
    batch_size: int
    train_steps: int


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


def bench_tracker(model, device, autocast_dtype, frames, box, warmup: int) -> tuple[float, int]:
    """(seconds, frames timed): ``update`` over ``frames[1 + warmup:]`` after init and ``warmup`` updates."""
    from tracking.trackers.siamrpn import SiamRPNTracker

    tracker = SiamRPNTracker(model, device=device, autocast_dtype=autocast_dtype)
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


def random_batch(config, batch_size: int, device, generator):
    """Random pairs in the PairDataModule's layout: targets near the search center, 20% negative pairs."""
    import torch

    search = config.train_search_size
    size = 40 + 80 * torch.rand(batch_size, 2, generator=generator)
    center = search / 2 + 64 * (torch.rand(batch_size, 2, generator=generator) - 0.5)
    box = torch.cat([center - size / 2, center + size / 2], dim=1)
    template = 255 * torch.rand(batch_size, 3, config.exemplar_size, config.exemplar_size, generator=generator)
    search_images = 255 * torch.rand(batch_size, 3, search, search, generator=generator)
    negative = torch.rand(batch_size, generator=generator) < 0.2
    return {"template": template.to(device), "search": search_images.to(device), "search_box": box.to(device),
            "negative": negative.to(device)}


def bench_training(preset: str, device, autocast_dtype, batch_size: int, steps: int, warmup: int) -> float:
    """Training pairs per second (see the module docstring)."""
    import contextlib

    import torch

    from lightning_modules.siamrpnpp import SiamRPNppModule
    from tracking.models.losses import rpn_loss

    module = SiamRPNppModule(preset).to(device)
    config = module.config
    # the second half of the schedule: configured backbone layers train (BN in train mode), at their lr scale
    module.set_trainable_backbone_layers(config.backbone_train_layers)
    module.train()
    parameters = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(parameters, lr=1e-3, momentum=0.9, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(0)
    target_generator = torch.Generator(device=device).manual_seed(0)
    batches = [random_batch(config, batch_size, device, generator) for _ in range(2)]

    def autocast():
        if autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=autocast_dtype)

    def step(batch):
        with autocast():
            cls, loc = module.model(batch["template"], batch["search"])
        labels, loc_target, loc_weight = module.targets(batch["search_box"], batch["negative"], target_generator)
        loss = rpn_loss(cls, loc, labels, loc_target, loc_weight, cls_weight=config.cls_loss_weight,
                        loc_weight_factor=config.loc_loss_weight)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 10.0)
        optimizer.step()

    for index in range(warmup):
        step(batches[index % 2])
    _synchronize(device)
    start = time.perf_counter()
    for index in range(steps):
        step(batches[index % 2])
    _synchronize(device)
    return batch_size * steps / (time.perf_counter() - start)


def resolve_model(name: str) -> str:
    from tracking.models.config import PRESETS

    if name in MODELS:
        return MODELS[name]
    if name in PRESETS:
        return name
    raise ValueError(f"unknown model {name!r}; use one of {list(MODELS)} or a preset of tracking.models.config")


def format_results(results: list[BenchResult]) -> str:
    from tracking.evaluation.report import format_table

    rows = [{"Model": r.model, "Params (M)": r.parameters_m, "Tracker FPS": r.tracker_fps,
             "ms/frame": r.ms_per_frame, "Train pairs/s": r.train_pairs_per_s, "Batch": r.batch_size}
            for r in results]
    return format_table(rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments.bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS),
                        help=f"models to time: {', '.join(MODELS)} (or any preset name); default all")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when available")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="bf16 (autocast) or fp32; default bf16 on cuda, fp32 on cpu")
    parser.add_argument("--frames", type=int, default=None, help="timed tracker frames (default cuda 300, cpu 30)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed frames/steps first (default cuda 20, cpu 3)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="training pairs per step (default cuda 28 as the reference's per-GPU batch, cpu 4)")
    parser.add_argument("--train-steps", type=int, default=None, help="timed training steps (default cuda 20, cpu 2)")
    parser.add_argument("--no-train", action="store_true", help="tracker FPS only")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN pick the fastest kernels")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    return parser


def main(argv=None) -> list[BenchResult]:
    args = build_parser().parse_args(argv)
    presets = [(name, resolve_model(name)) for name in args.models]

    import torch
    from tqdm.auto import tqdm

    from tracking.models.siamrpn import SiamRPN

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(cli.resolve_device(args.device))
    on_gpu = device.type == "cuda"
    precision = args.precision or ("bf16" if on_gpu else "fp32")
    autocast_dtype = torch.bfloat16 if precision == "bf16" else None
    frames_count = args.frames if args.frames is not None else (300 if on_gpu else 30)
    warmup = args.warmup if args.warmup is not None else (20 if on_gpu else 3)
    batch_size = args.batch_size or (28 if on_gpu else 4)
    train_steps = args.train_steps or (20 if on_gpu else 2)
    if frames_count < 1 or warmup < 0 or batch_size < 1 or train_steps < 1:
        raise SystemExit("--frames, --batch-size and --train-steps must be positive, --warmup non-negative")
    torch.backends.cudnn.benchmark = bool(args.cudnn_benchmark)

    print(f"device: {device_description(device)}; precision {precision}")
    frames, box = synthetic_frames(1 + warmup + frames_count)
    results = []
    for name, preset in tqdm(presets, desc="bench", unit="model"):
        torch.manual_seed(0)
        model = SiamRPN(preset).to(device).eval()
        seconds, timed = bench_tracker(model, device, autocast_dtype, frames, box, warmup)
        pairs_per_s = float("nan")
        if not args.no_train:
            pairs_per_s = bench_training(preset, device, autocast_dtype, batch_size, train_steps, min(warmup, 3))
        result = BenchResult(name, preset, sum(p.numel() for p in model.parameters()) / 1e6, timed / seconds,
                             1000 * seconds / timed, timed, pairs_per_s, batch_size, train_steps)
        tqdm.write(f"{name}: {result.tracker_fps:.1f} FPS tracking, {pairs_per_s:.1f} training pairs/s")
        results.append(result)
        del model
        if on_gpu:
            torch.cuda.empty_cache()
    print(f"\nSiamRPN++ speed on {device_description(device)}; {precision}; tracker batch 1 over {frames_count} "
          f"frames after {warmup} warm-up; training batch {batch_size} x {train_steps} steps")
    print(format_results(results))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"device": device_description(device), "precision": precision,
                                               "results": [asdict(r) for r in results]}, indent=2))
    return results


if __name__ == "__main__":
    main()
