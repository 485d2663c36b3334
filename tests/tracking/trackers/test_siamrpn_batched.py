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
    handle = tracker.net.module.backbone.register_forward_hook(lambda module, inputs, output: calls.append(
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


def test_crops_on_the_device_in_one_call_per_step(tiny_siamrpn, lockstep_difference, lockstep_videos, monkeypatch):
    import tracking.inference.crops as inference_crops

    tracker = SiamRPNTracker(tiny_siamrpn, {"penalty_k": 0.16, "window_influence": 0.4, "lr": 0.3,
                                            "crop_on_device": True})
    calls = []
    resample = inference_crops.resample_windows
    monkeypatch.setattr(inference_crops, "resample_windows", lambda frames, *args, **kwargs:
                        calls.append(frames.shape[0]) or resample(frames, *args, **kwargs))
    # frames of five sizes padded into one tensor: the boxes of one-at-a-time tracking
    assert lockstep_difference(tracker, capacity=3) <= 1e-3
    assert max(calls) == 3  # a lockstep step cuts all its slots' search crops in one call


def test_device_crops_are_the_opencv_crops_within_a_grey_level(tiny_siamrpn, lockstep_videos):
    video = lockstep_videos[3]
    crops = {}
    for on_device in (False, True):
        tracker = SiamRPNTracker(tiny_siamrpn, {"crop_on_device": on_device})
        tracker.init(video.frames[0], video.boxes[0])
        tracker.center = tracker.center + [-40.3, 17.6]  # part of the window outside the frame
        crops[on_device] = tracker._search_crop(video.frames[1])[1]
    assert crops[True].shape == crops[False].shape == (1, 3, 255, 255)
    # rgb_normalized: one grey level is 1 / (255 * std) in the network's units (OpenCV rounds its samples to uint8)
    grey = 1 / (255 * 0.224)  # the smallest std: the largest step
    difference = (crops[True] - crops[False]).abs()
    assert float(difference.max()) <= 1.01 * grey and float(difference.mean()) < 0.3 * grey
