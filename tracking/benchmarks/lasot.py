"""LaSOT reader.

Layout: ``<root>/<category>/<category>-<i>/img/00000001.jpg``; ``groundtruth.txt`` (x, y, w, h, comma-separated,
``0,0,0,0`` where the target is absent); ``full_occlusion.txt`` and ``out_of_view.txt`` (comma-separated 0/1
flags on one line); ``nlp.txt`` (a sentence describing the target). The official split files
``<root>/testing_set.txt`` / ``training_set.txt`` list the sequences of each subset.

All-zero (and NaN) boxes become NaN rows with ``tags["absent"]``; other rows are kept as the file has them,
degenerate ones included (the toolkit scores them). The occlusion/out-of-view flags become
``tags["full_occlusion"]`` / ``tags["out_of_view"]`` (all False when the file is missing; ``meta["flag_files"]``
names those found).
"""
from __future__ import annotations

import numpy as np

from tracking.benchmarks.base import Benchmark, Sequence
from tracking.benchmarks.files import (check_frame_count, invalid_box_rows, list_images, natural_key,
                                       read_box_file, read_label_file)
from tracking.errors import DataError

SPLIT_FILES = {"test": "testing_set.txt", "train": "training_set.txt"}


def _category(name: str) -> str:
    return name.rsplit("-", 1)[0]


class LaSOT(Benchmark):
    """LaSOT sequences: those of ``subset`` ("test" / "train", from the split file), or all found (None)."""

    name = "lasot"

    def __init__(self, root, subset: str | None = None):
        super().__init__(root)
        if subset is not None and subset not in SPLIT_FILES:
            raise ValueError(f"subset must be 'test', 'train' or None, got {subset!r}")
        self.subset = subset
        if subset is None:
            found = [p.parent.name for p in self.root.glob("*/*/groundtruth.txt") if p.parent.parent.name ==
                     _category(p.parent.name)]
            self.sequence_names = sorted(found, key=natural_key)
            if not self.sequence_names:
                raise DataError(self.root, "no LaSOT sequence (<category>/<category>-<i>/groundtruth.txt) found")
        else:
            split_file = self.root / SPLIT_FILES[subset]
            if not split_file.is_file():
                raise DataError(split_file, f"LaSOT {subset} split file does not exist")
            self.sequence_names = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
            if not self.sequence_names:
                raise DataError(split_file, "the split file is empty")
            for number, name in enumerate(self.sequence_names, start=1):
                if not self._folder(name).is_dir():
                    raise DataError(split_file, f"sequence folder {self._folder(name)} does not exist", line=number)

    def _folder(self, name: str):
        return self.root / _category(name) / name

    def load_sequence(self, name: str) -> Sequence:
        folder = self._folder(name)
        images = list_images(folder / "img")
        annotation = folder / "groundtruth.txt"
        boxes = read_box_file(annotation, columns=4)
        check_frame_count(annotation, len(boxes), len(images))
        # 0,0,0,0 and NaN rows mean no box: NaN rows here (the file's rows stay as they are for scoring, which
        # reads the annotation file as the toolkit does); other degenerate rows are kept, the toolkit scores them
        absent = np.all(boxes == 0, axis=1) | np.isnan(boxes).all(axis=1)
        ground_truth = boxes.copy()
        ground_truth[absent] = np.nan
        tags = {"absent": absent}
        flag_files = []
        for flag in ("full_occlusion", "out_of_view"):
            path = folder / f"{flag}.txt"
            if path.is_file():
                flag_files.append(flag)
            tags[flag] = (read_label_file(path, length=len(images), one_line=True).astype(bool) if path.is_file()
                          else np.zeros(len(images), dtype=bool))
        meta = {"annotation_file": annotation, "benchmark": "lasot", "category": _category(name),
                "flag_files": flag_files, "invalid_boxes": int(invalid_box_rows(boxes).sum())}
        if (folder / "nlp.txt").is_file():
            meta["nlp"] = (folder / "nlp.txt").read_text().strip()
        return Sequence(name=name, frames=images, ground_truth=ground_truth, tags=tags, meta=meta)
