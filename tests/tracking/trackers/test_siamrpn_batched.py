"""SiamRPN++ tracking several sequences in lockstep (one network call per frame step) gives the boxes of
one-at-a-time tracking, one-pass and VOT supervised, on sequences of different lengths."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tracking.evaluation.runner import evaluate_tracker
from tracking.models.config import SiamRPNNetwork
from tracking.models.siamrpn import SiamRPN
from tracking.trackers.siamrpn import SiamRPNTracker

NETWORK = SiamRPNNetwork(backbone="alexnet_legacy", backbone_width_mult=0.25, used_layers=(5,), neck_channels=None,
                         head_hidden=32, weighted=False, image_format="rgb_normalized", base_size=0)


@pytest.fixture(scope="module")
def tracker():
    torch.manual_seed(0)
    model = SiamRPN(NETWORK).eval()
    with torch.no_grad():  # moderate scores and offsets from random weights (no overflowing sizes)
        for level in model.head.levels:
            for branch in (level.cls, level.loc):
                branch.predict.weight.mul_(0.05)
    return SiamRPNTracker(model, {"penalty_k": 0.16, "window_influence": 0.4, "lr": 0.3})


@pytest.fixture(scope="module")
def benchmarks(otb_and_vot):
    return otb_and_vot(50, frames=lambda i: 6 + 3 * i, size=(96, 128))


def _numbers(folder):
    """Result file -> its lines as number lists (VOT records mix codes and boxes)."""
    return {path.relative_to(folder).as_posix(): [[float(v) for v in line.split(",")]
                                                 for line in path.read_text().split()]
            for path in sorted(folder.rglob("*.txt")) if "time" not in path.name}


@pytest.mark.parametrize("kind", ["otb", "vot"])
def test_lockstep_boxes_equal_one_at_a_time(tracker, benchmarks, tmp_path, kind):
    one = evaluate_tracker(kind, tracker, benchmarks[kind], tmp_path / "one", "T", progress=False)
    three = evaluate_tracker(kind, tracker, benchmarks[kind], tmp_path / "three", "T", progress=False, batch=3)
    single, batched = _numbers(one.run.result_dir), _numbers(three.run.result_dir)
    assert single.keys() == batched.keys() and len(single) == 5
    for name, lines in single.items():
        assert [len(line) for line in lines] == [len(line) for line in batched[name]], name  # same codes
        for ours, theirs in zip(lines, batched[name]):
            np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-3, err_msg=name)
    moved = [line[0] for lines in single.values() for line in lines[1:] if len(line) == 4]
    assert np.ptp(moved) > 1  # the boxes move: the comparison is not between constant boxes


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
