"""LaSOT one-pass evaluation exactly as the official LaSOT toolkit (``HengLan/LaSOT_Evaluation_Toolkit``,
``utils/calc_seq_err_robust.m``, ``utils/eval_tracker.m``, ``utils/plot_draw_save.m``).

How LaSOT differs from got10k's OTB protocol (:mod:`tracking.metrics.ope`):

1. An invalid prediction (NaN, ``w <= 0`` or ``h <= 0``) on frame ``i >= 2`` whose ground truth has no NaN is
   replaced by the (already repaired) prediction of frame ``i - 1``. The first prediction is the ground truth.
2. **Absent frames** (``absent`` flag: full occlusion or out of view) are removed from the numerator but the
   denominator stays the full sequence length, so an absent frame counts as a failure at every threshold.
   (pytracking's LaSOT evaluation does the same in effect; the toolkit does not "exclude" them.)
3. On present frames whose ground truth has a value <= 0 (x, y, w or h; LaSOT writes ``0,0,0,0`` when the
   target is absent), the overlap is -1 (fails every threshold) and the center error is -1 (counted as
   precise at every threshold, a quirk of the toolkit kept for equality).
4. Overlap: ``(min(r1, r2) - max(l1, l2) + 1)`` with ``r = x + w - 1`` (the same continuous IoU as got10k,
   no epsilon). Center ``x + (w - 1) / 2``; normalized precision divides both centers by the ground-truth size.
5. Curves: success over ``0:0.05:1`` (IoU > t), precision over ``0:50`` px, normalized precision over
   ``0:0.01:0.5`` (error <= t); per-sequence curves are averaged over sequences, **leaving out sequences whose
   curve is all zeros** (``plot_draw_save``: ``aa(sum(aa, 2) > eps, :)``), separately for each curve type.
   Success score = mean of the mean curve; precision = the curve at 20 px; normalized precision at 0.2 (the
   toolkit's ranking index 21) and its area (mean) over [0, 0.5].
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from tracking.metrics.ope import (CURVE_KEYS, NORM_PRECISION_THRESHOLDS, PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS,
                                  scores_from_curves, mean_center_error, mean_over_sequences)


def repair_predictions(pred, gt) -> np.ndarray:
    """Step 1: invalid predictions replaced by the previous one (where the ground truth has no NaN)."""
    pred = np.array(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    for i in range(1, len(gt)):
        row = pred[i]
        invalid = np.isnan(row).any() or row[2] <= 0 or row[3] <= 0
        if invalid and not np.isnan(gt[i]).any():
            pred[i] = pred[i - 1]
    return pred


def lasot_sequence_scores(pred, gt, absent=None) -> dict:
    """The three per-sequence curves (and scores) of one LaSOT sequence.

    ``gt`` is the ground truth as the LaSOT file has it (``0,0,0,0`` rows when absent, no NaN needed);
    ``absent`` the per-frame absent flags (None: none absent). ``pred`` must have ``len(gt)`` rows.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or gt.ndim != 2 or gt.shape[1] != 4 or len(gt) == 0:
        raise ValueError(f"expected two (N, 4) box arrays, got {pred.shape} and {gt.shape}")
    total = len(gt)
    boxes = repair_predictions(pred, gt)
    boxes[0] = gt[0]
    keep = np.ones(total, bool) if absent is None else ~np.asarray(absent).astype(bool)
    boxes, gt = boxes[keep], gt[keep]

    with np.errstate(divide="ignore", invalid="ignore"):
        centers = boxes[:, :2] + (boxes[:, 2:] - 1) / 2
        centers_gt = gt[:, :2] + (gt[:, 2:] - 1) / 2
        errors = np.sqrt(np.sum((centers - centers_gt) ** 2, axis=1))
        normalized = np.sqrt(np.sum((centers / gt[:, 2:] - centers_gt / gt[:, 2:]) ** 2, axis=1))

        valid = np.all(gt > 0, axis=1)
        right = np.minimum(boxes[:, 0] + boxes[:, 2] - 1, gt[:, 0] + gt[:, 2] - 1)
        left = np.maximum(boxes[:, 0], gt[:, 0])
        top = np.minimum(boxes[:, 1] + boxes[:, 3] - 1, gt[:, 1] + gt[:, 3] - 1)
        bottom = np.maximum(boxes[:, 1], gt[:, 1])
        intersection = np.maximum(0, right - left + 1) * np.maximum(0, top - bottom + 1)
        overlaps = intersection / (boxes[:, 2] * boxes[:, 3] + gt[:, 2] * gt[:, 3] - intersection)
    overlaps = np.where(valid, overlaps, -1.0)
    errors = np.where(valid, errors, -1.0)
    normalized = np.where(valid, normalized, -1.0)

    denominator = total + np.finfo(float).eps
    with np.errstate(invalid="ignore"):
        success = np.sum(overlaps[:, None] > SUCCESS_THRESHOLDS[None, :], axis=0) / denominator
        precision = np.sum(errors[:, None] <= PRECISION_THRESHOLDS[None, :], axis=0) / denominator
        norm = np.sum(normalized[:, None] <= NORM_PRECISION_THRESHOLDS[None, :], axis=0) / denominator
    # CLE (not in the toolkit): over the present frames with a valid ground truth (the toolkit's -1 errors excluded)
    return scores_from_curves(success, precision, norm, mean_center_error(errors[valid]))


def average_lasot_scores(per_sequence: Iterable[Mapping] | Mapping[str, Mapping],
                         drop_all_zero_curves: bool = True) -> dict:
    """Overall LaSOT scores: mean curves over sequences (all-zero curves left out, as the toolkit does)."""
    values = list(per_sequence.values()) if isinstance(per_sequence, Mapping) else list(per_sequence)
    if not values:
        raise ValueError("no sequences to average")
    curves = {}
    for key in CURVE_KEYS:
        stacked = np.array([np.asarray(v[key], dtype=np.float64) for v in values])
        if drop_all_zero_curves:
            kept = stacked[stacked.sum(axis=1) > np.finfo(float).eps]
            stacked = kept if len(kept) else np.zeros_like(stacked[:1])
        curves[key] = stacked.mean(axis=0)
    return scores_from_curves(curves["success_curve"], curves["precision_curve"], curves["norm_precision_curve"],
                               mean_over_sequences(v["center_error_mean"] for v in values))
