"""SiamRPNTracker against an independent restatement of pysot's SiamRPNTracker (``tracking.references``: numpy,
BGR frames), started the way pysot's tools/test.py starts it from a ground-truth box."""
import cv2
import numpy as np
import pytest
import torch

import types
import warnings

from experiments.config_library import resolved_config
from tracking.models.config import SiamRPNNetwork, network_config
from tracking.models.siamrpn import SiamRPN
from tracking.params import params_dict
from tracking.references.pysot_siamrpn import ReferenceTracker
from tracking.tracker import Tracker, track_frames
from tracking.trackers.siamrpn import SiamRPNTracker


def moving_square_frames(count=10, size=(180, 240), seed=0):
    """Noisy RGB frames with a textured square drifting right/down and growing (the target)."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    frames, boxes = [], []
    for t in range(count):
        frame = rng.integers(60, 120, (*size, 3), dtype=np.uint8)
        side = 30 + t
        x, y = 60 + 4 * t, 50 + 2 * t
        frame[y:y + side, x:x + side] = cv2.resize(texture, (side, side))
        frames.append(frame)
        boxes.append([x, y, side, side])
    return frames, np.asarray(boxes, dtype=np.float64)


def network(config: str, **changes):
    """The network of a packaged training config, with ``changes``."""
    return network_config(resolved_config(config).model.init_args.network.as_dict()).replace(**changes)


def tracker_params(config: str, **changes) -> dict:
    """The tracker parameters of a packaged training config, with ``changes``."""
    return {**resolved_config(config).model.init_args.tracker.as_dict(), **changes}


def randomize_batchnorm(model, seed, frames=None, instance_size=255):
    """Non-trivial BN statistics and fusion weights, so every part of the network matters; with ``frames``,
    the output convs are rescaled so random weights give moderate scores and box offsets (no overflow)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
                module.weight.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(module.num_features, generator=gen) * 0.1)
        if getattr(model.head, "weighted", False):
            model.head.cls_weight.copy_(torch.randn(len(model.head.levels), generator=gen))
            model.head.loc_weight.copy_(torch.randn(len(model.head.levels), generator=gen))
    model.eval()
    if frames is not None:
        cfg = model.config
        template = torch.from_numpy(cv2.resize(frames[0], (cfg.exemplar_size,) * 2).transpose(2, 0, 1)[None])
        search = torch.from_numpy(cv2.resize(frames[0], (instance_size,) * 2).transpose(2, 0, 1)[None])
        with torch.no_grad():
            zf = model.neck(model.backbone(template.float()))
            xf = model.neck(model.backbone(search.float()))
            for level, z, x in zip(model.head.levels, zf, xf):
                for branch, target in ((level.cls, 1.0), (level.loc, 0.2)):
                    spread = branch(z, x).std().item()
                    branch.predict.weight.mul_(target / spread)
                    branch.predict.bias.mul_(target / spread)
    return model


def run_both(model, frames_rgb, init_box, overrides=None):
    ours = SiamRPNTracker(model, overrides)
    # pysot's cfg: the network's and the tracker's values in one namespace
    ref = ReferenceTracker(model, types.SimpleNamespace(**model.config.to_dict(), **params_dict(ours.params)))
    our_boxes, _ = track_frames(ours, frames_rgb, init_box)
    # pysot tools/test.py: get_axis_aligned_bbox (cx = x + w/2), then [cx - (w-1)/2, cy - (h-1)/2, w, h]
    x, y, w, h = init_box
    cx, cy = x + w / 2, y + h / 2
    ref.init(frames_rgb[0][:, :, ::-1].copy(), [cx - (w - 1) / 2, cy - (h - 1) / 2, w, h])  # BGR, as cv2.imread
    with torch.no_grad():
        ref_boxes = [init_box] + [ref.track(f[:, :, ::-1].copy()) for f in frames_rgb[1:]]
    return our_boxes, np.asarray(ref_boxes, dtype=np.float64)


@pytest.mark.parametrize("config, network_changes, tracker_changes", [
    # the reference's AlexNet geometry (287 search, base size 0, 21x21 scores) at a quarter of the width
    ("siamrpnpp/alex_dwxcorr", {"backbone_width_mult": 0.25, "head_hidden": 32}, {}),
    # three levels, learned fusion weights, a neck (7x7 template crop), 255 search and base size 8
    ("siamrpnpp/mobilev2_l234_dwxcorr", {"backbone_width_mult": 0.35, "used_layers": [3, 4, 5], "neck_channels": 32,
                                         "head_hidden": 32, "weighted": True},
     {"penalty_k": 0.2, "window_influence": 0.3, "lr": 0.5}),
], ids=["alex_dwxcorr_narrow", "mobilev2_l234_weighted_narrow"])
def test_boxes_equal_reference_tracker(config, network_changes, tracker_changes):
    torch.manual_seed(0)
    frames, gt = moving_square_frames(5)
    params = tracker_params(config, **tracker_changes)
    model = randomize_batchnorm(SiamRPN(network(config, **network_changes)), seed=1, frames=frames,
                                instance_size=params["instance_size"])
    ours, ref = run_both(model, frames, gt[0], params)
    assert ours.shape == (5, 4)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-3)
    assert np.abs(np.diff(ours[1:], axis=0)).sum() > 1  # boxes change from frame to frame
    assert np.all(ours[1:, 2:] > 10) and np.all(ours[1:, 2:] < 200)  # not degenerate, not pinned to the clip


def test_boxes_equal_reference_on_real_frames(shared_data):
    root = shared_data / "otb" / "Crossing"
    lines = (root / "groundtruth_rect.txt").read_text().splitlines()
    init_box = np.array([float(v) for v in lines[0].replace("\t", ",").split(",")])
    frames = [cv2.imread(str(root / "img" / f"{i:04d}.jpg"))[:, :, ::-1].copy() for i in range(1, 6)]
    torch.manual_seed(2)
    config = network("siamrpnpp/alex_dwxcorr", backbone_width_mult=0.25, head_hidden=32)
    model = randomize_batchnorm(SiamRPN(config), seed=3, frames=frames, instance_size=287)
    ours, ref = run_both(model, frames, init_box, tracker_params("siamrpnpp/alex_dwxcorr", penalty_k=0.1,
                                                                 window_influence=0.5))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-3)


def test_template_branch_runs_once_per_sequence():
    model = SiamRPN(SiamRPNNetwork(backbone="resnet18", used_layers=(3,), neck_channels=16,
                                  head_hidden=16, image_format="rgb_normalized")).eval()
    sizes = []
    model.backbone.register_forward_hook(lambda module, inputs, output: sizes.append(inputs[0].shape[-1]))
    kernel_calls = []
    model.head.levels[0].cls.template_conv.register_forward_hook(lambda *a: kernel_calls.append(1))
    tracker = SiamRPNTracker(model)
    assert isinstance(tracker, Tracker)
    frames, gt = moving_square_frames(5)
    boxes, times = track_frames(tracker, frames, gt[0])
    assert sizes == [127, 255, 255, 255, 255] and len(kernel_calls) == 1
    assert boxes.shape == (5, 4) and np.all(np.isfinite(boxes)) and np.all(boxes[:, 2:] >= 10)


def test_overrides_and_clipping():
    model = SiamRPN(network("siamrpnpp/demo"))
    tracker = SiamRPNTracker(model, {"penalty_k": 0.3, "instance_size": 271})
    assert tracker.params.penalty_k == 0.3 and tracker.score_size == model.config.score_size_for(271)
    assert len(tracker.window) == len(tracker.anchors) == 5 * tracker.score_size ** 2
    with pytest.raises(ValueError, match="penalty"):
        SiamRPNTracker(model, {"penalty": 0.3})
    with pytest.raises(ValueError, match="backbone"):
        SiamRPNTracker(model, {"backbone": "resnet50"})
    # a tiny box at the image corner: the result stays inside the image and at least 10 pixels wide
    frames, _ = moving_square_frames(3)
    boxes, _ = track_frames(tracker, frames, [0.0, 0.0, 4.0, 4.0])
    cx, cy = boxes[1:, 0] + boxes[1:, 2] / 2, boxes[1:, 1] + boxes[1:, 3] / 2
    assert np.all(boxes[1:, 2:] >= 10) and np.all((cx >= 0) & (cx <= 240) & (cy >= 0) & (cy <= 180))
    with pytest.raises(ValueError):
        tracker.init(frames[0], [10, 10, 0, 5])
    # precision=bf16 (autocast, as on a GPU) runs the same code path on the CPU, the network in bf16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "emulated" on a CPU without bf16 instructions
        half = SiamRPNTracker(model, {"precision": "bf16"})
    dtypes = []
    half.net.module.backbone.register_forward_hook(lambda module, inputs, output: dtypes.append(output[-1].dtype))
    half_boxes, _ = track_frames(half, frames, [60.0, 50.0, 30.0, 30.0])
    assert np.all(np.isfinite(half_boxes)) and half_boxes.shape == (3, 4) and set(dtypes) == {torch.bfloat16}
    with pytest.raises(ValueError, match="precision must be one of"):
        SiamRPNTracker(model, {"precision": "bf32"})


def test_overflowing_size_predictions_keep_the_size_instead_of_nan():
    model = SiamRPN(network("siamrpnpp/demo")).eval()
    anchor_num = len(model.config.anchor_ratios) * len(model.config.anchor_scales)
    with torch.no_grad():  # log-size outputs (loc channels 2K..4K) of ~1000 overflow exp() on every anchor
        for level in model.head.levels:
            level.loc.predict.bias[2 * anchor_num:] = 1000.0
    tracker = SiamRPNTracker(model)
    frames, _ = moving_square_frames(3)
    with np.errstate(all="raise"):
        boxes, _ = track_frames(tracker, frames, [60.0, 50.0, 30.0, 20.0])
    assert np.all(np.isfinite(boxes))
    np.testing.assert_allclose(boxes[1:, 2:], [[30.0, 20.0]] * 2)  # lr 0 on overflowed anchors: size kept
