"""One-pass evaluation (OTB, UAV123, LaSOT-style) metrics, equal to got10k's ``ExperimentOTB``.

Conventions (all as got10k 0.1.3, ``got10k/utils/metrics.py`` and ``got10k/experiments/otb.py``):

- Boxes are ``x, y, w, h``; IoU uses the continuous extent (``x2 = x + w``) and ``inter / (union + eps)``,
  clipped to [0, 1]; the center is ``x + (w - 1) / 2``.
- The first frame's prediction is replaced by the ground truth (the tracker was initialised on it); the first
  frame stays in every denominator.
- A NaN anywhere (ground truth unannotated or prediction missing) gives a NaN IoU / error, and a NaN is never
  above an IoU threshold nor below an error threshold: such frames count as failures, never as excluded.
  (got10k's ``ExperimentUAV123`` instead drops frames with NaN ground truth: ``exclude_unannotated=True``.)
  Zero-size or negative boxes go through the same formulas as in got10k (usually IoU 0).
- Success: fraction of frames with IoU **strictly greater** than each of 21 thresholds ``linspace(0, 1, 21)``;
  success AUC is the mean of that curve (got10k's ``success_score``); success rate is the curve at 0.5.
- Precision: fraction of frames with center error **<=** each of 51 thresholds ``0, 1, ..., 50`` px;
  the score is the value at 20 px.
- Mean centre location error (CLE, not in got10k 0.1.3; OTB papers' third number beside DP and OS, e.g.
  HCF, SNS-CF): per sequence the mean centre error in pixels over the frames where it is defined (frames with a
  NaN box are left out, as an error cannot be averaged; they already fail precision and success), overall the mean
  over sequences (NaN for a sequence without any such frame, which the overall mean skips).
- Normalized precision (not in got10k 0.1.3; defined as pysot's ``OPEBenchmark.eval_norm_precision`` and
  pytracking's ``calc_err_center(normalized=True)``): both centers are divided by the ground-truth ``w, h``
  before their distance is taken; curve over 51 thresholds ``0, 0.01, ..., 0.5`` (error <= t). Two scores:
  (a) ``norm_precision_auc``: the mean of that curve, i.e. the area over [0, 0.5] (LaSOT paper / TrackingNet
  style ranking); (b) ``norm_precision_20``: the curve at 0.2, what pysot and pytracking print as
  "Norm Precision".

A benchmark's overall scores average the per-sequence **curves** over sequences (every sequence weighs the same,
whatever its length), then take the scores from the mean curves: see :func:`average_ope_scores`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

SUCCESS_THRESHOLDS = np.linspace(0, 1, 21)
PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
NORM_PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64) / 100.0

PRECISION_INDEX_20PX = 20  # PRECISION_THRESHOLDS[20] == 20 px
SUCCESS_INDEX_05 = 10  # SUCCESS_THRESHOLDS[10] == 0.5
NORM_PRECISION_INDEX_02 = 20  # NORM_PRECISION_THRESHOLDS[20] == 0.2

SCALAR_KEYS = ("success_auc", "precision_20", "success_rate_50", "norm_precision_auc", "norm_precision_20",
               "center_error_mean")
CURVE_KEYS = ("success_curve", "precision_curve", "norm_precision_curve")


def _boxes(boxes, name: str) -> np.ndarray:
    array = np.array(boxes, dtype=np.float64)  # a copy: callers' arrays are never modified
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{name}: expected boxes of shape (N, 4), got {np.shape(boxes)}")
    return array


def _pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _boxes(pred, "pred"), _boxes(gt, "gt")
    if pred.shape != gt.shape:
        raise ValueError(f"pred has {len(pred)} boxes but gt has {len(gt)}")
    return pred, gt


def clip_to_bound(boxes, bound) -> np.ndarray:
    """got10k's ``bound`` clipping: ``x`` into [0, W], ``w`` into [0, W - x] (same for y, h)."""
    b = _boxes(boxes, "boxes")
    width, height = float(bound[0]), float(bound[1])
    b[:, 0] = np.clip(b[:, 0], 0, width)
    b[:, 1] = np.clip(b[:, 1], 0, height)
    b[:, 2] = np.clip(b[:, 2], 0, width - b[:, 0])
    b[:, 3] = np.clip(b[:, 3], 0, height - b[:, 1])
    return b


def iou(pred, gt, bound=None) -> np.ndarray:
    """Per-frame IoU of ``xywh`` boxes exactly as got10k's ``rect_iou`` (NaN in, NaN out).

    ``bound = (W, H)`` clips both boxes to the image first (GOT-10k); got10k's OTB experiment passes none.
    """
    pred, gt = _pair(pred, gt)
    if bound is not None:
        pred, gt = clip_to_bound(pred, bound), clip_to_bound(gt, bound)
    x1 = np.maximum(pred[:, 0], gt[:, 0])
    y1 = np.maximum(pred[:, 1], gt[:, 1])
    x2 = np.minimum(pred[:, 0] + pred[:, 2], gt[:, 0] + gt[:, 2])
    y2 = np.minimum(pred[:, 1] + pred[:, 3], gt[:, 1] + gt[:, 3])
    intersection = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    union = pred[:, 2] * pred[:, 3] + gt[:, 2] * gt[:, 3] - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        overlap = intersection / (union + np.finfo(float).eps)
    return np.clip(overlap, 0.0, 1.0)


def _centers(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + (boxes[:, 2:] - 1) / 2


def center_error(pred, gt) -> np.ndarray:
    """Distance in pixels between the centers ``x + (w - 1) / 2`` (got10k's ``center_error``)."""
    pred, gt = _pair(pred, gt)
    return np.sqrt(np.sum((_centers(pred) - _centers(gt)) ** 2, axis=1))


def normalized_center_error(pred, gt) -> np.ndarray:
    """Center distance after dividing both centers by the ground-truth ``w, h`` (pysot / pytracking).

    A zero-size ground truth gives inf or NaN, i.e. a failure at every threshold.
    """
    pred, gt = _pair(pred, gt)
    with np.errstate(divide="ignore", invalid="ignore"):
        difference = (_centers(pred) - _centers(gt)) / gt[:, 2:]
        return np.sqrt(np.sum(difference ** 2, axis=1))


def success_curve(ious, thresholds=SUCCESS_THRESHOLDS) -> np.ndarray:
    """Fraction of frames whose IoU is strictly above each threshold (NaN counts as a failure)."""
    ious = np.asarray(ious, dtype=np.float64).reshape(-1, 1)
    with np.errstate(invalid="ignore"):
        return np.mean(ious > np.asarray(thresholds, dtype=np.float64)[None, :], axis=0)


def success_auc(ious) -> float:
    """Mean of the 21-threshold success curve (got10k's ``success_score``, the OTB "AUC")."""
    return float(np.mean(success_curve(ious)))


def success_rate(ious, threshold: float = 0.5) -> float:
    """Fraction of frames with IoU > ``threshold`` (got10k OTB ``success_rate`` at 0.5)."""
    return float(success_curve(ious, [threshold])[0])


def precision_curve(errors, thresholds=PRECISION_THRESHOLDS) -> np.ndarray:
    """Fraction of frames whose center error is <= each threshold (NaN counts as a failure)."""
    errors = np.asarray(errors, dtype=np.float64).reshape(-1, 1)
    with np.errstate(invalid="ignore"):
        return np.mean(errors <= np.asarray(thresholds, dtype=np.float64)[None, :], axis=0)


def precision_at(errors, threshold: float = 20.0) -> float:
    """Fraction of frames with center error <= ``threshold`` (20 px: the OTB precision score)."""
    return float(precision_curve(errors, [threshold])[0])


def norm_precision_curve(normalized_errors, thresholds=NORM_PRECISION_THRESHOLDS) -> np.ndarray:
    """Normalized precision curve over ``0, 0.01, ..., 0.5`` (error <= t)."""
    return precision_curve(normalized_errors, thresholds)


def norm_precision_auc(normalized_errors) -> float:
    """(a) Area (mean) of the normalized precision curve over [0, 0.5], 51 thresholds."""
    return float(np.mean(norm_precision_curve(normalized_errors)))


def norm_precision_at(normalized_errors, threshold: float = 0.2) -> float:
    """(b) Normalized precision at one threshold, 0.2 as pysot and pytracking report it."""
    return float(precision_curve(normalized_errors, [threshold])[0])


def mean_center_error(errors) -> float:
    """CLE of one sequence: the mean of its finite centre errors (pixels), NaN when there is none."""
    errors = np.asarray(errors, dtype=np.float64)
    finite = errors[np.isfinite(errors)]
    return float(finite.mean()) if len(finite) else float("nan")


def mean_over_sequences(values) -> float:
    """The mean of per-sequence values, sequences with NaN left out (NaN when none is left)."""
    values = np.asarray(list(values), dtype=np.float64)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def scores_from_curves(succ: np.ndarray, prec: np.ndarray, norm: np.ndarray, center_error: float) -> dict:
    """The OPE scores of success / precision / normalised precision curves (shared with LaSOT's protocol)."""
    return {
        "success_auc": float(np.mean(succ)),
        "precision_20": float(prec[PRECISION_INDEX_20PX]),
        "success_rate_50": float(succ[SUCCESS_INDEX_05]),
        "norm_precision_auc": float(np.mean(norm)),
        "norm_precision_20": float(norm[NORM_PRECISION_INDEX_02]),
        "center_error_mean": float(center_error),
        "success_curve": succ,
        "precision_curve": prec,
        "norm_precision_curve": norm,
    }


def ope_scores(pred, gt, first_frame_from_gt: bool = True, exclude_unannotated: bool = False) -> dict:
    """All one-pass scores of one sequence, keys in :data:`SCALAR_KEYS` + :data:`CURVE_KEYS`.

    ``pred`` and ``gt`` are (N, 4) ``xywh``; with ``first_frame_from_gt`` the first prediction is replaced by
    the ground truth as got10k does. ``exclude_unannotated`` drops the frames whose ground truth has a NaN
    from numerator and denominator, as got10k's ``ExperimentUAV123`` does (``ExperimentOTB`` counts them as
    failures, the default).
    """
    pred, gt = _pair(pred, gt)
    if len(gt) == 0:
        raise ValueError("cannot score an empty sequence")
    if first_frame_from_gt:
        pred[0] = gt[0]
    if exclude_unannotated:
        annotated = ~np.isnan(gt).any(axis=1)
        pred, gt = pred[annotated], gt[annotated]
        if len(gt) == 0:
            raise ValueError("no annotated frame to score")
    ious = iou(pred, gt)
    errors = center_error(pred, gt)
    return scores_from_curves(
        success_curve(ious), precision_curve(errors), norm_precision_curve(normalized_center_error(pred, gt)),
        mean_center_error(errors),
    )


def average_ope_scores(per_sequence: Iterable[Mapping] | Mapping[str, Mapping]) -> dict:
    """Overall scores: per-sequence curves averaged over sequences (got10k), scores read off the mean curves."""
    values = list(per_sequence.values()) if isinstance(per_sequence, Mapping) else list(per_sequence)
    if not values:
        raise ValueError("no sequences to average")
    curves = {key: np.mean([np.asarray(v[key], dtype=np.float64) for v in values], axis=0) for key in CURVE_KEYS}
    return scores_from_curves(curves["success_curve"], curves["precision_curve"], curves["norm_precision_curve"],
                               mean_over_sequences(v["center_error_mean"] for v in values))
