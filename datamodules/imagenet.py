"""ImageNet VID and DET (ILSVRC2015) as distributed.

VID: ``<root>/Data/VID/<split>/<snippet>/<frame>.JPEG`` with one ``<root>/Annotations/VID/<split>/<snippet>/
<frame>.xml`` per frame (``<snippet>`` is ``ILSVRC2015_VID_train_000k/ILSVRC2015_train_xxxxxxxx`` for train and
``ILSVRC2015_val_xxxxxxxx`` for val). Each ``<object>`` has ``trackid``, ``name`` (WordNet synset), ``bndbox``
(``xmin, ymin, xmax, ymax``) and ``occluded``; a frame without an object of a track means the object is absent.

DET: ``<root>/Data/DET/<split>/<path>.JPEG`` and ``<root>/Annotations/DET/<split>/<path>.xml`` with objects of
``name`` and ``bndbox``; every object is a one-frame track. Images whose XML has no object (DET's negative
images) are skipped and counted.

Boxes become ``x, y, w, h = xmin, ymin, xmax - xmin, ymax - ymin``, as the reference pipeline reads them.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from datamodules.dataset_reader import DatasetReader
from datamodules.tracks import TrackRecord
from tracking.errors import DataError


def _text(element, tag: str, path) -> str:
    child = element.find(tag)
    if child is None or child.text is None:
        raise DataError(path, f"<{element.tag}> without <{tag}>")
    return child.text.strip()


def parse_imagenet_xml(path) -> dict:
    """One ImageNet annotation file: ``{"size": (w, h), "objects": [{"trackid", "name", "box", "occluded"}]}``.

    ``box`` is ``xywh``; ``trackid`` is None in DET files; a malformed file raises ``DataError`` naming it.
    """
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise DataError(path, f"not valid XML ({error})") from error
    except OSError as error:
        raise DataError(path, f"cannot read ({error.strerror})") from error
    size = root.find("size")
    try:
        image_size = (int(_text(size, "width", path)), int(_text(size, "height", path))) if size is not None else None
    except ValueError as error:
        raise DataError(path, f"non-numeric image size ({error})") from error
    objects = []
    for element in root.findall("object"):
        box_element = element.find("bndbox")
        if box_element is None:
            raise DataError(path, "<object> without <bndbox>")
        try:
            x1, y1, x2, y2 = (float(_text(box_element, tag, path)) for tag in ("xmin", "ymin", "xmax", "ymax"))
            trackid = element.find("trackid")
            occluded = element.find("occluded")
            objects.append({
                "trackid": int(trackid.text) if trackid is not None and trackid.text else None,
                "name": (element.findtext("name") or "").strip(),
                "box": (x1, y1, x2 - x1, y2 - y1),
                "occluded": bool(int(occluded.text)) if occluded is not None and occluded.text else False,
            })
        except ValueError as error:
            raise DataError(path, f"non-numeric value in <object> ({error})") from error
    return {"size": image_size, "objects": objects}


def _present_splits(base: Path, splits) -> list[str]:
    return [split for split in splits if (base / split).is_dir()]


class VIDReader(DatasetReader):
    """ImageNet VID; ``splits`` defaults to train and val (the reference SiamRPN++ trains on both)."""

    kind = "vid"

    def __init__(self, root, splits=("train", "val"), box_filter=None):
        super().__init__(root, box_filter)
        self.annotation_base = self.root / "Annotations" / "VID"
        if not self.annotation_base.is_dir():
            raise DataError(self.annotation_base, "ImageNet VID annotations not found (expected Annotations/VID)")
        self.splits = _present_splits(self.annotation_base, splits)
        if not self.splits:
            raise DataError(self.annotation_base, f"none of the splits {tuple(splits)} exists")

    def list_videos(self) -> list[str]:
        videos = []
        for split in self.splits:
            base = self.annotation_base / split
            for directory, subdirs, files in os.walk(base):
                subdirs.sort()
                if any(name.endswith(".xml") for name in files):
                    videos.append(f"{split}/{Path(directory).relative_to(base).as_posix()}")
        return videos

    def describe(self, video: str) -> str:
        return str(self.annotation_base / video)

    def read_video(self, video: str) -> list[TrackRecord]:
        directory = self.annotation_base / video
        xml_files = sorted(name for name in os.listdir(directory) if name.endswith(".xml"))
        frame_names, frame_ids, parsed = [], [], []
        image_size = None
        for name in xml_files:
            stem = name[:-4]
            try:
                frame_id = int(stem)
            except ValueError:
                frame_id = len(frame_ids)
            frame_names.append(stem + ".JPEG")
            frame_ids.append(frame_id)
            try:
                annotation = parse_imagenet_xml(directory / name)
            except DataError as error:
                # one bad frame does not discard the snippet: its objects count as absent in that frame
                self.summary.skip("malformed_annotation", error.path, str(error).split(": ", 1)[-1])
                annotation = {"size": None, "objects": []}
            image_size = image_size or annotation["size"]
            parsed.append(annotation["objects"])
        trackids = sorted({obj["trackid"] if obj["trackid"] is not None else 0 for objs in parsed for obj in objs})
        if not trackids:
            self.summary.skip("no_objects", directory, "no <object> in any frame")
            return []
        if image_size is None:
            raise DataError(directory, "no annotation file gives the image <size>")
        records = []
        for slot, trackid in enumerate(trackids):
            boxes = np.full((len(parsed), 4), np.nan)
            visible = np.zeros(len(parsed), dtype=bool)
            for index, objects in enumerate(parsed):
                for obj in objects:
                    if (obj["trackid"] if obj["trackid"] is not None else 0) == trackid:
                        boxes[index] = obj["box"]
                        visible[index] = not obj["occluded"]
            records.append(TrackRecord(video=video, object_id=f"{trackid:02d}",
                                       frame_dir=f"Data/VID/{video}", frame_names=frame_names,
                                       frame_ids=np.array(frame_ids), boxes=boxes, visible=visible,
                                       image_size=image_size, slot=trackid))
        return records


class DETReader(DatasetReader):
    """ImageNet DET; every object of an image is a one-frame track (template and search from the same image)."""

    kind = "det"
    count_absent = True

    def __init__(self, root, splits=("train", "val"), box_filter=None):
        super().__init__(root, box_filter)
        self.annotation_base = self.root / "Annotations" / "DET"
        if not self.annotation_base.is_dir():
            raise DataError(self.annotation_base, "ImageNet DET annotations not found (expected Annotations/DET)")
        self.splits = _present_splits(self.annotation_base, splits)
        if not self.splits:
            raise DataError(self.annotation_base, f"none of the splits {tuple(splits)} exists")

    def list_videos(self) -> list[str]:
        images = []
        for split in self.splits:
            base = self.annotation_base / split
            for directory, subdirs, files in os.walk(base):
                subdirs.sort()
                relative = Path(directory).relative_to(base).as_posix()
                prefix = f"{split}/" if relative == "." else f"{split}/{relative}/"
                images.extend(prefix + name[:-4] for name in sorted(files) if name.endswith(".xml"))
        return images

    def describe(self, video: str) -> str:
        return str(self.annotation_base / f"{video}.xml")

    def read_video(self, video: str) -> list[TrackRecord]:
        path = self.annotation_base / f"{video}.xml"
        annotation = parse_imagenet_xml(path)
        if not annotation["objects"]:
            self.summary.skip("no_objects", path, "XML without <object>")
            return []
        if annotation["size"] is None:
            raise DataError(path, "no image <size>")
        directory, _, stem = video.rpartition("/")
        records = []
        for slot, obj in enumerate(annotation["objects"]):
            records.append(TrackRecord(video=video, object_id=f"{slot:02d}", frame_dir=f"Data/DET/{directory}",
                                       frame_names=[stem + ".JPEG"], frame_ids=np.zeros(1), boxes=[obj["box"]],
                                       visible=[True], image_size=annotation["size"], slot=slot))
        return records
