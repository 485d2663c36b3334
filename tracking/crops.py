"""The SiamFC/SiamRPN crop, exactly as the reference trackers sample it.

The exemplar window around a target of size (w, h) has side ``s_z = sqrt((w + p)(h + p))`` with context
``p = context_amount * (w + h)`` (0.5 by default); the search window is ``s_z * instance_size / exemplar_size``.
A window of side ``s`` around ``center`` starts at ``floor(center - (s + 1) / 2 + 0.5)`` and spans ``s`` pixels;
what falls outside the image is filled with the image's per-channel mean, and the window is resized to the
model's input size with ``cv2.resize`` (bilinear).

``crop_batch`` is the same operation in torch (one ``grid_sample`` for a batch of windows on the GPU); it samples
the very same source coordinates as ``cv2.resize`` so both agree up to cv2's 8-bit fixed-point rounding.

``crop_and_resize_siamfc`` is siamfc-pytorch's variant of the same window (``siamfc/ops.py:92-120``): the side is
rounded to whole pixels first, the window starts at ``round(center - (side - 1) / 2)`` (numpy's round half to
even), the fill is rounded to the image's integers as ``cv2.copyMakeBorder`` does, and the window is always
resized with the given cv2 interpolation (training draws one at random).
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def context_size(width: float, height: float, context_amount: float = 0.5) -> float:
    """Side of the exemplar window: ``sqrt((w + p)(h + p))`` with ``p = context_amount * (w + h)``."""
    pad = context_amount * (width + height)
    return math.sqrt((width + pad) * (height + pad))


def search_size(width: float, height: float, exemplar_size: int = 127, instance_size: int = 255,
                context_amount: float = 0.5) -> float:
    """Side of the search window: the exemplar window scaled by ``instance_size / exemplar_size``."""
    return context_size(width, height, context_amount) * instance_size / exemplar_size


def window_bounds(center: float, size: float) -> tuple[float, float]:
    """First and last pixel index of a window of ``size`` pixels around ``center`` (reference arithmetic)."""
    start = math.floor(center - (size + 1) / 2 + 0.5)
    return start, start + size - 1


def crop_and_resize(image: np.ndarray, center, window_size: float, output_size: int,
                    fill=None) -> np.ndarray:
    """Cut a square window of ``window_size`` pixels centred on ``center = (cx, cy)`` and resize it.

    ``fill`` is the per-channel value for the part of the window outside the image (default: the image's
    per-channel mean). Returns an ``output_size x output_size x C`` array of the image's dtype.
    """
    if image.ndim != 3:
        raise ValueError(f"expected an H x W x C image, got shape {image.shape}")
    if fill is None:
        fill = image.mean(axis=(0, 1))
    x_min, x_max = window_bounds(center[0], window_size)
    y_min, y_max = window_bounds(center[1], window_size)
    patch = cut_window(image, x_min, x_max, y_min, y_max, fill)
    if patch.shape[0] != output_size or patch.shape[1] != output_size:
        patch = cv2.resize(patch, (output_size, output_size))
    return patch


def cut_window(image: np.ndarray, x_min: float, x_max: float, y_min: float, y_max: float, fill) -> np.ndarray:
    """Pixels ``y_min..y_max`` x ``x_min..x_max`` (inclusive whole-pixel bounds) of an H x W x C image; what lies
    outside the image is ``fill`` (per channel, converted to the image's dtype by truncation, as pysot does).
    Only the window is allocated (the references pad the whole frame first: the same pixels, more copying)."""
    height, width, channels = image.shape
    # whole-pixel bounds as the references slice them: the first pixel, then as many as the span holds
    x_min, y_min = math.floor(x_min), math.floor(y_min)
    x_max, y_max = x_min + int(x_max - x_min), y_min + int(y_max - y_min)
    if x_min >= 0 and y_min >= 0 and x_max < width and y_max < height:
        return image[y_min:y_max + 1, x_min:x_max + 1]
    value = np.asarray(fill).astype(image.dtype) if image.dtype != np.float64 else np.asarray(fill, np.float64)
    left, top = max(0, x_min), max(0, y_min)
    right, bottom = min(width - 1, x_max), min(height - 1, y_max)
    if left > right or top > bottom:  # entirely outside the image
        patch = np.empty((max(0, y_max - y_min + 1), max(0, x_max - x_min + 1), channels), dtype=image.dtype)
        patch[...] = value
        return patch
    inside = image[top:bottom + 1, left:right + 1]
    return cv2.copyMakeBorder(inside, top - y_min, y_max - bottom, left - x_min, x_max - right, cv2.BORDER_CONSTANT,
                              value=[float(v) for v in value.reshape(-1)])


def crop_and_resize_siamfc(image: np.ndarray, center, window_size: float, output_size: int, fill,
                           interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """siamfc-pytorch's ``crop_and_resize`` (``ops.py:92-120``) on an H x W x C image, ``center = (cx, cy)``
    0-based: side ``round(window_size)``, first pixel ``round(center - (side - 1) / 2)`` (half to even), outside
    filled with ``fill`` rounded as ``cv2.copyMakeBorder`` rounds it, resized with ``interpolation``."""
    if image.ndim != 3:
        raise ValueError(f"expected an H x W x C image, got shape {image.shape}")
    side = int(np.round(window_size))
    x_min, y_min = (int(v) for v in np.round(np.asarray(center, dtype=np.float64) - (side - 1) / 2))
    if np.issubdtype(image.dtype, np.integer):
        fill = np.rint(np.asarray(fill, dtype=np.float64))  # cv2's saturate_cast rounds; numpy would truncate
    patch = cut_window(image, x_min, x_min + side - 1, y_min, y_min + side - 1, fill)
    return cv2.resize(patch, (output_size, output_size), interpolation=interpolation)


def crop_batch(images: torch.Tensor, centers: torch.Tensor, window_sizes: torch.Tensor, output_size: int,
               fill: torch.Tensor | None = None) -> torch.Tensor:
    """Batched ``crop_and_resize`` (pysot's window) in torch.

    ``images``: (B, C, H, W) float; ``centers``: (B, 2) as (cx, cy); ``window_sizes``: (B,);
    ``fill``: (B, C) per-channel fill, default each image's mean. Returns (B, C, output_size, output_size).
    """
    start, extent = pysot_windows(centers, window_sizes.reshape(images.shape[0]))
    return resample_windows(images, start, extent, output_size, fill)


def pysot_windows(centers: torch.Tensor, window_sizes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(first pixels (B, 2), extents (B, 2)) of ``crop_and_resize``'s windows: first pixel
    ``floor(center - (s + 1) / 2 + 0.5)``, pixels up to ``int(start + s - 1 + 1) - 1`` as the reference slices."""
    centers = centers.to(torch.float64)
    sizes = window_sizes.to(device=centers.device, dtype=torch.float64).reshape(-1, 1)
    start = torch.floor(centers - (sizes + 1) / 2 + 0.5)
    return start, torch.floor(start + sizes) - start


def siamfc_windows(centers: torch.Tensor, window_sizes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(first pixels (B, 2), extents (B, 2)) of ``crop_and_resize_siamfc``'s windows: side ``round(window)``, first
    pixel ``round(center - (side - 1) / 2)`` (both half to even, as numpy)."""
    sides = torch.round(window_sizes.to(torch.float64)).reshape(-1, 1)
    return torch.round(centers.to(torch.float64) - (sides - 1) / 2), sides.expand(-1, 2)


def resample_windows(images: torch.Tensor, start: torch.Tensor, extent: torch.Tensor, output_size: int,
                     fill: torch.Tensor | None = None) -> torch.Tensor:
    """The whole-pixel windows ``start .. start + extent - 1`` (per axis, (B * k, 2) as (x, y): k consecutive
    windows per image, e.g. a frame's scales) of ``images`` (B, C, H, W), resized to ``output_size`` as cv2's
    bilinear resize of the cut-out window (source coordinate of output pixel ``i``:
    ``start + (i + 0.5) * extent / output_size - 0.5``, clamped to the window); pixels outside an image are
    ``fill`` (B, C; default each image's mean). Returns (B * k, C, output_size, output_size); an image's k windows
    are sampled in one pass over it (stacked along the grid's rows), without copying the image k times."""
    batch, channels, height, width = images.shape
    dtype, device = images.dtype, images.device
    if start.shape[0] % batch:
        raise ValueError(f"{start.shape[0]} windows cannot be shared evenly by {batch} images")
    per_image = start.shape[0] // batch
    if fill is None:
        fill = images.mean(dim=(2, 3))
    start, extent = start.to(device=device, dtype=torch.float64), extent.to(device=device, dtype=torch.float64)
    steps = torch.arange(output_size, device=device, dtype=torch.float64)
    coords = start[:, None, :] + ((steps[None, :, None] + 0.5) * extent[:, None, :] / output_size - 0.5)
    coords = torch.minimum(torch.maximum(coords, start[:, None, :]), start[:, None, :] + extent[:, None, :] - 1)
    grid_x = (2 * coords[..., 0] + 1) / width - 1   # (B * k, out)
    grid_y = (2 * coords[..., 1] + 1) / height - 1
    grid = torch.stack(torch.broadcast_tensors(grid_x[:, None, :], grid_y[:, :, None]), dim=-1).to(dtype)
    grid = grid.reshape(batch, per_image * output_size, output_size, 2)
    shifted = images - fill[:, :, None, None].to(dtype)
    out = F.grid_sample(shifted, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = out.reshape(batch, channels, per_image, output_size, output_size).transpose(1, 2)
    return (out + fill[:, None, :, None, None].to(dtype)).reshape(batch * per_image, channels, output_size,
                                                                  output_size)


def padded_frames(images, fills, device) -> torch.Tensor:
    """H x W x C frames of different sizes as one (B, C, H_max, W_max) float tensor on ``device``, each padded on
    the right and bottom with its own ``fills[b]`` (per channel), so that ``crop_batch`` with the same fills sees
    every pixel outside a frame as that frame's fill, exactly as outside an unpadded frame. Frames go to the device
    as they are (uint8: a quarter of the float bytes)."""
    height = max(image.shape[0] for image in images)
    width = max(image.shape[1] for image in images)
    batch = torch.empty((len(images), images[0].shape[2], height, width), dtype=torch.float32, device=device)
    for index, (image, fill) in enumerate(zip(images, fills)):
        frame = torch.from_numpy(np.ascontiguousarray(image)).to(device, non_blocking=True).permute(2, 0, 1)
        batch[index] = torch.as_tensor(np.asarray(fill, dtype=np.float32), device=device).view(-1, 1, 1)
        batch[index, :, :image.shape[0], :image.shape[1]] = frame
    return batch


def frame_tensor(image: np.ndarray, device) -> torch.Tensor:
    """An H x W x 3 frame as a (3, H, W) float32 tensor on ``device`` (RGB 0-255, the crops' layout)."""
    return torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1).float()


def crop_subpixel(frame: torch.Tensor, center, windows, size: int, fill: torch.Tensor) -> torch.Tensor:
    """MFST's crop (its release's ``tf.image.crop_and_resize``): squares of side ``windows`` (one crop each) around
    ``center = (cx, cy)`` (0-based) from a (C, H, W) ``frame``, to (N, C, size, size): sample ``i`` at
    ``center - (window - 1) / 2 + i (window - 1) / (size - 1)``, bilinear between the neighbouring pixels
    (sub-pixel, nothing rounded); samples outside ``[0, H - 1] x [0, W - 1]`` get ``fill`` (C,) (the released
    code crops ``image - mean`` and adds the mean back). Coordinates in float32, as TF computes them."""
    height, width = frame.shape[-2:]
    device = frame.device
    windows = torch.as_tensor([float(w) for w in windows], dtype=torch.float64, device=device)[:, None]
    steps = torch.arange(size, dtype=torch.float64, device=device)[None] * (windows - 1) / (size - 1)
    xs = float(center[0]) - (windows - 1) / 2 + steps  # (N, size)
    ys = float(center[1]) - (windows - 1) / 2 + steps
    # grid_sample with corners aligned: -1 and 1 are the first and last pixel centres, as TF's (H - 1) scaling
    grid = torch.stack(torch.broadcast_tensors((2 * xs / (width - 1) - 1)[:, None, :],
                                               (2 * ys / (height - 1) - 1)[:, :, None]), dim=-1)
    batch = windows.shape[0]
    out = F.grid_sample(frame[None].expand(batch, -1, -1, -1), grid.to(frame.dtype), mode="bilinear",
                        padding_mode="border", align_corners=True)
    inside = ((ys >= 0) & (ys <= height - 1))[:, :, None] & ((xs >= 0) & (xs <= width - 1))[:, None, :]
    return torch.where(inside[:, None], out, fill.to(out.dtype)[None, :, None, None])
