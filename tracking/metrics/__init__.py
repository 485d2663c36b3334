"""Tracking metrics equal to the official toolkits.

- :mod:`tracking.metrics.ope`: one-pass evaluation (OTB / UAV123 / LaSOT-style): success, precision,
  normalized precision, as got10k's ``ExperimentOTB``.
- :mod:`tracking.metrics.got10k`: GOT-10k AO, SR0.5, SR0.75 as got10k's ``ExperimentGOT10k``.
- :mod:`tracking.metrics.vot`: VOT supervised accuracy, robustness, failures and EAO.
- :mod:`tracking.metrics.attributes`: per-attribute / per-tag breakdowns.
- :mod:`tracking.metrics.torchmetrics_wrappers`: the same as DDP-safe ``torchmetrics.Metric``s.
"""
from tracking.metrics.ope import (  # noqa: F401
    average_ope_scores,
    center_error,
    iou,
    normalized_center_error,
    ope_scores,
)
