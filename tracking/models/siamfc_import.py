"""siamfc-pytorch checkpoints onto a suite ``SiamFC`` network.

The reference saves ``Net.state_dict()`` (``siamfc.py:303-305``): ``backbone.convN.0.{weight,bias}`` (the
convolutions) and ``backbone.convN.1.{weight,bias,running_mean,running_var,num_batches_tracked}`` (BatchNorm of
conv1-4); its head has no parameters (references part A5). ``SiamFCAlexNet`` keeps those module names, so the keys
are ours as they are. A file may hold the dict under ``state_dict`` or with ``module.`` prefixes (``DataParallel``)
and may lack ``num_batches_tracked`` (PyTorch < 0.4.1): those counters are then the model's own. Anything else
missing, unexpected or of another shape is an error naming the keys.
"""
from __future__ import annotations

import torch

from tracking.errors import DataError
from tracking.models.pysot_import import read_pysot_checkpoint, unwrap_pysot_checkpoint

REFERENCE = "siamfc-pytorch"


def siamfc_to_suite(state: dict, model, source="checkpoint") -> dict[str, torch.Tensor]:
    """A siamfc-pytorch state dict checked against ``model`` (a ``SiamFC`` with the ``siamfc_alexnet`` backbone)
    and completed with the model's own ``num_batches_tracked`` where the file has none."""
    config = model.config
    if config.backbone != "siamfc_alexnet":
        raise DataError(source, f"siamfc-pytorch checkpoints hold a SiamFC AlexNet; this config's network has "
                                f"backbone {config.backbone!r} (use a siamfc/* config)")
    state = unwrap_pysot_checkpoint(state, source, REFERENCE)
    own = model.state_dict()
    missing = sorted(key for key in own if key not in state and not key.endswith("num_batches_tracked"))
    unexpected = sorted(key for key in state if key not in own)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} weights of the SiamFC AlexNet are missing, e.g. {missing[:6]}")
        if unexpected:
            parts.append(f"{len(unexpected)} entries do not belong to it, e.g. {unexpected[:6]}")
        raise DataError(source, "; ".join(parts) + " (is this a checkpoint of another architecture? siamfc-pytorch "
                                                   "names its weights backbone.convN.0.* and backbone.convN.1.*)")
    wrong = [f"{key}: {tuple(value.shape)} (expected {tuple(own[key].shape)})" for key, value in state.items()
             if value.shape != own[key].shape]
    if wrong:
        raise DataError(source, f"{len(wrong)} weights have the wrong shape for this SiamFC AlexNet "
                                f"(width_mult {config.backbone_options.get('width_mult', 1.0)}): {wrong[:4]}")
    return {key: state[key].to(value.dtype) if key in state else value.clone() for key, value in own.items()}


def read_siamfc_checkpoint(path, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Read a siamfc-pytorch ``siamfc_alexnet_e50.pth`` (clear errors for a missing or unreadable file)."""
    return read_pysot_checkpoint(path, trust_pickle=trust_pickle, reference=REFERENCE)
