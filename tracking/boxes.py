"""Box conventions, in one place.

- ``xywh``: OTB style ``x, y, w, h`` with ``x, y`` the top-left corner, as written in the result and
  ground-truth files (1-based pixel indices as published; we never shift them, like got10k).
- ``corners``: ``x1, y1, x2, y2`` with ``x2 = x + w``, ``y2 = y + h`` (continuous extent).
- ``cxcywh``: center and size, with the center of the reference trackers: ``cx = x + (w - 1) / 2``.
- ``polygon``: VOT's 8 values ``x1, y1, ..., x4, y4``.

All functions accept a single box of shape (4,) / (8,) or a batch (N, 4) / (N, 8) and return the same rank.
"""
from __future__ import annotations

import numpy as np


def _as_2d(boxes, width: int) -> tuple[np.ndarray, bool]:
    array = np.asarray(boxes, dtype=np.float64)
    single = array.ndim == 1
    array = np.atleast_2d(array)
    if array.shape[-1] != width:
        raise ValueError(f"expected boxes with {width} values, got shape {np.shape(boxes)}")
    return array, single


def _restore(array: np.ndarray, single: bool) -> np.ndarray:
    return array[0] if single else array


def xywh_to_corners(boxes) -> np.ndarray:
    b, single = _as_2d(boxes, 4)
    return _restore(np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1), single)


def corners_to_xywh(boxes) -> np.ndarray:
    b, single = _as_2d(boxes, 4)
    return _restore(np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1), single)


def xywh_to_cxcywh(boxes) -> np.ndarray:
    """Center of the reference SiamFC/SiamRPN trackers: ``x + (w - 1) / 2``."""
    b, single = _as_2d(boxes, 4)
    return _restore(np.concatenate([b[:, :2] + (b[:, 2:] - 1) / 2, b[:, 2:]], axis=1), single)


def cxcywh_to_xywh(boxes) -> np.ndarray:
    b, single = _as_2d(boxes, 4)
    return _restore(np.concatenate([b[:, :2] - (b[:, 2:] - 1) / 2, b[:, 2:]], axis=1), single)


def xywh_to_polygon(boxes) -> np.ndarray:
    """Axis-aligned box to VOT's clockwise 8-value polygon starting at the top-left corner."""
    b, single = _as_2d(boxes, 4)
    x1, y1 = b[:, 0], b[:, 1]
    x2, y2 = x1 + b[:, 2], y1 + b[:, 3]
    poly = np.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=1)
    return _restore(poly, single)


def polygon_bounds(polygons) -> np.ndarray:
    """Tight axis-aligned ``xywh`` around a polygon (min/max of its corners)."""
    p, single = _as_2d(polygons, 8)
    xs, ys = p[:, 0::2], p[:, 1::2]
    x1, y1 = xs.min(axis=1), ys.min(axis=1)
    return _restore(np.stack([x1, y1, xs.max(axis=1) - x1, ys.max(axis=1) - y1], axis=1), single)


def polygon_to_xywh(polygons) -> np.ndarray:
    """VOT polygon to an axis-aligned box the way VOT trackers (SiamFC, pysot) and got10k do it.

    The box keeps the polygon's center (mean of the corners) and its area: the tight bounds are scaled by
    ``sqrt(|p1 - p2| * |p2 - p3| / bounds_area)``, then one pixel is added to each side length.
    """
    p, single = _as_2d(polygons, 8)
    xs, ys = p[:, 0::2], p[:, 1::2]
    cx, cy = xs.mean(axis=1), ys.mean(axis=1)
    x1, x2 = xs.min(axis=1), xs.max(axis=1)
    y1, y2 = ys.min(axis=1), ys.max(axis=1)
    polygon_area = np.linalg.norm(p[:, 0:2] - p[:, 2:4], axis=1) * np.linalg.norm(p[:, 2:4] - p[:, 4:6], axis=1)
    bounds_area = (x2 - x1) * (y2 - y1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.sqrt(polygon_area / bounds_area)
    w = scale * (x2 - x1) + 1
    h = scale * (y2 - y1) + 1
    return _restore(np.stack([cx - w / 2, cy - h / 2, w, h], axis=1), single)


def is_valid_xywh(boxes) -> np.ndarray:
    """True where a box is finite with positive width and height."""
    b, single = _as_2d(boxes, 4)
    valid = np.isfinite(b).all(axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0)
    return valid[0] if single else valid


def clip_xywh(boxes, image_width: float, image_height: float, min_size: float = 0.0) -> np.ndarray:
    """Clip the box center into the image and its size to [min_size, image size], as pysot's tracker does."""
    b, single = _as_2d(boxes, 4)
    c = xywh_to_cxcywh(b)
    c[:, 0] = np.clip(c[:, 0], 0, image_width)
    c[:, 1] = np.clip(c[:, 1], 0, image_height)
    c[:, 2] = np.clip(c[:, 2], min_size, image_width)
    c[:, 3] = np.clip(c[:, 3], min_size, image_height)
    return _restore(cxcywh_to_xywh(c), single)

