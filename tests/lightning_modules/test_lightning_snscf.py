"""SNS-CF LightningModule: SiamRPN++'s network and parameter count, the paper's two-phase schedule from its config,
the joint RPN + correlation-filter loss (construction, gradients, template boxes, lambda_cf = 0), errors, and a short
training run whose checkpoint builds the ``snscf`` tracker."""
from __future__ import annotations

import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from experiments.config_library import build_model_cli, resolved_config
from lightning_modules.checkpoints import load_tracker
from lightning_modules.siamrpnpp import SiamRPNppModule
from lightning_modules.snscf import SNSCFModule
from tracking.models.config import SiamRPNNetwork
from tracking.models.correlation_filter import correlation_filter_loss, feature_cells
from tracking.trackers.snscf import SNSCFTracker

DEMO_NETWORK = SiamRPNNetwork(backbone="alexnet_legacy", backbone_width_mult=0.5, used_layers=(5,),
                              neck_channels=None, head_hidden=32, weighted=False, image_format="rgb_normalized",
                              base_size=0)
ONE_LEVEL = {"tracker": {"cf_layer_weights": [1.0], "penalty_k": 0.16}, "cf": {"levels": [0]}}


def tiny_module(**kwargs) -> SNSCFModule:
    """The demo network on 175 search crops (12x12 search maps, 6x6 template maps)."""
    return SNSCFModule(network=DEMO_NETWORK, train_search_size=175, **{**ONE_LEVEL, **kwargs})


def batch(size: int = 4, seed: int = 0, search: int = 175) -> dict:
    generator = torch.Generator().manual_seed(seed)
    center = search / 2 + 16 * (torch.rand(size, 2, generator=generator) - 0.5)
    extent = 40 + 40 * torch.rand(size, 2, generator=generator)
    return {"template": torch.randn(size, 3, 127, 127, generator=generator),
            "search": torch.randn(size, 3, search, search, generator=generator),
            "search_box": torch.cat([center - extent / 2, center + extent / 2], dim=1),
            "negative": torch.tensor([False, False, True, False][:size])}


def test_r50_config_is_siamrpnpp_network_with_the_papers_schedule():
    with torch.device("meta"):
        built = build_model_cli(["--config", "snscf/r50_l234_acf"])
    module = built.model
    assert isinstance(module, SNSCFModule) and module.main_tracker == "snscf"
    assert sum(p.numel() for p in module.parameters()) == 53_950_624  # the filters have no weights
    # 5 epochs RPN only at 0.001, then 15 epochs from 0.004 to 0.0004, exponentially (a constant ratio)
    space = module.lr_space
    np.testing.assert_allclose(space[:5], 0.001, rtol=1e-12)
    assert space[5] == pytest.approx(0.004, rel=1e-12) and space[19] == pytest.approx(0.0004, rel=1e-12)
    np.testing.assert_allclose(space[6:] / space[5:-1], 0.1 ** (1 / 14), rtol=1e-12)
    assert module.optim.base_lr == module.optim.lr_start == 0.004 and module.optim.momentum == 0.9
    [callback] = built.config_init.trainer.callbacks
    assert callback.layers_for_epoch(4) == ()
    assert callback.layers_for_epoch(5) == ("conv1", "layer1", "layer2", "layer3", "layer4")
    assert callback.lr_scale == 1.0
    config = resolved_config("snscf/r50_l234_acf")
    assert config.data.init_args.batch_size == 16 and set(config.data.init_args.sources) == {"vid", "coco", "ytvos"}
    assert module.hparams.cf["levels"] == [0, 1, 2] and module.hparams.cf["weight"] == 1.0
    params = module.tracker_params()
    assert (params.cf_lr, params.cf_lambda, params.cf_sigma_factor, params.ranking) == (0.01, 1e-4, 0.1, "cf")


def test_table3_configs():
    baseline = resolved_config("snscf/table3_siamrpnpp").model.init_args
    assert baseline.cf.weight == 0.0 and baseline.tracker.ranking == "rpn"
    direct = resolved_config("snscf/table3_direct").model.init_args
    assert direct.cf.levels == (2,) and direct.network.weighted is False
    assert tuple(direct.tracker.cf_layer_weights) == (0.0, 0.0, 1.0)
    paper = resolved_config("snscf/r50_l234_acf").data.init_args
    assert (paper.template_shift, paper.search_shift, paper.template_scale, paper.search_scale) == (8, 8, 0.125, 0.25)
    assert paper.same_scale_xy and paper.power_of_two_scale
    shift = resolved_config("snscf/r50_l234_acf_shift64").data.init_args
    assert (shift.search_shift, shift.search_scale, shift.template_shift) == (64, 0.18, 4)
    assert not shift.same_scale_xy and not shift.power_of_two_scale


def test_joint_loss_is_rpn_loss_plus_weighted_ridge_term():
    torch.manual_seed(0)
    module = tiny_module(cf={"levels": [0], "weight": 0.5})
    data = batch()
    losses = module.compute_losses(data, torch.Generator().manual_seed(1))
    assert set(losses) == {"total", "cls", "loc", "cf"}
    rpn = SiamRPNppModule.rpn_losses(module, *module.model(data["template"], data["search"]), data,
                                     torch.Generator().manual_seed(1))
    torch.testing.assert_close(losses["total"], rpn["total"] + 0.5 * losses["cf"])
    # the construction: template maps before the neck's crop, centres from the boxes, sizes in cells
    _, _, template_maps, search_maps = module.model.forward_levels(data["template"], data["search"])
    assert template_maps[0].shape[-1] == 6 and search_maps[0].shape[-1] == 12
    centers = (data["search_box"][:, :2] + data["search_box"][:, 2:]) / 2
    sizes = data["search_box"][:, 2:] - data["search_box"][:, :2]
    expected = correlation_filter_loss(template_maps[0], search_maps[0], torch.full_like(centers, 2.5), sizes / 8,
                                       feature_cells(centers, 175, 12, 8), sizes / 8,
                                       torch.tensor([True, True, False, True]))
    torch.testing.assert_close(losses["cf"], expected)
    # the ridge term alone trains the backbone's features (the filter is solved in closed form, no weights)
    module.set_trainable_backbone_layers(("layer1", "layer2", "layer3", "layer4", "layer5"))
    module.zero_grad()
    module.compute_losses(data, torch.Generator().manual_seed(1))["cf"].backward()
    assert module.model.backbone.layer5[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in module.model.head.parameters())


def test_template_box_places_the_template_label():
    torch.manual_seed(1)
    module = tiny_module()
    data = batch(seed=2)
    without = module.compute_losses(data, torch.Generator().manual_seed(0))["cf"]
    centre = torch.full((4, 2), 63.0)
    sizes = data["search_box"][:, 2:] - data["search_box"][:, :2]
    centred = module.compute_losses({**data, "template_box": torch.cat([centre - sizes / 2, centre + sizes / 2], 1)},
                                    torch.Generator().manual_seed(0))["cf"]
    torch.testing.assert_close(centred, without)  # no template box: the target at the template's centre
    moved = module.compute_losses({**data, "template_box": torch.cat([centre - sizes / 2 + 8,
                                                                      centre + sizes / 2 + 8], 1)},
                                  torch.Generator().manual_seed(0))["cf"]
    assert not torch.allclose(moved, without)


def test_lambda_cf_zero_is_siamrpnpp_alone_and_errors():
    torch.manual_seed(2)
    module = tiny_module(cf={"levels": [0], "weight": 0.0})
    data = batch(seed=3)
    losses = module.compute_losses(data, torch.Generator().manual_seed(4))
    assert set(losses) == {"total", "cls", "loc"}
    torch.testing.assert_close(losses["total"], module.rpn_losses(*module.model(data["template"], data["search"]),
                                                                   data, torch.Generator().manual_seed(4))["total"])
    with pytest.raises(ValueError, match=r"cf.levels \[1\]: the network has 1 feature level"):
        tiny_module(cf={"levels": [1]})
    with pytest.raises(ValueError, match="cf_layer_weights has 3 value"):
        SNSCFModule(network=DEMO_NETWORK, cf={"levels": [0]})
    with pytest.raises(ValueError, match="unknown key"):
        tiny_module(cf={"levels": [0], "lambda_cf": 1.0})


class Pairs(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        return {key: value[index % 2] for key, value in batch(2, seed=index).items()}


def test_training_steps_and_checkpoint_build_the_snscf_tracker(tmp_path):
    torch.manual_seed(3)
    module = tiny_module(benchmark_tracker={"otb": {"snscf": {"cf_lr": 0.02}}})
    module.set_trainable_backbone_layers(("layer5",))
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    before = module.model.backbone.layer5[0].weight.detach().clone()
    trainer.fit(module, DataLoader(Pairs(), batch_size=2))
    assert not torch.equal(before, module.model.backbone.layer5[0].weight)
    assert math.isfinite(float(trainer.callback_metrics["train/cf"]))
    path = tmp_path / "snscf.ckpt"
    trainer.save_checkpoint(path)
    tracker = load_tracker(str(path))
    assert isinstance(tracker, SNSCFTracker) and tracker.params.cf_layer_weights == (1.0,)
    assert tracker.params.penalty_k == 0.16 and tracker.params.cf_lr == 0.01
    assert load_tracker(str(path), benchmark="otb").params.cf_lr == 0.02
    assert load_tracker(str(path), {"ranking": "blend"}, tracker="snscf").params.ranking == "blend"
    with pytest.raises(ValueError, match="unknown tracker 'siamrpn'"):
        load_tracker(str(path), tracker="siamrpn")
    frame = np.random.default_rng(0).integers(0, 255, (200, 260, 3), dtype=np.uint8)
    tracker.init(frame, [100, 80, 40, 50])
    box = tracker.update(frame)
    assert box.shape == (4,) and np.isfinite(box).all()


def test_the_levels_eq7_terms_are_summed_as_the_papers_joint_loss():
    """"The sum" of the RPN loss and Eq. 7, one filter per level: the levels' terms add up (``level_reduction``
    "sum", the config default); "mean" divides by their count. Three copies of one level make it visible."""
    import dataclasses

    torch.manual_seed(0)
    module = tiny_module()
    data = batch()
    _, _, template_maps, search_maps = module.model.forward_levels(data["template"], data["search"])
    one = module.filter_loss(template_maps, search_maps, data)
    assert module.cf_config.level_reduction == "sum"
    module.cf_config = dataclasses.replace(module.cf_config, levels=(0, 0, 0))
    torch.testing.assert_close(module.filter_loss(template_maps, search_maps, data), 3 * one)
    module.cf_config = dataclasses.replace(module.cf_config, level_reduction="mean")
    torch.testing.assert_close(module.filter_loss(template_maps, search_maps, data), one)
    with pytest.raises(ValueError, match="level_reduction must be 'sum' or 'mean'"):
        tiny_module(cf={"levels": [0], "level_reduction": "max"})
    assert resolved_config("snscf/r50_l234_acf").model.init_args.cf.level_reduction == "sum"


def test_otb_style_benchmarks_track_with_siamrpnpps_otb_values():
    config = resolved_config("snscf/r50_l234_acf").model.init_args
    for benchmark in ("otb", "uav123", "lasot"):
        assert config.benchmark_tracker[benchmark]["snscf"] == {"penalty_k": 0.24, "window_influence": 0.5, "lr": 0.25}
    otb = resolved_config("siamrpnpp/r50_l234_dwxcorr_otb").model.init_args.tracker
    assert (otb.penalty_k, otb.window_influence, otb.lr) == (0.24, 0.5, 0.25)  # pysot's OTB experiment
