"""SiamFC online training: the SiamFC networks and configs: the four ImageNet backbones with the paper's changes for a
finer feature map (total stride, feature and response sizes on the meta device, which torchvision blocks are gone), a
config per backbone with and without online training, the module evaluating from ImageNet weights (a torchvision
file imported as `make import-siamfc` does), its `online` tracker by name (parameters overridable, as sweeps do)
leaving the module's weights untouched, and the sweep over what the paper leaves open."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from experiments import sweep
from experiments.config_library import build_model, config_names, resolved_config
from lightning_modules.siamfc import SiamFCModule
from tracking.trackers.siamfc_online import OnlineParams, OnlineSiamFCTracker

# backbone -> (level, channels, z side at 127, x side at 255, parameters, a torchvision module that is gone,
#              the max-pools left, convolution strides the paper changed)
NETWORKS = {
    "alexnet": ("conv5", 256, 14, 30, 2_469_696, "features.12", ["features.2", "features.5"],
                {"features.0": (2, 2)}),  # conv1: 4 -> 2; the last max-pool (features.12) gone
    # conv4_4's ReLU (features.26): the fourth max-pool and the fifth block are gone
    "vgg19": ("conv4", 512, 15, 31, 10_585_152, "features.28", ["features.4", "features.9", "features.18"], {}),
    # conv4_x (layer3) at stride 1 with its shortcut; conv5_x (layer4) gone
    "resnet34": ("conv4", 256, 16, 32, 8_170_304, "layer4", ["maxpool"],
                 {"layer3.0.conv1": (1, 1), "layer3.0.downsample.0": (1, 1)}),
    # "inception 6" (Mixed_6a-6e) and Mixed_7a-7c after it gone: Mixed_5d's features
    "inception_v3": ("conv3", 288, 13, 29, 991_200, "Mixed_6a", ["maxpool1", "maxpool2"], {}),
}


@pytest.mark.parametrize("arch", sorted(NETWORKS))
def test_the_papers_networks_at_stride_8_on_the_meta_device(arch):
    level, channels, z_side, x_side, parameters, removed, pools, strides = NETWORKS[arch]
    with torch.device("meta"):
        module = build_model(f"siamfc/imagenet_{arch}")
        backbone = module.model.backbone
        z, x, x_plus_8 = (backbone(torch.empty(1, 3, size, size))[0] for size in (127, 255, 263))
        maps = module.model(torch.empty(2, 3, 127, 127), torch.empty(2, 3, 255, 255))
        train_maps = module.model(torch.empty(2, 3, 127, 127), torch.empty(2, 3, 239, 239))
    assert module.config.levels == (level,) and module.config.image_format == "rgb_normalized"
    assert (z.shape[1], z.shape[-1], x.shape[-1]) == (channels, z_side, x_side)
    # total stride 8: 255 - 127 = 128 pixels are 16 cells; 8 more pixels are one more cell
    assert (255 - 127) / (x_side - z_side) == 8 and x_plus_8.shape[-1] == x_side + 1
    assert module.config.total_stride == 8
    assert [m.shape for m in maps] == [(2, 1, 17, 17)] and [m.shape for m in train_maps] == [(2, 1, 15, 15)]
    assert sum(p.numel() for p in module.parameters()) == parameters
    names = [name for name, _ in backbone.named_parameters()]
    assert not any(f".{removed}." in f".{name}" for name in names), removed
    assert [name for name, m in backbone.body.named_modules() if isinstance(m, torch.nn.MaxPool2d)] == pools
    assert {path: backbone.body.get_submodule(path).stride for path in strides} == strides


def test_each_backbone_has_a_config_with_and_without_online_training():
    names = set(config_names())
    for arch in NETWORKS:
        offline = resolved_config(f"siamfc/imagenet_{arch}").model.init_args
        online = resolved_config(f"siamfc_online/imagenet_{arch}").model.init_args
        assert {f"siamfc/imagenet_{arch}", f"siamfc_online/imagenet_{arch}"} <= names
        assert f"siamfc/imagenet_{arch}_online" not in names  # an alias, not a config
        assert (offline.default_tracker, online.default_tracker) == ("siamfc", "online")
        assert offline.network == online.network and offline.trackers == online.trackers
        params = online.trackers["online"]
        assert (params["iterations"], params["momentum"], params["loss_threshold"], params["confidence_threshold"],
                params["peak_weight"]) == (4, 0.9, 1.0, 0.7, 0.5)
        assert offline.tracker.scale_num == 3 and offline.tracker.response_up == 16  # SiamFC's tracking values
    demo = resolved_config("siamfc_online/demo").model.init_args
    assert (demo.default_tracker, list(demo.network.levels)) == ("online", ["conv5"])


def test_the_module_evaluates_from_imagenet_weights(tmp_path):
    """A torchvision ImageNet AlexNet file (random values here) imported into siamfc_online/imagenet_alexnet: the
    network is torchvision's features with conv1 at stride 2 and no last pooling, and its default tracker is online."""
    import torchvision

    from experiments.import_siamfc import convert
    from lightning_modules.checkpoints import load_tracker

    torch.manual_seed(0)
    imagenet = torchvision.models.alexnet()
    path = tmp_path / "alexnet.pth"
    torch.save({k: v for k, v in imagenet.state_dict().items() if k.startswith("features.")}, path)
    checkpoint = convert(tmp_path / "alexnet.ckpt", "siamfc_online/imagenet_alexnet", imagenet=str(path))
    tracker = load_tracker(str(checkpoint))
    assert isinstance(tracker, OnlineSiamFCTracker)
    image = torch.rand(1, 3, 127, 127)
    imagenet.features[0].stride = (2, 2)
    with torch.no_grad():
        expected = imagenet.features[:12](image)
        assert torch.allclose(tracker.source.features(image)[0], expected, atol=1e-5)


def test_the_online_tracker_by_name_leaves_the_modules_weights_untouched():
    from tracking.synthetic.video import generate_video

    torch.manual_seed(0)
    module = SiamFCModule(network={"backbone_options": {"width_mult": 0.25}},
                          trackers={"online": {"learning_rate": 0.02, "trainable_layers": 1}})
    assert "online" in module.trackers and module.hparams.trackers["online"]["learning_rate"] == 0.02
    before = {k: v.clone() for k, v in module.state_dict().items()}
    # per-call values as `--set` and sweeps give them; fine-tune every frame
    tracker = module.build_tracker("online", loss_threshold=0.0, confidence_threshold=0.0, iterations=1,
                                   defer_current_map=False)
    assert isinstance(tracker, OnlineSiamFCTracker) and tracker.params.learning_rate == 0.02
    assert tracker.params == OnlineParams(learning_rate=0.02, trainable_layers=1, loss_threshold=0.0,
                                          confidence_threshold=0.0, iterations=1, defer_current_map=False)
    video = generate_video(5, num_frames=3, size=(72, 96))
    tracker.init(video.frames[0], video.boxes[0])
    for image in video.frames[1:]:
        assert np.all(np.isfinite(tracker.update(image)))
        assert tracker.last["steps"] == 1
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert any(not torch.equal(a, b) for a, b in zip(module.model.parameters(), tracker.learner.parameters()))


def test_the_sweep_tunes_the_online_trackers_open_values():
    spec = sweep.load_sweep("siamfc_online")
    assert spec.method == "grid" and spec.metric == "success_auc" and spec.goal == "maximize"
    assert set(spec.parameters) == {"learning_rate", "map_normalization"}
    trials = sweep.grid_trials(spec)
    assert len(trials) == 6 and {"learning_rate": 0.001, "map_normalization": "minmax"} in trials
    for trial in trials:  # every trial is a valid set of the tracker's parameters
        assert OnlineParams(**trial).learning_rate == trial["learning_rate"]
