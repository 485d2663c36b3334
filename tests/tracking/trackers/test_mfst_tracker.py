"""MFST's tracker: the released code's crop (TF crop_and_resize, restated pixel by pixel), the exemplar taken from the
first 255 crop's centre once per sequence, the fusion order (within branches, then across, then the x16 bicubic
corner-aligned upsampling), branches with no weight not computed, and the step on hand-made maps (penalty on the
peaks, displacement clipped to +-8 cells, the size damped and clamped to 0.2-5x the first frame's)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tracking.models.mfst import MFST, fuse
from tracking.crops import crop_subpixel, frame_tensor
from tracking.trackers.mfst import MFSTParams, MFSTTracker

SMALL = {"s_backbone_options": {"width_mult": 0.25}, "a_backbone_options": {"width_mult": 0.25}}


def tf_crop_and_resize(image, box, size, extrapolation):
    """``tf.image.crop_and_resize`` (crop_and_resize_op.cc) for one box ``(y1, x1, y2, x2)`` normalised by
    (H - 1, W - 1), bilinear, written out per output pixel."""
    height, width, channels = image.shape
    y1, x1, y2, x2 = box
    out = np.zeros((size, size, channels))
    for i in range(size):
        in_y = y1 * (height - 1) + i * (y2 - y1) * (height - 1) / (size - 1)
        for j in range(size):
            in_x = x1 * (width - 1) + j * (x2 - x1) * (width - 1) / (size - 1)
            if in_y < 0 or in_y > height - 1 or in_x < 0 or in_x > width - 1:
                out[i, j] = extrapolation
                continue
            top, bottom, left, right = math.floor(in_y), math.ceil(in_y), math.floor(in_x), math.ceil(in_x)
            y_lerp, x_lerp = in_y - top, in_x - left
            upper = image[top, left] + (image[top, right] - image[top, left]) * x_lerp
            lower = image[bottom, left] + (image[bottom, right] - image[bottom, left]) * x_lerp
            out[i, j] = upper + (lower - upper) * y_lerp
    return out


def test_crop_is_tf_crop_and_resize_with_the_mean_outside():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    mean = image.mean(axis=(0, 1))
    frame = frame_tensor(image, "cpu")
    center = (14.3, 9.7)
    windows = (11.6, 17.2, 25.0)
    crops = crop_subpixel(frame, center, windows, 13, frame.mean(dim=(1, 2)))
    assert tuple(crops.shape) == (3, 3, 13, 13)
    for crop, window in zip(crops, windows):
        cx, cy = center
        half = (window - 1) / 2
        box = ((cy - half) / 19, (cx - half) / 29, (cy + half) / 19, (cx + half) / 29)  # inference_wrapper.py
        # the code crops image - mean and adds the mean back: outside samples are the mean
        expected = tf_crop_and_resize(image - mean, box, 13, 0.0) + mean
        np.testing.assert_allclose(crop.permute(1, 2, 0).numpy(), expected, atol=2e-3)
    corner = crop_subpixel(frame, (28.9, 18.2), [25.0], 13, frame.mean(dim=(1, 2)))[0].permute(1, 2, 0).numpy()
    expected = tf_crop_and_resize(image - mean, ((18.2 - 12) / 19, (28.9 - 12) / 29, (18.2 + 12) / 19,
                                                 (28.9 + 12) / 29), 13, 0.0) + mean
    np.testing.assert_allclose(corner, expected, atol=2e-3)
    assert np.allclose(corner[-1, -1], mean, atol=1e-4)  # past the frame's corner


@pytest.fixture(scope="module")
def tracker():
    torch.manual_seed(0)
    return MFSTTracker(MFST(SMALL))


def frames(count=3, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 120, (160, 200, 3)).astype(np.uint8)
    out = []
    for t in range(count):
        image = base.copy()
        image[60 + 2 * t:90 + 2 * t, 70 + 3 * t:110 + 3 * t] = (220, 60, 30)
        out.append(image)
    return out


def test_defaults_are_the_papers_and_the_released_trackers():
    params = MFSTParams()
    assert (params.scale_num, params.scale_step, params.scale_penalty, params.scale_lr, params.window_influence) == \
        (3, 1.025, 0.9745, 0.59, 0.176)
    assert (params.response_up, params.upsampled_size(17), params.upsample_mode, params.align_corners) == \
        (16, 272, "bicubic", True)
    assert (params.min_scale, params.max_scale, params.context_amount, params.instance_size) == (0.2, 5.0, 0.5, 255)
    assert (params.s_fusion, params.s_weights, params.a_fusion, params.a_weights) == \
        ("hard_weight", (0.1, 0.3, 0.7), "soft_weight", (0.1, 0.6, 0.3))
    assert (params.branch_fusion, params.branch_weights) == ("soft_weight", (0.3, 0.7))
    with pytest.raises(ValueError, match="s_fusion must be one of"):
        MFSTParams(s_fusion="max")
    with pytest.raises(ValueError, match=r"branch_weights are \(S, A\)"):
        MFSTParams(branch_weights=(1.0,))
    with pytest.raises(ValueError, match="need one value per network level"):
        MFSTTracker(MFST({**SMALL, "levels": ["conv5"]}))


def test_exemplar_is_the_centre_of_the_first_255_crop_computed_once(tracker, monkeypatch):
    images = frames()
    seen = []
    original = tracker.net.module.template_features

    def spy(template, *args, **kwargs):
        seen.append(template.clone())
        return original(template, *args, **kwargs)

    monkeypatch.setattr(tracker.net.module, "template_features", spy)
    tracker.init(images[0], np.array([71.0, 61.0, 40.0, 30.0]))  # 1-based
    for image in images[1:]:
        tracker.update(image)
    assert len(seen) == 1  # the template branch runs once per sequence
    center = np.array([70 + 39 / 2, 60 + 29 / 2])
    context = 0.5 * 70
    window = math.sqrt((40 + context) * (30 + context)) * 255 / 127
    frame = frame_tensor(images[0], "cpu")
    crop = crop_subpixel(frame, center, [window], 255, frame.mean(dim=(1, 2)))
    torch.testing.assert_close(seen[0], crop[..., 64:191, 64:191])


def test_fused_map_fuses_within_then_across_branches_then_upsamples(tracker):
    images = frames()
    tracker.init(images[0], np.array([71.0, 61.0, 40.0, 30.0]))
    maps = tracker.response_maps(images[1])
    assert sorted(maps) == ["a", "s"] and all(tuple(m.shape) == (3, 17, 17) for m in maps["s"])
    s = sum(w * m for w, m in zip((0.1, 0.3, 0.7), maps["s"]))  # hard weight
    a = sum(w * m / m.max() for w, m in zip((0.1, 0.6, 0.3), maps["a"]))  # soft weight, max over all scales
    fused = 0.3 * s / s.max() + 0.7 * a / a.max()
    expected = F.interpolate(fused[None], size=(272, 272), mode="bicubic", align_corners=True)[0].numpy()
    np.testing.assert_allclose(tracker.fused_map(images[1]), expected, rtol=1e-5, atol=1e-6)


def test_a_branch_without_weight_is_not_computed_and_use_se_false_ungates():
    torch.manual_seed(1)
    network = MFST(SMALL)
    only_s = MFSTTracker(network, {"branch_weights": [1.0, 0.0], "use_se": False})
    images = frames()
    only_s.init(images[0], np.array([71.0, 61.0, 40.0, 30.0]))
    assert list(only_s.kernel) == ["s"] and only_s.active == ["s"]
    maps = only_s.response_maps(images[1])
    patch = frame_tensor(images[0][:127, :127], "cpu")[None]  # the network's layout: RGB 0-255
    with torch.no_grad():
        raw = network.branches["s"].backbone(patch)
    ungated = network.branches["s"].features(patch, use_se=False)
    assert all(torch.equal(a, b) for a, b in zip(raw, ungated))
    expected = fuse(maps["s"], "hard_weight", (0.1, 0.3, 0.7))
    np.testing.assert_allclose(only_s.fused_map(images[1]), F.interpolate(
        (expected / expected.max())[None], size=(272, 272), mode="bicubic", align_corners=True)[0].numpy(),
        rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="leave none of the network's branches"):
        MFSTTracker(network, {"branch_weights": [0.0, 0.0]})


def test_step_on_hand_made_maps(tracker):
    tracker.init(frames()[0], np.array([71.0, 61.0, 40.0, 30.0]))
    center, size = tracker.center.copy(), tracker.target_size.copy()
    window = tracker.search_window()
    maps = np.zeros((3, 272, 272))
    maps[0, 135, 135] = 1.0      # smaller scale: peak 1.0 x 0.9745
    maps[1, 100, 200] = 0.99     # centre scale wins (0.99 > 0.9745)
    maps[2, 10, 10] = 0.5
    scale_id, (row, column) = tracker.step(maps)
    assert scale_id == 1
    # the peak after the Hanning blend (a single-pixel map: the blend moves nothing off the peak here)
    assert (row, column) == (100, 200)
    cells = np.clip((np.array([column, row]) - 135.5) / 16, -8, 8)
    np.testing.assert_allclose(tracker.center, center + cells * 8 * window / 255)
    np.testing.assert_allclose(tracker.target_size, size * (0.41 + 0.59 * 1.0))
    # a peak 16 cells away moves 8 cells at most; the smaller scale shrinks the box (damped)
    maps = np.zeros((3, 272, 272))
    maps[0, 135, 271] = 2.0
    center, size, window = tracker.center.copy(), tracker.target_size.copy(), tracker.search_window()
    scale_id, _ = tracker.step(maps)
    assert scale_id == 0
    factor = 1.025 ** -1
    np.testing.assert_allclose(tracker.center, center + np.array([(271 - 135.5) / 16, -0.5 / 16]).clip(-8, 8)
                               * 8 * window * factor / 255)
    assert (271 - 135.5) / 16 > 8
    np.testing.assert_allclose(tracker.target_size, size * (0.41 + 0.59 * factor))
    # the size stays within 0.2-5x the first frame's
    tracker.target_size = tracker.initial_size * 4.99
    maps = np.zeros((3, 272, 272))
    maps[2, 135, 135] = 1.0
    tracker.step(maps)
    np.testing.assert_allclose(tracker.target_size, tracker.initial_size * 5.0)
    box = tracker.box()
    np.testing.assert_allclose(box[:2], tracker.center + 1 - (tracker.target_size - 1) / 2)  # 1-based x, y


def test_tracks_a_sequence_with_finite_boxes():
    torch.manual_seed(2)
    tracker = MFSTTracker(MFST(SMALL), {"scale_step": 1.0375})
    images = frames(4)
    tracker.init(images[0], [71, 61, 40, 30])
    boxes = [tracker.update(image) for image in images[1:]]
    assert all(np.all(np.isfinite(box)) and box[2] > 0 for box in boxes)
    np.testing.assert_allclose(tracker.scale_factors, 1.0375 ** np.array([-1.0, 0.0, 1.0]))
    with pytest.raises(RuntimeError, match="init"):
        MFSTTracker(MFST(SMALL)).update(images[0])


def test_lockstep_boxes_equal_one_at_a_time(lockstep_difference):
    """Three slots for five sequences of different lengths and frame sizes: both branches run once per step on
    slots x 3 scale crops, each slot's maps fused and stepped on their own."""
    torch.manual_seed(3)
    tracker = MFSTTracker(MFST(SMALL), {"instance_size": 191})
    assert lockstep_difference(tracker, capacity=3) <= 1e-3
