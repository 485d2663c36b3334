"""Scoring existing result files in got10k's layouts.

- OPE (OTB, UAV123): ``<results_dir>/<Seq>.txt`` (boxes separated by commas, tabs or spaces) and optional
  ``<results_dir>/times/<Seq>_time.txt``; metrics of :mod:`tracking.metrics.ope` (= got10k ``ExperimentOTB``;
  for UAV123 frames without ground truth are left out, as ``ExperimentUAV123``).
- LaSOT: same layout, metrics of :mod:`tracking.metrics.lasot` (= the LaSOT toolkit).
- VOT: ``<results_dir>/baseline/<seq>/<seq>_NNN.txt`` + ``<seq>_time.txt`` (got10k ``ExperimentVOT``),
  metrics of :mod:`tracking.metrics.vot`.
- GOT-10k: ``<results_dir>/<seq>/<seq>_NNN.txt`` + ``<seq>_time.txt`` (got10k ``ExperimentGOT10k``),
  metrics of :mod:`tracking.metrics.got10k`.

A benchmark is anything iterable over ``tracking.benchmarks.Sequence`` (a ``Benchmark`` reader or a list).
Sequences without a result file are listed in ``report.missing`` and left out of the scores; a result file with
the wrong number of lines raises ``DataError`` naming it. Result lines holding a NaN are scored as the toolkit
scores them (got10k: a failed frame) and counted per sequence and overall in ``nan_result_lines``.
"""
from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tracking.benchmarks.base import Sequence, read_image
from tracking.benchmarks.files import read_box_file
from tracking.errors import DataError
from tracking.metrics import got10k as got10k_metrics
from tracking.metrics import lasot as lasot_metrics
from tracking.metrics import vot as vot_metrics
from tracking.metrics.attributes import attribute_scores
from tracking.metrics.ope import SCALAR_KEYS, average_ope_scores, ope_scores


@dataclass
class Report:
    """Scores of one tracker on one benchmark.

    ``overall`` and ``per_sequence[name]`` hold the metric values (floats and numpy curves);
    ``per_attribute[attribute]`` the mean per-sequence scores of the sequences with that attribute (plus
    ``num_sequences``); ``missing`` the benchmark sequences that had no result file.
    """

    tracker_name: str
    benchmark: str
    protocol: str
    overall: dict
    per_sequence: dict
    per_attribute: dict = field(default_factory=dict)
    per_tag: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)


OPEReport = Report  # the OPE / LaSOT report; VOT and GOT-10k use the same container


def _progress(iterable, enabled: bool, description: str):
    return tqdm(iterable, desc=description, unit="seq", disable=not enabled, leave=False)


def _benchmark_name(benchmark, default: str) -> str:
    return str(getattr(benchmark, "name", default))


def _read_times(path: Path) -> np.ndarray:
    """Per-frame seconds of a got10k time file (comma-separated repetitions allowed), positive ones only."""
    if not path.is_file():
        return np.zeros(0)
    try:
        times = np.loadtxt(path, delimiter=",", ndmin=1).reshape(-1)
    except ValueError as error:
        raise DataError(path, f"cannot parse the timing file ({error})") from None
    times = times[~np.isnan(times)]
    return times[times > 0]


def _fps(times: np.ndarray) -> float:
    """got10k's speed: mean of per-frame ``1 / seconds``; -1 when unknown."""
    return float(np.mean(1.0 / times)) if len(times) else -1.0


def _mean_fps(speeds: Iterable[float]) -> float:
    """got10k OTB's overall speed: the mean of the known (positive) per-sequence speeds."""
    known = [s for s in speeds if s > 0]
    return float(np.mean(known)) if known else -1.0


def read_result_boxes(path, num_frames: int) -> np.ndarray:
    """Read a one-pass result file (N x 4) and check it has one box per ground-truth frame."""
    boxes = read_box_file(path, columns=4)
    if len(boxes) != num_frames:
        relation = "fewer" if len(boxes) < num_frames else "more"
        raise DataError(path, f"{len(boxes)} boxes for {num_frames} frames ({relation} lines than frames)")
    return boxes


def nan_lines(boxes) -> int:
    """How many result lines hold a NaN (got10k scores each such frame as a failure: overlap and centre
    error NaN, never above / below a threshold; the LaSOT toolkit replaces it by the previous box)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return int(np.isnan(boxes).any(axis=-1).sum()) if boxes.size else 0


def _score_one_pass(benchmark, results_dir, tracker_name, protocol, progress) -> Report:
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise DataError(results_dir, "results folder does not exist")
    per_sequence, attributes, missing = {}, {}, []
    for sequence in _progress(benchmark, progress, f"scoring {results_dir.name}"):
        result_file = results_dir / f"{sequence.name}.txt"
        if not result_file.is_file():
            missing.append(sequence.name)
            continue
        gt = np.asarray(sequence.ground_truth, dtype=np.float64)
        pred = read_result_boxes(result_file, len(gt))
        if protocol == "lasot":
            scores = lasot_metrics.lasot_sequence_scores(pred, lasot_ground_truth(sequence), lasot_absent(sequence))
        else:
            scores = ope_scores(pred, gt, exclude_unannotated=protocol == "uav123")
        scores["speed_fps"] = _fps(_read_times(results_dir / "times" / f"{sequence.name}_time.txt"))
        scores["num_frames"] = len(gt)
        scores["nan_result_lines"] = nan_lines(pred)
        per_sequence[sequence.name] = scores
        attributes[sequence.name] = list(sequence.attributes)
    if not per_sequence:
        raise DataError(results_dir, f"no result file for any of the {len(missing)} benchmark sequences")
    if protocol == "lasot":
        overall = lasot_metrics.average_lasot_scores(per_sequence)
    else:
        overall = average_ope_scores(per_sequence)
    overall["speed_fps"] = _mean_fps(s["speed_fps"] for s in per_sequence.values())
    overall["num_sequences"] = len(per_sequence)
    overall["nan_result_lines"] = sum(s["nan_result_lines"] for s in per_sequence.values())
    per_attribute = attribute_scores(per_sequence, attributes, keys=list(SCALAR_KEYS))
    return Report(tracker_name or results_dir.name, _benchmark_name(benchmark, protocol), protocol, overall,
                  per_sequence, per_attribute, missing=missing)


def score_ope(benchmark, results_dir, tracker_name: str | None = None, progress: bool = True) -> Report:
    """One-pass scores (got10k ``ExperimentOTB`` semantics) of ``<results_dir>/<Seq>.txt`` files.

    ``tracker_name`` defaults to the folder name. Per-attribute scores use ``Sequence.attributes``.
    """
    return _score_one_pass(benchmark, results_dir, tracker_name, "ope", progress)


def score_uav123(benchmark, results_dir, tracker_name: str | None = None, progress: bool = True) -> Report:
    """UAV123 / UAV20L scores: one-pass scores with frames of NaN ground truth (target absent) left out,
    as got10k's ``ExperimentUAV123``."""
    return _score_one_pass(benchmark, results_dir, tracker_name, "uav123", progress)


def lasot_absent(sequence: Sequence) -> np.ndarray:
    """LaSOT's absent frames, as the toolkit takes them: its absent flags, i.e. full occlusion or out of view
    (``full_occlusion.txt`` / ``out_of_view.txt``; pytracking's ``target_visible``). A ``0,0,0,0`` or NaN row
    that is not flagged stays in (the toolkit scores it with overlap -1 and centre error -1). Only when a
    sequence has neither flag file are the all-zero / NaN ground-truth rows taken as absent instead."""
    flag_files = sequence.meta.get("flag_files")
    if flag_files:
        absent = np.zeros(len(sequence.ground_truth), dtype=bool)
        for tag in flag_files:
            absent = absent | np.asarray(sequence.tags[tag]).astype(bool)
        return absent
    absent = np.isnan(np.asarray(sequence.ground_truth, dtype=np.float64)).any(axis=1)
    for tag in ("absent", "full_occlusion", "out_of_view"):
        if tag in sequence.tags:
            absent = absent | np.asarray(sequence.tags[tag]).astype(bool)
    return absent


def lasot_ground_truth(sequence: Sequence) -> np.ndarray:
    """The ground truth as the LaSOT toolkit reads it: the annotation file's rows (``0,0,0,0`` and NaN rows as
    they are); without a file, the reader's rows with NaN as zeros."""
    annotation = sequence.meta.get("annotation_file")
    if annotation is not None and Path(annotation).is_file():
        return read_box_file(annotation, columns=4)
    return np.nan_to_num(np.asarray(sequence.ground_truth, dtype=np.float64), nan=0.0)


def score_lasot(benchmark, results_dir, tracker_name: str | None = None, progress: bool = True) -> Report:
    """LaSOT scores of ``<results_dir>/<seq>.txt`` files, as the official LaSOT toolkit computes them.

    Absent frames are not excluded: they leave the numerator but stay in the denominator, i.e. they count as
    failures (details in :mod:`tracking.metrics.lasot`).
    """
    return _score_one_pass(benchmark, results_dir, tracker_name, "lasot", progress)


# --- VOT ------------------------------------------------------------------------------------------

def _record_files(folder: Path, name: str) -> list[Path]:
    # got10k's pattern '<seq>_[0-9]*.txt' (excludes <seq>_time.txt)
    return sorted(folder.glob(f"{name}_[0-9]*.txt"))


def _image_size(sequence: Sequence) -> tuple[float, float]:
    """``(W, H)`` of the sequence's frames: from ``meta["image_size"]`` ((H, W)) or the first image."""
    if "image_size" in sequence.meta:
        height, width = sequence.meta["image_size"][:2]
    else:
        height, width = read_image(sequence.frames[0]).shape[:2]
    return float(width), float(height)


def score_vot(benchmark, results_dir, tracker_name: str | None = None,
              interval=vot_metrics.EAO_INTERVALS["VOT2018"], progress: bool = True) -> Report:
    """VOT supervised scores of got10k's ``<results_dir>/baseline/<seq>/<seq>_NNN.txt`` records.

    ``overall``: ``accuracy``, ``robustness``, ``failures``, ``eao`` (over ``interval``), got10k's
    ``tag_weighted_accuracy`` / ``tag_weighted_robustness``, ``speed_fps``, ``eao_curve``.
    """
    results_dir = Path(results_dir)
    base = results_dir / "baseline" if (results_dir / "baseline").is_dir() else results_dir
    if not base.is_dir():
        raise DataError(results_dir, "results folder does not exist")
    runs, missing, times = [], [], []
    for sequence in _progress(benchmark, progress, f"reading {results_dir.name}"):
        files = _record_files(base / sequence.name, sequence.name)
        if not files:
            missing.append(sequence.name)
            continue
        records = []
        for path in files:
            record = vot_metrics.read_record(path)
            if len(record) != len(sequence.ground_truth):
                raise DataError(path, f"{len(record)} lines for {len(sequence.ground_truth)} frames")
            records.append(record)
        runs.append(vot_metrics.VOTSequenceRuns(sequence.name, np.asarray(sequence.ground_truth, dtype=np.float64),
                                                _image_size(sequence), records, dict(sequence.tags)))
        times.append(_read_times(base / sequence.name / f"{sequence.name}_time.txt"))
    if not runs:
        raise DataError(results_dir, f"no VOT records for any of the {len(missing)} benchmark sequences")
    scores = vot_metrics.vot_scores(runs, interval=interval)
    per_sequence = scores.pop("per_sequence")
    per_tag = scores.pop("per_tag")
    scores["speed_fps"] = _fps(np.concatenate(times))
    scores["num_sequences"] = len(runs)
    return Report(tracker_name or results_dir.name, _benchmark_name(benchmark, "vot"), "vot", scores,
                  per_sequence, per_tag=per_tag, missing=missing)


# --- GOT-10k --------------------------------------------------------------------------------------

def _got10k_raw_ground_truth(sequence: Sequence) -> np.ndarray:
    """The ground truth as got10k reads it: the file's boxes, also on frames the reader marked absent (NaN)."""
    annotation = sequence.meta.get("annotation_file")
    if annotation is not None and Path(annotation).is_file():
        return read_box_file(annotation, columns=4)
    return np.asarray(sequence.ground_truth, dtype=np.float64)


def _got10k_resolution(sequence: Sequence) -> tuple[float, float]:
    """``(W, H)`` from ``meta_info.ini``'s ``resolution: (W, H)`` as got10k uses it, else the first image."""
    info = sequence.meta.get("meta_info") or {}
    if "resolution" in info:
        try:
            width, height = ast.literal_eval(info["resolution"])
            return float(width), float(height)
        except (ValueError, SyntaxError, TypeError):
            raise DataError(sequence.meta.get("annotation_file"),
                            f"meta_info.ini resolution {info['resolution']!r} is not '(W, H)'") from None
    return _image_size(sequence)


def score_got10k(benchmark, results_dir, tracker_name: str | None = None, progress: bool = True) -> Report:
    """GOT-10k AO / SR0.5 / SR0.75 of got10k's ``<results_dir>/<seq>/<seq>_NNN.txt`` files (val subset layout).

    Frames are pooled over sequences (as ``ExperimentGOT10k``); ``meta["cover"]`` selects the scored frames.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise DataError(results_dir, "results folder does not exist")
    ious, per_sequence, missing, all_times = {}, {}, [], []
    for sequence in _progress(benchmark, progress, f"scoring {results_dir.name}"):
        if sequence.meta.get("first_frame_only"):
            raise DataError(sequence.meta.get("annotation_file"),
                            "GOT-10k test ground truth is withheld: score on the val subset or use the server")
        files = _record_files(results_dir / sequence.name, sequence.name)
        if not files:
            missing.append(sequence.name)
            continue
        gt = _got10k_raw_ground_truth(sequence)
        cover = sequence.meta.get("cover")
        resolution = _got10k_resolution(sequence)
        predictions = [read_result_boxes(path, len(gt)) for path in files]
        runs = [got10k_metrics.sequence_ious(pred, gt, cover, resolution) for pred in predictions]
        ious[sequence.name] = np.concatenate(runs)
        times = _read_times(results_dir / sequence.name / f"{sequence.name}_time.txt")
        all_times.append(times)
        scores = got10k_metrics.got10k_scores(ious[sequence.name])
        scores.update(speed_fps=_fps(times), length=len(gt) - 1,
                      nan_result_lines=sum(nan_lines(pred) for pred in predictions))
        per_sequence[sequence.name] = scores
    if not per_sequence:
        raise DataError(results_dir, f"no result file for any of the {len(missing)} benchmark sequences")
    overall = got10k_metrics.pooled_got10k_scores(ious)
    overall["speed_fps"] = _fps(np.concatenate(all_times))
    overall["num_sequences"] = len(per_sequence)
    overall["nan_result_lines"] = sum(s["nan_result_lines"] for s in per_sequence.values())
    return Report(tracker_name or results_dir.name, _benchmark_name(benchmark, "got10k"), "got10k", overall,
                  per_sequence, missing=missing)


# --- ground truth without images ------------------------------------------------------------------

def open_for_scoring(kind: str, root, **options):
    """The benchmark reader for scoring; an OTB root without images is read as ground truth alone."""
    from tracking.benchmarks import OTB, open_benchmark

    kind = kind.lower().replace("-", "").replace("_", "")
    if kind == "otb" and not any(Path(root).glob("*/img")):
        return OTB(root, images=False, **options)
    return open_benchmark(kind, root, **options)


SCORERS = {"otb": score_ope, "uav123": score_uav123, "lasot": score_lasot, "vot": score_vot, "got10k": score_got10k}
