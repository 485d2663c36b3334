"""Pair-sampling throughput: ``make bench-data`` (``python -m experiments.bench_data [--data VID_ROOT] ...``).

Measures template/search pairs per second of one data-loader worker (one process, one thread: what each of the
``num_workers`` processes delivers), sampling with the full SiamRPN++ augmentation
(shift 64, scale 0.18, blur 0.2, color 1.0, negatives 0.2):

- from pre-crops (``make prepare-data`` output, 511 x 511 JPEGs: the reference's way of training), and
- from full frames (cropping on the fly from the dataset as distributed).

Without ``--data`` it generates synthetic ImageNet-VID data at VID's usual frame size (720 x 1280) in a temporary
folder and prepares it first. It prints the per-worker figures and the number of workers that reach
``--target`` pairs/s (300 by default: 20 epochs x 600k pairs in 12 h on 8 GPUs needs ~280 pairs/s).
``--loader-workers N`` also times a real ``DataLoader`` with N worker processes (collation included).
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import cv2
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from datamodules.pairs import PairConfig, PairDataset, PairSampler, SourceSpec
from datamodules.prepare import prepare_dataset
from datamodules.sources import PreparedSource


def pairs_per_second(dataset: PairDataset, pairs: int, label: str) -> float:
    """Single-process throughput of ``dataset.sample`` + tensor conversion (one worker's work)."""
    dataset[0]  # warm-up: caches, first-touch allocations
    start = time.perf_counter()
    for index in tqdm(range(1, pairs + 1), desc=label, unit="pair", leave=False):
        dataset[index]
    return pairs / (time.perf_counter() - start)


def loader_pairs_per_second(dataset: PairDataset, workers: int, batch_size: int, batches: int) -> float:
    loader = DataLoader(dataset, batch_size=batch_size, sampler=PairSampler(len(dataset)), num_workers=workers,
                        persistent_workers=False, prefetch_factor=4 if workers else None)
    iterator = iter(loader)
    next(iterator)  # workers started and warmed up
    start = time.perf_counter()
    count = 0
    for _ in range(batches):
        count += len(next(iterator)["search"])
    return count / (time.perf_counter() - start)


def generate_vid(root: Path, videos: int, frames: int, size: tuple[int, int]) -> None:
    from tracking.synthetic.training_formats import write_vid
    from tracking.synthetic.video import derived_seeds, generate_video

    generated = (generate_video(seed, num_frames=frames, size=size, name=f"bench{index}")
                 for index, seed in enumerate(derived_seeds(0, videos)))
    write_vid(tqdm(generated, total=videos, desc="generating VID data", unit="video"), root)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m experiments.bench_data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="an ImageNet VID root (default: generated synthetic VID)")
    parser.add_argument("--prepared", default=None, help="its prepare-data output (default: prepared here)")
    parser.add_argument("--videos", type=int, default=3, help="generated videos")
    parser.add_argument("--frames", type=int, default=20, help="frames per generated video")
    parser.add_argument("--size", type=int, nargs=2, default=(720, 1280), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--pairs", type=int, default=300, help="pairs timed per measurement")
    parser.add_argument("--target", type=float, default=300.0, help="pairs/s the workers together must reach")
    parser.add_argument("--loader-workers", type=int, default=0, help="also time a DataLoader with N workers")
    parser.add_argument("--batch-size", type=int, default=28)
    args = parser.parse_args(argv)

    cv2.setNumThreads(1)  # one worker = one core, as in the data loader
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench_data_") as scratch:
        scratch = Path(scratch)
        data = Path(args.data) if args.data else scratch / "vid"
        if not args.data:
            generate_vid(data, args.videos, args.frames, tuple(args.size))
        prepared = Path(args.prepared) if args.prepared else scratch / "prepared"
        started = time.perf_counter()
        meta = prepare_dataset("vid", data, prepared)
        prepare_seconds = time.perf_counter() - started
        config = PairConfig()  # the ResNet-50 SiamRPN++ augmentation
        sources = {"pre-crops": PreparedSource(prepared), "full frames": PreparedSource(prepared, use_crops=False)}
        frame = cv2.imread(str(sources["full frames"].frame_path(0, 0)))
        results = {}
        for label, source in sources.items():
            dataset = PairDataset([SourceSpec(source)], config, videos_per_epoch=100_000, seed=0)
            results[label] = pairs_per_second(dataset, args.pairs, label)
        loader = {}
        if args.loader_workers:
            dataset = PairDataset([SourceSpec(sources["pre-crops"])], config, videos_per_epoch=100_000, seed=1)
            batches = max(2, args.pairs // args.batch_size)
            loader[args.loader_workers] = loader_pairs_per_second(dataset, args.loader_workers, args.batch_size,
                                                                  batches)

    height, width = frame.shape[:2]
    print(f"\npair sampling, one worker (1 process, 1 thread), SiamRPN++ augmentation, {args.pairs} pairs each")
    print(f"data: {meta['tracks']} tracks, {meta['usable_boxes']} boxes, frames {width}x{height}; "
          f"prepare-data took {prepare_seconds:.1f} s")
    print(f"{'source':<13} {'pairs/s/worker':>15} {'workers for ' + format(args.target, 'g') + ' pairs/s':>24}")
    for label, rate in results.items():
        print(f"{label:<13} {rate:>15.1f} {math.ceil(args.target / rate):>24d}")
    for workers, rate in loader.items():
        print(f"DataLoader with {workers} workers from pre-crops (batch {args.batch_size}): {rate:.1f} pairs/s "
              f"on {torch.get_num_threads()} intra-op thread(s), {len(__import__('os').sched_getaffinity(0))} "
              f"cores available")
    return {"per_worker": results, "loader": loader, "workers_needed": {
        label: math.ceil(args.target / rate) for label, rate in results.items()}}


if __name__ == "__main__":
    main()
