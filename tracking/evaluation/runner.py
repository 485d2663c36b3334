"""Run a tracker over a benchmark and write got10k's result layout, resumably and atomically.

Layouts (``<results_root>/<bench_name>/<tracker_name>/...``), as got10k's experiments write them:

- OTB, LaSOT, UAV123 (one-pass evaluation): ``<Seq>.txt`` (one ``x,y,w,h`` per frame, 4 decimals, commas) and
  ``times/<Seq>_time.txt`` (seconds per frame).
- GOT-10k: ``<seq>/<seq>_001.txt`` and ``<seq>/<seq>_time.txt`` (one column per repetition).
- VOT supervised ("baseline"): ``baseline/<seq>/<seq>_001.txt`` with ``1`` (initialised), ``2`` (failure),
  ``0`` (skipped) or a box per frame, and ``<seq>_time.txt`` (one column per repetition, ``NaN`` on skipped frames).

Resume: a sequence (or repetition) whose result file exists is skipped, but only in a folder whose
``identity.json`` says the same tracker, parameters and checkpoint contents produced it
(:mod:`tracking.evaluation.identity`); results of another run stop the run with an error instead of being reported
as new (``overwrite=True`` deletes them first). Every file is written to a temporary file in its directory, flushed
to disk and renamed over the target (``os.replace`` is atomic), and the result file is written last, so a run
killed at any point leaves either a complete result or none: never a partial file.
"""
from __future__ import annotations

import json

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from tracking.atomic_files import atomic_write_text
from tracking.benchmarks.base import Benchmark, Sequence
from tracking.boxes import is_valid_xywh, polygon_to_xywh
from tracking.errors import DataError
from tracking.evaluation.identity import check_claim, claim_result_folder, default_identity, record_results
from tracking.tracker import Tracker

OPE_LAYOUT, GOT10K_LAYOUT = "otb", "got10k"
VOT_EXPERIMENT = "baseline"


@dataclass
class RunSummary:
    """What a run did: the result directory, the sequences tracked and those skipped because results existed."""

    result_dir: Path
    tracked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


def format_boxes(boxes: np.ndarray) -> str:
    """One ``x,y,w,h`` line per frame, 4 decimals (as got10k's VOT records; its OTB records use 3)."""
    return "".join(",".join(f"{value:.4f}" for value in row) + "\n" for row in np.asarray(boxes, dtype=np.float64))


def format_times(times: np.ndarray) -> str:
    return "".join(f"{value:.8f}\n" for value in np.asarray(times, dtype=np.float64))


def infer_layout(benchmark: Benchmark, bench_name: str) -> str:
    """GOT-10k's per-sequence folders for GOT-10k, the flat OTB layout for everything else."""
    class_name = type(benchmark).__name__.lower().replace("-", "")
    name = bench_name.lower().replace("-", "")
    return GOT10K_LAYOUT if class_name.startswith("got10k") or name.startswith("got10k") else OPE_LAYOUT


def ope_result_files(result_dir, sequence_name: str, layout: str = OPE_LAYOUT, repetition: int = 1):
    """(record file, time file) of one sequence in the given layout."""
    result_dir = Path(result_dir)
    if layout == OPE_LAYOUT:
        return result_dir / f"{sequence_name}.txt", result_dir / "times" / f"{sequence_name}_time.txt"
    if layout == GOT10K_LAYOUT:
        folder = result_dir / sequence_name
        return folder / f"{sequence_name}_{repetition:03d}.txt", folder / f"{sequence_name}_time.txt"
    raise ValueError(f"unknown result layout {layout!r}; expected {OPE_LAYOUT!r} or {GOT10K_LAYOUT!r}")


def vot_result_files(result_dir, sequence_name: str, repetition: int = 1):
    folder = Path(result_dir) / sequence_name
    return folder / f"{sequence_name}_{repetition:03d}.txt", folder / f"{sequence_name}_time.txt"


def _merge_time_column(time_file: Path, column: list[str], repetition: int) -> str:
    """The time file with ``column`` as repetition ``repetition`` (1-based), other repetitions' columns kept.

    Rewriting repetition ``r`` replaces its column instead of appending one, so re-running a repetition after a
    kill between the time file and the record does not duplicate it.
    """
    rows = [[] for _ in column]
    if repetition > 1 and time_file.exists():
        existing = time_file.read_text().strip().splitlines()
        for index in range(len(rows)):
            values = existing[index].split(",") if index < len(existing) else []
            rows[index] = (values + ["NaN"] * repetition)[:repetition - 1]
    elif repetition > 1:
        rows = [["NaN"] * (repetition - 1) for _ in column]
    return "\n".join(",".join(row + [value]) for row, value in zip(rows, column))


# --- one-pass evaluation ------------------------------------------------------------------------------------------

def selected_names(benchmark: Benchmark, max_sequences: int | None) -> list[str]:
    """The benchmark's sequence names, the first ``max_sequences`` of them when given (what a run tracks)."""
    names = list(benchmark.sequence_names)
    return names if max_sequences is None else names[:max(0, int(max_sequences))]


def _sequence_path(benchmark: Benchmark, sequence: Sequence) -> Path:
    for key in ("annotation_file", "ground_truth_path", "path"):
        if key in sequence.meta:
            return Path(sequence.meta[key])
    return benchmark.root / sequence.name


def _checked_init_box(benchmark: Benchmark, sequence: Sequence) -> np.ndarray:
    if len(sequence) == 0:
        raise DataError(_sequence_path(benchmark, sequence), "sequence has no frames")
    box = sequence.init_box
    if not is_valid_xywh(box):
        raise DataError(_sequence_path(benchmark, sequence),
                        f"first ground-truth box {np.asarray(box).tolist()} of {sequence.name} is degenerate (zero "
                        "or negative size, NaN or infinite): no tracker can start from it. Degenerate rows after the "
                        "first are fine (they are scored); the first must be a valid x, y, w, h",
                        line=int(sequence.meta.get("first_line", 1)))
    return box


# --- per-sequence steps, driven one sequence at a time or several in lockstep ----------------------------------------
# A sequence's protocol (one-pass, or VOT's supervised re-initialisations) is a generator: it yields requests
# ("init", image, box) / ("update", image, None) and receives (box, seconds) for each. One piece of code per protocol
# serves both drivers: ``drive`` (one tracker, one sequence) and ``drive_batched`` (a batched tracker advancing up to
# its capacity of sequences with one network call per frame step).

def ope_steps(sequence: Sequence, init_box: np.ndarray):
    """One-pass evaluation of ``sequence`` from ``init_box``; returns (boxes (N, 4), seconds (N,))."""
    boxes, times = [], []
    for index, image in enumerate(sequence.images()):
        if index == 0:
            _, seconds = yield ("init", image, np.asarray(init_box, dtype=np.float64))
            box = np.asarray(init_box, dtype=np.float64)
        else:
            box, seconds = yield ("update", image, None)
        boxes.append(np.asarray(box, dtype=np.float64).reshape(4))
        times.append(seconds)
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(times, dtype=np.float64)


def drive(steps, tracker: Tracker):
    """Run one sequence's ``steps`` with ``tracker``; returns what the steps return."""
    try:
        request = next(steps)
        while True:
            kind, image, box = request
            start = time.perf_counter()
            if kind == "init":
                tracker.init(image, box)
                result = box
            else:
                result = np.asarray(tracker.update(image), dtype=np.float64)
            request = steps.send((result, time.perf_counter() - start))
    except StopIteration as done:
        return done.value


def drive_batched(jobs, tracker, on_done) -> None:
    """Advance several sequences in lockstep on a batched tracker (``tracker.capacity`` slots, ``init_slot(slot,
    image, box)``, ``update_slots(slots, images) -> boxes``): each frame step makes one ``update_slots`` call for
    every slot waiting for an update. ``jobs`` yields ``(key, steps)``, or ``(key, steps, prototype)`` for a job
    whose slot decodes with its own tracker (``init_slot``'s prototype); a sequence that ends frees its slot for
    the next job and ``on_done(key, result)`` receives what its steps returned. The time of a batched step is
    shared equally by the sequences in it."""
    jobs = iter(jobs)
    active: dict[int, list] = {}  # slot -> [key, steps, pending request, (prototype,) or ()]
    free = list(range(tracker.capacity))

    def advance(slot: int, value) -> None:
        key, steps = active[slot][:2]
        try:
            active[slot][2] = steps.send(value) if value is not None else next(steps)
        except StopIteration as done:
            del active[slot]
            free.append(slot)
            on_done(key, done.value)
            fill()

    def fill() -> None:
        while free:
            job = next(jobs, None)
            if job is None:
                return
            slot = free.pop(0)
            active[slot] = [job[0], job[1], None, tuple(job[2:])]
            advance(slot, None)

    fill()
    while active:
        for slot in [s for s, entry in active.items() if entry[2][0] == "init"]:
            _, image, box = active[slot][2]
            start = time.perf_counter()
            tracker.init_slot(slot, image, box, *active[slot][3])
            advance(slot, (box, time.perf_counter() - start))
        waiting = sorted(s for s, entry in active.items() if entry[2][0] == "update")
        if not waiting:
            continue
        start = time.perf_counter()
        boxes = tracker.update_slots(waiting, [active[s][2][1] for s in waiting])
        share = (time.perf_counter() - start) / len(waiting)
        for slot, box in zip(waiting, boxes):
            advance(slot, (np.asarray(box, dtype=np.float64), share))


def batched_version(tracker: Tracker, batch: int):
    """``tracker.batched(batch)`` when the tracker has a batched step and ``batch`` > 1, else None (with a note
    when batching was asked for: such trackers, e.g. ones that change their network per sequence, track one
    sequence at a time)."""
    if batch <= 1:
        return None
    batched = tracker.batched(batch) if hasattr(tracker, "batched") else None
    if batched is None:
        print(f"note: {getattr(tracker, 'name', type(tracker).__name__)} has no batched step: tracking one sequence "
              f"at a time (batch {batch} ignored)")
    return batched


@dataclass
class PendingRun:
    """A run whose result folder is claimed and whose sequences are still to be tracked (:func:`track_runs`):
    ``jobs()`` yields ``(key, steps)`` for those without results, ``write(key, result)`` records one (result files,
    summary), ``close()`` ends the run."""

    tracker: Tracker
    summary: RunSummary
    benchmark: Benchmark
    names: list[str]
    jobs: Callable[[], Iterator]
    write: Callable[[object, object], None]
    close: Callable[[], None]


def _lockstep_together(runs: list[PendingRun]) -> bool:
    """Whether the runs' sequences can share one batched tracker: every tracker has a batched step and their
    search crops have one shape (on the first run's first sequence); a note when the shapes differ."""
    from tracking.trackers.batched import search_shape

    if any(not hasattr(run.tracker, "batched") or run.tracker.batched(1) is None for run in runs):
        return False  # each run alone (batched_version notes it)
    if not runs[0].names:
        return True
    sequence = runs[0].benchmark[runs[0].names[0]]
    image, box = sequence.image(0), _checked_init_box(runs[0].benchmark, sequence)
    shapes = [search_shape(run.tracker, image, box) for run in runs]
    if len(set(shapes)) > 1:
        print(f"note: the trackers' search crops differ in shape ({', '.join(sorted(set(map(str, shapes))))}): "
              "tracking one tracker's sequences at a time")
        return False
    return True


def track_runs(runs: list[PendingRun], batch: int = 1) -> list[RunSummary]:
    """Track pending runs and return their summaries. ``batch`` > 1: the (run, sequence) pairs of all runs in
    lockstep on the first run's batched tracker, each slot decoding with its run's own tracker (one network call
    per frame step for up to ``batch`` pairs), when every tracker has a batched step and their search crops have
    one shape; otherwise run after run, each with its sequences in lockstep or one at a time. Each run writes the
    files it would write alone."""
    together = len(runs) > 1 and batch > 1 and _lockstep_together(runs)
    for group in [runs] if together else [[run] for run in runs]:
        batched = batched_version(group[0].tracker, batch)
        if batched is not None:
            prototype = len(group) > 1
            jobs = (((index, key), steps, *((run.tracker,) if prototype else ()))
                    for index, run in enumerate(group) for key, steps in run.jobs())
            drive_batched(jobs, batched, lambda key, result, group=group: group[key[0]].write(key[1], result))
        else:
            for run in group:
                for key, steps in run.jobs():
                    run.write(key, drive(steps, run.tracker))
        for run in group:
            run.close()
    return [run.summary for run in runs]


def run_ope(tracker: Tracker, benchmark: Benchmark, results_root, tracker_name: str, bench_name: str,
            progress: bool = True, max_sequences: int | None = None, layout: str | None = None,
            identity: dict | None = None, overwrite: bool = False, batch: int = 1,
            names: list[str] | None = None, claimed: bool = False) -> RunSummary:
    """Track every sequence from its first ground-truth box; write got10k's OTB (or GOT-10k) result layout.

    ``layout`` is ``"otb"`` (also LaSOT and UAV123) or ``"got10k"``; by default GOT-10k benchmarks get the latter.
    Sequences whose result file exists are skipped when the folder's identity is ``identity`` (default:
    :func:`~tracking.evaluation.identity.default_identity` of the tracker), see
    :func:`~tracking.evaluation.identity.claim_result_folder`; ``max_sequences`` limits the run to the first N,
    ``names`` to a subset (a device's shard). ``batch`` > 1 tracks that many sequences in lockstep when the
    tracker has a batched step (same boxes as one at a time). ``claimed``: the folder is claimed already, by this
    process or the one that started it (a shard of a sharded run, a DDP rank): only check that it holds
    ``identity``.
    """
    return track_runs([ope_run(tracker, benchmark, results_root, tracker_name, bench_name, progress, max_sequences,
                               layout, identity, overwrite, names, claimed)], batch)[0]


def ope_run(tracker: Tracker, benchmark: Benchmark, results_root, tracker_name: str, bench_name: str,
            progress: bool = True, max_sequences: int | None = None, layout: str | None = None,
            identity: dict | None = None, overwrite: bool = False,
            names: list[str] | None = None, claimed: bool = False) -> PendingRun:
    """:func:`run_ope`'s run, its folder claimed, to be tracked by :func:`track_runs`."""
    layout = layout or infer_layout(benchmark, bench_name)
    result_dir = Path(results_root) / bench_name / tracker_name
    identity = identity or default_identity(tracker)
    _claim(result_dir, identity, overwrite, claimed)
    summary = RunSummary(result_dir=result_dir)
    names = selected_names(benchmark, max_sequences) if names is None else list(names)
    bar = tqdm(total=len(names), desc=f"{tracker_name} on {bench_name}", unit="seq", disable=not progress,
               dynamic_ncols=True)

    def write(name: str, result) -> None:
        boxes, times = result
        record_file, time_file = ope_result_files(result_dir, name, layout)
        if layout == GOT10K_LAYOUT:
            time_text = _merge_time_column(time_file, [f"{t:.8f}" for t in times], repetition=1) + "\n"
        else:
            time_text = format_times(times)
        check_claim(result_dir, identity)
        written = [time_file]
        atomic_write_text(time_file, time_text)
        if hasattr(tracker, "sequence_info"):  # what the tracker did in this sequence (online training's gate)
            written.append(sequence_info_file(result_dir, name))
            atomic_write_text(written[-1], json.dumps(tracker.sequence_info(), sort_keys=True) + "\n")
        atomic_write_text(record_file, format_boxes(boxes))  # last: its existence marks the sequence done
        record_results(result_dir, identity, [*written, record_file])
        summary.tracked.append(name)
        summary.frames += len(boxes)
        summary.seconds += float(times.sum())
        bar.update()

    def jobs():
        for name in names:
            if all(path.exists() for path in ope_result_files(result_dir, name, layout)):
                summary.skipped.append(name)
                bar.update()
                continue
            bar.set_postfix_str(name)
            sequence = benchmark[name]
            yield name, _counted(ope_steps(sequence, _checked_init_box(benchmark, sequence)), name, len(sequence))

    return PendingRun(tracker, summary, benchmark, names, jobs, write, bar.close)


INFO_FOLDER = "info"


def sequence_info_file(result_dir, sequence_name: str) -> Path:
    """``<result_dir>/info/<sequence>.json``: what a tracker with ``sequence_info()`` reports of one sequence (the
    online tracker: its gate openings and trainings)."""
    return Path(result_dir) / INFO_FOLDER / f"{sequence_name}.json"


def sequence_info_totals(result_dir, names) -> dict[str, float]:
    """The sums of the per-sequence info of ``names`` (those that have an info file); empty when none has."""
    totals: dict[str, float] = {}
    for name in names:
        path = sequence_info_file(result_dir, name)
        if path.is_file():
            for key, value in json.loads(path.read_text()).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    totals[key] = totals.get(key, 0) + value
            totals["sequences"] = totals.get("sequences", 0) + 1
    return totals


def _claim(folder: Path, identity: dict, overwrite: bool, claimed: bool) -> None:
    if claimed:
        check_claim(folder, identity)
    else:
        claim_result_folder(folder, identity, overwrite=overwrite)


def _counted(steps, name: str, length: int):
    """``steps`` with a check that every frame was tracked."""
    boxes, times = yield from steps
    if len(boxes) != length:
        raise RuntimeError(f"{name}: tracked {len(boxes)} frames of {length}")
    return boxes, times


# --- VOT supervised experiment ------------------------------------------------------------------------------------

def _region_to_box(region: np.ndarray) -> np.ndarray:
    region = np.asarray(region, dtype=np.float64)
    return polygon_to_xywh(region) if region.shape[-1] == 8 else region


def _polygon_iou(ground_truth: np.ndarray, box: np.ndarray, bound) -> float:
    from tracking.metrics.vot import poly_iou

    return float(poly_iou([ground_truth], [box], bound=bound)[0])


def supervised_steps(sequence: Sequence, skip_after_failure: int | None = None):
    """One run of VOT's supervised experiment, as got10k's ``ExperimentVOT.run_supervised`` (steps, see
    :func:`drive`).

    Frame 0: init with the ground truth's box, record ``[1]``. Then each frame: ``update``; an IoU with the ground
    truth (polygons clipped to the image) of 0 is a failure, recorded ``[2]``; the next ``skip_after_failure - 1``
    frames are recorded ``[0]`` (not read, time NaN) and frame ``failure + skip_after_failure`` re-initialises from
    its ground truth, recorded ``[1]``. (A re-init frame without a valid ground-truth box moves to the next valid
    one; got10k would crash there.) Returns the per-frame record and seconds per frame.
    """
    from tracking.metrics.vot import SKIP_AFTER_FAILURE

    skip = SKIP_AFTER_FAILURE if skip_after_failure is None else int(skip_after_failure)
    ground_truth = np.asarray(sequence.ground_truth, dtype=np.float64)
    record: list[np.ndarray] = []
    times = np.full(len(sequence), np.nan)
    next_start = 0
    for index in range(len(sequence)):
        if index < next_start:
            record.append(np.array([0.0]))
            continue
        init_box = _region_to_box(ground_truth[index]) if index < len(ground_truth) else np.full(4, np.nan)
        if index == next_start and not is_valid_xywh(init_box):
            next_start += 1  # nothing to initialise from on this frame
            record.append(np.array([0.0]))
            continue
        image = sequence.image(index)
        if index == next_start:
            _, times[index] = yield ("init", image, init_box)
            record.append(np.array([1.0]))
            continue
        box, times[index] = yield ("update", image, None)
        box = np.asarray(box, dtype=np.float64).reshape(4)
        height, width = image.shape[:2]
        if _polygon_iou(ground_truth[index], box, bound=(width, height)) <= 0.0:
            record.append(np.array([2.0]))
            next_start = index + skip
        else:
            record.append(box)
    return record, times


def track_supervised(tracker: Tracker, sequence: Sequence, skip_after_failure: int | None = None,
                     progress: bool = False) -> tuple[list, np.ndarray]:
    """VOT's supervised experiment on one sequence with ``tracker`` (see :func:`supervised_steps`)."""
    return drive(supervised_steps(sequence, skip_after_failure), tracker)


def format_vot_record(record) -> str:
    """got10k's VOT record text: codes as integers, boxes with 4 decimals, lines joined by newlines."""
    lines = []
    for entry in record:
        entry = np.asarray(entry, dtype=np.float64).reshape(-1)
        lines.append(f"{int(entry[0])}" if len(entry) == 1 else ",".join(f"{v:.4f}" for v in entry))
    return "\n".join(lines)


def run_vot_supervised(tracker: Tracker, benchmark: Benchmark, results_root, tracker_name: str, bench_name: str,
                       repetitions: int = 1, progress: bool = True, max_sequences: int | None = None,
                       identity: dict | None = None, overwrite: bool = False, batch: int = 1,
                       names: list[str] | None = None, claimed: bool = False) -> RunSummary:
    """VOT's supervised (baseline) experiment over a benchmark, ``repetitions`` runs per sequence.

    Writes ``<results_root>/<bench_name>/<tracker_name>/baseline/<seq>/<seq>_00r.txt`` and ``<seq>_time.txt``;
    resumes as :func:`run_ope` (``identity.json`` in ``<tracker_name>/``; ``claimed`` as there). ``batch`` > 1: sequences in lockstep
    on a batched tracker, each slot re-initialised on its own after a failure.
    """
    return track_runs([vot_run(tracker, benchmark, results_root, tracker_name, bench_name, repetitions, progress,
                               max_sequences, identity, overwrite, names, claimed)], batch)[0]


def vot_run(tracker: Tracker, benchmark: Benchmark, results_root, tracker_name: str, bench_name: str,
            repetitions: int = 1, progress: bool = True, max_sequences: int | None = None,
            identity: dict | None = None, overwrite: bool = False,
            names: list[str] | None = None, claimed: bool = False) -> PendingRun:
    """:func:`run_vot_supervised`'s run, its folder claimed, to be tracked by :func:`track_runs`."""
    if repetitions < 1:
        raise ValueError(f"repetitions must be >= 1, got {repetitions}")
    claim_dir = Path(results_root) / bench_name / tracker_name
    identity = identity or default_identity(tracker)
    _claim(claim_dir, identity, overwrite, claimed)
    result_dir = claim_dir / VOT_EXPERIMENT
    summary = RunSummary(result_dir=result_dir)
    names = selected_names(benchmark, max_sequences) if names is None else list(names)
    bar = tqdm(total=len(names), desc=f"{tracker_name} on {bench_name} (supervised)", unit="seq",
               disable=not progress, dynamic_ncols=True)
    tracked: set[str] = set()

    def write(key, result) -> None:
        name, repetition = key
        record, times = result
        record_file, time_file = vot_result_files(result_dir, name, repetition)
        column = [f"{t:.4f}".replace("nan", "NaN") for t in times]
        check_claim(claim_dir, identity)
        atomic_write_text(time_file, _merge_time_column(time_file, column, repetition))
        atomic_write_text(record_file, format_vot_record(record))
        record_results(claim_dir, identity, [time_file, record_file])
        summary.frames += int(np.isfinite(times).sum())
        summary.seconds += float(np.nansum(times))

    def jobs():
        for name in names:
            bar.set_postfix_str(name)
            sequence = None
            for repetition in range(1, repetitions + 1):
                if vot_result_files(result_dir, name, repetition)[0].exists():
                    continue
                if sequence is None:
                    sequence = benchmark[name]
                    _checked_init_box(benchmark, sequence)
                tracked.add(name)
                yield (name, repetition), supervised_steps(sequence)
            bar.update()

    def close() -> None:
        bar.close()
        summary.tracked = [name for name in names if name in tracked]
        summary.skipped = [name for name in names if name not in tracked]

    return PendingRun(tracker, summary, benchmark, names, jobs, write, close)


# --- run, score, report ---------------------------------------------------------------------------------------------

KINDS = ("otb", "vot", "uav123", "lasot", "got10k")
TABLE_COLUMNS = {
    "ope": {"success_auc": "Success AUC", "precision_20": "Prec@20", "success_rate_50": "SR@0.5",
            "norm_precision_auc": "NPrec AUC", "norm_precision_20": "NPrec@0.2", "center_error_mean": "CLE px"},
    "vot": {"accuracy": "Accuracy", "robustness": "Robustness", "failures": "Failures", "eao": "EAO"},
    "got10k": {"ao": "AO", "sr50": "SR@0.5", "sr75": "SR@0.75"},
}


def default_bench_name(kind: str, benchmark: Benchmark | None = None) -> str:
    """got10k's result-folder names: ``OTB2015`` (``OTB`` for an unversioned root), ``VOT2018``, ``GOT-10k``,
    ``LaSOT``, ``UAV123`` / ``UAV20L``."""
    kind = normalized_kind(kind)
    if kind == "otb":
        version = getattr(benchmark, "version", None)
        return f"OTB{version}" if version is not None else "OTB"
    if kind == "vot":
        version = getattr(benchmark, "version", None)
        return f"VOT{version}" if version is not None else "VOT"
    if kind == "uav123":
        return str(getattr(benchmark, "variant", "UAV123"))
    return {"lasot": "LaSOT", "got10k": "GOT-10k"}[kind]


def normalized_kind(kind: str) -> str:
    """``kind`` as one of :data:`KINDS` (case, "-" and "_" ignored: ``GOT-10k`` -> ``got10k``); unknown kinds raise."""
    key = kind.lower().replace("-", "").replace("_", "")
    if key not in KINDS:
        raise ValueError(f"unknown benchmark kind {kind!r}; use one of {', '.join(KINDS)}")
    return key


def scalar_scores(overall: dict) -> dict[str, float]:
    """The scalar numbers of a report's ``overall`` (curves and intervals left out)."""
    scalars = {}
    for key, value in overall.items():
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            continue
        scalars[key] = float(value)
    return scalars


@dataclass
class Evaluation:
    """A finished evaluation: the run, the scores (``tracking.evaluation.scoring.Report``), the report files."""

    kind: str
    bench_name: str
    tracker_name: str
    run: RunSummary
    report: object
    table: str
    report_dir: Path
    files: list[Path] = field(default_factory=list)

    @property
    def scores(self) -> dict[str, float]:
        return scalar_scores(self.report.overall)


def score_run(kind: str, sequences, result_dir, tracker_name: str, progress: bool = False):
    """Score the result files of one run with the benchmark's scorer (``tracking.evaluation.scoring``)."""
    from tracking.evaluation.scoring import SCORERS

    return SCORERS[normalized_kind(kind)](sequences, result_dir, tracker_name, progress=progress)


def format_report_table(reports, kind: str) -> str:
    """One row per report: tracker name, the benchmark's headline scores, speed, sequence count."""
    from tracking.evaluation.report import format_table

    protocol = {"vot": "vot", "got10k": "got10k"}.get(normalized_kind(kind), "ope")
    rows = []
    for report in reports:
        row = {"Tracker": report.tracker_name}
        for key, title in TABLE_COLUMNS[protocol].items():
            row[title] = float(report.overall.get(key, float("nan")))
        row["FPS"] = float(report.overall.get("speed_fps", float("nan")))
        row["Seqs"] = int(report.overall.get("num_sequences", 0))
        rows.append(row)
    nan_lines = [int(report.overall.get("nan_result_lines", 0)) for report in reports]
    if any(nan_lines):  # result lines with NaN: scored as failed frames (per sequence in performance.json)
        for row, count in zip(rows, nan_lines):
            row["NaN lines"] = count
    return format_table(rows)


def write_run_reports(report, reports_root, bench_name: str) -> list[Path]:
    """``<reports_root>/<bench>/<tracker>/performance.json`` (got10k layout) and the success/precision plots."""
    from tracking.evaluation.report import plot_curves, write_performance_json

    extra = {"protocol": report.protocol, "missing": list(report.missing)}
    if report.per_attribute:
        extra["per_attribute"] = report.per_attribute
    if report.per_tag:
        extra["per_tag"] = report.per_tag
    files = [write_performance_json(reports_root, report.tracker_name, report.overall, report.per_sequence,
                                    bench_name, extra=extra)]
    if report.overall.get("success_curve") is not None:
        files += plot_curves({report.tracker_name: report.overall}, Path(reports_root) / bench_name /
                             report.tracker_name, title_suffix=f"on {bench_name}")
    return files


def evaluate_tracker(kind: str, tracker: Tracker, benchmark: Benchmark, out_dir, tracker_name: str,
                     bench_name: str | None = None, progress: bool = True, max_sequences: int | None = None,
                     repetitions: int = 1, identity: dict | None = None, overwrite: bool = False,
                     batch: int = 1) -> Evaluation:
    """Track (resumably), score and report: the whole of ``make eval-<kind>``.

    Results go to ``<out_dir>/results/<bench>/<tracker_name>/`` and reports to
    ``<out_dir>/reports/<bench>/<tracker_name>/`` (``performance.json``, ``success_plot.png``,
    ``precision_plot.png``). VOT runs the supervised experiment, the others one-pass evaluation. Existing results
    are resumed only when they have the same ``identity`` (:func:`tracking.evaluation.identity.run_identity`:
    tracker name, resolved parameters, checkpoint hash); ``overwrite`` deletes this name's results and reports first.
    ``batch`` > 1 tracks that many sequences in lockstep on a tracker with a batched step (the same boxes).
    """
    return evaluate_trackers(kind, [(tracker, tracker_name, identity)], benchmark, out_dir, bench_name, progress,
                             max_sequences, repetitions, overwrite, batch)[0]


def evaluate_trackers(kind: str, trackers: list[tuple[Tracker, str, dict | None]], benchmark: Benchmark, out_dir,
                      bench_name: str | None = None, progress: bool = True, max_sequences: int | None = None,
                      repetitions: int = 1, overwrite: bool = False, batch: int = 1) -> list[Evaluation]:
    """:func:`evaluate_tracker` for several ``(tracker, tracker_name, identity)`` on one benchmark, each with the
    files and scores it would get alone; ``batch`` > 1 tracks the (tracker, sequence) pairs of all of them in
    lockstep when they can share the network call (:func:`track_runs`), e.g. a sweep's trials of one checkpoint."""
    kind = normalized_kind(kind)
    bench_name = bench_name or default_bench_name(kind, benchmark)
    out_dir = Path(out_dir)
    results_root, reports_root = out_dir / "results", out_dir / "reports"
    runs = []
    for tracker, tracker_name, identity in trackers:
        if overwrite and (reports_root / bench_name / tracker_name).is_dir():
            shutil.rmtree(reports_root / bench_name / tracker_name)
        if kind == "vot":
            runs.append(vot_run(tracker, benchmark, results_root, tracker_name, bench_name, repetitions=repetitions,
                                progress=progress, max_sequences=max_sequences, identity=identity,
                                overwrite=overwrite))
        else:
            runs.append(ope_run(tracker, benchmark, results_root, tracker_name, bench_name, progress=progress,
                                max_sequences=max_sequences, identity=identity, overwrite=overwrite))
    names = selected_names(benchmark, max_sequences)
    sequences = [benchmark[name] for name in names] if max_sequences is not None else benchmark
    evaluations = []
    for (tracker, tracker_name, _), run in zip(trackers, track_runs(runs, batch)):
        result_dir = run.result_dir.parent if kind == "vot" else run.result_dir
        report = score_run(kind, sequences, result_dir, tracker_name, progress=progress)
        files = write_run_reports(report, reports_root, bench_name)
        evaluations.append(Evaluation(kind, bench_name, tracker_name, run, report, format_report_table([report], kind),
                                      reports_root / bench_name / tracker_name, files))
    return evaluations
