"""The benchmark sequence type and the reader interface shared by OTB, VOT, GOT-10k, LaSOT and UAV123."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from tracking.errors import DataError


def read_image(path) -> np.ndarray:
    """Read an image file as H x W x 3 uint8 RGB; a missing or corrupt file raises ``DataError`` naming it."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        reason = "file does not exist" if not Path(path).exists() else "cannot decode image (corrupt or not an image)"
        raise DataError(path, reason)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@dataclass
class Sequence:
    """One benchmark sequence.

    ``ground_truth`` is (N, 4) ``xywh`` or (N, 8) VOT polygons, one row per frame (NaN rows where the
    benchmark marks the target absent or unannotated). ``tags`` holds per-frame boolean arrays (VOT tags,
    LaSOT occlusion/out-of-view, GOT-10k absence); ``attributes`` the sequence-level attribute names.
    """

    name: str
    frames: list[Path]
    ground_truth: np.ndarray
    tags: dict[str, np.ndarray] = field(default_factory=dict)
    attributes: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def init_box(self) -> np.ndarray:
        """The first frame's box as ``xywh`` (polygons converted the VOT way)."""
        from tracking.boxes import polygon_to_xywh

        first = self.ground_truth[0]
        return polygon_to_xywh(first) if first.shape[-1] == 8 else first.astype(np.float64)

    def image(self, index: int) -> np.ndarray:
        return read_image(self.frames[index])

    def images(self):
        for path in self.frames:
            yield read_image(path)


class Benchmark:
    """A benchmark root: an ordered collection of sequences, addressable by index or name."""

    name: str = "benchmark"

    def __init__(self, root):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(self.root, "benchmark root is not a directory")
        self.sequence_names: list[str] = []

    def __len__(self) -> int:
        return len(self.sequence_names)

    def __iter__(self):
        for name in self.sequence_names:
            yield self[name]

    def __getitem__(self, key) -> Sequence:
        name = self.sequence_names[key] if isinstance(key, int) else key
        if name not in self.sequence_names:
            raise KeyError(f"{self.root}: no sequence named {name!r}")
        return self.load_sequence(name)

    def load_sequence(self, name: str) -> Sequence:
        raise NotImplementedError
