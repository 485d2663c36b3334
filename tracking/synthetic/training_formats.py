"""Write synthetic videos in the on-disk formats of the training datasets, so every reader is tested on real layouts.

- ``write_vid``: ImageNet VID (ILSVRC2015): ``Data/VID/<split>/<snippet>/000000.JPEG`` and one
  ``Annotations/VID/<split>/<snippet>/000000.xml`` per frame (``trackid``, ``name``, ``bndbox``, ``occluded``);
  frames where the target is absent have an XML without ``<object>``, as in VID.
- ``write_det``: ImageNet DET: every ``frame_step``-th frame is an image ``Data/DET/train/<folder>/<name>.JPEG``
  with ``Annotations/DET/train/<folder>/<name>.xml``; absent targets give an XML without objects (DET's
  negative images).
- ``write_coco``: COCO: ``<split>/<id:012d>.jpg`` and ``annotations/instances_<split>.json`` (``bbox`` ``x,y,w,h``,
  ``area``, ``iscrowd`` 0, the rotated rectangle as ``segmentation`` polygon).
- ``write_ytbb``: YouTube-BB: ``yt_bb_detection_<split>.csv`` (no header; ``youtube_id, timestamp_ms, class_id,
  class_name, object_id, object_presence, xmin, xmax, ymin, ymax`` as fractions, ``-1`` when absent) and the
  frames decoded as ``yt_bb_detection_<split>/<class_id>/<youtube_id>_<timestamp_ms>_<class_id>_<object_id>.jpg``
  (one annotated frame per second of video: frame ``i`` is at ``i * 1000`` ms).
- ``write_ytvos``: YouTube-VOS: ``<split>/JPEGImages/<video>/<frame:05d>.jpg``, palette PNG masks
  ``<split>/Annotations/<video>/<frame:05d>.png`` (object id 1 on the target's rotated rectangle, 0 elsewhere; no
  pixel where the target is absent) and ``<split>/meta.json``; frames are numbered ``index * frame_interval`` (5, as
  the challenge's 6-fps annotations of 30-fps videos).
- ``write_got10k_train`` / ``write_lasot_train``: the benchmark writers of ``tracking.synthetic.writers`` for the
  training split (LaSOT: the sequences are listed in ``training_set.txt`` instead of ``testing_set.txt``).

Box coordinates: ``SyntheticVideo`` boxes are 0-based continuous pixels; VID/DET XML hold integer pixel
coordinates (``xmin = round(x)``, ``xmax = round(x + w)``), COCO and YouTube-BB the exact values, YouTube-VOS the
rasterised polygon (its box is the pixel extent, within a pixel of the exact one).
CLI: ``python -m tracking.synthetic --format vid --out DIR --count N --frames F --seed S``.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable
from xml.sax.saxutils import escape

import cv2
import numpy as np

from tracking.synthetic.video import SyntheticVideo
from tracking.synthetic.writers import JPEG_QUALITY, write_got10k, write_lasot

YTBB_SPLIT_FILES = {"train": "yt_bb_detection_train", "validation": "yt_bb_detection_validation"}


def _save_jpeg(path: Path, frame: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise OSError(f"{path}: cannot write image")


def _present(box) -> bool:
    return bool(np.isfinite(box).all() and box[2] > 0 and box[3] > 0)


def _integer_corners(box) -> tuple[int, int, int, int]:
    x, y, w, h = (float(v) for v in box)
    return int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h))


def _imagenet_xml(folder: str, filename: str, database: str, size: tuple[int, int], objects: list[str]) -> str:
    width, height = size
    return ("<annotation>\n"
            f"\t<folder>{escape(folder)}</folder>\n"
            f"\t<filename>{escape(filename)}</filename>\n"
            f"\t<source>\n\t\t<database>{database}</database>\n\t</source>\n"
            f"\t<size>\n\t\t<width>{width}</width>\n\t\t<height>{height}</height>\n\t</size>\n"
            + "".join(objects) + "</annotation>\n")


def _imagenet_object(box, synset: str, trackid: int | None = None, occluded: bool | None = None) -> str:
    x1, y1, x2, y2 = _integer_corners(box)
    lines = ["\t<object>\n"]
    if trackid is not None:
        lines.append(f"\t\t<trackid>{trackid}</trackid>\n")
    lines.append(f"\t\t<name>{synset}</name>\n")
    lines.append(f"\t\t<bndbox>\n\t\t\t<xmax>{x2}</xmax>\n\t\t\t<xmin>{x1}</xmin>\n"
                 f"\t\t\t<ymax>{y2}</ymax>\n\t\t\t<ymin>{y1}</ymin>\n\t\t</bndbox>\n")
    if occluded is not None:
        lines.append(f"\t\t<occluded>{int(occluded)}</occluded>\n\t\t<generated>0</generated>\n")
    lines.append("\t</object>\n")
    return "".join(lines)


def write_vid(videos: Iterable[SyntheticVideo], root, split: str = "train", start: int = 0,
              synset: str = "n00000001") -> list[str]:
    """ImageNet VID snippets (one track, ``trackid`` 0, per video); returns the snippet paths under the split.

    Train snippets are ``ILSVRC2015_VID_train_0000/ILSVRC2015_train_<n:08d>``, val snippets
    ``ILSVRC2015_val_<n:08d>``, numbered from ``start``.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be train or val, got {split!r}")
    root = Path(root)
    names = []
    for number, video in enumerate(videos, start=start):
        snippet = (f"ILSVRC2015_VID_train_0000/ILSVRC2015_train_{number:08d}" if split == "train"
                   else f"ILSVRC2015_val_{number:08d}")
        height, width = video.size
        occlusion = np.asarray(video.tags.get("occlusion", np.zeros(len(video), dtype=bool)), dtype=bool)
        annotation_dir = root / "Annotations" / "VID" / split / snippet
        annotation_dir.mkdir(parents=True, exist_ok=True)
        for index, (frame, box) in enumerate(zip(video.frames, video.boxes)):
            stem = f"{index:06d}"
            _save_jpeg(root / "Data" / "VID" / split / snippet / f"{stem}.JPEG", frame)
            objects = [_imagenet_object(box, synset, trackid=0, occluded=bool(occlusion[index]))] \
                if _present(box) else []
            (annotation_dir / f"{stem}.xml").write_text(
                _imagenet_xml(snippet, stem, "ILSVRC_2015", (width, height), objects))
        names.append(snippet)
    return names


def write_det(videos: Iterable[SyntheticVideo], root, frame_step: int = 5, folder: str = "ILSVRC2014_train_0000",
              synset: str = "n00000001", start: int = 0) -> list[str]:
    """ImageNet DET images from every ``frame_step``-th frame; returns the image paths under ``train``."""
    root = Path(root)
    names = []
    number = start
    for video in videos:
        height, width = video.size
        for index in range(0, len(video), frame_step):
            stem = f"ILSVRC2014_train_{number:08d}"
            number += 1
            box = video.boxes[index]
            _save_jpeg(root / "Data" / "DET" / "train" / folder / f"{stem}.JPEG", video.frames[index])
            objects = [_imagenet_object(box, synset)] if _present(box) else []
            path = root / "Annotations" / "DET" / "train" / folder / f"{stem}.xml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_imagenet_xml(folder, stem, "ILSVRC_2014", (width, height), objects))
            names.append(f"{folder}/{stem}")
    return names


def write_coco(videos: Iterable[SyntheticVideo], root, split: str = "train2017", frame_step: int = 5,
               category: str = "synthetic") -> list[str]:
    """COCO images from every ``frame_step``-th frame and ``annotations/instances_<split>.json``.

    Images are numbered after those already in the split's JSON, so the writer can be called repeatedly.
    """
    root = Path(root)
    annotation_path = root / "annotations" / f"instances_{split}.json"
    if annotation_path.exists():
        data = json.loads(annotation_path.read_text())
    else:
        data = {"info": {"description": "synthetic tracking targets in COCO format", "version": "1.0"},
                "licenses": [], "images": [], "annotations": [],
                "categories": [{"id": 1, "name": category, "supercategory": "object"}]}
    image_id = max((image["id"] for image in data["images"]), default=0)
    annotation_id = max((a["id"] for a in data["annotations"]), default=0)
    names = []
    for video in videos:
        height, width = video.size
        for index in range(0, len(video), frame_step):
            image_id += 1
            file_name = f"{image_id:012d}.jpg"
            _save_jpeg(root / split / file_name, video.frames[index])
            data["images"].append({"id": image_id, "file_name": file_name, "width": width, "height": height,
                                   "license": 0, "date_captured": ""})
            box = video.boxes[index]
            if _present(box):
                annotation_id += 1
                polygon = video.polygons[index]
                segmentation = [[round(float(v), 2) for v in polygon]] if np.isfinite(polygon).all() else []
                data["annotations"].append({
                    "id": annotation_id, "image_id": image_id, "category_id": 1,
                    "bbox": [round(float(v), 2) for v in box], "area": round(float(box[2] * box[3]), 2),
                    "iscrowd": 0, "segmentation": segmentation})
            names.append(f"{split}/{file_name}")
    annotation_path.parent.mkdir(parents=True, exist_ok=True)
    annotation_path.write_text(json.dumps(data))
    return names


def write_ytbb(videos: Iterable[SyntheticVideo], root, split: str = "train", class_id: int = 0,
               class_name: str = "synthetic", object_id: int = 0) -> list[str]:
    """YouTube-BB detection CSV rows (appended) and decoded frames; returns the youtube ids written.

    Each video becomes a YouTube id (``syn`` + its name) annotated once per frame at 1 Hz.
    """
    if split not in YTBB_SPLIT_FILES:
        raise ValueError(f"split must be one of {tuple(YTBB_SPLIT_FILES)}, got {split!r}")
    root = Path(root)
    base = YTBB_SPLIT_FILES[split]
    frame_dir = root / base / str(class_id)
    rows, names = [], []
    for video in videos:
        youtube_id = f"syn{video.name}"
        height, width = video.size
        for index, (frame, box) in enumerate(zip(video.frames, video.boxes)):
            timestamp = index * 1000
            if _present(box):
                x, y, w, h = (float(v) for v in box)
                fractions = [x / width, (x + w) / width, y / height, (y + h) / height]
                rows.append([youtube_id, timestamp, class_id, class_name, object_id, "present",
                             *(f"{v:.10g}" for v in fractions)])
            else:
                rows.append([youtube_id, timestamp, class_id, class_name, object_id, "absent", -1, -1, -1, -1])
            _save_jpeg(frame_dir / f"{youtube_id}_{timestamp}_{class_id}_{object_id}.jpg", frame)
        names.append(youtube_id)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{base}.csv", "a", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return names


# the first colours of the DAVIS / YouTube-VOS palette (index 0 background, 1 the first object, ...)
YTVOS_PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128, 0, 128, 128, 128, 128, 128]


def write_ytvos(videos: Iterable[SyntheticVideo], root, split: str = "train", frame_interval: int = 5,
                category: str = "synthetic") -> list[str]:
    """YouTube-VOS videos (one object, id 1, per video) with palette masks and ``meta.json`` (merged with an
    existing one, so the writer can be called repeatedly); returns the video names (``syn`` + the video name)."""
    from PIL import Image

    root = Path(root)
    meta_path = root / split / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"videos": {}}
    names = []
    for video in videos:
        name = f"syn{video.name}"
        frames = []
        for index, (frame, polygon) in enumerate(zip(video.frames, video.polygons)):
            stem = f"{index * frame_interval:05d}"
            _save_jpeg(root / split / "JPEGImages" / name / f"{stem}.jpg", frame)
            mask = np.zeros(frame.shape[:2], dtype=np.uint8)
            if _present(video.boxes[index]) and np.isfinite(polygon).all():
                # pixel centres (i, j) inside the polygon drawn in pixel-index coordinates (corner x -> x - 1/2)
                corners = np.round((np.asarray(polygon, dtype=np.float64).reshape(4, 2) - 0.5) * 16).astype(np.int32)
                cv2.fillPoly(mask, [corners], 1, lineType=cv2.LINE_8, shift=4)
                frames.append(stem)
            image = Image.fromarray(mask, mode="P")
            image.putpalette(YTVOS_PALETTE)
            path = root / split / "Annotations" / name / f"{stem}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)
        meta["videos"][name] = {"objects": {"1": {"category": category, "frames": frames}}}
        names.append(name)
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(meta))
    return names


def write_got10k_train(videos: Iterable[SyntheticVideo], root) -> list[str]:
    """GOT-10k's train split (``<root>/train/...``), written by the benchmark writer."""
    return write_got10k(videos, root, subset="train")


def write_lasot_train(videos: Iterable[SyntheticVideo], root, category: str = "synthetic") -> list[str]:
    """LaSOT sequences listed as training sequences (``training_set.txt``), written by the benchmark writer."""
    root = Path(root)
    names = write_lasot(videos, root, category=category)
    testing = root / "testing_set.txt"
    remaining = [n for n in testing.read_text().split() if n not in names] if testing.exists() else []
    if remaining:
        testing.write_text("".join(f"{n}\n" for n in remaining))
    elif testing.exists():
        testing.unlink()
    training = root / "training_set.txt"
    existing = training.read_text().split() if training.exists() else []
    training.write_text("".join(f"{n}\n" for n in existing + [n for n in names if n not in existing]))
    return names


TRAINING_WRITERS = {"vid": write_vid, "det": write_det, "coco": write_coco, "ytbb": write_ytbb,
                    "ytvos": write_ytvos, "got10k": write_got10k_train, "lasot": write_lasot_train}

