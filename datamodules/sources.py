"""Training sources: the minimal track-dataset interface and the registry of readers (their base class is in
``datamodules.dataset_reader``).

Every source, whichever format it reads, answers like a pytracking dataset::

    source.name                            # e.g. "vid"
    len(source)                            # number of tracks (one object in one video)
    source.get_sequence_info(i)            # {"bbox": (N, 4) float32 xywh, "valid": (N,) bool, "visible": (N,) bool}
    source.get_frames(i, frame_ids)        # ([H x W x 3 uint8 RGB images], [xywh boxes]) for positions in the track

``open_source(kind, root, **options)`` opens one: ``vid``, ``det``, ``coco``, ``ytbb``, ``ytvos``, ``got10k``,
``lasot`` read the datasets as distributed; ``index`` (alias ``prepared``) reads the output of ``make prepare-data`` (its
curated index, with or without 511 x 511 pre-crops); ``pysot`` reads crop511 folders + JSON made by the reference
implementation's scripts (``open_source("pysot", crop_dir, anno="train.json", name="vid")``). Unusable input is
skipped with a ``DataWarning`` naming the file and counted in ``source.summary``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from datamodules.dataset_reader import DatasetReader
from datamodules.tracks import SkipSummary, TrackRecord, TrackTable
from tracking.benchmarks.base import read_image
from tracking.crops import context_size
from tracking.errors import DataError

# Frame ranges of the reference SiamRPN++ training (pysot): positions within a track's annotated frames.
# YouTube-VOS (annotated every 5th frame): 20 annotated frames span VID's 100 (SiamMask's ytb_vos frame_range).
DEFAULT_FRAME_RANGES = {"vid": 100, "ytbb": 3, "ytvos": 20, "coco": 1, "det": 1, "got10k": 100, "lasot": 100}

logger = logging.getLogger(__name__)

INDEX_FILE = "index.npz"
META_FILE = "meta.json"


class TrackSource:
    """A dataset of tracks held in a ``TrackTable``, reading full frames from ``image_root``."""

    def __init__(self, name: str, table: TrackTable, image_root, summary: SkipSummary | None = None,
                 default_frame_range: int | None = None):
        self.name = name
        self.table = table
        self.image_root = Path(image_root)
        self.summary = summary or SkipSummary()
        self.default_frame_range = default_frame_range if default_frame_range is not None else \
            DEFAULT_FRAME_RANGES.get(name, 100)

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {len(self)} tracks, {self.table.num_frames} frames)"

    def track_name(self, index: int) -> str:
        return self.table.name(index)

    def get_sequence_info(self, index: int) -> dict:
        frames = self.table.frames_of(index)
        bbox = self.table.boxes[frames]
        valid = self.table.valid(index)
        return {"bbox": bbox, "valid": valid, "visible": self.table.visible[frames] & valid}

    def valid_positions(self, index: int) -> np.ndarray:
        return np.flatnonzero(self.table.valid(index))

    def frame_path(self, index: int, position: int) -> Path:
        return self.image_root / self.table.frame_path(index, position)

    def get_frames(self, index: int, frame_ids) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Images (H x W x 3 uint8 RGB) and ``xywh`` boxes at positions ``frame_ids`` of track ``index``.

        A missing or corrupt image raises ``DataError`` naming the file (the pair sampler skips and counts it).
        """
        first = int(self.table.start[index])
        images, boxes = [], []
        for position in frame_ids:
            images.append(read_image(self.frame_path(index, int(position))))
            boxes.append(self.table.boxes[first + int(position)].astype(np.float64))
        return images, boxes


def read_tracks(reader: DatasetReader, videos=None, progress: bool = True) -> TrackTable:
    """Parse the videos of a reader (all by default) into a table, skipping and counting bad input."""
    videos = reader.list_videos() if videos is None else videos
    records = []
    for video in tqdm(videos, desc=f"reading {reader.kind}", unit="video", disable=not progress or len(videos) < 50):
        records.extend(reader.checked_tracks(video))
    return TrackTable.from_records(records, meta={"kind": reader.kind})


class PreparedSource(TrackSource):
    """The output of ``make prepare-data``: ``index.npz`` + ``meta.json`` and, when pre-cropped, ``crops/``.

    With pre-crops (``meta["crop_size"]``, 511 by default) ``get_frames`` returns the crop of each frame, the
    target centered at ``(crop_size - 1) / 2`` and scaled so that its exemplar window ``s_z`` spans
    ``exemplar_size`` (127) pixels, and the target's box in that crop. ``use_crops=False`` reads the full frames
    from the original dataset (``frames_root``, default the root recorded at preparation).
    """

    def __init__(self, root, use_crops: bool | None = None, frames_root=None):
        root = Path(root)
        meta_path, index_path = root / META_FILE, root / INDEX_FILE
        if not index_path.is_file() or not meta_path.is_file():
            raise DataError(root, f"not a prepared dataset: {INDEX_FILE} and {META_FILE} expected "
                                  "(run `make prepare-data` first)")
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as error:
            raise DataError(meta_path, f"invalid JSON: {error}") from error
        table = TrackTable.load(index_path, meta)
        self.root = root
        self.crop_size = meta.get("crop_size")
        self.exemplar_size = meta.get("exemplar_size", 127)
        self.context_amount = meta.get("context_amount", 0.5)
        self.use_crops = bool(self.crop_size) if use_crops is None else use_crops
        if self.use_crops and not self.crop_size:
            raise DataError(meta_path, "this prepared dataset has no pre-crops (prepared with --no-crops)")
        image_root = frames_root if frames_root is not None else meta.get("image_root", meta.get("source_root", root))
        kind = meta.get("dataset", "index")
        super().__init__(kind, table, image_root, default_frame_range=DEFAULT_FRAME_RANGES.get(kind, 100))

    def crop_path(self, index: int, position: int) -> Path:
        frame_id = int(self.table.frame_id[int(self.table.start[index]) + position])
        return self.root / crop_relative_path(self.table.video[index].decode(), frame_id, int(self.table.slot[index]))

    def get_frames(self, index: int, frame_ids):
        if not self.use_crops:
            return super().get_frames(index, frame_ids)
        first = int(self.table.start[index])
        images, boxes = [], []
        for position in frame_ids:
            images.append(read_image(self.crop_path(index, int(position))))
            boxes.append(box_in_precrop(self.table.boxes[first + int(position)], self.crop_size,
                                        self.exemplar_size, self.context_amount))
        return images, boxes


class PysotCropSource(TrackSource):
    """Pre-crops made by the reference implementation's scripts (pysot ``training_dataset/<name>/par_crop.py`` and
    ``gen_json.py``), so existing crop511 folders train here unchanged.

    ``root`` is the crop folder (``<video>/<frame>.<track>.x.jpg``), ``anno`` the JSON
    ``{video: {track: {"000000": [x1, y1, x2, y2] or [w, h]}}}`` in original-frame pixels. The reference crop maps
    the window ``[c - s/2, c + s/2]`` onto ``[0, crop_size - 1]``: the target is centered at ``(crop_size - 1) / 2``
    and scaled by ``(crop_size - 1) / crop_size * exemplar_size / s_z``, which ``get_frames`` reproduces exactly.
    Boxes with a non-positive side are dropped, as the reference does; there is no image size to check against.
    """

    def __init__(self, root, anno, name: str = "pysot", crop_size: int = 511, exemplar_size: int = 127,
                 context_amount: float = 0.5, frame_range: int | None = None):
        anno = Path(anno)
        try:
            data = json.loads(anno.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise DataError(anno, f"cannot read the crop annotation JSON ({error})") from error
        summary = SkipSummary()
        records = []
        for video in sorted(data):
            for slot, track in enumerate(sorted(data[video])):
                frames = sorted((k, v) for k, v in data[video][track].items() if k.isdigit())
                boxes = []
                for key, box in frames:
                    if len(box) == 4:
                        boxes.append((box[0], box[1], box[2] - box[0], box[3] - box[1]))
                    elif len(box) == 2:
                        boxes.append((0.0, 0.0, box[0], box[1]))
                    else:
                        raise DataError(anno, f"{video}/{track}/{key}: {len(box)} box values (4 or 2 expected)")
                boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
                usable = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
                if not usable.all():
                    summary.skip("absent", anno, f"{int((~usable).sum())} box(es) of {video}/{track}",
                                 count=int((~usable).sum()))
                if not usable.any():
                    summary.skip("empty_track", anno, f"{video}/{track}")
                    continue
                boxes[~usable] = np.nan
                records.append(TrackRecord(video=video, object_id=track, frame_dir=video,
                                           frame_names=[f"{key}.{track}.x.jpg" for key, _ in frames],
                                           frame_ids=[int(key) for key, _ in frames], boxes=boxes,
                                           visible=usable, image_size=(0, 0), slot=slot))
        self.crop_size, self.exemplar_size, self.context_amount = crop_size, exemplar_size, context_amount
        super().__init__(name, TrackTable.from_records(records, meta={"kind": "pysot"}), root, summary,
                         default_frame_range=frame_range)

    def get_frames(self, index: int, frame_ids):
        images, boxes = super().get_frames(index, frame_ids)
        window = (self.crop_size - 1) / self.crop_size  # the reference maps s onto crop_size - 1 pixels
        return images, [box_in_precrop(box, self.crop_size, self.exemplar_size, self.context_amount, window)
                        for box in boxes]


def crop_relative_path(video: str, frame_id: int, slot: int) -> str:
    """Pre-crop file of one object in one frame, in the layout of the reference's crop511 folders."""
    return f"crops/{video}/{frame_id:06d}.{slot:02d}.x.jpg"


def box_in_precrop(box, crop_size: int = 511, exemplar_size: int = 127, context_amount: float = 0.5,
                   scale_factor: float = 1.0) -> np.ndarray:
    """The target's ``xywh`` box in its pre-crop: centered at ``(crop_size - 1) / 2`` (pixel-index coordinates),
    scaled by ``exemplar_size / s_z`` (times ``scale_factor``)."""
    x, y, w, h = (float(v) for v in box)
    scale = exemplar_size / context_size(w, h, context_amount) * scale_factor
    w, h = w * scale, h * scale
    center = (crop_size - 1) / 2
    return np.array([center - (w - 1) / 2, center - (h - 1) / 2, w, h], dtype=np.float64)


def reader_class(kind: str):
    kind = kind.lower()
    if kind == "vid":
        from datamodules.imagenet import VIDReader as cls
    elif kind == "det":
        from datamodules.imagenet import DETReader as cls
    elif kind == "coco":
        from datamodules.coco import COCOReader as cls
    elif kind in ("ytbb", "youtube_bb", "youtubebb"):
        from datamodules.youtube_bb import YouTubeBBReader as cls
    elif kind in ("ytvos", "youtube_vos", "youtubevos"):
        from datamodules.youtube_vos import YouTubeVOSReader as cls
    elif kind == "got10k":
        from datamodules.got10k_lasot import GOT10kReader as cls
    elif kind == "lasot":
        from datamodules.got10k_lasot import LaSOTReader as cls
    else:
        raise ValueError(f"unknown dataset kind {kind!r}; expected one of {', '.join(SOURCE_KINDS)}")
    return cls


# The training datasets as distributed (also the folder names under a training data root), then the suite's
# prepared index and the reference's crop folders.
DATASET_KINDS = ("vid", "ytbb", "ytvos", "coco", "det", "got10k", "lasot")
SOURCE_KINDS = DATASET_KINDS + ("index", "pysot")


def is_prepared(root) -> bool:
    return (Path(root) / INDEX_FILE).is_file() and (Path(root) / META_FILE).is_file()


def open_source(kind: str, root, progress: bool = True, **options) -> TrackSource:
    """Open a training source. ``kind``: vid, det, coco, ytbb, ytvos, got10k, lasot (raw formats; ``options`` go to the
    reader, e.g. ``splits=("train",)``, ``box_filter=BoxFilter(...)``), index / prepared (``use_crops``,
    ``frames_root``) or pysot (``anno``, ``name``). A raw kind whose root holds a prepared index opens that index
    instead."""
    kind = kind.lower()
    if kind in ("index", "prepared") or is_prepared(root):
        return PreparedSource(root, **options)
    if kind == "pysot":
        return PysotCropSource(root, **options)
    reader = reader_class(kind)(root, **options)
    table = read_tracks(reader, progress=progress)
    source = TrackSource(reader.kind, table, reader.image_root, summary=reader.summary)
    if reader.summary.total():
        logger.warning("%s", reader.summary.report(f"{reader.kind} at {root}: skipped"))
    return source
