"""Write synthetic videos in the on-disk layouts of OTB, VOT, GOT-10k, LaSOT and UAV123.

Each writer takes any iterable of ``SyntheticVideo`` (videos are written one at a time, so a generator keeps
memory flat), writes JPEG frames (quality 90) and the benchmark's annotation files, and returns the sequence
names it wrote. Output is deterministic: the same videos give byte-identical files.

Coordinates: ``SyntheticVideo`` boxes are 0-based. OTB, LaSOT and UAV123 were annotated in MATLAB and publish
1-based pixel coordinates, so their writers add ``PIXEL_OFFSET[format] = 1`` to x and y; VOT and GOT-10k are
written as is. Numbers are written with at most two decimals (the generator rounds to two), so a reader gets
back exactly ``round(box + offset, 2)``.

Absent frames (target fully occluded or out of view) follow each benchmark: OTB and VOT keep the last visible
annotation (their annotators kept the box), GOT-10k keeps it too and flags the frame in ``absence.label``,
LaSOT writes ``0,0,0,0``, UAV123 writes ``NaN,NaN,NaN,NaN``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from tracking.benchmarks.otb import OTB_ATTRIBUTE_NAMES
from tracking.synthetic.video import SyntheticVideo

JPEG_QUALITY = 90
PIXEL_OFFSET = {"otb": 1.0, "vot": 0.0, "got10k": 0.0, "lasot": 1.0, "uav123": 1.0}
VOT_TAGS = ("camera_motion", "illum_change", "motion_change", "occlusion", "size_change")
GOT10K_SUBSETS = ("train", "val", "test")


def format_number(value: float) -> str:
    """Two decimals at most, no trailing zeros: ``12``, ``12.5``, ``12.34``; NaN as ``NaN``."""
    if not np.isfinite(value):
        return "NaN"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _format_rows(rows: np.ndarray, delimiter: str = ",") -> str:
    return "".join(delimiter.join(format_number(v) for v in row) + "\n" for row in rows)


def _fill_absent(rows: np.ndarray) -> np.ndarray:
    """Replace NaN rows by the last visible row (the next one before the first visible frame)."""
    rows = np.array(rows, dtype=np.float64)
    present = np.isfinite(rows).all(axis=1)
    if not present.any():
        raise ValueError("the target is absent in every frame; nothing to annotate")
    index = np.where(present, np.arange(len(rows)), -1)
    index = np.maximum.accumulate(index)
    index[index < 0] = int(np.argmax(present))
    return rows[index]


def _shifted(rows: np.ndarray, offset: float) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64).copy()
    if offset:
        rows[:, 0] += offset
        rows[:, 1] += offset
        if rows.shape[1] == 8:
            rows[:, 2::2] += offset
            rows[:, 3::2] += offset
    return np.round(rows, 2)


def _write_frames(video: SyntheticVideo, folder: Path, digits: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(video.frames, start=1):
        path = folder / f"{index:0{digits}d}.jpg"
        if not cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise OSError(f"{path}: cannot write image")


def _check_name(name: str) -> str:
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"sequence name {name!r} is not a valid folder name")
    return name


def _merge_list(path: Path, names: list[str]) -> None:
    """Write ``names`` to a list file, keeping names already listed there (writers may be called repeatedly)."""
    existing = path.read_text().split() if path.exists() else []
    merged = existing + [n for n in names if n not in existing]
    path.write_text("".join(f"{n}\n" for n in merged))


def _flags_line(flags: np.ndarray) -> str:
    return ",".join(str(int(v)) for v in np.asarray(flags, dtype=bool)) + "\n"


def write_otb(videos: Iterable[SyntheticVideo], root) -> list[str]:
    """``<root>/<Name>/img/0001.jpg``, ``groundtruth_rect.txt`` (1-based ``x,y,w,h``) and ``attributes.json``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    attributes_path = root / "attributes.json"
    attributes = json.loads(attributes_path.read_text()) if attributes_path.exists() else {}
    names = []
    for video in videos:
        name = _check_name(video.name)
        _write_frames(video, root / name / "img", digits=4)
        boxes = _shifted(_fill_absent(video.boxes), PIXEL_OFFSET["otb"])
        (root / name / "groundtruth_rect.txt").write_text(_format_rows(boxes))
        attributes[name] = {"attr": [OTB_ATTRIBUTE_NAMES[a] for a in video.attributes], "frames": len(video),
                            "first_frame": "0001.jpg"}
        names.append(name)
    attributes_path.write_text(json.dumps(attributes, indent=2) + "\n")
    return names


def write_vot(videos: Iterable[SyntheticVideo], root) -> list[str]:
    """VOT2018 layout: ``list.txt``, ``<seq>/00000001.jpg``, ``groundtruth.txt`` polygons, per-frame ``*.tag``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for video in videos:
        name = _check_name(video.name)
        folder = root / name
        _write_frames(video, folder, digits=8)
        polygons = _shifted(_fill_absent(video.polygons), PIXEL_OFFSET["vot"])
        (folder / "groundtruth.txt").write_text(_format_rows(polygons))
        for tag in VOT_TAGS:
            flags = video.tags.get(tag, np.zeros(len(video), dtype=bool))
            (folder / f"{tag}.tag").write_text("".join(f"{int(v)}\n" for v in np.asarray(flags, dtype=bool)))
        names.append(name)
    _merge_list(root / "list.txt", names)
    return names


def got10k_cover_level(visible_ratio) -> np.ndarray:
    """GOT-10k's ``cover`` level of a visible ratio: 0 = fully occluded, 1..7 = visible in (0, 15%], (15%, 30%],
    ..., (90%, 100%), 8 = fully visible."""
    ratio = np.asarray(visible_ratio, dtype=np.float64)
    level = np.clip(np.ceil(ratio / 0.15 - 1e-9), 1, 7).astype(int)
    level = np.where(ratio <= 0, 0, level)
    return np.where(ratio >= 1.0, 8, level)


def write_got10k(videos: Iterable[SyntheticVideo], root, subset: str = "val") -> list[str]:
    """``<root>/<subset>/list.txt``, ``<seq>/00000001.jpg``, ``groundtruth.txt``, labels and ``meta_info.ini``.

    The ``test`` subset gets only the first ground-truth line and no labels, as GOT-10k publishes it.
    """
    if subset not in GOT10K_SUBSETS:
        raise ValueError(f"subset must be one of {GOT10K_SUBSETS}, got {subset!r}")
    root = Path(root) / subset
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for video in videos:
        name = _check_name(video.name)
        folder = root / name
        _write_frames(video, folder, digits=8)
        boxes = _shifted(_fill_absent(video.boxes), PIXEL_OFFSET["got10k"])
        if subset == "test":
            (folder / "groundtruth.txt").write_text(_format_rows(boxes[:1]))
        else:
            (folder / "groundtruth.txt").write_text(_format_rows(boxes))
            absent = np.asarray(video.visible_ratio) <= 0
            (folder / "absence.label").write_text("".join(f"{int(v)}\n" for v in absent))
            (folder / "cover.label").write_text("".join(f"{v}\n" for v in got10k_cover_level(video.visible_ratio)))
            cut = video.tags.get("cut_by_image", np.zeros(len(video), dtype=bool))
            (folder / "cut_by_image.label").write_text("".join(f"{int(v)}\n" for v in np.asarray(cut, dtype=bool)))
            height, width = video.size
            (folder / "meta_info.ini").write_text(
                "[METAINFO]\n"
                f"url: synthetic://{name}\n"
                "begin_time: 0\n"
                f"end_time: {len(video) / 10:.1f}\n"
                "anno_fps: 10Hz\n"
                "object_class: synthetic target\n"
                "motion_class: synthetic motion\n"
                "major_class: synthetic\n"
                "root_class: object\n"
                "motion_adverb: smoothly\n"
                f"resolution: ({width}, {height})\n")
        names.append(name)
    _merge_list(root / "list.txt", names)
    return names


def write_lasot(videos: Iterable[SyntheticVideo], root, category: str = "synthetic") -> list[str]:
    """``<root>/<category>/<category>-<i>/img/00000001.jpg`` with LaSOT's annotation files and ``testing_set.txt``.

    Absent frames are ``0,0,0,0`` in ``groundtruth.txt``; ``full_occlusion.txt`` and ``out_of_view.txt`` hold
    one comma-separated 0/1 line. Indices continue after the category's existing sequences.
    """
    root = Path(root)
    category = _check_name(category)
    (root / category).mkdir(parents=True, exist_ok=True)
    taken = {p.name for p in (root / category).iterdir() if p.is_dir()}
    index = 1
    names = []
    for video in videos:
        while f"{category}-{index}" in taken:
            index += 1
        name = f"{category}-{index}"
        taken.add(name)
        folder = root / category / name
        _write_frames(video, folder / "img", digits=8)
        boxes = _shifted(video.boxes, PIXEL_OFFSET["lasot"])
        boxes[~np.isfinite(boxes).all(axis=1)] = 0.0
        (folder / "groundtruth.txt").write_text(_format_rows(boxes))
        full_occlusion = video.tags.get("full_occlusion", np.zeros(len(video), dtype=bool))
        (folder / "full_occlusion.txt").write_text(_flags_line(full_occlusion))
        (folder / "out_of_view.txt").write_text(_flags_line(video.tags["out_of_view"]))
        (folder / "nlp.txt").write_text(f"the patterned {category} target of video {video.name}\n")
        names.append(name)
    _merge_list(root / "testing_set.txt", names)
    return names


def write_uav123(videos: Iterable[SyntheticVideo], root) -> list[str]:
    """``data_seq/UAV123/<seq>/000001.jpg`` and ``anno/UAV123/<seq>.txt`` (``NaN`` rows for absent frames)."""
    root = Path(root)
    (root / "anno" / "UAV123").mkdir(parents=True, exist_ok=True)
    names = []
    for video in videos:
        name = _check_name(video.name)
        _write_frames(video, root / "data_seq" / "UAV123" / name, digits=6)
        boxes = _shifted(video.boxes, PIXEL_OFFSET["uav123"])
        (root / "anno" / "UAV123" / f"{name}.txt").write_text(_format_rows(boxes))
        names.append(name)
    return names


WRITERS = {"otb": write_otb, "vot": write_vot, "got10k": write_got10k, "lasot": write_lasot, "uav123": write_uav123}
