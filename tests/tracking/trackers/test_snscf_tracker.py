"""The SNS-CF tracker: SiamRPN++'s step reused (ranking "rpn" gives SiamRPNTracker's boxes), the filters locate a
translated target, the rankings' scores, the adaptive update, per-sequence state and parameter errors."""
import numpy as np
import pytest
import torch

from tracking.models.config import SiamRPNNetwork
from tracking.models.correlation_filter import interpolate
from tracking.models.siamrpn import SiamRPN
from tracking.tracker import Tracker, track_frames
from tracking.trackers.siamrpn import SiamRPNTracker
from tracking.trackers.snscf import SNSCFParams, SNSCFTracker

# three levels (conv3/4/5 stand-ins) with a neck and learned fusion weights, narrow enough for CPU tests
NETWORK = SiamRPNNetwork(backbone="mobilenetv2", backbone_width_mult=0.35, used_layers=(3, 4, 5), neck_channels=16,
                         head_hidden=16, weighted=True, image_format="rgb_normalized")


def network(seed: int = 0) -> SiamRPN:
    """Random weights with BN statistics measured on textured crops (as training would leave them): without them a
    random network's maps are nearly constant and a filter has nothing to locate."""
    torch.manual_seed(seed)
    model = SiamRPN(NETWORK)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = None  # cumulative average of the calibration batches
        model.train()
        for frame in textured_frames([(0, 0)], seed=seed + 10):
            crops = torch.stack([torch.from_numpy(frame[y:y + 127, x:x + 127]).permute(2, 0, 1).float() / 255
                                 for x, y in ((0, 0), (60, 40), (150, 100))])
            model.template_features((crops - 0.45) / 0.25)
            model.features(torch.nn.functional.interpolate((crops - 0.45) / 0.25, size=255))
        model.eval()
        model.head.loc_weight.copy_(torch.randn(3, generator=gen))
        model.head.cls_weight.copy_(torch.randn(3, generator=gen))
        for level in model.head.levels:  # moderate box offsets from random weights
            level.loc.predict.weight.mul_(0.01)
            level.loc.predict.bias.zero_()
    return model


def textured_frames(shifts, size=(240, 320), seed=0):
    """Frames of one random texture (a smooth background and a sharp square), each moved by ``shifts[i]``."""
    rng = np.random.default_rng(seed)
    big = rng.integers(0, 255, (size[0] + 80, size[1] + 80, 3)).astype(np.float32)
    big = (big + np.roll(big, 1, 0) + np.roll(big, 1, 1)) / 3  # some spatial correlation
    big[140:204, 180:244] = rng.integers(0, 255, (64, 64, 3))  # the target, a distinct patch
    frames = []
    for dx, dy in shifts:
        frames.append(big[40 - dy:40 - dy + size[0], 40 - dx:40 - dx + size[1]].astype(np.uint8).copy())
    return frames


def test_rpn_ranking_is_siamrpn_step():
    model = network(1)
    frames = textured_frames([(0, 0), (3, 2), (6, 5), (9, 7)])
    box = np.array([140.0, 100.0, 64.0, 64.0])
    params = {"penalty_k": 0.1, "window_influence": 0.3, "lr": 0.4, "instance_size": 191}
    ours, _ = track_frames(SNSCFTracker(model, {**params, "ranking": "rpn"}), frames, box)
    reference, _ = track_frames(SiamRPNTracker(model, params), frames, box)
    np.testing.assert_array_equal(ours, reference)


def test_filters_locate_a_translated_target():
    """Boxes decoded at the anchors themselves (zero offsets), no window or penalty: the chosen cell is the filters'
    peak; a target 63.5 px wide has s_z = 127 (scale 1), so a 16 x 8 px move is 2 x 1 anchor cells."""
    model = network(2)
    with torch.no_grad():
        for level in model.head.levels:
            level.loc.predict.weight.zero_()
    frames = textured_frames([(0, 0), (16, 8), (24, 24)])
    box = np.array([140.25, 100.25, 63.5, 63.5])  # the distinct square's centre (172, 132)
    # cf_lr 1: the third frame is searched with the filter learned on the second alone, its label at the new place
    tracker = SNSCFTracker(model, {"penalty_k": 0.0, "window_influence": 0.0, "lr": 0.0, "cf_lr": 1.0})
    assert isinstance(tracker, Tracker)
    tracker.init(frames[0], box)
    np.testing.assert_allclose(tracker.update(frames[1]), box + [16, 8, 0, 0], atol=1e-6)
    response = tracker.last_cf_response
    assert response.shape == (25, 25) and np.unravel_index(response.argmax(), response.shape) == (13, 14)
    assert 0.5 < response.max() <= 1.2  # a peak near the label's 1 (the filter learned on the same texture)
    np.testing.assert_allclose(tracker.update(frames[2]), box + [24, 24, 0, 0], atol=1e-6)


def test_rankings_and_adaptive_update(monkeypatch):
    model = network(3)
    frames = textured_frames([(0, 0), (4, 4), (8, 6)])
    box = np.array([170.0, 130.0, 80.0, 80.0])
    captured = {}
    original_step = SiamRPNTracker._step

    def capture(self, image, score, delta, scale_z):
        captured["score"] = score.copy()
        return original_step(self, image, score, delta, scale_z)

    monkeypatch.setattr(SiamRPNTracker, "_step", capture)
    original_rpn = SiamRPNTracker._rpn_outputs

    def capture_rpn(cls, loc):
        score, delta = original_rpn(cls, loc)
        captured["rpn"] = score.copy()
        return score, delta

    monkeypatch.setattr(SiamRPNTracker, "_rpn_outputs", staticmethod(capture_rpn))
    for ranking in ("cf", "blend", "product"):
        tracker = SNSCFTracker(model, {"ranking": ranking, "rpn_weight": 0.3, "instance_size": 191})
        tracker.init(frames[0], box)
        tracker.update(frames[1])
        cf = np.tile(np.clip(tracker.last_cf_response, 0, 1).reshape(-1), 5)
        expected = {"cf": cf, "blend": 0.7 * cf + 0.3 * captured["rpn"], "product": cf * captured["rpn"]}[ranking]
        np.testing.assert_allclose(captured["score"], expected, rtol=1e-6)
    # the update: numerator and energy move by cf_lr towards this frame's filter (0 keeps, 1 replaces them)
    for rate in (0.0, 0.25, 1.0):
        tracker = SNSCFTracker(model, {"cf_lr": rate, "instance_size": 191})
        tracker.init(frames[0], box)
        before = dict(tracker.filters)
        learned = {}
        original_learn = SNSCFTracker._learn

        def remember(self, windowed, offset, scale_z):
            learned.update(original_learn(self, windowed, offset, scale_z))
            return learned

        monkeypatch.setattr(SNSCFTracker, "_learn", remember)
        tracker.update(frames[1])
        monkeypatch.setattr(SNSCFTracker, "_learn", original_learn)
        for level in tracker.levels:
            expected = interpolate(before[level], learned[level], rate)
            torch.testing.assert_close(tracker.filters[level].numerator, expected.numerator)
            torch.testing.assert_close(tracker.filters[level].energy, expected.energy)
        if rate == 0.0:
            assert torch.equal(tracker.filters[0].numerator, before[0].numerator)


def test_state_is_per_sequence():
    model = network(4)
    first = textured_frames([(0, 0), (5, 3), (10, 6), (12, 9)], seed=1)
    second = textured_frames([(0, 0), (-4, 2), (-8, 5)], seed=2)
    box_a, box_b = np.array([150.0, 110.0, 70.0, 60.0]), np.array([160.0, 120.0, 50.0, 60.0])
    reused = SNSCFTracker(model, {"instance_size": 191})
    track_frames(reused, first, box_a)
    after_other, _ = track_frames(reused, second, box_b)
    fresh, _ = track_frames(SNSCFTracker(model, {"instance_size": 191}), second, box_b)
    np.testing.assert_array_equal(after_other, fresh)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="ranking must be one of"):
        SNSCFParams(ranking="scores")
    with pytest.raises(ValueError, match=r"SNSCFParams: cf_lr=1.5 is outside its range \[0, 1\]"):
        SNSCFParams(cf_lr=1.5)
    with pytest.raises(ValueError, match="positive sum"):
        SNSCFParams(cf_layer_weights=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="2 value\\(s\\) for a network of 3 feature level"):
        SNSCFTracker(network(), {"cf_layer_weights": [0.5, 1.0]})
    with pytest.raises(ValueError, match="unknown key"):
        SNSCFTracker(network(), {"cf_rate": 0.1})
    tracker = SNSCFTracker(network(), {"cf_layer_weights": [0.0, 1.0, 3.0]})
    assert tracker.levels == [1, 2] and np.allclose(tracker.level_weights, [0.25, 0.75])
    assert SNSCFParams().cf_layer_weights == (0.02, 0.5, 1.0) and SNSCFParams().cf_lr == 0.01


def test_lockstep_boxes_equal_one_at_a_time(lockstep_difference, tiny_siamrpn):
    """Three slots for five sequences of different lengths and frame sizes: one SiamRPN pass for all slots, each
    slot's filter (one level: the tiny network's) learned and updated on its own features."""
    tracker = SNSCFTracker(tiny_siamrpn, {"instance_size": 191, "cf_layer_weights": (1.0,), "ranking": "blend"})
    assert lockstep_difference(tracker, capacity=3) <= 1e-3
