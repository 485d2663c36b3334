"""Render one sequence with the ground truth and several trackers' boxes as a GIF or MP4: ``make show``.

    python -m experiments.show --seq /data/OTB100/Basketball --results outputs/results/OTB/NCC \\
        outputs/results/OTB/siamrpn --out basketball.gif
    python -m experiments.show --seq otb:/data/OTB100:Jogging.1 --results DIR1 DIR2 --out jogging.mp4

``--seq`` is a sequence folder (OTB ``img/`` + ``groundtruth_rect.txt``, or images + ``groundtruth.txt`` as in
VOT / GOT-10k / LaSOT) or ``<benchmark>:<root>:<sequence name>`` read with that benchmark's reader. Each
``--results`` folder is one tracker's result folder in got10k's layout (``<Seq>.txt``, ``<seq>/<seq>_001.txt`` or
VOT's ``baseline/<seq>/<seq>_001.txt``); the tracker is named after the folder. ``--ckpt`` (with ``--tracker``
and ``--set``) also tracks the sequence with a checkpoint's tracker and draws its boxes.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from experiments import cli
from tracking.benchmarks.base import Sequence
from tracking.errors import DataError

GROUND_TRUTH = "GroundTruth"


def _sequence_from_folder(folder: Path) -> Sequence:
    from tracking.benchmarks.files import list_images, read_box_file

    if not folder.is_dir():
        raise DataError(folder, "sequence folder does not exist")
    if (folder / "img").is_dir() and any(folder.glob("groundtruth_rect*.txt")):
        from tracking.benchmarks.otb import OTB

        benchmark = OTB(folder.parent)
        # OTB's reader applies the benchmark's frame ranges; two-target folders become Name.1 / Name.2
        name = folder.name if folder.name in benchmark.sequence_names else f"{folder.name}.1"
        return benchmark[name]
    annotation = next((folder / n for n in ("groundtruth_rect.txt", "groundtruth.txt") if (folder / n).is_file()),
                      None)
    if annotation is None:
        raise DataError(folder, "no groundtruth_rect.txt or groundtruth.txt in the sequence folder")
    images = list_images(folder / "img" if (folder / "img").is_dir() else folder)
    ground_truth = read_box_file(annotation, columns=(4, 8))
    if len(ground_truth) not in (1, len(images)):
        raise DataError(annotation, f"{len(ground_truth)} ground-truth lines for {len(images)} images")
    if len(ground_truth) == 1:  # GOT-10k test: only the first box is published
        ground_truth = np.vstack([ground_truth, np.full((len(images) - 1, ground_truth.shape[1]), np.nan)])
    return Sequence(name=folder.name, frames=images, ground_truth=ground_truth,
                    meta={"annotation_file": annotation})


def load_sequence(spec: str) -> Sequence:
    """A sequence from a folder, or from ``<benchmark>:<root>:<name>`` (benchmark in otb, vot, got10k, lasot,
    uav123)."""
    from tracking.benchmarks import BENCHMARKS, open_benchmark

    kind, separator, rest = spec.partition(":")
    if separator and kind.lower().replace("-", "") in BENCHMARKS and ":" in rest:
        root, _, name = rest.rpartition(":")
        benchmark = open_benchmark(kind, root)
        if name not in benchmark.sequence_names:
            raise DataError(root, f"no sequence named {name!r} in this {kind} benchmark")
        return benchmark[name]
    return _sequence_from_folder(Path(spec))


def tracker_label(results_dir) -> str:
    results_dir = Path(results_dir).resolve()
    return results_dir.parent.name if results_dir.name == "baseline" else results_dir.name


def load_result(results_dir, sequence: Sequence) -> list:
    """One tracker's per-frame boxes for ``sequence`` (``None`` on VOT code frames), from any got10k layout."""
    from tracking.benchmarks.files import read_box_file
    from tracking.metrics.vot import read_record

    results_dir, name = Path(results_dir), sequence.name
    if not results_dir.is_dir():
        raise DataError(results_dir, "results folder does not exist")
    candidates = [results_dir / f"{name}.txt", results_dir / name / f"{name}_001.txt",
                  results_dir / "baseline" / name / f"{name}_001.txt"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise DataError(results_dir, f"no result file for sequence {name!r} (looked for "
                                     f"{', '.join(str(p.relative_to(results_dir)) for p in candidates)})")
    try:
        boxes = list(read_box_file(path, columns=(4, 8)))
    except DataError:
        boxes = [entry if len(entry) > 1 else None for entry in read_record(path)]  # VOT record with codes
    if len(boxes) != len(sequence):
        raise DataError(path, f"{len(boxes)} result lines for {len(sequence)} frames")
    return boxes


def render(sequence: Sequence, results: dict[str, list], fps: float = 15.0, max_frames: int | None = None,
           scale: float | None = None, progress: bool = True) -> list[np.ndarray]:
    """Frames with the ground truth and each tracker's box drawn. ``scale`` resizes the frames (default: small
    frames are enlarged so their shorter side is at least 240 px, keeping labels readable)."""
    from tracking.visualize import default_colors, draw_boxes

    names = [GROUND_TRUTH, *results]
    colors = default_colors(names)
    count = len(sequence) if max_frames is None else min(len(sequence), max_frames)
    rendered = []
    for index in tqdm(range(count), desc=f"drawing {sequence.name}", unit="frame", disable=not progress):
        image = sequence.image(index)
        factor = scale if scale is not None else max(1.0, 240.0 / min(image.shape[:2]))
        boxes = {GROUND_TRUTH: sequence.ground_truth[index] if index < len(sequence.ground_truth) else None}
        boxes.update({name: boxes_of[index] for name, boxes_of in results.items()})
        if factor != 1.0:
            image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
            boxes = {name: None if box is None else np.asarray(box, dtype=np.float64) * factor
                     for name, box in boxes.items()}
        rendered.append(draw_boxes(image, boxes, colors, frame_index=index))
    return rendered


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments.show", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seq", required=True, help="sequence folder or <benchmark>:<root>:<name>")
    parser.add_argument("--results", nargs="*", default=[], metavar="DIR",
                        help="tracker result folders (one value may hold several, separated by ':', so folder "
                             "names may contain spaces: make show RESULTS=\"dir one:dir two\")")
    parser.add_argument("--ckpt", default=None,
                        help="also track the sequence with this checkpoint's tracker (or baseline:ncc)")
    parser.add_argument("--tracker", default=None, help="which of the model's trackers (default its main one)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="tracker parameter for --ckpt, repeatable")
    parser.add_argument("--device", default=None, choices=["cpu", "cuda"], help="device for --ckpt's network")
    parser.add_argument("--out", required=True,
                        help="output .gif or .mp4 file, or a folder (then <folder>/<sequence>.gif)")
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--max-frames", type=int, default=None, help="render only the first N frames")
    parser.add_argument("--scale", type=float, default=None, help="resize factor (default: enlarge small frames)")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv=None) -> Path:
    from tracking.visualize import write_video

    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if out.suffix and out.suffix.lower() not in (".gif", ".mp4"):
        raise ValueError(f"--out {args.out}: use a .gif or .mp4 file name, or a folder")
    sequence = load_sequence(args.seq)
    if not out.suffix:  # a folder, e.g. the Makefile's default OUT=outputs
        out = out / f"{sequence.name}.gif"
    folders = [part for value in args.results for part in value.split(os.pathsep) if part]
    if not folders and args.ckpt is None:
        raise ValueError("give result folders (--results) or a checkpoint to track with (--ckpt)")
    results = {}
    for folder in folders:
        label = tracker_label(folder)
        while label in results or label == GROUND_TRUTH:
            label += "'"
        results[label] = load_result(folder, sequence)
    if args.ckpt is not None:
        from lightning_modules.checkpoints import load_tracker, parse_overrides
        from tracking.tracker import track_frames

        tracker = load_tracker(args.ckpt, parse_overrides(args.overrides), cli.resolve_device(args.device),
                               tracker=args.tracker)
        count = len(sequence) if args.max_frames is None else min(len(sequence), args.max_frames)
        frames = (sequence.image(index) for index in range(count))
        boxes, _ = track_frames(tracker, frames, sequence.init_box)
        results[getattr(tracker, "name", "tracker")] = list(boxes)
    frames = render(sequence, results, args.fps, args.max_frames, args.scale, progress=not args.no_progress)
    path = write_video(frames, out, args.fps)
    print(f"wrote {path} ({len(frames)} frames, {', '.join(results)})")
    return path


if __name__ == "__main__":
    cli.run(main)
