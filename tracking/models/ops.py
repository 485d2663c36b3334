"""Correlation and recalibration ops shared by the Siamese heads.

- :func:`xcorr`: SiamFC's plain cross-correlation, one response channel per pair (``siamfc-pytorch``
  ``heads.py``: the batch folded into conv groups).
- :func:`xcorr_per_exemplar`: the same, one exemplar at a time: a sample's response does not depend on the rest of
  the batch (several sequences tracked in lockstep get the responses of tracking each alone, bit for bit).
- :func:`xcorr_depthwise`: SiamRPN++'s depth-wise correlation, one response channel per feature channel.
- :func:`xcorr_up_channel`: SiamRPN's up-channel correlation, the template holding O filters.
- :class:`SqueezeExcitation`: channel gates (global average pool -> 1x1 conv -> ReLU -> 1x1 conv -> sigmoid), as
  MFST recalibrates conv3/4/5 features.

Correlation filters (SNS-CF's ridge-regression layer) go beside these, in ``tracking.models.correlation_filter``.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def xcorr(search: torch.Tensor, exemplar: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-correlation summed over channels: (B, C, H, W) * (B, C, h, w) -> (B, 1, H-h+1, W-w+1).

    One exemplar may also be correlated with several searches (B_search a multiple of B_exemplar, e.g. the
    scales of one frame): each exemplar serves ``B_search // B_exemplar`` consecutive searches.
    """
    batch = exemplar.shape[0]
    if search.shape[0] % batch:
        raise ValueError(f"{search.shape[0]} searches cannot share {batch} exemplars")
    per_exemplar = search.shape[0] // batch
    channels = search.shape[1]
    grouped = search.reshape(-1, batch * channels, *search.shape[2:]) if per_exemplar == 1 else \
        search.reshape(batch, per_exemplar, channels, *search.shape[2:]).transpose(0, 1) \
              .reshape(per_exemplar, batch * channels, *search.shape[2:])
    out = F.conv2d(grouped, exemplar, groups=batch)  # (per_exemplar, batch, H', W')
    out = out.transpose(0, 1) if per_exemplar > 1 else out.reshape(batch, 1, *out.shape[2:])
    return out.reshape(search.shape[0], 1, *out.shape[-2:])


def xcorr_per_exemplar(search: torch.Tensor, exemplar: torch.Tensor) -> torch.Tensor:
    """``xcorr`` exemplar by exemplar (each with its ``B_search // B_exemplar`` consecutive searches): every
    response is the one its exemplar alone gives, bit for bit, whatever else is in the batch. ``xcorr``'s grouped
    convolution over several exemplars rounds differently (~1e-6 relative on the CPU), enough to move an argmax
    between near-equal peaks of an upsampled score map; the loop costs one small convolution per exemplar."""
    batch = exemplar.shape[0]
    if search.shape[0] % batch:
        raise ValueError(f"{search.shape[0]} searches cannot share {batch} exemplars")
    per_exemplar = search.shape[0] // batch
    return torch.cat([xcorr(search[index * per_exemplar:(index + 1) * per_exemplar], exemplar[index:index + 1])
                      for index in range(batch)])


def xcorr_depthwise(search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-channel cross-correlation: (B, C, H, W) * (B, C, h, w) -> (B, C, H-h+1, W-w+1)."""
    batch, channels = kernel.shape[:2]
    out = F.conv2d(search.reshape(1, batch * channels, *search.shape[2:]),
                   kernel.reshape(batch * channels, 1, *kernel.shape[2:]), groups=batch * channels)
    return out.reshape(batch, channels, *out.shape[2:])


def xcorr_up_channel(search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """SiamRPN's correlation: each sample's kernel (B, O*C, h, w) holds O filters over the C search channels."""
    batch, channels = search.shape[:2]
    filters = kernel.reshape(-1, channels, *kernel.shape[2:])
    out = F.conv2d(search.reshape(1, batch * channels, *search.shape[2:]), filters, groups=batch)
    return out.reshape(batch, -1, *out.shape[2:])


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation channel gates: ``x * sigmoid(W2 relu(W1 avgpool(x)))`` (Hu et al.).

    ``reduction`` 4 gives 384 -> 96 -> 384; Xavier-uniform weights and zero biases (MFST's initialisation).
    ``gates(x)`` returns the (B, C, 1, 1) gates alone.
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = channels // reduction
        if hidden < 1:
            raise ValueError(f"reduction {reduction} leaves no hidden channel for {channels} channels")
        self.squeeze = nn.Conv2d(channels, hidden, 1)
        self.excite = nn.Conv2d(hidden, channels, 1)
        for conv in (self.squeeze, self.excite):
            nn.init.xavier_uniform_(conv.weight)
            nn.init.zeros_(conv.bias)

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.excite(F.relu(self.squeeze(pooled))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gates(x)
