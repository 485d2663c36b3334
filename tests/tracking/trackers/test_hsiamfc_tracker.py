"""Hierarchical SiamFC's hierarchical estimation: PSR, CTL, HTL, the adaptive weights and the level selection on small
maps computed by hand; the tracker on prescribed score maps (which level it follows, where it moves the target) and on
a real three-level network (every step wired as the equations say)."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from tracking.models.siamfc import SiamFC, SiamFCNetwork
from tracking.tracker import track_frames
from tracking.trackers.hsiamfc import (HierarchicalParams, HierarchicalSiamFCTracker, adaptive_weights,
                                            current_tracking_loss, historic_tracking_loss, psr, select_level)


# ---------------------------------------------------------------------------------------------- the equations
def test_psr_is_eq4_over_the_whole_map():
    spike = np.zeros((3, 3))
    spike[1, 1] = 9.0  # mean 1, population variance (8 * 1 + 64) / 9 = 8
    assert psr(spike) == pytest.approx(8 / math.sqrt(8))
    assert psr(spike * 7 + 3) == pytest.approx(psr(spike))  # invariant to the map's scale and offset
    assert psr(np.full((4, 4), 2.5)) == 0.0  # a flat map: no deviation, PSR 0


def test_ctl_is_eq2_raw_or_divided_by_the_maps_range():
    score = np.array([[1.0, 2.0], [3.0, 5.0]])
    assert current_tracking_loss(score, (1, 0), "none") == pytest.approx(2.0)  # max 5 - S(x_c) 3
    assert current_tracking_loss(score, (1, 0)) == pytest.approx(0.5)  # 2 / (5 - 1)
    assert current_tracking_loss(score, (1, 1)) == 0.0  # located at the map's own peak
    assert current_tracking_loss(score * 1000, (1, 0)) == pytest.approx(0.5)  # comparable across layers' units
    assert current_tracking_loss(np.ones((2, 2)), (0, 0)) == 0.0


def test_htl_is_eq3_over_the_history():
    # history 1, 2, 3, 4: mean 2.5, population std sqrt(1.25); PSR 5 now: |5 - 2.5| / sqrt(1.25) = sqrt(5)
    assert historic_tracking_loss(5.0, [1.0, 2.0, 3.0, 4.0]) == pytest.approx(math.sqrt(5))
    assert historic_tracking_loss(0.0, [1.0, 2.0, 3.0, 4.0]) == pytest.approx(math.sqrt(5))  # |.|
    assert historic_tracking_loss(3.0, []) == 0.0
    assert historic_tracking_loss(3.0, [2.0, 2.0]) == 0.0  # zero deviation


def test_weights_are_eq5_harmonic_means():
    np.testing.assert_allclose(adaptive_weights([0.0], [0.0]), [1.0])  # the start: equal weights of 1
    # e^-CTL = 1/2, e^-HTL = 1: 2 * 1/2 / (1/2 + 1) = 2/3; with alpha 2: 2 * 2 * 1/2 / (2 * 1/2 + 1) = 1
    np.testing.assert_allclose(adaptive_weights([math.log(2)], [0.0]), [2 / 3])
    np.testing.assert_allclose(adaptive_weights([math.log(2)], [0.0], alpha=2.0), [1.0])
    # e^-CTL = 1/2, e^-HTL = 1/4: 2 * 1/8 / (3/4) = 1/3; the other level untouched
    np.testing.assert_allclose(adaptive_weights([math.log(2), 0.0], [math.log(4), 0.0]), [1 / 3, 1.0])


def test_selection_is_the_largest_weighted_psr():
    assert select_level([1.0, 0.5, 0.8], [2.0, 5.0, 3.0]) == 1  # 2, 2.5, 2.4
    assert select_level([1.0, 0.2, 0.8], [2.0, 5.0, 3.0]) == 2  # 2, 1.0, 2.4: the weights overturn the PSRs
    assert select_level([1.0, 1.0], [2.0, 2.0]) == 0  # a tie: the first (lowest) level


def test_parameters_are_the_papers():
    params = HierarchicalParams()
    assert (params.alpha, params.history_length, params.htl_start, params.ctl_normalization) == (1.0, 10, 10, "minmax")
    assert (params.response_up, params.upsample_mode, params.align_corners) == (8, "bilinear", True)
    assert params.upsampled_size(17) == 129  # 17 -> 129, corner cells on corner pixels
    assert (params.scale_num, params.scale_step, params.window_influence) == (3, 1.0375, 0.176)  # SiamFC's
    with pytest.raises(ValueError, match="ctl_normalization"):
        HierarchicalParams(ctl_normalization="softmax")


# ---------------------------------------------------------------------------------------------- prescribed maps
class PrescribedMaps(nn.Module):
    """A stand-in network whose responses are given per frame: ``maps[frame][level]`` a 17x17 array (the same
    for the three scales)."""

    def __init__(self, maps):
        super().__init__()
        self.config = SiamFCNetwork(levels=("conv3", "conv4", "conv5"))
        self.maps = list(maps)

    def template_features(self, template):
        return [template]

    def responses(self, kernel, search, per_exemplar=False):
        frame = self.maps.pop(0)
        return [torch.as_tensor(level, dtype=torch.float32).expand(search.shape[0], 1, 17, 17) for level in frame]


def peaked(row: int, column: int, height: float = 10.0, radius: int = 0, shoulders: float = 0.0) -> np.ndarray:
    """A 17x17 map, 0 but for a (2 radius + 1)^2 block of ``height`` at (row, column) and ``shoulders`` on the four
    cells beside it (a wider peak has a lower PSR)."""
    score = np.zeros((17, 17))
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        score[row + dr * (radius + 1), column + dc * (radius + 1)] = shoulders
    score[row - radius:row + radius + 1, column - radius:column + radius + 1] = height
    return score


def test_tracker_follows_the_selected_level_and_reweights_the_levels():
    image = np.full((300, 400, 3), 100, np.uint8)
    # conv3 peaks sharply 2 cells right of the centre; conv4 and conv5 have a wider peak (3x3 cells, a lower PSR)
    # at the centre. Without a window the target moves to conv3's peak: 2 cells = 16 search pixels =
    # 16 * x_sz / 255 image pixels (the peak cell is an upsampled pixel exactly: corners aligned, 8 per cell).
    right, centre = peaked(8, 10), peaked(8, 8, radius=1)
    model = PrescribedMaps([[right, centre, centre], [right, centre, centre]])
    tracker = HierarchicalSiamFCTracker(model, {"window_influence": 0.0, "scale_lr": 0.0})
    tracker.init(image, [151.0, 101.0, 60.0, 40.0])  # 1-based; centre (150 + 29.5, 100 + 19.5) 0-based
    x_sz = tracker.x_sz
    box = tracker.update(image)
    assert tracker.last["level"] == 0 and list(tracker.last["weights"]) == [1.0, 1.0, 1.0]
    assert tracker.last["psr"][0] > tracker.last["psr"][1] == tracker.last["psr"][2]
    np.testing.assert_allclose(box[:2] + (box[2:] - 1) / 2 - 1, [179.5 + 16 * x_sz / 255, 119.5], atol=1e-9)
    # CTL at the located pixel (2 cells right of the centre, outside the 3x3 peaks): 0 on conv3, (10 - 0) / 10 = 1
    np.testing.assert_allclose(tracker.last["ctl"], [0.0, 1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(tracker.last["htl"], [0.0, 0.0, 0.0])
    expected = 2 * math.exp(-1) / (math.exp(-1) + 1)  # Eq. 5 with CTL 1, HTL 0, alpha 1
    np.testing.assert_allclose(tracker.last["next_weights"], [1.0, expected, expected])
    tracker.update(image)
    assert tracker.last["level"] == 0
    np.testing.assert_allclose(tracker.last["weights"], [1.0, expected, expected])


def test_weights_can_overturn_the_psr():
    """Frame 1 is located with conv4 (the sharpest map, at the centre); conv3 and conv5 peak elsewhere: CTL 1. On
    frame 2 conv3's PSR is higher than conv4's (a peak with shoulders), but its weight (0.54) is lower: conv4 is
    kept."""
    image = np.full((300, 400, 3), 100, np.uint8)
    off = peaked(3, 3, radius=1)
    model = PrescribedMaps([[off, peaked(8, 8), off], [peaked(8, 8), peaked(8, 8, shoulders=2.0), off]])
    tracker = HierarchicalSiamFCTracker(model, {"window_influence": 0.0})
    tracker.init(image, [151.0, 101.0, 60.0, 40.0])
    tracker.update(image)
    first = tracker.last
    assert first["level"] == 1
    np.testing.assert_allclose(first["ctl"], [1.0, 0.0, 1.0], atol=1e-12)
    tracker.update(image)
    second = tracker.last
    assert second["psr"][0] > second["psr"][1]  # conv3 alone would win ...
    assert second["level"] == 1  # ... but its weight (CTL 1 last frame) is lower
    assert second["level"] == select_level(second["weights"], second["psr"])
    np.testing.assert_allclose(second["weights"][0], 2 * math.exp(-1) / (math.exp(-1) + 1))


# ---------------------------------------------------------------------------------------------- a real network
def test_every_step_on_a_three_level_network_follows_the_equations():
    torch.manual_seed(0)
    network = SiamFC(SiamFCNetwork(backbone_options={"width_mult": 0.25}, levels=("conv3", "conv4", "conv5"))).eval()
    params = HierarchicalParams(htl_start=4, history_length=3)
    tracker = HierarchicalSiamFCTracker(network, params)
    recorded = []
    original = tracker.score_maps

    def recording(image):
        maps = original(image)
        recorded.append(maps.copy())
        return maps

    tracker.score_maps = recording
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (150, 200, 3), dtype=np.uint8) for _ in range(7)]
    history = [[], [], []]
    weights = np.ones(3)
    tracker.init(frames[0], [71.0, 51.0, 40.0, 30.0])
    for index, frame in enumerate(frames[1:], start=1):
        tracker.update(frame)
        maps = recorded[-1]
        assert maps.shape == (3, 3, 129, 129)  # levels x scales x 129 x 129
        best = [int(np.argmax(maps[i].max(axis=(1, 2)))) for i in range(3)]
        psrs = [psr(maps[i, best[i]]) for i in range(3)]
        chosen = select_level(weights, psrs)
        last = tracker.last
        assert last["level"] == chosen
        np.testing.assert_allclose(last["weights"], weights)
        np.testing.assert_allclose(last["psr"], psrs)
        htl = [historic_tracking_loss(psrs[i], history[i][-3:]) if index >= 4 else 0.0 for i in range(3)]
        np.testing.assert_allclose(last["htl"], htl)
        weights = adaptive_weights(last["ctl"], htl)
        np.testing.assert_allclose(last["next_weights"], weights)
        assert all(0.0 <= value <= 1.0 for value in last["ctl"]) and last["ctl"][chosen] <= 1.0
        for i in range(3):
            history[i].append(psrs[i])
    assert any(value > 0 for value in tracker.last["htl"])  # HTL is on from frame htl_start


def test_hierarchical_tracker_needs_several_levels():
    with pytest.raises(ValueError, match="several levels"):
        HierarchicalSiamFCTracker(SiamFC(SiamFCNetwork(backbone_options={"width_mult": 0.25})))
    network = SiamFC(SiamFCNetwork(backbone_options={"width_mult": 0.25}, levels=("conv4", "conv5")))
    frames = [np.full((120, 160, 3), 80, np.uint8) for _ in range(3)]
    boxes, _ = track_frames(HierarchicalSiamFCTracker(network), frames, [60.0, 40.0, 30.0, 20.0])
    assert boxes.shape == (3, 4) and np.all(np.isfinite(boxes))


def test_lockstep_boxes_equal_one_at_a_time(lockstep_difference):
    """Three slots for five sequences of different lengths and frame sizes: each slot keeps its own level weights
    and PSR history (the HTL starts at frame 3), the batch is slots x 3 scales, each level's maps per slot."""
    torch.manual_seed(2)
    network = SiamFC(SiamFCNetwork(backbone_options={"width_mult": 0.25}, levels=("conv3", "conv4", "conv5"))).eval()
    tracker = HierarchicalSiamFCTracker(network, {"instance_size": 191, "htl_start": 3, "history_length": 2})
    assert lockstep_difference(tracker, capacity=3) <= 1e-3
