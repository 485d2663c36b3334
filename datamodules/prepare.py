"""Curation of a training dataset (``make prepare-data``): a compact index and, optionally, 511 x 511 pre-crops.

The dataset's videos are split into chunks processed by parallel worker processes. Each worker parses its
videos, drops unusable boxes (absent, too small, too large, center outside the image, frame missing or not
decodable) and, with pre-crops, writes for every usable box a ``crop_size`` patch (511) centered on the target
with the target at the exemplar scale (its context window ``s_z``, context 0.5, spans ``exemplar_size`` = 127
pixels), the outside filled with the frame's mean color, as the reference SiamRPN++ pipeline trains from. Crops go
to ``OUT/crops/<video>/<frame:06d>.<object:02d>.x.jpg`` (the reference's crop511 layout).

A finished chunk is saved atomically to ``OUT/parts/``; after a kill, running the same command again resumes
with the chunks not yet done. At the end the parts are merged into ``OUT/index.npz`` (the ``TrackTable`` arrays)
and ``OUT/meta.json`` (settings, counts, what was dropped and why, with example files), and ``parts/`` is removed.
``datamodules.sources.open_source("index", OUT)`` (or any kind, with ``OUT`` as root) reads the result.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from datamodules.augment import CropDraw, crop_transform, warp_crop
from datamodules.sources import INDEX_FILE, META_FILE, crop_relative_path, reader_class
from datamodules.tracks import SKIP_REASONS, BoxFilter, SkipSummary, TrackTable
from tracking.atomic_files import atomic_write_text

PARTS_DIR = "parts"
PLAN_FILE = "plan.json"
_CENTERED = CropDraw(scale_x=1.0, scale_y=1.0, offset_x=0.0, offset_y=0.0, flip=False, blur=False, color=None)

_worker_state: dict = {}


def _init_worker(reader, out: str, crop_settings: dict | None, limit_opencv_threads: bool = True) -> None:
    if limit_opencv_threads:  # never in a forked child: see datamodules.pair_datamodule.WorkerInit
        cv2.setNumThreads(1)
    _worker_state.update(reader=reader, out=Path(out), crop=crop_settings)


def _crop_video(reader, records, out: Path, settings: dict, summary: SkipSummary) -> list:
    """Write the pre-crops of one video's tracks, reading each frame once; blank boxes of unreadable frames."""
    frames: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for number, record in enumerate(records):
        for position in np.flatnonzero(np.isfinite(record.boxes).all(axis=1)):
            key = (record.frame_dir, record.frame_names[position])
            frames.setdefault(key, []).append((number, int(position)))
    for (frame_dir, name), users in frames.items():
        path = reader.image_root / frame_dir / name
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            summary.skip("unreadable_image", path, f"{len(users)} box(es)", count=len(users))
            for number, position in users:
                records[number].boxes[position] = np.nan
            continue
        for number, position in users:
            record = records[number]
            matrix, _ = crop_transform(record.boxes[position], settings["crop_size"], _CENTERED,
                                       settings["exemplar_size"], settings["context_amount"])
            crop = warp_crop(image, matrix, settings["crop_size"])
            target = out / crop_relative_path(record.video, int(record.frame_ids[position]), record.slot)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(target), crop, [cv2.IMWRITE_JPEG_QUALITY, settings["jpeg_quality"]]):
                raise OSError(f"{target}: cannot write crop")
    kept = []
    for record in records:
        if np.isfinite(record.boxes).all(axis=1).any():
            kept.append(record)
        else:
            summary.skip("empty_track", reader.describe(record.video), f"track {record.object_id}: no readable frame")
    return kept


def _process_chunk(task: tuple[int, list[str]]) -> tuple[int, int, dict, dict]:
    """Parse (and crop) one chunk of videos; save it as ``parts/chunk_<n>.npz``; return counts."""
    number, videos = task
    reader, out, crop = _worker_state["reader"], _worker_state["out"], _worker_state["crop"]
    summary = SkipSummary(warn_first=0)
    reader.summary = summary
    records = []
    for video in videos:
        tracks = reader.checked_tracks(video)
        if crop and tracks:
            tracks = _crop_video(reader, tracks, out, crop, summary)
        records.extend(tracks)
    table = TrackTable.from_records(records)
    counts = summary.counts()
    part = out / PARTS_DIR / f"chunk_{number:06d}.npz"
    temporary = part.with_name(part.stem + ".tmp.npz")
    np.savez(temporary, skip_counts=np.array([counts.get(r, 0) for r in SKIP_REASONS], dtype=np.int64),
             **{name: getattr(table, name) for name in TrackTable.ARRAYS})
    os.replace(temporary, part)  # atomic: a chunk is either done or redone
    return number, len(videos), counts, summary.examples


def _load_part(path: Path) -> tuple[TrackTable, dict]:
    with np.load(path, allow_pickle=False) as data:
        table = TrackTable(**{name: data[name] for name in TrackTable.ARRAYS})
        counts = {reason: int(v) for reason, v in zip(SKIP_REASONS, data["skip_counts"]) if v}
    return table, counts


def prepare_dataset(kind: str, root, out, *, crops: bool = True, crop_size: int = 511, exemplar_size: int = 127,
                    context_amount: float = 0.5, box_filter: BoxFilter | None = None, workers: int | None = None,
                    chunk_size: int | None = None, reader_options: dict | None = None, jpeg_quality: int = 95,
                    overwrite: bool = False, progress: bool = True, max_chunks: int | None = None,
                    start_method: str = "forkserver") -> dict:
    """Curate ``root`` (a dataset of ``kind``) into ``out``; returns the summary written to ``meta.json``.

    ``max_chunks`` stops after that many new chunks (the run is then resumable, as after a kill).
    """
    out = Path(out)
    box_filter = box_filter or BoxFilter()
    reader_options = dict(reader_options or {})
    if (out / INDEX_FILE).exists() and (out / META_FILE).exists() and not overwrite:
        meta = json.loads((out / META_FILE).read_text())
        meta["already_prepared"] = True
        return meta
    if overwrite and out.exists():
        for name in (INDEX_FILE, META_FILE, PARTS_DIR, "crops"):
            target = out / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    started = time.perf_counter()
    reader = reader_class(kind)(root, box_filter=box_filter, **reader_options)
    settings = {"dataset": reader.kind, "source_root": str(Path(root).resolve()),
                "image_root": str(reader.image_root.resolve()),
                "crop_size": crop_size if crops else None, "exemplar_size": exemplar_size,
                "context_amount": context_amount, "box_filter": asdict(box_filter),
                "reader_options": reader_options, "jpeg_quality": jpeg_quality}
    parts = out / PARTS_DIR
    parts.mkdir(parents=True, exist_ok=True)
    plan_path = parts / PLAN_FILE
    if plan_path.exists():
        plan = json.loads(plan_path.read_text())
        if plan["settings"] != settings:
            raise ValueError(f"{out} holds an unfinished preparation with other settings "
                             f"({plan['settings']}); use another --out or --overwrite")
        videos, chunk_size = plan["videos"], plan["chunk_size"]
    else:
        videos = reader.list_videos()
        workers_hint = workers or os.cpu_count() or 1
        chunk_size = chunk_size or max(1, min(64, len(videos) // (workers_hint * 8) or 1))
        plan = {"settings": settings, "videos": videos, "chunk_size": chunk_size}
        atomic_write_text(plan_path, json.dumps(plan))
    chunks = [videos[i:i + chunk_size] for i in range(0, len(videos), chunk_size)]
    done = {int(p.stem.split("_")[1]) for p in parts.glob("chunk_*.npz") if not p.stem.endswith(".tmp")}
    todo = [(n, chunk) for n, chunk in enumerate(chunks) if n not in done]
    resumed_chunks = len(chunks) - len(todo)
    if max_chunks is not None:
        todo = todo[:max_chunks]
    crop_settings = {"crop_size": crop_size, "exemplar_size": exemplar_size, "context_amount": context_amount,
                     "jpeg_quality": jpeg_quality} if crops else None
    summary = SkipSummary(warn_first=0)
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    bar = tqdm(total=len(videos), initial=sum(len(chunks[n]) for n in done), unit="video",
               desc=f"preparing {reader.kind}" + (" (resumed)" if done else ""), disable=not progress)
    if workers == 1:
        _init_worker(reader, str(out), crop_settings, limit_opencv_threads=False)  # this process: leave it be
        results = map(_process_chunk, todo)
        for _, count, _, examples in results:
            summary.add({}, examples)
            bar.update(count)
    else:
        # forkserver: workers forked from a clean server process, so whatever this process did before (e.g.
        # OpenCV's thread pool while generating data) cannot deadlock them; the reader travels pickled
        context = multiprocessing.get_context(start_method)
        initargs = (reader, str(out), crop_settings, start_method != "fork")
        with context.Pool(workers, initializer=_init_worker, initargs=initargs) as pool:
            for _, count, _, examples in pool.imap_unordered(_process_chunk, todo):
                summary.add({}, examples)
                bar.update(count)
    bar.close()
    remaining = len(chunks) - resumed_chunks - len(todo)
    if remaining:
        return {"complete": False, "chunks_done": len(chunks) - remaining, "chunks": len(chunks)}

    tables = []
    for number in range(len(chunks)):
        table, counts = _load_part(parts / f"chunk_{number:06d}.npz")
        tables.append(table)
        summary.add(counts)
    table = TrackTable.concatenate(tables)
    dropped = summary.counts()
    meta = dict(settings, tracks=len(table), frames=int(table.num_frames),
                usable_boxes=int(np.isfinite(table.boxes).all(axis=1).sum()), videos=len(videos),
                dropped=dropped, dropped_examples=summary.examples, resumed_chunks=resumed_chunks,
                chunks=len(chunks), seconds=round(time.perf_counter() - started, 2), complete=True)
    table.save(out / INDEX_FILE)
    atomic_write_text(out / META_FILE, json.dumps(meta, indent=1))
    shutil.rmtree(parts)
    return meta


def format_summary(meta: dict) -> str:
    """Human-readable report of a preparation: what was kept, what was dropped and why."""
    if not meta.get("complete", True):
        return f"incomplete: {meta['chunks_done']}/{meta['chunks']} chunks done; run again to resume"
    lines = [f"{meta['dataset']}: {meta['tracks']} tracks, {meta['usable_boxes']} usable boxes in "
             f"{meta['frames']} frames of {meta['videos']} videos"
             + (f", {meta['crop_size']}x{meta['crop_size']} pre-crops" if meta.get("crop_size") else ", no pre-crops")
             + (" (already prepared)" if meta.get("already_prepared") else "")]
    dropped = meta.get("dropped") or {}
    if dropped:
        lines.append("dropped:")
        for reason, count in sorted(dropped.items(), key=lambda item: -item[1]):
            lines.append(f"  {reason.replace('_', ' '):22s} {count}")
            for example in (meta.get("dropped_examples") or {}).get(reason, [])[:2]:
                lines.append(f"      e.g. {example}")
    else:
        lines.append("dropped: nothing")
    return "\n".join(lines)
