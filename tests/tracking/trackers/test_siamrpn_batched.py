"""SiamRPN++ tracking several sequences in lockstep (one network call per frame step) gives the boxes of
one-at-a-time tracking, one-pass and VOT supervised, on sequences of different lengths."""
from __future__ import annotations

import numpy as np
import pytest

from tracking.evaluation.runner import evaluate_tracker
from tracking.trackers.siamrpn import SiamRPNTracker


@pytest.fixture(scope="module")
def tracker(tiny_siamrpn):
    return SiamRPNTracker(tiny_siamrpn, {"penalty_k": 0.16, "window_influence": 0.4, "lr": 0.3})


@pytest.fixture(scope="module")
def benchmarks(otb_and_vot):
    return otb_and_vot(50, frames=lambda i: 6 + 3 * i, size=(96, 128))


@pytest.mark.parametrize("kind", ["otb", "vot"])
def test_lockstep_boxes_equal_one_at_a_time(tracker, benchmarks, tmp_path, kind, results_difference):
    one = evaluate_tracker(kind, tracker, benchmarks[kind], tmp_path / "one", "T", progress=False)
    three = evaluate_tracker(kind, tracker, benchmarks[kind], tmp_path / "three", "T", progress=False, batch=3)
    assert results_difference(one.run.result_dir, three.run.result_dir, files=5) <= 1e-3


def test_a_step_makes_one_network_call_for_all_slots(tracker, benchmarks):
    calls = []
    handle = tracker.model.backbone.register_forward_hook(lambda module, inputs, output: calls.append(
        inputs[0].shape[0]))
    try:
        batched = tracker.batched(4)
        sequences = [benchmarks["otb"][f"S{i}"] for i in range(4)]
        for slot, sequence in enumerate(sequences):
            batched.init_slot(slot, sequence.image(0), sequence.init_box)
        calls.clear()
        boxes = batched.update_slots([0, 1, 2, 3], [sequence.image(1) for sequence in sequences])
    finally:
        handle.remove()
    assert calls == [4] and len(boxes) == 4 and all(np.isfinite(box).all() for box in boxes)
    with pytest.raises(RuntimeError, match="init_slot"):
        tracker.batched(2).update_slots([1], [sequences[0].image(1)])
