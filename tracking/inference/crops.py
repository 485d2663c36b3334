"""The one crop function of every tracker: square windows of frames as the network's input, in the crop style
of the reference a tracker follows, on the CPU with OpenCV or on the tracker's device in torch, every request of a
lockstep step in one call.

Styles (the arithmetic is ``tracking.crops``):

- ``pysot``: pysot's ``get_subwindow`` (``crop_and_resize``; on the device ``resample_windows`` of the same
  whole-pixel windows, the fill truncated to uint8 as pysot's canvas stores it);
- ``siamfc``: siamfc-pytorch's ``crop_and_resize`` (``crop_and_resize_siamfc``; on the device the same windows,
  the fill rounded as OpenCV's border rounds it on integer frames);
- ``subpixel``: MFST's ``tf.image.crop_and_resize`` (``crop_subpixel``), always in torch on the device; a
  request without a fill takes the frame's mean colour.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from tracking.crops import (crop_and_resize, crop_and_resize_siamfc, crop_subpixel, frame_tensor, padded_frames,
                            pysot_windows, resample_windows, siamfc_windows)
from tracking.network_input import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, check_image_format, to_network_layout

CROP_STYLES = ("pysot", "siamfc", "subpixel")


@dataclass
class CropRequest:
    """Crops of ``image`` (H x W x 3, RGB) around ``center`` (cx, cy), one per window side in ``windows``, each
    resized to ``output_size``; ``fill`` the colour outside the frame (per channel; None: the frame's mean, for
    the sub-pixel style)."""

    image: np.ndarray
    center: Sequence[float]
    windows: Sequence[float]
    output_size: int
    fill: np.ndarray | None = None


def crop_inputs(requests: Sequence[CropRequest], style: str, image_format: str, device: torch.device,
                on_device: bool = False, channels_last: bool = False) -> torch.Tensor:
    """Every request's crops, in order, as one network input (N, 3, S, S) on ``device`` in ``image_format``
    (``tracking.network_input``), NHWC in memory with ``channels_last``. Requests share one ``output_size``."""
    if style not in CROP_STYLES:
        raise ValueError(f"crop style must be one of {CROP_STYLES}, got {style!r}")
    sizes = {request.output_size for request in requests}
    if len(sizes) != 1:
        raise ValueError(f"one call crops one output size, got {sorted(sizes)}")
    size = sizes.pop()
    if style == "subpixel":
        crops = torch.cat([_subpixel(request, device) for request in requests])
    elif on_device:
        crops = _device_crops(requests, style, size, device)
    else:
        crop = crop_and_resize if style == "pysot" else crop_and_resize_siamfc
        arrays = np.stack([to_network_layout(crop(r.image, r.center, window, size, r.fill), image_format)
                           for r in requests for window in r.windows])
        return network_batch(arrays, device, channels_last)
    return network_layout_torch(crops, image_format, channels_last)


def _subpixel(request: CropRequest, device) -> torch.Tensor:
    frame = frame_tensor(request.image, device)
    fill = frame.mean(dim=(1, 2)) if request.fill is None else torch.as_tensor(request.fill, dtype=frame.dtype,
                                                                               device=device)
    return crop_subpixel(frame, request.center, request.windows, request.output_size, fill)


def _device_crops(requests: Sequence[CropRequest], style: str, size: int, device) -> torch.Tensor:
    """The OpenCV styles' windows cut in one ``resample_windows`` call on ``device``: every frame sampled once for
    its windows (the requests of one call have the same number of windows)."""
    fills = np.stack([np.asarray(request.fill, dtype=np.float64) for request in requests])
    if style == "pysot":
        fills = np.floor(fills)  # pysot's canvas holds the mean colour as uint8
    elif all(np.issubdtype(request.image.dtype, np.integer) for request in requests):
        fills = np.rint(fills)  # OpenCV's border rounds the fill on integer frames
    frames = padded_frames([request.image for request in requests], fills, device)
    centers = torch.as_tensor(np.concatenate([np.repeat(np.asarray(r.center, np.float64)[None], len(r.windows), 0)
                                              for r in requests]))
    windows = torch.as_tensor(np.concatenate([np.asarray(r.windows, np.float64) for r in requests]))
    start, extent = (pysot_windows if style == "pysot" else siamfc_windows)(centers, windows)
    return resample_windows(frames, start, extent, size, torch.as_tensor(fills, dtype=torch.float32, device=device))


def network_batch(arrays: np.ndarray, device, channels_last: bool) -> torch.Tensor:
    """Network inputs (N, 3, H, W float32, from ``to_network_layout``) as a tensor on ``device``; with
    ``channels_last`` in NHWC memory order (the same values), the layout the reference trackers' crops arrive in
    (siamfc-pytorch and pysot permute H x W x C arrays without copying)."""
    batch = torch.from_numpy(arrays).to(device, non_blocking=True)
    return batch.contiguous(memory_format=torch.channels_last) if channels_last else batch


def network_layout_torch(crops: torch.Tensor, image_format: str, channels_last: bool = False) -> torch.Tensor:
    """(N, 3, H, W) RGB 0-255 float crops as the network's input: ``to_network_layout``'s conversion, in torch on
    the crops' device; with ``channels_last`` in NHWC memory order, as ``network_batch``."""
    check_image_format(image_format)
    if image_format == "bgr255":
        crops = crops.flip(1)
    elif image_format == "rgb_normalized":
        mean = torch.as_tensor(IMAGENET_MEAN_RGB, device=crops.device).view(1, 3, 1, 1)
        std = torch.as_tensor(IMAGENET_STD_RGB, device=crops.device).view(1, 3, 1, 1)
        crops = (crops / 255.0 - mean) / std
    return crops.contiguous(memory_format=torch.channels_last) if channels_last else crops
