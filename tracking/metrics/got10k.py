"""GOT-10k metrics (AO, SR0.5, SR0.75) exactly as got10k's ``ExperimentGOT10k.report`` computes them.

Per sequence and repetition: the first frame is dropped (the tracker was initialised on it), both boxes are
clipped to the image (``bound = meta resolution``), the IoU is got10k's ``rect_iou``, and only frames whose
``cover`` label is > 0 are kept (``cover == 0`` marks the target absent; ``absence.label`` itself is not used
by the toolkit). The frames of every repetition are concatenated.

Overall AO / SR are **pooled over frames** of all sequences (got10k concatenates every sequence's IoUs before
averaging), not averaged over sequences. SR0.75 is not in got10k 0.1.3 but is GOT-10k's second success rate,
computed the same way (IoU > 0.75). The success curve has 101 thresholds ``linspace(0, 1, 101)`` (IoU > t).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from tracking.metrics.ope import iou

GOT10K_THRESHOLDS = np.linspace(0, 1, 101)


def sequence_ious(pred, gt, cover=None, resolution=None) -> np.ndarray:
    """IoUs GOT-10k scores for one run: frames 1.. (first dropped) whose ``cover`` > 0, boxes clipped to
    ``resolution = (W, H)``. ``cover`` has one value per frame (including the first) or is None (all kept)."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"pred has shape {pred.shape} but gt has shape {gt.shape}")
    ious = iou(pred[1:], gt[1:], bound=resolution)
    if cover is not None:
        cover = np.asarray(cover)
        if len(cover) != len(gt):
            raise ValueError(f"cover has {len(cover)} values for {len(gt)} frames")
        ious = ious[cover[1:] > 0]
    return ious


def average_overlap(ious) -> float:
    """AO: the mean IoU (NaN propagates, as in got10k)."""
    return float(np.mean(np.asarray(ious, dtype=np.float64)))


def success_rate(ious, threshold: float = 0.5) -> float:
    """SR_t: the fraction of IoUs strictly above ``threshold``."""
    return float(np.mean(np.asarray(ious, dtype=np.float64) > threshold))


def got10k_scores(ious) -> dict:
    """``ao``, ``sr50``, ``sr75`` and the 101-point ``success_curve`` of a set of frame IoUs."""
    ious = np.asarray(ious, dtype=np.float64).reshape(-1)
    return {
        "ao": average_overlap(ious),
        "sr50": success_rate(ious, 0.5),
        "sr75": success_rate(ious, 0.75),
        "success_curve": np.mean(ious[:, None] > GOT10K_THRESHOLDS[None, :], axis=0),
    }


def pooled_got10k_scores(per_sequence_ious: Iterable | Mapping) -> dict:
    """Overall GOT-10k scores: every sequence's frame IoUs concatenated, then :func:`got10k_scores`."""
    values = per_sequence_ious.values() if isinstance(per_sequence_ious, Mapping) else per_sequence_ious
    arrays = [np.asarray(v, dtype=np.float64).reshape(-1) for v in values]
    if not arrays:
        raise ValueError("no sequences to score")
    return got10k_scores(np.concatenate(arrays))
