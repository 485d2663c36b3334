"""COCO as distributed: ``<root>/annotations/instances_<split>.json`` and images in ``<root>/<split>/``.

Every non-crowd annotation is a one-frame track (``bbox`` is already ``x, y, w, h``); crowd annotations
(``iscrowd: 1``) are skipped and counted, as are images without any annotation.
"""
from __future__ import annotations

import json
from collections import defaultdict

import numpy as np

from datamodules.dataset_reader import DatasetReader
from datamodules.tracks import TrackRecord
from tracking.errors import DataError


class COCOReader(DatasetReader):
    """COCO ``instances_*.json``; ``splits`` defaults to train2017 and val2017 (whichever exist)."""

    kind = "coco"
    count_absent = True

    def __init__(self, root, splits=("train2017", "val2017"), box_filter=None):
        super().__init__(root, box_filter)
        self.splits = [s for s in splits if (self.root / "annotations" / f"instances_{s}.json").is_file()]
        if not self.splits:
            raise DataError(self.root / "annotations", f"no instances_<split>.json for splits {tuple(splits)}")
        self.images: dict[str, dict] = {}
        for split in self.splits:
            self._load(split)

    def _load(self, split: str) -> None:
        path = self.root / "annotations" / f"instances_{split}.json"
        try:
            data = json.loads(path.read_text())
            images = {image["id"]: image for image in data["images"]}
            annotations = data["annotations"]
        except json.JSONDecodeError as error:
            raise DataError(path, f"invalid JSON ({error})") from error
        except (KeyError, TypeError) as error:
            raise DataError(path, f"not a COCO instances file (missing {error})") from error
        per_image = defaultdict(list)
        for number, annotation in enumerate(annotations):
            try:
                per_image[annotation["image_id"]].append(
                    (annotation["bbox"], bool(annotation.get("iscrowd", 0)), annotation.get("id", number)))
            except (KeyError, TypeError) as error:
                raise DataError(path, f"annotation #{number} lacks {error}") from error
        for image_id, image in images.items():
            try:
                key = f"{split}/{image['file_name'].rsplit('.', 1)[0]}"
                self.images[key] = {"split": split, "file_name": image["file_name"],
                                    "size": (int(image["width"]), int(image["height"])),
                                    "annotations": per_image.get(image_id, []), "json": str(path)}
            except (KeyError, TypeError, ValueError) as error:
                raise DataError(path, f"image entry {image_id} lacks {error}") from error

    def list_videos(self) -> list[str]:
        return sorted(self.images)

    def describe(self, video: str) -> str:
        image = self.images.get(video)
        return f"{image['json']} (image {image['file_name']})" if image else video

    def read_video(self, video: str) -> list[TrackRecord]:
        image = self.images[video]
        if not image["annotations"]:
            self.summary.skip("no_objects", self.describe(video), "image without annotations")
            return []
        records = []
        for slot, (bbox, crowd, annotation_id) in enumerate(image["annotations"]):
            if crowd:
                self.summary.skip("crowd_box", self.describe(video), f"annotation {annotation_id}")
                continue
            if len(bbox) != 4:
                self.summary.skip("malformed_annotation", self.describe(video), f"annotation {annotation_id} bbox")
                continue
            records.append(TrackRecord(video=video, object_id=str(annotation_id), frame_dir=image["split"],
                                       frame_names=[image["file_name"]], frame_ids=np.zeros(1),
                                       boxes=[bbox], visible=[True], image_size=image["size"], slot=slot))
        return records
