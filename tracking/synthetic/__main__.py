"""Write a synthetic benchmark in a real benchmark layout.

    python -m tracking.synthetic --format otb --out DIR --count N --frames F --seed S
"""
from __future__ import annotations

import argparse

from tqdm import tqdm

from tracking.synthetic.video import DIFFICULTIES, derived_seeds, generate_video
from tracking.synthetic.writers import WRITERS


def main(argv=None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m tracking.synthetic", description=__doc__)
    parser.add_argument("--format", required=True, choices=sorted(WRITERS), help="benchmark layout to write")
    parser.add_argument("--out", required=True, help="benchmark root folder")
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
    options = {"got10k": {"subset": args.subset}, "lasot": {"category": args.category}}.get(args.format, {})
    names = WRITERS[args.format](progress, args.out, **options)
    print(f"wrote {len(names)} sequences to {args.out}")
    return names


if __name__ == "__main__":
    main()
