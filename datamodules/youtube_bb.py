"""YouTube-BoundingBoxes: the detection CSV plus its annotated frames decoded to JPEG.

Layout (what the YouTube-BB download/decode scripts produce and the reference SiamRPN++ crop script reads)::

    <root>/yt_bb_detection_train.csv            # also yt_bb_detection_validation.csv
    <root>/yt_bb_detection_train/<class_id>/<youtube_id>_<timestamp_ms>_<class_id>_<object_id>.jpg

The CSV has no header; its columns are ``youtube_id, timestamp_ms, class_id, class_name, object_id,
object_presence, xmin, xmax, ymin, ymax`` with the box as fractions of the frame (``-1`` when absent).
A track is one object (``youtube_id, class_id, object_id``) over its annotated timestamps (1 per second);
``object_presence == "absent"`` rows are frames without the object. The frame size comes from the JPEG header
of the track's first existing frame.
"""
from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np
from PIL import Image

from datamodules.dataset_reader import DatasetReader
from datamodules.tracks import TrackRecord
from tracking.errors import DataError

COLUMNS = ("youtube_id", "timestamp_ms", "class_id", "class_name", "object_id", "object_presence",
           "xmin", "xmax", "ymin", "ymax")
SPLIT_FILES = {"train": "yt_bb_detection_train", "validation": "yt_bb_detection_validation"}


def frame_file_name(youtube_id: str, timestamp_ms: int, class_id: int, object_id: int) -> str:
    return f"{youtube_id}_{timestamp_ms}_{class_id}_{object_id}.jpg"


class YouTubeBBReader(DatasetReader):
    """YouTube-BB detection CSVs; ``splits`` defaults to train and validation (whichever CSV exists)."""

    kind = "ytbb"

    def __init__(self, root, splits=("train", "validation"), box_filter=None):
        super().__init__(root, box_filter)
        self.splits = [s for s in splits if (self.root / f"{SPLIT_FILES[s]}.csv").is_file()]
        if not self.splits:
            raise DataError(self.root, f"no YouTube-BB CSV ({', '.join(SPLIT_FILES[s] + '.csv' for s in splits)})")
        # video "<split dir>/<class_id>/<youtube_id>" -> object_id -> list of (timestamp, present, fractions)
        self.videos: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
        for split in self.splits:
            self._load(split)
        self.videos = {video: dict(objects) for video, objects in self.videos.items()}

    def _load(self, split: str) -> None:
        path = self.root / f"{SPLIT_FILES[split]}.csv"
        bad_lines = 0
        with open(path, newline="") as handle:
            for line_number, row in enumerate(csv.reader(handle), start=1):
                if not row or row[0] == "youtube_id":
                    continue  # blank line or a header some copies carry
                try:
                    if len(row) != len(COLUMNS):
                        raise ValueError(f"{len(row)} columns instead of {len(COLUMNS)}")
                    youtube_id, timestamp, class_id = row[0], int(row[1]), int(row[2])
                    object_id, presence = int(row[4]), row[5].strip()
                    xmin, xmax, ymin, ymax = (float(v) for v in row[6:10])
                except ValueError as error:
                    bad_lines += 1
                    if bad_lines <= 1:
                        self.summary.skip("malformed_annotation", f"{path}, line {line_number}", str(error))
                    else:
                        self.summary.add({"malformed_annotation": 1})
                    continue
                video = f"{SPLIT_FILES[split]}/{class_id}/{youtube_id}"
                self.videos[video][object_id].append((timestamp, presence == "present", (xmin, xmax, ymin, ymax)))

    def list_videos(self) -> list[str]:
        return sorted(self.videos)

    def describe(self, video: str) -> str:
        return f"{video} (YouTube-BB CSV)"

    def _image_size(self, frame_dir: str, names) -> tuple[int, int] | None:
        listing = self._listing(frame_dir) or set()
        for name in names:
            if name in listing:
                try:
                    with Image.open(self.image_root / frame_dir / name) as image:
                        return image.size
                except OSError:
                    continue
        return None

    def read_video(self, video: str) -> list[TrackRecord]:
        split_dir, class_id, youtube_id = video.split("/")
        frame_dir = f"{split_dir}/{class_id}"
        records = []
        for object_id, rows in sorted(self.videos[video].items()):
            rows = sorted(rows)
            timestamps = [timestamp for timestamp, _, _ in rows]
            names = [frame_file_name(youtube_id, timestamp, int(class_id), object_id) for timestamp in timestamps]
            image_size = self._image_size(frame_dir, names)
            if image_size is None:
                self.summary.skip("missing_frame", self.image_root / frame_dir / names[0],
                                  f"none of the {len(names)} frames of object {object_id} exists or decodes",
                                  count=sum(present for _, present, _ in rows))
                continue
            width, height = image_size
            boxes = np.full((len(rows), 4), np.nan)
            for index, (_, present, (xmin, xmax, ymin, ymax)) in enumerate(rows):
                if present and min(xmin, xmax, ymin, ymax) >= 0 and xmax > xmin and ymax > ymin:
                    boxes[index] = (xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height)
            records.append(TrackRecord(video=video, object_id=f"{object_id:02d}", frame_dir=frame_dir,
                                       frame_names=names, frame_ids=np.array(timestamps), boxes=boxes,
                                       visible=np.isfinite(boxes[:, 0]), image_size=image_size, slot=object_id))
        return records
