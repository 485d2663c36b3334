"""Train with the network's weights in channels-last (NHWC) memory order: on GPUs, bf16 convolutions run on
tensor cores without layout transposes. A config opts in under ``trainer.callbacks``; ``make bench`` times it.

Only the module's parameters and buffers are converted (once, when fitting starts): PyTorch's convolutions give
a channels-last output when either the input or the weight is channels-last, so the first convolution converts
the (NCHW) batch and the layout propagates from there. Values are unchanged (a memory order, not a
transformation); checkpoints hold the same tensors.
"""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback


class ChannelsLast(Callback):
    """Convert the module to channels-last when fitting starts; ``cpu``: also on a CPU (off by default: on the
    suite's CPU networks channels-last gains for AlexNets and loses for ResNet-50, see README, Speed)."""

    def __init__(self, cpu: bool = False):
        self.cpu = cpu

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if pl_module.device.type == "cuda" or self.cpu:
            pl_module.to(memory_format=torch.channels_last)
