"""Two reference points for every experiment: a tracker that never moves and a template matcher.

``FirstBoxTracker`` reports the first box in every frame: any tracker worth its name beats it, and on a static
target it is perfect, so it anchors the low end of a results table. ``NCCTracker`` matches the target's appearance
by normalized cross-correlation (``cv2.matchTemplate`` with ``TM_CCOEFF_NORMED``) in a SiamFC-style search window:
what a Siamese tracker does with learned features, done with raw pixels.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from tracking.boxes import clip_xywh, cxcywh_to_xywh, is_valid_xywh, xywh_to_cxcywh
from tracking.crops import context_size, crop_and_resize


def _checked_box(box) -> np.ndarray:
    box = np.asarray(box, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not is_valid_xywh(box):
        raise ValueError(f"initial box must be a finite x, y, w, h with w, h > 0, got {box.tolist()}")
    return box


class FirstBoxTracker:
    """Keeps the first frame's box forever."""

    name = "FirstBox"

    def __init__(self):
        self.box: np.ndarray | None = None

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        self.box = _checked_box(box).copy()

    def update(self, image: np.ndarray) -> np.ndarray:
        if self.box is None:
            raise RuntimeError("FirstBoxTracker.update called before init")
        return self.box.copy()


class NCCTracker:
    """Normalized cross-correlation template matching in a search window around the last position.

    The template is the target with SiamFC context (``context_amount``), resized to ``exemplar_size`` pixels; the
    search window is ``search_factor`` times larger, cut with the same crop at ``num_scales`` scales
    (``scale_step`` apart) and matched with ``TM_CCOEFF_NORMED`` on all three colour channels. The response is
    blended with a cosine window (``window_influence``) against jumps, non-unit scales are penalised
    (``scale_penalty``), the peak is refined to sub-pixel precision by a parabola fit, and the size follows the
    best scale damped by ``scale_lr``. The template moves towards the current appearance with ``template_lr`` when
    the match is confident (peak NCC above ``update_threshold``), so occluders do not overwrite it.
    """

    name = "NCC"

    def __init__(self, exemplar_size: int = 31, search_factor: float = 2.0, context_amount: float = 0.1,
                 num_scales: int = 3, scale_step: float = 1.04, scale_penalty: float = 0.98,
                 scale_lr: float = 0.5, window_influence: float = 0.25, template_lr: float = 0.02,
                 update_threshold: float = 0.6, min_size: float = 4.0):
        if exemplar_size < 3 or search_factor <= 1 or num_scales < 1:
            raise ValueError("need exemplar_size >= 3, search_factor > 1 and num_scales >= 1")
        self.exemplar_size = int(exemplar_size)
        self.instance_size = int(round(exemplar_size * search_factor))
        self.context_amount = context_amount
        self.scale_factors = scale_step ** (np.arange(num_scales) - (num_scales - 1) / 2)
        self.scale_penalties = np.where(np.isclose(self.scale_factors, 1.0), 1.0, scale_penalty)
        self.scale_lr = scale_lr
        self.window_influence = window_influence
        self.template_lr = template_lr
        self.update_threshold = update_threshold
        self.min_size = min_size
        response_size = self.instance_size - self.exemplar_size + 1
        hanning = np.hanning(response_size + 2)[1:-1]  # strictly positive, peak at the centre
        self.window = np.outer(hanning, hanning) / hanning.max() ** 2
        self.template: np.ndarray | None = None
        self.center = np.zeros(2)
        self.size = np.zeros(2)
        self.last_score = float("nan")

    def _exemplar_window(self) -> float:
        return context_size(self.size[0], self.size[1], self.context_amount)

    def _crop(self, image: np.ndarray, window: float, output_size: int) -> np.ndarray:
        return crop_and_resize(image, self.center, window, output_size).astype(np.float32)

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        box = _checked_box(box)
        cx, cy, w, h = xywh_to_cxcywh(box)
        self.center = np.array([cx, cy])
        self.size = np.array([w, h])
        self.template = self._crop(image, self._exemplar_window(), self.exemplar_size)
        self.last_score = 1.0

    def update(self, image: np.ndarray) -> np.ndarray:
        if self.template is None:
            raise RuntimeError("NCCTracker.update called before init")
        search_window = self._exemplar_window() * self.instance_size / self.exemplar_size
        best = None
        for factor, penalty in zip(self.scale_factors, self.scale_penalties):
            search = self._crop(image, search_window * factor, self.instance_size)
            response = cv2.matchTemplate(search, self.template, cv2.TM_CCOEFF_NORMED)
            # flat regions give 0/0; treat them as no evidence
            response = np.nan_to_num(response, nan=0.0, posinf=0.0, neginf=0.0)
            peak_value = float(response.max()) * penalty
            if best is None or peak_value > best[0]:
                best = (peak_value, factor, response)
        _, factor, response = best

        blended = (1 - self.window_influence) * response + self.window_influence * self.window
        row, col = np.unravel_index(int(np.argmax(blended)), blended.shape)
        dy = row + _parabola_offset(blended[:, col], row)
        dx = col + _parabola_offset(blended[row, :], col)
        centre_index = (blended.shape[0] - 1) / 2
        pixels_per_crop_pixel = search_window * factor / self.instance_size
        self.center = self.center + (np.array([dx, dy]) - centre_index) * pixels_per_crop_pixel

        scale = 1 - self.scale_lr + self.scale_lr * factor
        self.size = self.size * scale
        height, width = image.shape[:2]
        clipped = xywh_to_cxcywh(clip_xywh(cxcywh_to_xywh(np.r_[self.center, self.size]), width, height,
                                           self.min_size))
        self.center, self.size = clipped[:2], clipped[2:]

        self.last_score = float(response[row, col])
        if self.template_lr > 0 and self.last_score >= self.update_threshold:
            current = self._crop(image, self._exemplar_window(), self.exemplar_size)
            self.template = (1 - self.template_lr) * self.template + self.template_lr * current
        return cxcywh_to_xywh(np.r_[self.center, self.size])


def _parabola_offset(values: np.ndarray, index: int) -> float:
    """Sub-pixel offset of a peak at ``index`` from the parabola through it and its two neighbours."""
    if index <= 0 or index >= len(values) - 1:
        return 0.0
    left, middle, right = values[index - 1], values[index], values[index + 1]
    curvature = left - 2 * middle + right
    if curvature >= 0 or not math.isfinite(curvature):
        return 0.0
    return float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
