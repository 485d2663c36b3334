"""SiamFCTracker against an independent restatement of siamfc-pytorch's TrackerSiamFC (``tracking.references``:
its network, crop and tracking step written again from siamfc/backbones.py, heads.py, ops.py and siamfc.py), on
the same random weights and frames: the boxes agree to 1e-3 px. Also its parameters (the reference's numbers),
the crop and the upsampling geometry."""
import warnings

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from tracking.crops import crop_and_resize_siamfc
from tracking.evaluation.runner import evaluate_tracker
from tracking.models.siamfc import SiamFC, SiamFCNetwork
from tracking.references.siamfc_pytorch import ReferenceNet, ReferenceTrackerSiamFC, reference_crop_and_resize
from tracking.tracker import Tracker, track_frames
from tracking.trackers.siamfc import SiamFCParams, SiamFCTracker


# ---------------------------------------------------------------------------------------------- helpers
def reference_net(seed: int, frames) -> ReferenceNet:
    """The reference network with its initialisation (ops.init_weights: Xavier, zero biases), random BatchNorm
    affine values and BatchNorm statistics measured on ``frames`` (as training would leave them), so every part of
    the network matters and the score maps vary over the search area (with arbitrary statistics they can be
    nearly constant, and then the step's min-shift would amplify float rounding)."""
    torch.manual_seed(seed)
    net = ReferenceNet()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight, 1)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
                module.momentum = None  # cumulative average over the calibration batch
        crops = torch.stack([torch.from_numpy(cv2.resize(f, (255, 255))).permute(2, 0, 1).float() for f in frames])
        net.train()
        net.backbone(crops)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.05
    return net.eval()


def moving_target_frames(count=6, size=(200, 260), seed=0):
    """Noisy RGB frames with a textured rectangle drifting and growing; 1-based OTB boxes."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    frames, boxes = [], []
    for t in range(count):
        frame = rng.integers(40, 140, (*size, 3), dtype=np.uint8)
        w, h = 44 + 2 * t, 30 + t
        x, y = 70 + 5 * t, 60 + 3 * t
        frame[y:y + h, x:x + w] = cv2.resize(texture, (w, h))
        frames.append(frame)
        boxes.append([x + 1, y + 1, w, h])
    return frames, np.asarray(boxes, dtype=np.float64)


def run_both(reference: ReferenceNet, ours: Tracker, frames, init_box, **reference_kwargs):
    ref = ReferenceTrackerSiamFC(reference, **reference_kwargs)
    ref.init(frames[0], init_box)
    ref_boxes = [np.asarray(init_box, dtype=np.float64)] + [ref.update(f) for f in frames[1:]]
    our_boxes, _ = track_frames(ours, frames, init_box)
    return our_boxes, np.asarray(ref_boxes, dtype=np.float64)


def suite_network(reference: ReferenceNet) -> SiamFC:
    network = SiamFC()  # siamfc_alexnet, conv5, out_scale 0.001: the reference's Net
    network.load_state_dict(reference.state_dict())  # the same key names: no mapping
    return network.eval()


# ---------------------------------------------------------------------------------------------- tests
def test_parameters_are_the_references():
    params = SiamFCParams()
    assert (params.context_amount, params.instance_size, params.scale_num, params.scale_step, params.scale_lr,
            params.scale_penalty, params.window_influence, params.response_up) == \
        (0.5, 255, 3, 1.0375, 0.59, 0.9745, 0.176, 16)
    tracker = SiamFCTracker(SiamFC(), params)
    assert tracker.response_size == 17 and tracker.upscale_size == 272 and tracker.network.total_stride == 8
    np.testing.assert_allclose(tracker.scale_factors, [1 / 1.0375, 1.0, 1.0375])
    np.testing.assert_allclose(tracker.scale_factors[0], 0.96386, atol=1e-5)
    assert tracker.hann_window.shape == (272, 272) and tracker.hann_window.sum() == pytest.approx(1.0)
    # Hierarchical SiamFC's corner-aligned x8 upsampling: 129 pixels, centre 64
    corners = SiamFCTracker(SiamFC(), {"response_up": 8, "upsample_mode": "bilinear", "align_corners": True})
    assert corners.upscale_size == 129
    with pytest.raises(ValueError, match="upsample_mode"):
        SiamFCParams(upsample_mode="area")
    with pytest.raises(ValueError, match="scale_lr"):
        SiamFCTracker(SiamFC(), {"scale_rate": 0.5})
    with pytest.raises(ValueError, match="level 'conv3'"):
        SiamFCTracker(SiamFC(), level="conv3")


def test_crop_is_the_references():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
    fill = image.mean(axis=(0, 1)) + np.array([0.5, 0.25, 0.7])  # fills whose rounding matters
    cases = [((40.3, 30.7), 50.5), ((2.5, 3.5), 71.49), ((118.0, 88.0), 64.0), ((60.0, 45.0), 300.2),
             ((-10.0, 100.0), 33.0)]
    for (cx, cy), size in cases:
        for interpolation in (cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST):
            ours = crop_and_resize_siamfc(image, (cx, cy), size, 63, fill, interpolation)
            ref = reference_crop_and_resize(image, np.array([cy, cx], np.float32), np.float32(size), 63, fill,
                                            interpolation)
            np.testing.assert_array_equal(ours, ref, err_msg=f"{(cx, cy)}, {size}, {interpolation}")


def test_bicubic_upsampling_equals_cv2():
    maps = np.random.default_rng(0).standard_normal((3, 17, 17)).astype(np.float32)
    ours = F.interpolate(torch.from_numpy(maps)[None], size=(272, 272), mode="bicubic", align_corners=False)[0]
    ref = np.stack([cv2.resize(m, (272, 272), interpolation=cv2.INTER_CUBIC) for m in maps])
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=2e-6)


@pytest.mark.parametrize("changes", [{}, {"scale_penalty": 1.0, "window_influence": 0.3, "scale_lr": 0.8}],
                         ids=["reference_values", "scale_changes"])
def test_boxes_equal_the_reference_tracker(changes):
    """With the reference's values, and with values under which the scale changes too (the reference takes the
    same keyword overrides: its parse_args), so every branch of the step runs."""
    frames, gt = moving_target_frames(6)
    reference = reference_net(1, frames)
    ours, ref = run_both(reference, SiamFCTracker(suite_network(reference), changes), frames, gt[0], **changes)
    assert ours.shape == (6, 4)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-3)
    assert np.abs(np.diff(ours[1:, :2], axis=0)).sum() > 1  # the centre moves
    if changes:
        assert len(np.unique(np.round(ours[:, 2], 6))) > 1  # the size changes too


def test_boxes_equal_the_reference_tracker_on_real_frames(shared_data):
    root = shared_data / "otb" / "Crossing"
    line = (root / "groundtruth_rect.txt").read_text().splitlines()[0]
    init_box = np.array([float(v) for v in line.replace("\t", ",").split(",")])
    frames = [cv2.cvtColor(cv2.imread(str(root / "img" / f"{i:04d}.jpg")), cv2.COLOR_BGR2RGB) for i in range(1, 6)]
    reference = reference_net(2, frames)
    ours, ref = run_both(reference, SiamFCTracker(suite_network(reference)), frames, init_box)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-3)


def test_template_is_never_updated_and_boxes_can_be_zero_based():
    frames, gt = moving_target_frames(4)
    network = suite_network(reference_net(3, frames))
    sizes = []
    network.backbone.register_forward_hook(lambda module, inputs, output: sizes.append(tuple(inputs[0].shape)))
    one_based, _ = track_frames(SiamFCTracker(network), frames, gt[0])
    assert sizes == [(1, 3, 127, 127)] + [(3, 3, 255, 255)] * 3  # exemplar once, three scales per frame
    zero_based, _ = track_frames(SiamFCTracker(network, {"box_index_base": 0}), frames, gt[0] - [1, 1, 0, 0])
    np.testing.assert_allclose(zero_based, one_based - [1, 1, 0, 0], atol=1e-9)
    tracker = SiamFCTracker(network)
    with pytest.raises(RuntimeError, match="init"):
        tracker.update(frames[0])
    with pytest.raises(ValueError, match="initial box"):
        tracker.init(frames[0], [10, 10, 0, 5])
    # precision=bf16 (autocast, as on a GPU) runs the same code path, the network in bf16
    dtypes = []
    network.backbone.register_forward_hook(lambda module, inputs, output: dtypes.append(output[-1].dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "emulated" on a CPU without bf16 instructions
        half, _ = track_frames(SiamFCTracker(network, {"precision": "bf16"}), frames, gt[0])
    assert np.all(np.isfinite(half)) and set(dtypes) == {torch.bfloat16}


def test_an_imported_reference_checkpoint_tracks_as_the_reference(tmp_path):
    """`make import-siamfc`: a siamfc-pytorch file (here under 'state_dict', saved from DataParallel with 'module.'
    prefixes and without num_batches_tracked, as older PyTorch wrote it) becomes a suite checkpoint whose default
    tracker gives the reference tracker's boxes."""
    from experiments.import_siamfc import main
    from lightning_modules.checkpoints import load_tracker

    frames, gt = moving_target_frames(5, seed=4)
    reference = reference_net(4, frames)
    state = {f"module.{key}": value for key, value in reference.state_dict().items()
             if not key.endswith("num_batches_tracked")}
    torch.save({"state_dict": state}, tmp_path / "siamfc_alexnet_e50.pth")
    assert main(["--siamfc", str(tmp_path / "siamfc_alexnet_e50.pth"), "--out", str(tmp_path / "siamfc.ckpt")]) == 0
    tracker = load_tracker(str(tmp_path / "siamfc.ckpt"))
    assert type(tracker) is SiamFCTracker and tracker.name == "SiamFC"
    ours, ref = run_both(reference, tracker, frames, gt[0])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-3)


# ---------------------------------------------------------------------------------------------- lockstep
def small_tracker(seed: int = 0, **params) -> SiamFCTracker:
    torch.manual_seed(seed)
    return SiamFCTracker(SiamFC(SiamFCNetwork(backbone_options={"width_mult": 0.25})).eval(),
                         {"instance_size": 191, **params})


def test_lockstep_boxes_equal_one_at_a_time(lockstep_difference):
    """Three slots for five sequences of different lengths and frame sizes: the batch is slots x 3 scales."""
    assert lockstep_difference(small_tracker(), capacity=3) <= 1e-3


def test_crops_on_the_device_in_lockstep_in_one_call_per_step(lockstep_difference, monkeypatch):
    import tracking.inference.crops as inference_crops

    calls = []
    resample = inference_crops.resample_windows
    monkeypatch.setattr(inference_crops, "resample_windows", lambda frames, start, *args: calls.append(start.shape[0]) or
                        resample(frames, start, *args))  # the windows cut by one call
    assert lockstep_difference(small_tracker(crop_on_device=True), capacity=3) <= 1e-3
    assert max(calls) == 3 * 3  # a lockstep step cuts its 3 slots' 3 scale crops in one call


def test_device_crops_are_the_references_within_a_grey_level(lockstep_videos):
    video = lockstep_videos[2]
    crops = {}
    for on_device in (False, True):
        tracker = small_tracker(crop_on_device=on_device)
        tracker.init(video.frames[0], video.boxes[0])
        tracker.center = tracker.center + [-31.4, 22.5]  # part of the windows outside the frame
        crops[on_device] = tracker._search_input(video.frames[1])[0]
    assert crops[True].shape == crops[False].shape == (3, 3, 191, 191)
    difference = (crops[True] - crops[False]).abs()  # rgb255: the network's units are grey levels
    assert float(difference.max()) <= 1.01 and float(difference.mean()) < 0.3


@pytest.mark.parametrize("kind", ["otb", "vot"])
def test_lockstep_runs_equal_one_at_a_time(otb_and_vot, tmp_path, kind, results_difference):
    benchmark = otb_and_vot(60, frames=lambda i: 5 + 2 * i, size=(96, 128))[kind]
    tracker = small_tracker(1)
    one = evaluate_tracker(kind, tracker, benchmark, tmp_path / "one", "T", progress=False)
    three = evaluate_tracker(kind, tracker, benchmark, tmp_path / "three", "T", progress=False, batch=3)
    assert results_difference(one.run.result_dir, three.run.result_dir, files=5) <= 1e-3
