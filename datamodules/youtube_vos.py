"""YouTube-VOS (Xu et al., ECCV 2018) as distributed: a box per object per annotated frame, from its mask.

Layout (the challenge's train split; its JPEGs and masks are every 5th frame of the video, named by frame number)::

    <root>/train/meta.json                        {"videos": {"<video>": {"objects": {"<id>": {"category": ...,
                                                                                     "frames": ["00000", ...]}}}}}
    <root>/train/JPEGImages/<video>/<frame>.jpg
    <root>/train/Annotations/<video>/<frame>.png  palette PNG: pixel value = object id, 0 = background

A track is one object of one video over the video's annotated frames (its masks, and the frames ``meta.json`` lists
for any of its objects); its box in a frame is the tight extent of the mask pixels equal to its id,
``x = min column, y = min row, w = max - min + 1`` (pixel ``i`` spans ``[i, i + 1)``, the box ``cv2.boundingRect``
gives). A frame where the object has no pixel is absent: skipped and counted (``absent``). A mask that is missing,
does not decode or is not single-channel (palette or gray) is counted as ``malformed_annotation`` and the video's
objects count as absent in that frame (one bad mask does not discard the video); a missing frame JPEG is counted as
``missing_frame`` as for every reader. A missing or malformed ``meta.json`` is an error naming the file.
"""
from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image

from datamodules.dataset_reader import DatasetReader
from datamodules.tracks import TrackRecord
from tracking.errors import DataError

MASK_MODES = ("P", "L")  # palette (as distributed) or 8-bit gray: pixel values are the object ids


def mask_boxes(mask: np.ndarray, object_ids) -> np.ndarray:
    """(len(object_ids), 4) ``xywh`` boxes of each id's pixels in a 2-D id mask; NaN rows for ids without pixels."""
    boxes = np.full((len(object_ids), 4), np.nan)
    for row, object_id in enumerate(object_ids):
        ys, xs = np.nonzero(mask == object_id)
        if len(xs):
            boxes[row] = (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    return boxes


def read_mask(path) -> np.ndarray:
    """A YouTube-VOS mask as a 2-D array of object ids; ``DataError`` naming the file when it is missing, does not
    decode, or is not a palette / gray image."""
    try:
        with Image.open(path) as image:
            if image.mode not in MASK_MODES:
                raise DataError(path, f"not an object-id mask (PNG mode {image.mode}; palette or gray expected)")
            image.load()
            return np.asarray(image)
    except FileNotFoundError:
        raise DataError(path, "mask file missing") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(path, f"mask does not decode ({error})") from None


class YouTubeVOSReader(DatasetReader):
    """YouTube-VOS splits (default ``train``; the ``valid`` split annotates first frames only)."""

    kind = "ytvos"
    count_absent = True  # the contract: frames without the object are counted, not only dropped

    def __init__(self, root, splits=("train",), box_filter=None):
        super().__init__(root, box_filter)
        self.splits = [s for s in splits if (self.root / s / "meta.json").is_file()]
        if not self.splits:
            raise DataError(self.root, f"no YouTube-VOS meta.json ({', '.join(f'{s}/meta.json' for s in splits)})")
        self.videos: dict[str, dict] = {}
        for split in self.splits:
            self._load(split)

    def _load(self, split: str) -> None:
        path = self.root / split / "meta.json"
        try:
            videos = json.loads(path.read_text())["videos"]
        except json.JSONDecodeError as error:
            raise DataError(path, f"invalid JSON ({error})") from error
        except (KeyError, TypeError) as error:
            raise DataError(path, f"not a YouTube-VOS meta.json (missing {error})") from error
        if not isinstance(videos, dict):
            raise DataError(path, "not a YouTube-VOS meta.json ('videos' is not a mapping)")
        for video, entry in videos.items():
            self.videos[f"{split}/{video}"] = entry

    def list_videos(self) -> list[str]:
        return sorted(self.videos)

    def describe(self, video: str) -> str:
        split, name = video.split("/", 1)
        return f"{self.root / split / 'meta.json'} (video {name})"

    def read_video(self, video: str) -> list[TrackRecord]:
        split, name = video.split("/", 1)
        try:
            objects = self.videos[video]["objects"]
            object_ids = sorted(objects, key=int)
            frames = sorted({str(frame) for object_id in object_ids for frame in objects[object_id]["frames"]})
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(self.root / split / "meta.json", f"video {name}: malformed entry ({error!r})") from None
        if not object_ids:
            self.summary.skip("no_objects", self.describe(video), "no object")
            return []
        annotation_dir = self.root / split / "Annotations" / name
        if not annotation_dir.is_dir():
            raise DataError(annotation_dir, "annotation folder missing")
        # every mask of the video, also where this object is absent (a track spans the video, as VID's do)
        frames = sorted(set(frames) | {entry[:-4] for entry in os.listdir(annotation_dir) if entry.endswith(".png")})
        if not frames:
            self.summary.skip("no_objects", self.describe(video), "no annotated frame")
            return []
        numbers = [int(object_id) for object_id in object_ids]
        boxes = np.full((len(frames), len(numbers), 4), np.nan)
        image_size = None
        for row, frame in enumerate(frames):
            path = annotation_dir / f"{frame}.png"
            try:
                mask = read_mask(path)
            except DataError as error:
                self.summary.skip("malformed_annotation", path, str(error).removeprefix(f"{path}: "))
                continue
            image_size = image_size or (mask.shape[1], mask.shape[0])
            boxes[row] = mask_boxes(mask, numbers)
        if image_size is None:
            raise DataError(annotation_dir, "no readable mask")
        frame_dir = f"{split}/JPEGImages/{name}"
        frame_ids = [int(frame) if frame.isdigit() else index for index, frame in enumerate(frames)]
        return [TrackRecord(video=video, object_id=object_id, frame_dir=frame_dir,
                            frame_names=[f"{frame}.jpg" for frame in frames], frame_ids=frame_ids,
                            boxes=boxes[:, slot], visible=np.isfinite(boxes[:, slot, 0]), image_size=image_size,
                            slot=slot)
                for slot, object_id in enumerate(object_ids)]
