"""Tracks of a training dataset in compact columnar form, the box filter, and the count of what was skipped.

A *track* is one object followed through one video (ImageNet VID snippet, YouTube-BB clip, GOT-10k or LaSOT
sequence); detection datasets (DET, COCO) give one-frame tracks. Millions of frames are stored as a few numpy
arrays instead of Python objects, so that a dataset pickles quickly into the data-loader workers and forked
workers do not copy it page by page through reference counting.

Box convention: ``x, y, w, h`` in continuous pixel coordinates with pixel ``i`` spanning ``[i, i + 1)``, so the
target's center in pixel-index coordinates (pixel ``i`` centered at ``i``, as cv2 samples) is ``x + (w - 1) / 2``,
the center the suite's crops use. NaN rows mark frames where the object is absent or its box was dropped.
"""
from __future__ import annotations

import multiprocessing
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np


class DataWarning(UserWarning):
    """Bad training input that was skipped (named file, reason); the skip is counted in a summary."""


# Reasons for skipping, in a fixed order (the shared counter of the data-loader workers is indexed by them).
SKIP_REASONS = (
    "malformed_annotation",  # annotation file that does not parse, or lacks fields
    "no_objects",            # annotation of an image or video without any object (e.g. DET negatives)
    "crowd_box",             # COCO iscrowd annotation
    "absent",                # box marked absent / NaN / non-positive size
    "too_small",             # a side shorter than BoxFilter.min_size pixels
    "too_large",             # box covering more than BoxFilter.max_area_fraction of the image
    "outside_image",         # box center outside the image
    "missing_frame",         # image file named by an annotation does not exist
    "unreadable_image",      # image that exists but does not decode (corrupt JPEG)
    "empty_track",           # track left without any usable frame
)


@dataclass
class TrackRecord:
    """One object in one video, as a reader parses it (before packing into a ``TrackTable``).

    ``frame_names`` are file names inside ``frame_dir`` (relative to the dataset root); ``frame_ids`` the frame
    numbers of the video (they name pre-crops); ``boxes`` (N, 4) ``xywh`` with NaN rows where absent;
    ``visible`` (N,) whether the object is visible (not occluded / out of view) where it is annotated.
    """

    video: str
    object_id: str
    frame_dir: str
    frame_names: list[str]
    frame_ids: np.ndarray
    boxes: np.ndarray
    visible: np.ndarray
    image_size: tuple[int, int]   # (width, height)
    slot: int = 0                 # position of the track within its video (names its pre-crops)

    def __post_init__(self):
        self.frame_ids = np.asarray(self.frame_ids, dtype=np.int64).reshape(-1)
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        self.visible = np.asarray(self.visible, dtype=bool).reshape(-1)
        if not (len(self.frame_names) == len(self.frame_ids) == len(self.boxes) == len(self.visible)):
            raise ValueError(f"track {self.video}/{self.object_id}: per-frame fields differ in length")


class SkipSummary:
    """Counts of skipped input by reason, with a few warnings naming the files.

    The first ``warn_first`` skips of each reason are reported as ``DataWarning`` with the file and reason; the
    rest are only counted (a real dataset can have thousands of DET negatives). ``shared=True`` keeps the counts
    in shared memory so that the data-loader worker processes add to the same totals the main process reads.
    """

    def __init__(self, shared: bool = False, warn_first: int = 5, keep_examples: int = 3):
        self.warn_first = warn_first
        self.keep_examples = keep_examples
        self._shared = shared
        if shared:
            # a lock made in a "spawn" context is inherited by forked workers and can also be passed to
            # forkserver/spawn workers (one made in a "fork" context cannot)
            self._counts = multiprocessing.get_context("spawn").Array("q", len(SKIP_REASONS))
        else:
            self._counts = [0] * len(SKIP_REASONS)
        self._warned: Counter = Counter()
        self.examples: dict[str, list[str]] = {}  # first messages per reason (this process)

    def skip(self, reason: str, where, detail: str = "", count: int = 1) -> None:
        index = SKIP_REASONS.index(reason)
        if self._shared:
            with self._counts.get_lock():
                self._counts[index] += count
        else:
            self._counts[index] += count
        message = f"{where}: {reason.replace('_', ' ')}" + (f" ({detail})" if detail else "") + ", skipped"
        examples = self.examples.setdefault(reason, [])
        if len(examples) < self.keep_examples:
            examples.append(message)
        if self._warned[reason] < self.warn_first:
            self._warned[reason] += 1
            warnings.warn(message, DataWarning, stacklevel=3)

    def add(self, counts: dict, examples: dict | None = None) -> None:
        """Add counts (and example messages) from elsewhere, e.g. a worker process; no warnings."""
        for reason, messages in (examples or {}).items():
            kept = self.examples.setdefault(reason, [])
            kept.extend(messages[: max(0, self.keep_examples - len(kept))])
        for reason, value in counts.items():
            if value:
                index = SKIP_REASONS.index(reason)
                if self._shared:
                    with self._counts.get_lock():
                        self._counts[index] += int(value)
                else:
                    self._counts[index] += int(value)

    def counts(self) -> dict[str, int]:
        return {reason: int(self._counts[i]) for i, reason in enumerate(SKIP_REASONS) if self._counts[i]}

    def total(self) -> int:
        return sum(self.counts().values())

    def report(self, title: str = "skipped") -> str:
        counts = self.counts()
        if not counts:
            return f"{title}: nothing"
        return f"{title}: " + ", ".join(f"{reason.replace('_', ' ')} {value}" for reason, value in counts.items())


@dataclass(frozen=True)
class BoxFilter:
    """Which annotated boxes are usable for training.

    Drops boxes that are absent (NaN, non-positive size), smaller than ``min_size`` pixels on a side, larger than
    ``max_area_fraction`` of the image, or whose center lies outside the image.
    """

    min_size: float = 4.0
    max_area_fraction: float = 0.95

    def reasons(self, boxes: np.ndarray, image_size) -> np.ndarray:
        """Per box: '' when usable, else the skip reason."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        width, height = float(image_size[0]), float(image_size[1])
        x, y, w, h = boxes.T
        out = np.full(len(boxes), "", dtype=object)
        with np.errstate(invalid="ignore"):
            absent = ~np.isfinite(boxes).all(axis=1) | (w <= 0) | (h <= 0)
            cx, cy = x + w / 2, y + h / 2
            outside = ~absent & ((cx < 0) | (cy < 0) | (cx > width) | (cy > height))
            small = ~absent & ~outside & ((w < self.min_size) | (h < self.min_size))
            large = ~absent & ~outside & ~small & (w * h > self.max_area_fraction * width * height)
        out[absent] = "absent"
        out[outside] = "outside_image"
        out[small] = "too_small"
        out[large] = "too_large"
        return out


def filter_record(record: TrackRecord, box_filter: BoxFilter, summary: SkipSummary, where: str,
                  count_absent: bool = False) -> TrackRecord | None:
    """Blank (NaN) the unusable boxes of a track and count them; ``None`` when no usable frame remains.

    Absent frames are normal in videos (the object left or is not yet there), so they are only counted when
    ``count_absent`` (datasets where an annotation row always means a box, e.g. COCO).
    """
    reasons = box_filter.reasons(record.boxes, record.image_size)
    bad = reasons != ""
    for reason in ("outside_image", "too_small", "too_large") + (("absent",) if count_absent else ()):
        hits = np.flatnonzero(reasons == reason)
        if len(hits):
            summary.skip(reason, where, f"{len(hits)} box(es) of track {record.object_id}, first in frame "
                                        f"{record.frame_names[hits[0]]}", count=len(hits))
    if bad.all():
        summary.skip("empty_track", where, f"track {record.object_id} has no usable box")
        return None
    if bad.any():
        record.boxes = record.boxes.copy()
        record.boxes[bad] = np.nan
    return record


def _text_array(values) -> np.ndarray:
    """Fixed-width byte strings: compact and free of per-item Python objects."""
    values = list(values)
    if not values:
        return np.zeros(0, dtype="S1")
    return np.array([v.encode("utf-8") for v in values], dtype=np.bytes_)


@dataclass
class TrackTable:
    """All tracks of a dataset as flat arrays; track ``i``'s frames are ``start[i]:start[i + 1]``."""

    video: np.ndarray          # (T,) bytes: video name
    object_id: np.ndarray      # (T,) bytes: object / track id within the video
    slot: np.ndarray           # (T,) int32: position of the track within its video (names pre-crops)
    frame_dir: np.ndarray      # (T,) bytes: directory of the track's frames, relative to the dataset root
    image_size: np.ndarray     # (T, 2) int32: width, height
    start: np.ndarray          # (T + 1,) int64 offsets into the per-frame arrays
    frame_name: np.ndarray     # (F,) bytes: image file name inside frame_dir
    frame_id: np.ndarray       # (F,) int64: frame number in the video
    boxes: np.ndarray          # (F, 4) float32 xywh, NaN where absent / dropped
    visible: np.ndarray        # (F,) bool
    meta: dict = field(default_factory=dict)

    ARRAYS = ("video", "object_id", "slot", "frame_dir", "image_size", "start", "frame_name", "frame_id", "boxes",
              "visible")

    @classmethod
    def from_records(cls, records, meta: dict | None = None) -> "TrackTable":
        records = list(records)
        lengths = np.array([len(r.frame_names) for r in records], dtype=np.int64)
        start = np.zeros(len(records) + 1, dtype=np.int64)
        np.cumsum(lengths, out=start[1:])

        def cat(values, dtype, shape=(0,)):
            return np.concatenate(values).astype(dtype) if values else np.zeros(shape, dtype=dtype)

        return cls(
            video=_text_array(r.video for r in records),
            object_id=_text_array(r.object_id for r in records),
            slot=np.array([r.slot for r in records], dtype=np.int32),
            frame_dir=_text_array(r.frame_dir for r in records),
            image_size=np.array([r.image_size for r in records], dtype=np.int32).reshape(-1, 2),
            start=start,
            frame_name=_text_array(name for r in records for name in r.frame_names),
            frame_id=cat([r.frame_ids for r in records], np.int64),
            boxes=cat([r.boxes for r in records], np.float32, (0, 4)),
            visible=cat([r.visible for r in records], bool),
            meta=dict(meta or {}),
        )

    @classmethod
    def concatenate(cls, tables, meta: dict | None = None) -> "TrackTable":
        tables = [t for t in tables if len(t)]
        if not tables:
            return cls.from_records([], meta)
        starts, offset = [np.zeros(1, dtype=np.int64)], 0
        for table in tables:
            starts.append(table.start[1:] + offset)
            offset += table.start[-1]
        fields = {}
        for name in cls.ARRAYS:
            if name == "start":
                fields[name] = np.concatenate(starts)
            elif name in ("video", "object_id", "frame_dir", "frame_name"):
                width = max(t.__dict__[name].dtype.itemsize for t in tables)
                fields[name] = np.concatenate([t.__dict__[name].astype(f"S{width}") for t in tables])
            else:
                fields[name] = np.concatenate([t.__dict__[name] for t in tables])
        return cls(**fields, meta=dict(meta or {}))

    def __len__(self) -> int:
        return len(self.start) - 1

    @property
    def num_frames(self) -> int:
        return int(self.start[-1])

    def frames_of(self, track: int) -> slice:
        return slice(int(self.start[track]), int(self.start[track + 1]))

    def valid(self, track: int) -> np.ndarray:
        """(N,) bool: frames of the track with a usable box."""
        boxes = self.boxes[self.frames_of(track)]
        return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)

    def name(self, track: int) -> str:
        return f"{self.video[track].decode()}/{self.object_id[track].decode()}"

    def frame_path(self, track: int, position: int) -> str:
        """Path of a frame relative to the dataset root."""
        directory = self.frame_dir[track].decode()
        name = self.frame_name[int(self.start[track]) + position].decode()
        return f"{directory}/{name}" if directory else name

    def save(self, path) -> None:
        np.savez(path, **{name: getattr(self, name) for name in self.ARRAYS})

    @classmethod
    def load(cls, path, meta: dict | None = None) -> "TrackTable":
        with np.load(path, allow_pickle=False) as data:
            return cls(**{name: data[name] for name in cls.ARRAYS}, meta=dict(meta or {}))
