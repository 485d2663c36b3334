"""The base class of the training-dataset readers (VID, DET, COCO, YouTube-BB, GOT-10k, LaSOT, ...), in its own
module so the readers and the source registry (``datamodules.sources``) do not import each other."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from datamodules.tracks import BoxFilter, SkipSummary, TrackRecord, filter_record
from tracking.errors import DataError


class DatasetReader:
    """Parses one dataset format: lists its videos cheaply, then parses each video into ``TrackRecord``s.

    Subclasses set ``kind`` and implement ``list_videos`` and ``read_video``; ``read_video`` raises
    ``DataError`` for a malformed annotation and reports lesser problems through ``self.summary``.
    ``image_root`` is the directory the records' ``frame_dir`` are relative to.
    """

    kind = "dataset"
    count_absent = False  # whether an absent box is an anomaly worth counting (detection formats)

    def __init__(self, root, box_filter: BoxFilter | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(self.root, f"{self.kind} root is not a directory")
        self.box_filter = box_filter or BoxFilter()
        self.summary = SkipSummary()
        self._listings: dict[str, set[str] | None] = {}

    @property
    def image_root(self) -> Path:
        return self.root

    def list_videos(self) -> list[str]:
        raise NotImplementedError

    def read_video(self, video: str) -> list[TrackRecord]:
        raise NotImplementedError

    def describe(self, video: str) -> str:
        """Where a video's annotation lives, for messages."""
        return str(self.root / video)

    def _listing(self, directory: str) -> set[str] | None:
        """File names in a frame directory (one listdir per directory, cached); None if it does not exist."""
        if directory not in self._listings:
            path = self.image_root / directory
            self._listings[directory] = set(os.listdir(path)) if path.is_dir() else None
        return self._listings[directory]

    def checked_tracks(self, video: str) -> list[TrackRecord]:
        """``read_video`` with every problem skipped and counted: malformed annotations, missing frames,
        unusable boxes, empty tracks."""
        try:
            records = self.read_video(video)
        except DataError as error:
            self.summary.skip("malformed_annotation", error.path or self.describe(video), str(error).split(": ")[-1])
            return []
        except (OSError, ValueError) as error:
            self.summary.skip("malformed_annotation", self.describe(video), str(error))
            return []
        kept = []
        for record in records:
            listing = self._listing(record.frame_dir)
            missing = np.array([listing is None or name not in listing for name in record.frame_names], dtype=bool)
            annotated_missing = missing & np.isfinite(record.boxes).all(axis=1)
            if annotated_missing.any():
                first = record.frame_names[int(np.flatnonzero(annotated_missing)[0])]
                self.summary.skip("missing_frame", self.image_root / record.frame_dir / first,
                                  f"{int(annotated_missing.sum())} annotated frame(s) of track {record.object_id}",
                                  count=int(annotated_missing.sum()))
            if missing.any():
                record.boxes = record.boxes.copy()
                record.boxes[missing] = np.nan
            record = filter_record(record, self.box_filter, self.summary, self.describe(video),
                                   count_absent=self.count_absent)
            if record is not None:
                kept.append(record)
        return kept
