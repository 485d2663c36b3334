"""SiamFCModule: the siamfc/alexnet config is siamfc-pytorch's recipe (every number of its training), the losses
are the reference's labels and balanced loss per level, the optimiser covers every parameter with weight decay,
the trackers by name (siamfc, hierarchical, conv3/4/5) survive a checkpoint, and each paper-000 variant is one
config whose default tracker and levels are that variant's."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from experiments.config_library import build_model, config_names, resolved_config
from lightning_modules.checkpoints import load_tracker
from lightning_modules.siamfc import SIAMFC_SCHEDULE, SiamFCModule
from tracking.models.losses import balanced_logistic_loss, siamfc_labels
from tracking.trackers.hsiamfc import HierarchicalSiamFCTracker
from tracking.trackers.siamfc import SiamFCTracker

SMALL = {"backbone_options": {"width_mult": 0.25}, "levels": ["conv3", "conv4", "conv5"]}


def test_siamfc_config_is_the_references_recipe():
    config = resolved_config("siamfc/alexnet")
    model, data = config.model.init_args, config.data.init_args
    assert config.model.class_path == "lightning_modules.siamfc.SiamFCModule"
    assert model.network.backbone == "siamfc_alexnet" and list(model.network.levels) == ["conv5"]
    assert (model.network.out_scale, model.network.learned_bias, model.network.image_format) == (0.001, False, "rgb255")
    tracker = model.tracker
    assert (tracker.scale_num, tracker.scale_step, tracker.scale_lr, tracker.scale_penalty, tracker.window_influence,
            tracker.response_up, tracker.upsample_mode, tracker.context_amount, tracker.instance_size) == \
        (3, 1.0375, 0.59, 0.9745, 0.176, 16, "bicubic", 0.5, 255)
    assert (model.positive_radius, model.negative_radius, model.train_search_size) == (16, 0, 239)
    optim = model.optim
    assert (optim.epochs, optim.base_lr, optim.momentum, optim.weight_decay, optim.lr_policy, optim.lr_start,
            optim.lr_end, optim.warmup_epochs) == (50, 0.01, 0.9, 5e-4, "exp", 0.01, 1e-5, 0)
    assert (data.batch_size, data.negative, data.sources) == (8, 0.0, {"got10k": {"frame_range": 100}})
    assert (data.template_shift, data.search_shift, data.template_scale, data.search_scale) == (4, 4, 0.05, 0.05)
    assert (data.same_scale_xy, data.integer_shift, data.interpolation) == (True, True, "random")
    assert (data.color, data.template_blur, data.search_blur, data.gray, data.flip) == (0.0, 0.0, 0.0, 0.0, 0.0)
    [unfreeze] = config.trainer.callbacks
    assert unfreeze.init_args.epoch == 0 and unfreeze.init_args.lr_scale == 1.0
    assert list(unfreeze.init_args.layers) == ["conv1", "conv2", "conv3", "conv4", "conv5"]


def test_schedule_is_the_references_exponential_lr():
    module = build_model("siamfc/alexnet")
    gamma = (1e-5 / 1e-2) ** (1 / 50)
    assert gamma == pytest.approx(0.8709636, abs=1e-7)
    np.testing.assert_allclose(module.lr_space, 1e-2 * gamma ** np.arange(50), rtol=1e-12)
    assert module.lr_space[49] == pytest.approx(1.1e-5, rel=0.05)  # the last epoch runs one factor above 1e-5
    assert module.optim == SIAMFC_SCHEDULE
    assert module.training_crops() == {"template_size": 127, "search_size": 239, "context_amount": 0.5,
                                       "image_format": "rgb255"}
    assert sum(p.numel() for p in module.parameters()) == 2_336_320


def test_every_parameter_is_optimised_with_weight_decay():
    module = SiamFCModule(network={"learned_bias": True})
    module.set_trainable_backbone_layers(["conv1", "conv2", "conv3", "conv4", "conv5"], 1.0)
    optimizer = module.configure_optimizers()["optimizer"]
    assert [g["name"] for g in optimizer.param_groups] == ["backbone", "head"]
    covered = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert covered == {id(p) for p in module.parameters()}  # BatchNorm and biases included, as the reference
    assert all(g["weight_decay"] == 5e-4 and g["momentum"] == 0.9 and g["lr"] == 0.01 for g in optimizer.param_groups)
    assert all(p.requires_grad for p in module.parameters())


def test_losses_are_the_balanced_loss_of_each_level_summed():
    torch.manual_seed(0)
    module = SiamFCModule(network=SMALL).eval()
    batch = {"template": torch.rand(3, 3, 127, 127) * 255, "search": torch.rand(3, 3, 239, 239) * 255,
             "search_box": torch.zeros(3, 4), "negative": torch.tensor([False, True, False])}
    losses = module.compute_losses(batch, None)
    assert set(losses) == {"total", "conv3", "conv4", "conv5"}
    maps = module.model(batch["template"], batch["search"])
    labels = siamfc_labels(15).expand(3, 1, 15, 15).clone()
    labels[1] = 0  # a negative pair: no positive anywhere
    for name, response in zip(("conv3", "conv4", "conv5"), maps):
        assert response.shape == (3, 1, 15, 15)
        assert losses[name].item() == pytest.approx(balanced_logistic_loss(response, labels).item(), rel=1e-6)
    assert losses["total"].item() == pytest.approx(sum(losses[n].item() for n in ("conv3", "conv4", "conv5")))
    single = SiamFCModule(network={"backbone_options": {"width_mult": 0.25}}).compute_losses(batch, None)
    assert set(single) == {"total"}


def test_trackers_by_name_survive_a_checkpoint(tmp_path):
    from experiments.demo import save_checkpoint

    module = SiamFCModule(network=SMALL, default_tracker="hierarchical",
                          benchmark_tracker={"otb": {"hierarchical": {"alpha": 2.0}}})
    path = save_checkpoint(module, tmp_path / "small.ckpt")
    default = load_tracker(str(path))
    assert isinstance(default, HierarchicalSiamFCTracker) and default.params.alpha == 1.0
    assert load_tracker(str(path), benchmark="otb").params.alpha == 2.0
    siamfc = load_tracker(str(path), tracker="siamfc")
    assert type(siamfc) is SiamFCTracker and siamfc.level == 2 and siamfc.upscale_size == 272
    conv4 = load_tracker(str(path), {"window_influence": 0.3}, tracker="conv4")
    assert conv4.level == 1 and conv4.upscale_size == 129 and conv4.params.window_influence == 0.3
    with pytest.raises(ValueError, match=r"unknown tracker 'kcf'.*accepted: \['conv3', 'conv4', 'conv5', 'hierarchical'"):
        load_tracker(str(path), tracker="kcf")
    one_level = SiamFCModule(network={"backbone_options": {"width_mult": 0.25}})
    with pytest.raises(ValueError, match="needs the network's level 'conv3'"):
        one_level.build_tracker("conv3")
    with pytest.raises(ValueError, match="default_tracker 'kcf'"):
        SiamFCModule(default_tracker="kcf")
    image = np.full((120, 160, 3), 90, np.uint8)
    image[40:70, 50:80] = 200
    for tracker in (default, siamfc, conv4):
        tracker.init(image, np.array([51.0, 41.0, 30.0, 30.0]))
        assert np.all(np.isfinite(tracker.update(image)))


# Hierarchical SiamFC variant -> (backbone, default tracker): the baselines are the same network tracked by one
# level's map
VARIANTS = {f"hsiamfc/{net}{suffix}": (f"torchvision_{net}", tracker) for net in ("vgg19", "resnet50", "densenet169")
            for suffix, tracker in (("", "hierarchical"), ("_conv3", "conv3"), ("_conv4", "conv4"), ("_conv5", "conv5"))}


def test_each_paper_000_variant_is_one_config():
    assert set(VARIANTS) <= set(config_names())
    assert {"siamfc/alexnet", "siamfc/alexnet_vid", "siamfc/demo"} <= set(config_names())
    for name, (backbone, tracker) in VARIANTS.items():
        config = resolved_config(name).model.init_args
        assert (config.network.backbone, list(config.network.levels), config.default_tracker) == \
            (backbone, ["conv3", "conv4", "conv5"], tracker)
        assert config.network.feature_grid_stride == 8 and config.network.image_format == "rgb_normalized"
        for layer in ("conv3", "conv4", "conv5"):
            assert (config.trackers[layer]["response_up"], config.trackers[layer]["upsample_mode"]) == (8, "bilinear")
        hierarchical = config.trackers["hierarchical"]
        assert (hierarchical["alpha"], hierarchical["history_length"], hierarchical["htl_start"]) == (1.0, 10, 10)
    assert resolved_config("siamfc/alexnet_vid").data.init_args.sources == {"vid": {"frame_range": 100}}


def test_a_paper_000_module_on_the_meta_device():
    with torch.device("meta"):
        module = build_model("hsiamfc/vgg19")
        maps = module.model(torch.empty(2, 3, 127, 127), torch.empty(2, 3, 255, 255))
    assert module.main_tracker == "hierarchical" and [m.shape for m in maps] == [(2, 1, 17, 17)] * 3
    assert list(module.backbone_groups()) == ["conv3", "conv4", "conv5"]
    assert module.training_crops()["image_format"] == "rgb_normalized"


def test_a_checkpoint_naming_its_trackers_values_by_argument_loads_them_as_trackers(tmp_path):
    """Checkpoints whose hyper-parameters hold ``layer_tracker`` / ``hierarchical_tracker`` / ``online_tracker``
    (one argument per tracker) load with those values (``SiamFCModule.upgraded_hyperparameters``)."""
    from experiments.demo import save_checkpoint
    from lightning_modules.checkpoints import load_module

    module = SiamFCModule(network={"backbone_options": {"width_mult": 0.25}, "levels": ["conv3", "conv4", "conv5"]})
    path = save_checkpoint(module, tmp_path / "module.ckpt")
    checkpoint = torch.load(path, weights_only=False)
    hyperparameters = checkpoint["hyper_parameters"]
    del hyperparameters["trackers"]
    hyperparameters.update(layer_tracker={"response_up": 4}, hierarchical_tracker={"alpha": 2.0},
                           online_tracker={"learning_rate": 0.5})
    torch.save(checkpoint, path)
    restored = load_module(path)
    assert [restored.tracker_params(name).response_up for name in ("conv3", "conv4", "conv5")] == [4, 4, 4]
    assert restored.tracker_params("hierarchical").alpha == 2.0
    assert restored.tracker_params("online").learning_rate == 0.5
    assert restored.tracker_params("siamfc") == module.tracker_params("siamfc")
