"""GOT-10k reader.

Layout: ``<root>/<subset>/list.txt``; ``<root>/<subset>/<seq>/00000001.jpg``; ``groundtruth.txt`` (x, y, w, h,
comma-separated); for train/val also ``absence.label`` (1 = target absent), ``cover.label`` (visible-ratio level
0..8, 0 = fully occluded, 8 = fully visible), ``cut_by_image.label`` and ``meta_info.ini``.

Frames marked absent become NaN rows with ``tags["absent"]``; unusable boxes (zero size, NaN) on other frames
(a few exist in the train split) are treated the same way and counted in ``meta["zero_size_boxes"]``. Nothing
numeric is refused: scoring reads the file's rows as got10k does. The test subset publishes
only the first box: rows after the first are NaN and ``meta["first_frame_only"]`` is True.
"""
from __future__ import annotations

import numpy as np

from tracking.benchmarks.base import Benchmark, Sequence
from tracking.benchmarks.files import check_frame_count, invalid_box_rows, list_images, read_box_file, read_label_file
from tracking.errors import DataError

SUBSETS = ("train", "val", "test")


def read_meta_info(path) -> dict[str, str]:
    """``key: value`` lines of a GOT-10k ``meta_info.ini`` (the ``[METAINFO]`` header skipped)."""
    meta = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("["):
            continue
        key, separator, value = line.partition(":")
        if not separator:
            raise DataError(path, f"expected 'key: value', got {line!r}", line=number)
        meta[key.strip()] = value.strip()
    return meta


class GOT10k(Benchmark):
    name = "got10k"

    def __init__(self, root, subset: str = "val"):
        super().__init__(root)
        if subset not in SUBSETS:
            raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
        self.subset = subset
        self.subset_root = self.root / subset
        list_file = self.subset_root / "list.txt"
        if not list_file.is_file():
            raise DataError(list_file, f"GOT-10k {subset} sequence list does not exist")
        self.sequence_names = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
        if not self.sequence_names:
            raise DataError(list_file, "the sequence list is empty")
        for number, name in enumerate(self.sequence_names, start=1):
            if not (self.subset_root / name).is_dir():
                raise DataError(list_file, f"sequence folder {self.subset_root / name} does not exist", line=number)

    def load_sequence(self, name: str) -> Sequence:
        folder = self.subset_root / name
        images = list_images(folder)
        annotation = folder / "groundtruth.txt"
        boxes = read_box_file(annotation, columns=4)
        count = len(images)
        meta = {"annotation_file": annotation, "benchmark": "got10k", "subset": self.subset}
        if self.subset == "test":
            if len(boxes) < 1:
                raise DataError(annotation, "no ground-truth line (the test subset needs the first box)")
            ground_truth = np.full((count, 4), np.nan)
            ground_truth[0] = boxes[0]
            meta["first_frame_only"] = True
            return Sequence(name=name, frames=images, ground_truth=ground_truth, meta=meta)

        check_frame_count(annotation, len(boxes), count)

        labels = {}
        for label in ("absence", "cover", "cut_by_image"):
            path = folder / f"{label}.label"
            labels[label] = read_label_file(path, length=count) if path.is_file() else None
        absent = labels["absence"].astype(bool) if labels["absence"] is not None else np.zeros(count, bool)
        # unusable boxes (zero size, NaN) on frames not marked absent: no box here either; scoring reads the
        # file's rows as got10k does (it selects frames by cover.label, not by these flags)
        zero_size = ~absent & invalid_box_rows(boxes)
        absent = absent | zero_size
        ground_truth = boxes.copy()
        ground_truth[absent] = np.nan

        tags = {"absent": absent}
        if labels["cover"] is not None:
            cover = labels["cover"]
            if cover.min() < 0 or cover.max() > 8:
                raise DataError(folder / "cover.label", "cover levels must lie in 0..8",
                                line=1 + int(np.argmax((cover < 0) | (cover > 8))))
            meta["cover"] = cover
            tags["occlusion"] = cover < 8
            tags["full_occlusion"] = cover == 0
        if labels["cut_by_image"] is not None:
            tags["cut_by_image"] = labels["cut_by_image"].astype(bool)
        meta["zero_size_boxes"] = int(zero_size.sum())
        if (folder / "meta_info.ini").is_file():
            meta["meta_info"] = read_meta_info(folder / "meta_info.ini")
        return Sequence(name=name, frames=images, ground_truth=ground_truth, tags=tags, meta=meta)
