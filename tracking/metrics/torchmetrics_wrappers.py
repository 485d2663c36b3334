"""The benchmark metrics as ``torchmetrics.Metric``s, correct under DDP.

Each ``update`` takes **one whole sequence** (predictions and ground truth, (N, 4) ``xywh`` tensors or arrays).
The OPE metrics keep one curve per sequence in a list state reduced by concatenation, so after a DDP sync every
rank holds every sequence's curve and ``compute`` averages curves over sequences exactly as got10k does (not
over frames, and independent of how sequences were split over ranks). The GOT-10k metrics keep the per-frame
IoUs and pool them, as ``ExperimentGOT10k`` does. The numbers come from :mod:`tracking.metrics.ope` /
:mod:`tracking.metrics.got10k` (float64 on the CPU), so they equal the offline scores.
"""
from __future__ import annotations

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from tracking.metrics import got10k as got10k_metrics
from tracking.metrics import ope


def _numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float64).numpy()
    return np.asarray(values, dtype=np.float64)


class _PerSequenceCurves(Metric):
    """Base: one curve per sequence; ``compute`` reads a score off the mean curve."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("curves", default=[], dist_reduce_fx="cat")

    def sequence_curve(self, pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def update(self, pred, gt) -> None:
        """Add one sequence; its first prediction is replaced by the ground truth (got10k)."""
        pred, gt = _numpy(pred).copy(), _numpy(gt)
        if pred.shape != gt.shape or pred.ndim != 2 or pred.shape[1] != 4 or len(pred) == 0:
            raise ValueError(f"expected two (N, 4) box arrays of one sequence, got {pred.shape} and {gt.shape}")
        pred[0] = gt[0]
        curve = self.sequence_curve(pred, gt)
        self.curves.append(torch.as_tensor(curve, dtype=torch.float64, device=self.device).reshape(1, -1))

    def mean_curve(self) -> torch.Tensor:
        """The per-sequence curves averaged over sequences."""
        return dim_zero_cat(self.curves).mean(dim=0)


class SuccessAUC(_PerSequenceCurves):
    """OTB success AUC: mean of the 21-threshold success curve, averaged over sequences."""

    def sequence_curve(self, pred, gt):
        return ope.success_curve(ope.iou(pred, gt))

    def compute(self) -> torch.Tensor:
        return self.mean_curve().mean()


class SuccessRate(_PerSequenceCurves):
    """Fraction of frames with IoU > ``threshold`` (0.5: OTB success rate), averaged over sequences."""

    def __init__(self, threshold: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.threshold = float(threshold)

    def sequence_curve(self, pred, gt):
        return ope.success_curve(ope.iou(pred, gt), [self.threshold])

    def compute(self) -> torch.Tensor:
        return self.mean_curve()[0]


class PrecisionAt(_PerSequenceCurves):
    """Fraction of frames with center error <= ``threshold`` pixels, averaged over sequences."""

    def __init__(self, threshold: float = 20.0, **kwargs):
        super().__init__(**kwargs)
        self.threshold = float(threshold)

    def sequence_curve(self, pred, gt):
        return ope.precision_curve(ope.center_error(pred, gt), [self.threshold])

    def compute(self) -> torch.Tensor:
        return self.mean_curve()[0]


class PrecisionAt20(PrecisionAt):
    """OTB precision score: center error <= 20 px."""

    def __init__(self, **kwargs):
        super().__init__(threshold=20.0, **kwargs)


class NormalizedPrecision(_PerSequenceCurves):
    """Normalized precision, ``definition="auc"`` (area over [0, 0.5], LaSOT/TrackingNet style) or
    ``"at_0.2"`` (the curve at 0.2, pysot/pytracking)."""

    def __init__(self, definition: str = "auc", **kwargs):
        if definition not in ("auc", "at_0.2"):
            raise ValueError(f"definition must be 'auc' or 'at_0.2', got {definition!r}")
        super().__init__(**kwargs)
        self.definition = definition

    def sequence_curve(self, pred, gt):
        return ope.norm_precision_curve(ope.normalized_center_error(pred, gt))

    def compute(self) -> torch.Tensor:
        curve = self.mean_curve()
        return curve.mean() if self.definition == "auc" else curve[ope.NORM_PRECISION_INDEX_02]


class _PooledGOT10kIoUs(Metric):
    """Base: the IoUs GOT-10k scores (first frame dropped, ``cover > 0`` frames, clipped to the image)."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("ious", default=[], dist_reduce_fx="cat")

    def update(self, pred, gt, cover=None, image_size=None) -> None:
        """Add one sequence run; ``cover`` per frame (None: all frames), ``image_size = (W, H)`` or None."""
        cover = None if cover is None else _numpy(cover)
        ious = got10k_metrics.sequence_ious(_numpy(pred), _numpy(gt), cover, image_size)
        self.ious.append(torch.as_tensor(ious, dtype=torch.float64, device=self.device))

    def pooled(self) -> torch.Tensor:
        return dim_zero_cat(self.ious)


class AverageOverlap(_PooledGOT10kIoUs):
    """GOT-10k AO: mean IoU pooled over the frames of all sequences."""

    def compute(self) -> torch.Tensor:
        return self.pooled().mean()


class GOT10kSuccessRate(_PooledGOT10kIoUs):
    """GOT-10k SR at ``threshold`` (0.5 or 0.75), pooled over frames."""

    def __init__(self, threshold: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.threshold = float(threshold)

    def compute(self) -> torch.Tensor:
        return (self.pooled() > self.threshold).to(torch.float64).mean()
