"""Anchors of SiamRPN (pysot ``utils/anchor.py``): K = ratios x scales boxes on every score-map cell."""
from __future__ import annotations

import math

import numpy as np


def anchor_shapes(config) -> np.ndarray:
    """(K, 2) anchor widths and heights: ``ws = int(sqrt(stride^2 / r))``, ``hs = int(ws * r)``, times scale.

    For stride 8, ratios [0.33, 0.5, 1, 2, 3] and scale 8: 104x32, 88x40, 64x64, 40x80, 32x96.
    """
    size = config.anchor_stride * config.anchor_stride
    shapes = []
    for ratio in config.anchor_ratios:
        ws = int(math.sqrt(size * 1.0 / ratio))
        hs = int(ws * ratio)
        for scale in config.anchor_scales:
            shapes.append((ws * scale, hs * scale))
    return np.asarray(shapes, dtype=np.float32)


def generate_anchors(config, search_size: int) -> np.ndarray:
    """All anchors as (K * S * S, 4) ``cx, cy, w, h`` in search-crop pixels, ordered (k, row, column).

    ``config``: a ``SiamRPNNetwork``. The center cell sits at the crop center ``search_size // 2``; cells are
    ``anchor_stride`` apart and ``S = config.score_size_for(search_size)``.
    """
    score_size = config.score_size_for(search_size)
    stride = config.anchor_stride
    shapes = anchor_shapes(config)
    offsets = (np.arange(score_size) - score_size // 2) * stride + search_size // 2
    num = len(shapes)
    cx = np.broadcast_to(offsets[None, None, :], (num, score_size, score_size))
    cy = np.broadcast_to(offsets[None, :, None], (num, score_size, score_size))
    w = np.broadcast_to(shapes[:, 0, None, None], (num, score_size, score_size))
    h = np.broadcast_to(shapes[:, 1, None, None], (num, score_size, score_size))
    return np.stack([cx, cy, w, h], axis=-1).reshape(-1, 4).astype(np.float32)
