"""Curate a training dataset: ``make prepare-data DATASET=vid ROOT=/data/ILSVRC2015 OUT=/data/vid_prepared``.

Writes ``OUT/index.npz`` + ``OUT/meta.json`` and (unless ``--no-crops``) 511 x 511 pre-crops of every usable box;
runs in parallel processes with a progress bar, resumes after a kill (run the same command again) and reports
what it dropped and why. Point a ``PairDataModule`` source at ``OUT`` to train from it. See
``datamodules/prepare.py`` for the details.
"""
from __future__ import annotations

import argparse
import sys

from experiments import cli
from datamodules.prepare import format_summary, prepare_dataset
from datamodules.sources import DATASET_KINDS
from datamodules.tracks import BoxFilter


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments.prepare_data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=DATASET_KINDS, help="format of ROOT")
    parser.add_argument("--root", required=True, help="the dataset as distributed")
    parser.add_argument("--out", required=True, help="output folder (index, meta, crops)")
    parser.add_argument("--no-crops", action="store_true", help="write only the index; crop frames on the fly")
    parser.add_argument("--crop-size", type=int, default=511, help="pre-crop side in pixels (reference: 511)")
    parser.add_argument("--exemplar-size", type=int, default=127, help="pixels spanned by the exemplar window s_z")
    parser.add_argument("--context-amount", type=float, default=0.5)
    parser.add_argument("--min-size", type=float, default=BoxFilter.min_size, help="drop boxes with a smaller side")
    parser.add_argument("--max-area-fraction", type=float, default=BoxFilter.max_area_fraction,
                        help="drop boxes covering more of the image than this")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--chunk-size", type=int, default=None, help="videos per work unit (default: automatic)")
    parser.add_argument("--splits", nargs="+", default=None,
                        help="dataset splits to read (vid/det: train val; coco: train2017 val2017; ytbb: train "
                             "validation; ytvos: train; got10k: one subset)")
    parser.add_argument("--jpeg-quality", type=int, default=95)
    parser.add_argument("--overwrite", action="store_true", help="discard an existing result in OUT")
    parser.add_argument("--max-chunks", type=int, default=None, help=argparse.SUPPRESS)  # tests: stop early
    return parser


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    options = {}
    if args.splits:
        options = {"subset": args.splits[0]} if args.dataset == "got10k" else {"splits": tuple(args.splits)}
    meta = prepare_dataset(args.dataset, args.root, args.out, crops=not args.no_crops, crop_size=args.crop_size,
                           exemplar_size=args.exemplar_size, context_amount=args.context_amount,
                           box_filter=BoxFilter(min_size=args.min_size, max_area_fraction=args.max_area_fraction),
                           workers=args.workers, chunk_size=args.chunk_size, reader_options=options,
                           jpeg_quality=args.jpeg_quality, overwrite=args.overwrite, max_chunks=args.max_chunks)
    print(format_summary(meta))
    if meta.get("complete", True):
        print(f"index: {args.out}/index.npz  (use it as a source root, e.g. PairDataModule.from_roots"
              f"({{'{args.dataset}': '{args.out}'}}))")
    sys.stdout.flush()
    return meta


if __name__ == "__main__":
    cli.run(main)
