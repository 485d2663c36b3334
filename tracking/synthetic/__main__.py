"""Write synthetic videos in a real benchmark or training-dataset layout.

    python -m tracking.synthetic --format otb --out DIR --count N --frames F --seed S
    python -m tracking.synthetic --format vid --out DIR --count N      # ImageNet VID; also det, coco, ytbb,
                                                                      # lasot-train, got10k --subset train
"""
from __future__ import annotations

import argparse

from tqdm import tqdm

from tracking.synthetic.video import DIFFICULTIES, derived_seeds, generate_video
from tracking.synthetic.training_formats import TRAINING_WRITERS
from tracking.synthetic.writers import WRITERS

# GOT-10k's training split is the benchmark writer with --subset train; LaSOT's adds training_set.txt.
FORMATS = {**WRITERS, **{("lasot-train" if k == "lasot" else k): w for k, w in TRAINING_WRITERS.items()
                         if k != "got10k"}}


def main(argv=None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m tracking.synthetic", description=__doc__)
    parser.add_argument("--format", required=True, choices=sorted(FORMATS), help="benchmark or dataset layout to write")
    parser.add_argument("--out", required=True, help="benchmark or dataset root folder")
    parser.add_argument("--count", type=int, default=10, help="number of videos")
    parser.add_argument("--frames", type=int, default=60, help="frames per video")
    parser.add_argument("--seed", type=int, default=0, help="base seed; video i uses a seed derived from it")
    parser.add_argument("--size", type=int, nargs=2, default=(240, 320), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--difficulty", default="normal", choices=DIFFICULTIES)
    parser.add_argument("--subset", default="val", help="GOT-10k subset (train, val, test)")
    parser.add_argument("--category", default="synthetic", help="LaSOT category folder")
    args = parser.parse_args(argv)
    if args.count < 1 or args.frames < 1:
        parser.error("--count and --frames must be positive")

    seeds = derived_seeds(args.seed, args.count)
    # A generator: each video is rendered, written and dropped before the next one (flat memory).
    videos = (generate_video(seed, num_frames=args.frames, size=tuple(args.size), difficulty=args.difficulty,
                             name=f"synthetic{args.seed}_{index:03d}") for index, seed in enumerate(seeds))
    progress = tqdm(videos, total=args.count, desc=f"writing {args.format}", unit="video")
    options = {"got10k": {"subset": args.subset}, "lasot": {"category": args.category},
               "lasot-train": {"category": args.category}}.get(args.format, {})
    names = FORMATS[args.format](progress, args.out, **options)
    print(f"wrote {len(names)} sequences to {args.out}")
    return names


if __name__ == "__main__":
    main()
