"""GOT-10k train and LaSOT train as training sources (one track per sequence).

GOT-10k: ``<root>/train/list.txt`` (or ``<root>/list.txt`` when ``root`` is the train folder), each sequence
``GOT-10k_Train_xxxxxx/`` with ``00000001.jpg ...``, ``groundtruth.txt`` (``x,y,w,h`` per line),
``absence.label`` (1 = target absent), ``cover.label`` (0..8, visible fraction bins) and ``meta_info.ini``.

LaSOT: ``<root>/<category>/<category>-<n>/`` with ``img/00000001.jpg ...``, ``groundtruth.txt`` (``x,y,w,h``;
``0,0,0,0`` when absent), ``full_occlusion.txt`` and ``out_of_view.txt`` (comma-separated 0/1 on one line).
The training split is ``training_set.txt`` in the root when present, else every sequence not listed in
``testing_set.txt``, else every sequence. LaSOT publishes 1-based (MATLAB) coordinates; ``one_based=True``
(default) shifts them to the 0-based pixels of the image arrays. GOT-10k boxes are used as published.
"""
from __future__ import annotations

import os
import re

import numpy as np
from PIL import Image

from datamodules.dataset_reader import DatasetReader
from datamodules.tracks import TrackRecord
from tracking.errors import DataError

_SEPARATORS = re.compile(r"[,\s]+")


def read_numbers(path, columns: int | None = None) -> np.ndarray:
    """Rows of numbers separated by commas, tabs or spaces; ``DataError`` naming file and line when malformed."""
    if not path.is_file():
        raise DataError(path, "file does not exist")
    rows = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            values = [float(v) for v in _SEPARATORS.split(line) if v]
        except ValueError as error:
            raise DataError(path, f"non-numeric value ({error})", line=line_number) from error
        if columns is not None and len(values) != columns:
            raise DataError(path, f"{len(values)} values instead of {columns}", line=line_number)
        rows.append(values)
    return np.asarray(rows, dtype=np.float64)


def _flags(path, length: int, default: bool = False) -> np.ndarray:
    """A per-frame 0/1 file (one value per line, or all on one comma-separated line); missing -> default."""
    if not path.is_file():
        return np.full(length, default, dtype=bool)
    values = read_numbers(path).reshape(-1)
    if len(values) != length:
        raise DataError(path, f"{len(values)} flags for {length} frames")
    return values > 0


def _image_names(directory, extension=".jpg") -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.lower().endswith(extension))


class GOT10kReader(DatasetReader):
    """GOT-10k train (``subset`` "train"; "val" also works for experiments with its labels)."""

    kind = "got10k"

    def __init__(self, root, subset: str = "train", box_filter=None):
        super().__init__(root, box_filter)
        self.subset_dir = self.root / subset if (self.root / subset / "list.txt").is_file() else self.root
        self.list_file = self.subset_dir / "list.txt"
        if not self.list_file.is_file():
            raise DataError(self.list_file, f"GOT-10k {subset} list not found")

    @property
    def image_root(self):
        return self.subset_dir

    def list_videos(self) -> list[str]:
        return [line.strip() for line in self.list_file.read_text().splitlines() if line.strip()]

    def describe(self, video: str) -> str:
        return str(self.subset_dir / video)

    def read_video(self, video: str) -> list[TrackRecord]:
        directory = self.subset_dir / video
        if not directory.is_dir():
            raise DataError(directory, "sequence listed in list.txt does not exist")
        boxes = read_numbers(directory / "groundtruth.txt", columns=4)
        count = len(boxes)
        absent = _flags(directory / "absence.label", count)
        cover_path = directory / "cover.label"
        cover = read_numbers(cover_path).reshape(-1) if cover_path.is_file() else np.full(count, 8.0)
        if len(cover) != count:
            raise DataError(cover_path, f"{len(cover)} labels for {count} frames")
        names = [f"{i:08d}.jpg" for i in range(1, count + 1)]
        image_size = self._resolution(directory) or self._header_size(directory, names)
        if image_size is None:
            raise DataError(directory, "no readable frame to get the image size from")
        boxes = boxes.copy()
        boxes[absent] = np.nan
        return [TrackRecord(video=video, object_id="00", frame_dir=video, frame_names=names,
                            frame_ids=np.arange(1, count + 1), boxes=boxes, visible=~absent & (cover > 0),
                            image_size=image_size, slot=0)]

    @staticmethod
    def _resolution(directory) -> tuple[int, int] | None:
        meta = directory / "meta_info.ini"
        if meta.is_file():
            match = re.search(r"resolution:\s*\(?\s*(\d+)\s*,\s*(\d+)", meta.read_text())
            if match:
                return int(match.group(1)), int(match.group(2))
        return None

    def _header_size(self, directory, names) -> tuple[int, int] | None:
        for name in names[:3]:
            try:
                with Image.open(directory / name) as image:
                    return image.size
            except OSError:
                continue
        return None


class LaSOTReader(DatasetReader):
    """LaSOT training sequences (see the module docstring for how the split is chosen)."""

    kind = "lasot"

    def __init__(self, root, box_filter=None, sequences=None, one_based: bool = True):
        super().__init__(root, box_filter)
        self.sequences = list(sequences) if sequences is not None else None
        self.offset = 1.0 if one_based else 0.0

    def list_videos(self) -> list[str]:
        found = []
        for category in sorted(os.listdir(self.root)):
            category_dir = self.root / category
            if not category_dir.is_dir():
                continue
            found.extend(f"{category}/{name}" for name in sorted(os.listdir(category_dir))
                         if (category_dir / name / "groundtruth.txt").is_file())
        names = {video.split("/")[1]: video for video in found}
        if self.sequences is not None:
            return [names[s] for s in self.sequences if s in names]
        training, testing = self.root / "training_set.txt", self.root / "testing_set.txt"
        if training.is_file():
            wanted = [line.strip() for line in training.read_text().splitlines() if line.strip()]
            return [names[s] for s in wanted if s in names]
        if testing.is_file():
            excluded = {line.strip() for line in testing.read_text().splitlines()}
            return [video for video in found if video.split("/")[1] not in excluded]
        return found

    def describe(self, video: str) -> str:
        return str(self.root / video)

    def read_video(self, video: str) -> list[TrackRecord]:
        directory = self.root / video
        boxes = read_numbers(directory / "groundtruth.txt", columns=4)
        count = len(boxes)
        occluded = _flags(directory / "full_occlusion.txt", count)
        out_of_view = _flags(directory / "out_of_view.txt", count)
        names = [f"{i:08d}.jpg" for i in range(1, count + 1)]
        image_size = None
        for name in names[:3]:
            try:
                with Image.open(directory / "img" / name) as image:
                    image_size = image.size
                    break
            except OSError:
                continue
        if image_size is None:
            raise DataError(directory / "img", "no readable frame to get the image size from")
        boxes = boxes.copy()
        boxes[(boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)] = np.nan  # LaSOT writes 0,0,0,0 for absent frames
        boxes[:, :2] -= self.offset  # published 1-based (MATLAB) -> 0-based pixels of the image array
        return [TrackRecord(video=video, object_id="00", frame_dir=f"{video}/img", frame_names=names,
                            frame_ids=np.arange(1, count + 1), boxes=boxes, visible=~occluded & ~out_of_view,
                            image_size=image_size, slot=0)]
