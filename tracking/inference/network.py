"""``TrackingNetwork``: the one object that runs a network for a tracker (as pytracking's ``NetWithBackbone``).

It owns everything about running the network that is not the tracking algorithm: the tracking copy of the
network (BatchNorm folded, weights in the input's memory order, declared methods compiled:
``tracking.inference.rewrites``), the device, the precision (autocast) and the crops
(``tracking.inference.crops``). A tracker asks it for crops (``crops``) and for the network's outputs on them
(``run``); the five inference values (``InferenceParams``) are read here and nowhere else.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Sequence

import torch
import torch.nn as nn

from tracking.inference.crops import CROP_STYLES, CropRequest, crop_inputs
from tracking.inference.params import InferenceParams
from tracking.inference.precision import autocast_dtype, resolve_precision
from tracking.inference.rewrites import tracking_copy


class TrackingNetwork:
    """``network`` (an ``nn.Module`` with a ``config`` naming its ``image_format``) as a tracker runs it.

    ``params``: the tracker's parameters (an ``InferenceParams`` subclass); ``precision="auto"`` is resolved for
    ``device`` here and ``params`` holds the choice (the tracker records it in its results' identity).
    ``crop_style``: the reference crop the tracker follows (``tracking.inference.crops.CROP_STYLES``).
    ``compile``: False keeps the copy uncompiled whatever the parameters say (a network rebuilt per sequence).
    """

    def __init__(self, network: nn.Module, params: InferenceParams, device="cpu", crop_style: str = "pysot",
                 compile: bool = True):
        if not isinstance(params, InferenceParams):
            raise TypeError(f"params must be an InferenceParams, got {type(params).__name__}")
        if crop_style not in CROP_STYLES:
            raise ValueError(f"crop_style must be one of {CROP_STYLES}, got {crop_style!r}")
        self.device = torch.device(device)
        precision = resolve_precision(params.precision, self.device)
        self.params = params if precision == params.precision else dataclasses.replace(params, precision=precision)
        self.autocast_dtype = autocast_dtype(precision, self.device)
        self.crop_style = crop_style
        self.source = network.to(self.device).eval()
        self.image_format = network.config.image_format
        # the tracker's own copy (the module's network untouched)
        self.module = tracking_copy(self.source, self.params.fold_batchnorm, compile and self.params.compile,
                                    self.params.channels_last)

    def rebuilt(self, network: nn.Module) -> "TrackingNetwork":
        """The same values on other weights (e.g. a network fine-tuned online), uncompiled: a compilation per
        rebuild would cost more than it saves."""
        return TrackingNetwork(network, self.params, self.device, self.crop_style, compile=False)

    # ------------------------------------------------------------------------------------------------ running
    def autocast(self):
        """The network's precision: autocast of its dtype on the device (nothing for fp32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def run(self, method: str, *args, **kwargs):
        """The tracking copy's ``method`` on ``args`` (crops from :meth:`crops`, template features), in inference
        mode at the network's precision."""
        with torch.inference_mode(), self.autocast():
            return getattr(self.module, method)(*args, **kwargs)

    def train_forward(self, module: nn.Module, *args):
        """``module(*args)`` with autograd at the network's precision: for a tracker that fine-tunes a copy of the
        network online (the copy's values, not the tracking copy's)."""
        with torch.enable_grad(), self.autocast():
            return module(*args)

    # ------------------------------------------------------------------------------------------------ crops
    def crops(self, requests: Sequence[CropRequest]) -> torch.Tensor:
        """Every request's crops as one network input on the device (``tracking.inference.crops``): OpenCV on the
        CPU, or with ``crop_on_device`` one torch call for all of them."""
        return crop_inputs(requests, self.crop_style, self.image_format, self.device, self.params.crop_on_device,
                           self.params.channels_last)

    @property
    def crop_settings(self) -> tuple:
        """What decides how this network's crops are cut: networks that agree can crop in one call."""
        return (self.crop_style, self.image_format, self.device, self.params.crop_on_device, self.params.channels_last)

    def as_input(self, crops: torch.Tensor) -> torch.Tensor:
        """Crops already in the network's layout (e.g. a part of a larger crop) in the input's memory order."""
        return crops.contiguous(memory_format=torch.channels_last) if self.params.channels_last else crops
