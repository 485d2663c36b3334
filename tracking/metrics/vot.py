"""VOT supervised ("baseline") experiment metrics: accuracy, robustness, failures and EAO.

Results are got10k's VOT records: one entry per frame, ``[1]`` (tracker (re)initialised), ``[2]`` (failure:
IoU with the ground truth fell to 0), ``[0]`` (frame skipped after a failure), else a box ``x, y, w, h`` or a
polygon of 8 values. After a failure at frame ``f`` the runner re-initialises at ``f + SKIP_AFTER_FAILURE``.

Overlaps are polygon IoUs with both regions clipped to the image, as got10k's ``poly_iou(..., bound=(W, H))``
(shapely, so rotated and non-convex polygons are handled the same way); code frames have no overlap (NaN).

Accuracy and robustness (:func:`accuracy_robustness`):

- ``accuracy``: per-frame overlaps with the ``BURNIN`` frames from every initialisation on (the init frame
  included) ignored, averaged over repetitions per frame, then averaged over all frames of all sequences
  ("pooled", pysot's ``Accuracy``; equal to got10k's when sequences carry no tags).
- ``failures``: number of failures, averaged over repetitions per sequence and summed over sequences (pysot's
  "Lost Number").
- ``robustness``: ``failures`` per 100 frames (pysot's ``Robustness``, the R of the SiamRPN++ paper).
- ``tag_weighted_accuracy`` / ``tag_weighted_robustness``: got10k's ``ExperimentVOT.report`` values: the mean
  overlap and the (repetition-averaged) failure count of the frames of each tag in :data:`GOT10K_VOT_TAGS`
  (``empty`` = frames with no tag), combined with weights proportional to the tags' frame counts.

Expected average overlap (:func:`expected_average_overlap`; got10k has none), as the VOT toolkit's
``estimate_expected_overlap`` defines it (VOT2015-2019):

1. Every run is cut into fragments at its re-initialisations: fragment ``k`` starts at the initialisation
   frame ``s_k`` (frame 0, then each ``failure + SKIP_AFTER_FAILURE`` that lies inside the sequence) and runs
   to the next start ``s_{k+1}`` inclusive. Unknown overlaps (the failure, skipped and re-init frames) are 0.
2. A fragment that ends in a failure is extended with zeros to any length (the tracker lost the target). The
   last fragment of a run (no later re-initialisation, even if it contains a failure whose restart would fall
   outside the sequence) is only defined up to the end of the sequence.
3. For a length ``Ns >= 2`` the fragments defined at frame ``Ns`` (1-based) are usable; each contributes the
   mean overlap of its frames ``2..Ns`` (the initialisation frame is not scored), weighted by ``1 / number of
   runs of its sequence``. ``Phi(Ns)`` is their weighted mean; ``Phi(1) = 1``; NaN when no fragment is usable.
4. ``EAO = mean of Phi(Ns) for Ns in [N_lo, N_hi]`` (both ends included, NaN lengths skipped).
   VOT2017/2018: ``[100, 356]`` (:data:`EAO_INTERVALS`).

No-reset average overlap (:func:`no_reset_average_overlap`, the "AO" SNS-CF reports for VOT-2018, VOT's
unsupervised experiment): a one-pass run without re-initialisation; per sequence the mean polygon IoU (clipped to
the image) over the frames after the initialisation frame, a frame without a box counting 0; then the mean over
sequences.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tracking.errors import DataError

SKIP_AFTER_FAILURE = 5
BURNIN = 10
SKIPPED, INITIALIZED, FAILED = 0, 1, 2
EAO_INTERVALS = {"VOT2016": (108, 371), "VOT2017": (100, 356), "VOT2018": (100, 356), "VOT2019": (46, 291)}
GOT10K_VOT_TAGS = ("camera_motion", "illum_change", "occlusion", "size_change", "motion_change", "empty")


# --- records ---------------------------------------------------------------------------------------

def parse_record(lines: Sequence[str], path=None) -> list[np.ndarray]:
    """Parse got10k VOT record lines (``1``, ``2``, ``0`` or 4 / 8 comma-separated numbers)."""
    record = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        try:
            values = np.array([float(v) for v in text.split(",")], dtype=np.float64)
        except ValueError:
            raise DataError(path, f"not a list of numbers: {text!r}", line=number) from None
        if len(values) == 1 and values[0] not in (SKIPPED, INITIALIZED, FAILED):
            raise DataError(path, f"unknown code {text!r} (expected 0, 1 or 2)", line=number)
        if len(values) not in (1, 4, 8):
            raise DataError(path, f"expected a code, 4 or 8 values, got {len(values)}", line=number)
        record.append(values)
    return record


def read_record(path) -> list[np.ndarray]:
    """Read one ``<seq>_NNN.txt`` record file (trailing blank lines ignored, like got10k)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "result file does not exist")
    lines = path.read_text().strip().split("\n")
    if lines == [""]:
        raise DataError(path, "result file is empty")
    return parse_record(lines, path)


def _is_code(entry: np.ndarray, code: int) -> bool:
    return len(entry) == 1 and entry[0] == code


def failure_frames(record) -> np.ndarray:
    """Indices of the frames marked as failures (``2``)."""
    return np.array([i for i, entry in enumerate(record) if _is_code(entry, FAILED)], dtype=int)


def init_frames(record) -> np.ndarray:
    """Indices of the (re)initialisation frames (``1``)."""
    return np.array([i for i, entry in enumerate(record) if _is_code(entry, INITIALIZED)], dtype=int)


# --- overlaps -------------------------------------------------------------------------------------

def _corners(regions) -> np.ndarray:
    """(N, 8) polygon corners of ``xywh`` boxes (in ``shapely.geometry.box``'s vertex order, as got10k builds
    them) and 8-value polygons."""
    rows = [np.asarray(region, dtype=np.float64).reshape(-1) for region in regions]
    corners = np.empty((len(rows), 8))
    for index, row in enumerate(rows):
        if len(row) == 8:
            corners[index] = row
        elif len(row) == 4:
            x1, y1, x2, y2 = row[0], row[1], row[0] + row[2], row[1] + row[3]
            corners[index] = [x2, y1, x2, y2, x1, y2, x1, y1]
        else:
            raise ValueError(f"a region has 4 (x, y, w, h) or 8 (polygon) values, got {len(row)}")
    return corners


def _clipped_polygons(corners: np.ndarray, bound) -> np.ndarray:
    """Shapely polygons, intersected with the image ``(0, 0, W, H)`` where they reach outside it."""
    import shapely

    polygons = shapely.polygons(corners.reshape(-1, 4, 2))
    if bound is not None:
        xs, ys = corners[:, 0::2], corners[:, 1::2]
        outside = ((xs.min(axis=1) < 0) | (ys.min(axis=1) < 0)
                   | (xs.max(axis=1) > bound[0]) | (ys.max(axis=1) > bound[1]))
        if outside.any():  # clipping a polygon inside the image would not change it
            polygons[outside] = shapely.intersection(polygons[outside], shapely.box(0, 0, bound[0], bound[1]))
    return polygons


def poly_iou(regions1, regions2, bound=None) -> np.ndarray:
    """IoU of pairs of regions (each ``xywh`` or an 8-value polygon), as got10k's ``poly_iou``.

    ``bound = (W, H)`` clips both regions to the image first. The intersection is GEOS's (shapely) as in
    got10k; the union area is ``area1 + area2 - intersection`` (equal to GEOS's union area up to rounding,
    and a third of the cost). A region with a NaN / inf value (which GEOS cannot handle) has IoU 0.
    """
    import shapely

    if len(regions1) != len(regions2):
        raise ValueError(f"{len(regions1)} regions against {len(regions2)}")
    first, second = _corners(regions1), _corners(regions2)
    valid = np.isfinite(first).all(axis=1) & np.isfinite(second).all(axis=1)
    ious = np.zeros(len(first))
    if not valid.any():
        return ious
    first, second = _clipped_polygons(first[valid], bound), _clipped_polygons(second[valid], bound)
    intersection = shapely.area(shapely.intersection(first, second))
    union = shapely.area(first) + shapely.area(second) - intersection
    ious[valid] = np.clip(intersection / (union + np.finfo(float).eps), 0.0, 1.0)
    return ious


def no_reset_average_overlap(runs) -> float:
    """AO of one-pass runs: ``runs`` are ``(boxes (N, 4), ground truth (N, 8 or 4), bound (W, H))`` per sequence;
    per sequence the mean IoU over frames 2..N (NaN boxes count 0), then the mean over sequences."""
    means = []
    for boxes, ground_truth, bound in runs:
        if len(boxes) != len(ground_truth):
            raise ValueError(f"{len(boxes)} boxes for {len(ground_truth)} ground-truth frames")
        if len(boxes) > 1:
            means.append(float(np.mean(poly_iou(list(boxes[1:]), list(ground_truth[1:]), bound))))
    if not means:
        raise ValueError("no sequence of two frames or more to average")
    return float(np.mean(means))


def frame_overlaps(record, ground_truth, bound=None) -> np.ndarray:
    """Per-frame overlap of one run: polygon IoU on box frames, NaN on code frames (0, 1, 2)."""
    if len(record) != len(ground_truth):
        raise ValueError(f"record has {len(record)} frames, ground truth {len(ground_truth)}")
    overlaps = np.full(len(record), np.nan)
    boxed = [i for i, entry in enumerate(record) if len(entry) > 1]
    if boxed:
        overlaps[boxed] = poly_iou([record[i] for i in boxed], [ground_truth[i] for i in boxed], bound)
    return overlaps


def without_burnin(overlaps, record, burnin: int = BURNIN) -> np.ndarray:
    """Overlaps with the ``burnin`` frames from each initialisation on (init frame included) set to NaN."""
    masked = np.array(overlaps, dtype=np.float64)
    for start in init_frames(record):
        masked[start:start + burnin] = np.nan
    return masked


# --- per-sequence results -------------------------------------------------------------------------

@dataclass
class VOTSequenceRuns:
    """The supervised runs of one sequence: ground truth (N, 8) or (N, 4), image size ``(W, H)``, one
    record per repetition, and the per-frame tags (bool arrays of length N)."""

    name: str
    ground_truth: np.ndarray
    image_size: tuple
    records: list
    tags: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        if not self.records:
            raise ValueError(f"{self.name}: no runs")
        for record in self.records:
            if len(record) != len(self.ground_truth):
                raise ValueError(f"{self.name}: a run has {len(record)} frames, ground truth {len(self.ground_truth)}")

    def overlaps(self) -> list[np.ndarray]:
        """Raw per-frame overlaps of each run (no burn-in)."""
        return [frame_overlaps(r, self.ground_truth, self.image_size) for r in self.records]

    def failures(self) -> list[np.ndarray]:
        return [failure_frames(r) for r in self.records]


def _tag_masks(tags: Mapping[str, np.ndarray], num_frames: int, tag_names) -> np.ndarray:
    masks = np.zeros((len(tag_names), num_frames), dtype=bool)
    for i, tag in enumerate(tag_names):
        if tag in tags:
            masks[i] = np.asarray(tags[tag]).astype(bool)
    if "empty" in tag_names:
        # got10k: frames on which none of the sequence's tags (practical* excluded) is set
        present = [np.asarray(v).astype(bool) for k, v in tags.items() if "practical" not in k]
        any_tag = np.logical_or.reduce(present, axis=0) if present else np.zeros(num_frames, dtype=bool)
        masks[list(tag_names).index("empty")] = ~any_tag
    return masks


def accuracy_robustness(sequences: Sequence[VOTSequenceRuns], burnin: int = BURNIN,
                        tag_names=GOT10K_VOT_TAGS, overlaps: Sequence[list] | None = None) -> dict:
    """Accuracy, failures and robustness over a benchmark (definitions in the module docstring).

    ``overlaps`` may pass precomputed raw overlaps (``[seq.overlaps() for seq in sequences]``).
    Returns the overall values and ``per_sequence`` ``{name: {accuracy, failures, num_frames}}``.
    """
    frame_ious, frame_failures, masks, per_sequence = [], [], [], {}
    for index, sequence in enumerate(sequences):
        runs = overlaps[index] if overlaps is not None else sequence.overlaps()
        num_frames = len(sequence.ground_truth)
        ious = np.array([without_burnin(o, r, burnin) for o, r in zip(runs, sequence.records)])
        failed = np.array([[_is_code(e, FAILED) for e in r] for r in sequence.records], dtype=np.float64)
        with np.errstate(invalid="ignore"), _quiet_nanmean():
            mean_ious = np.nanmean(ious, axis=0)
            mean_failures = failed.mean(axis=0)
            seq_accuracy = float(np.nanmean(mean_ious)) if np.isfinite(mean_ious).any() else float("nan")
        frame_ious.append(mean_ious)
        frame_failures.append(mean_failures)
        masks.append(_tag_masks(sequence.tags, num_frames, tag_names))
        per_sequence[sequence.name] = {
            "accuracy": seq_accuracy,
            "failures": float(failed.sum(axis=1).mean()),
            "num_frames": num_frames,
        }
    if not per_sequence:
        raise ValueError("no sequences to score")
    ious = np.concatenate(frame_ious)
    failed = np.concatenate(frame_failures)
    masks = np.concatenate(masks, axis=1)
    with _quiet_nanmean():
        tag_ious = np.array([np.nanmean(ious[m]) if m.any() else np.nan for m in masks])
    tag_failures = np.array([failed[m].sum() for m in masks])
    tag_ious[np.isnan(tag_ious)] = 0.0
    tag_frames = masks.sum(axis=1)
    tag_weights = tag_frames / tag_frames.sum()
    failures = float(sum(v["failures"] for v in per_sequence.values()))
    with _quiet_nanmean():
        accuracy = float(np.nanmean(ious))
    return {
        "accuracy": accuracy,
        "failures": failures,
        "robustness": 100.0 * failures / len(ious),
        "tag_weighted_accuracy": float(np.sum(tag_ious * tag_weights)),
        "tag_weighted_robustness": float(np.sum(tag_failures * tag_weights)),
        "per_tag": {tag: {"accuracy": float(a), "failures": float(f), "num_frames": int(n)}
                    for tag, a, f, n in zip(tag_names, tag_ious, tag_failures, tag_frames)},
        "per_sequence": per_sequence,
    }


@contextmanager
def _quiet_nanmean():
    """Silence numpy's "Mean of empty slice" warning: an all-NaN mean is meant to be NaN here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        yield


# --- expected average overlap ---------------------------------------------------------------------

def run_fragments(overlaps, failures, max_length: int, skip: int = SKIP_AFTER_FAILURE) -> np.ndarray:
    """Fragments of one run (rows of length ``max_length``): steps 1-2 of the EAO definition."""
    overlaps = np.asarray(overlaps, dtype=np.float64)
    known = np.nan_to_num(overlaps, nan=0.0)
    num_frames = len(overlaps)
    starts = [0] + [int(f) + skip for f in failures if int(f) + skip < num_frames]
    rows = []
    for start, next_start in zip(starts[:-1], starts[1:]):
        row = np.zeros(max_length)  # failed: zero overlap at every longer length
        piece = known[start:next_start + 1][:max_length]
        row[:len(piece)] = piece
        rows.append(row)
    row = np.full(max_length, np.nan)  # last fragment: defined only up to the end of the sequence
    piece = known[starts[-1]:][:max_length]
    row[:len(piece)] = piece
    rows.append(row)
    return np.array(rows)


def expected_overlap_curve(fragments: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``Phi(Ns)`` for ``Ns = 1 .. fragments.shape[1]`` (index ``Ns - 1``): step 3 of the EAO definition."""
    fragments = np.asarray(fragments, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    max_length = fragments.shape[1]
    curve = np.full(max_length, np.nan)
    curve[0] = 1.0
    # usable rows have no NaN in columns 0..Ns-1 (NaN only pads the end), so running sums are exact
    running = np.cumsum(np.nan_to_num(fragments, nan=0.0), axis=1)
    for length in range(2, max_length + 1):
        usable = ~np.isnan(fragments[:, length - 1])
        if not usable.any():
            continue
        means = (running[usable, length - 1] - fragments[usable, 0]) / (length - 1)
        curve[length - 1] = np.sum(means * weights[usable]) / np.sum(weights[usable])
    return curve


def eao_from_runs(runs: Sequence[tuple], interval=EAO_INTERVALS["VOT2018"],
                  skip: int = SKIP_AFTER_FAILURE) -> dict:
    """EAO from ``(sequence_name, overlaps, failure_frames)`` per run; returns ``eao``, ``curve``, ``interval``.

    ``overlaps`` are the raw per-frame overlaps (NaN on code frames, no burn-in).
    """
    low, high = int(interval[0]), int(interval[1])
    if not 1 <= low <= high:
        raise ValueError(f"bad EAO interval {interval}")
    runs = list(runs)
    if not runs:
        raise ValueError("no runs to score")
    runs_per_sequence: dict[str, int] = {}
    for name, _, _ in runs:
        runs_per_sequence[name] = runs_per_sequence.get(name, 0) + 1
    fragments, weights = [], []
    for name, overlaps, failures in runs:
        rows = run_fragments(overlaps, failures, high, skip)
        fragments.append(rows)
        weights.extend([1.0 / runs_per_sequence[name]] * len(rows))
    curve = expected_overlap_curve(np.concatenate(fragments), np.array(weights))
    window = curve[low - 1:high]
    eao = float(np.mean(window[~np.isnan(window)])) if np.any(~np.isnan(window)) else float("nan")
    return {"eao": eao, "curve": curve, "interval": (low, high)}


def expected_average_overlap(sequences: Sequence[VOTSequenceRuns], interval=EAO_INTERVALS["VOT2018"],
                             skip: int = SKIP_AFTER_FAILURE, overlaps: Sequence[list] | None = None) -> dict:
    """EAO over a benchmark's supervised runs (definition in the module docstring)."""
    runs = []
    for index, sequence in enumerate(sequences):
        seq_overlaps = overlaps[index] if overlaps is not None else sequence.overlaps()
        for run_overlaps, record in zip(seq_overlaps, sequence.records):
            runs.append((sequence.name, run_overlaps, failure_frames(record)))
    return eao_from_runs(runs, interval, skip)


def vot_scores(sequences: Sequence[VOTSequenceRuns], interval=EAO_INTERVALS["VOT2018"], burnin: int = BURNIN,
               skip: int = SKIP_AFTER_FAILURE) -> dict:
    """Accuracy / robustness / failures (+ got10k's tag-weighted pair) and EAO, overlaps computed once."""
    sequences = list(sequences)
    overlaps = [s.overlaps() for s in sequences]
    scores = accuracy_robustness(sequences, burnin, overlaps=overlaps)
    eao = expected_average_overlap(sequences, interval, skip, overlaps=overlaps)
    scores.update(eao=eao["eao"], eao_curve=eao["curve"], eao_interval=eao["interval"])
    return scores
