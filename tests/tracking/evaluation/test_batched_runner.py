"""Several sequences in lockstep (``batch`` > 1) give the result files of one-at-a-time tracking: one-pass and VOT's
supervised experiment (each slot re-initialised on its own), sequences of different lengths, resume."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from tracking.evaluation.runner import evaluate_tracker
from tracking.trackers.baselines import FirstBoxTracker, NCCTracker


class SlotsOf:
    """A batched tracker made of independent copies of a tracker, one per slot, recording its calls."""

    def __init__(self, tracker, capacity: int):
        self.capacity = capacity
        self.slots = [copy.deepcopy(tracker) for _ in range(capacity)]
        self.calls: list[list[int]] = []

    def init_slot(self, slot, image, box):
        self.slots[slot].init(image, box)

    def update_slots(self, slots, images):
        self.calls.append(list(slots))
        return [self.slots[slot].update(image) for slot, image in zip(slots, images)]


class Batchable:
    """A tracker offering ``batched`` (as the suite's Siamese trackers do)."""

    def __init__(self, tracker):
        self.tracker, self.name = tracker, tracker.name
        self.made: list[SlotsOf] = []

    def init(self, image, box):
        self.tracker.init(image, box)

    def update(self, image):
        return self.tracker.update(image)

    def batched(self, capacity):
        self.made.append(SlotsOf(self.tracker, capacity))
        return self.made[-1]


@pytest.fixture(scope="module")
def benchmarks(otb_and_vot):
    made = otb_and_vot(30, frames=lambda i: 12 + 6 * i)
    return made["otb"], made["vot"]


def _files(folder):
    return {path.relative_to(folder).as_posix(): path.read_text() for path in sorted(folder.rglob("*.txt"))
            if "time" not in path.name}


@pytest.mark.parametrize("kind, tracker", [("otb", NCCTracker()), ("vot", FirstBoxTracker())], ids=["ope", "vot"])
def test_lockstep_results_equal_one_at_a_time(benchmarks, tmp_path, kind, tracker):
    benchmark = benchmarks[0] if kind == "otb" else benchmarks[1]
    single = evaluate_tracker(kind, tracker, benchmark, tmp_path / "one", "T", progress=False)
    batchable = Batchable(tracker)
    batched = evaluate_tracker(kind, batchable, benchmark, tmp_path / "three", "T", progress=False, batch=3)
    assert _files(single.run.result_dir) == _files(batched.run.result_dir)  # identical boxes and records
    scores = {k: v for k, v in batched.scores.items() if k != "speed_fps"}
    assert scores == pytest.approx({k: v for k, v in single.scores.items() if k != "speed_fps"}, nan_ok=True)
    [slots] = batchable.made
    assert max(len(call) for call in slots.calls) == 3  # three sequences advanced per network call
    assert sorted(batched.run.tracked) == sorted(single.run.tracked) == [f"S{i}" for i in range(5)]
    if kind == "vot":  # FirstBox on moving targets fails: slots were re-initialised on their own
        records = "".join(_files(batched.run.result_dir).values())
        assert "\n2\n" in records or records.startswith("2\n")
    # a rerun resumes: nothing left to track
    again = evaluate_tracker(kind, Batchable(tracker), benchmark, tmp_path / "three", "T", progress=False, batch=3)
    assert again.run.tracked == [] and sorted(again.run.skipped) == [f"S{i}" for i in range(5)]


def test_batch_without_a_batched_step_tracks_one_at_a_time(benchmarks, tmp_path, capsys):
    evaluation = evaluate_tracker("otb", NCCTracker(), benchmarks[0], tmp_path, "NCC", progress=False, batch=4)
    assert "has no batched step" in capsys.readouterr().out
    assert len(evaluation.run.tracked) == 5 and np.isfinite(evaluation.scores["success_auc"])


@pytest.mark.timeout(300)
def test_sequences_sharded_over_processes_give_the_same_results(benchmarks, tmp_path):
    from experiments import evaluate

    root = str(benchmarks[0].root)
    one = evaluate.main(["otb", "--ckpt", "baseline:ncc", "--data", root, "--out", str(tmp_path / "one"),
                         "--device", "cpu", "--no-progress"])
    two = evaluate.main(["otb", "--ckpt", "baseline:ncc", "--data", root, "--out", str(tmp_path / "two"),
                         "--device", "cpu", "--no-progress", "--gpus", "2"])
    assert _files(one.run.result_dir) == _files(two.run.result_dir)
    assert len(_files(two.run.result_dir)) == 5
    assert {k: v for k, v in two.scores.items() if k != "speed_fps"} == \
        pytest.approx({k: v for k, v in one.scores.items() if k != "speed_fps"})
