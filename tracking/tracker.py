"""The tracker protocol every tracker of the suite implements, and its adapter to got10k's toolkit."""
from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Tracker(Protocol):
    """A single-object tracker.

    ``init`` receives the first frame (H x W x 3 uint8, RGB) and the target as OTB ``x, y, w, h``;
    ``update`` receives each later frame and returns the estimated ``x, y, w, h``.
    """

    name: str

    def init(self, image: np.ndarray, box: np.ndarray) -> None: ...

    def update(self, image: np.ndarray) -> np.ndarray: ...


def rgb_frame(image) -> np.ndarray:
    """A frame as the trackers take it: H x W x 3 (a gray H x W frame repeated on 3 channels); else ValueError."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 RGB image, got shape {image.shape}")
    return image


def initial_box(box) -> np.ndarray:
    """The first frame's ``x, y, w, h`` as float64; ValueError unless finite with w, h > 0."""
    box = np.asarray(box, dtype=np.float64)
    if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"initial box must be finite x, y, w, h with w, h > 0, got {box}")
    return box


def track_frames(tracker: Tracker, frames, init_box) -> tuple[np.ndarray, np.ndarray]:
    """Run ``tracker`` over an iterable of frames; returns boxes (N, 4) and per-frame seconds (N,)."""
    boxes, times = [], []
    for index, image in enumerate(frames):
        start = time.perf_counter()
        if index == 0:
            tracker.init(image, np.asarray(init_box, dtype=np.float64))
            box = np.asarray(init_box, dtype=np.float64)
        else:
            box = np.asarray(tracker.update(image), dtype=np.float64)
        times.append(time.perf_counter() - start)
        boxes.append(box)
    return np.asarray(boxes).reshape(-1, 4), np.asarray(times)


def as_got10k_tracker(tracker: Tracker):
    """Wrap a suite tracker in got10k's ``Tracker`` class, so got10k's experiments can run it.

    got10k hands ``init``/``update`` PIL images; the suite's trackers take H x W x 3 uint8 arrays.
    """
    from tracking.got10k_compat import got10k_tracker_base

    base = got10k_tracker_base()

    class _Adapter(base):
        def __init__(self):
            super().__init__(name=tracker.name, is_deterministic=True)
            self.inner = tracker

        def init(self, image, box):
            self.inner.init(np.asarray(image.convert("RGB")), np.asarray(box, dtype=np.float64))

        def update(self, image):
            return np.asarray(self.inner.update(np.asarray(image.convert("RGB"))), dtype=np.float64)

    return _Adapter()
