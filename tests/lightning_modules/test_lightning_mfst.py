"""MFSTModule: the configs hold the paper's numbers (and the released code's where the paper is silent), training
steps move only the SE blocks and biases (backbone weights and BatchNorm statistics unchanged), the losses are the
per-level balanced logistic losses, branches load from their sources (SiamFC checkpoint, BVLC npy, another MFST
run's branch), and each row of Tables I and II is a config whose tracker values are that row's."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import yaml
from torch.utils.data import DataLoader

from experiments.config_library import build_model, config_names, locate_config, resolved_config
from lightning_modules.checkpoints import load_tracker
from lightning_modules.mfst import MFST_SCHEDULE, MFSTModule
from tracking.errors import DataError
from tracking.models.losses import balanced_logistic_loss, siamfc_labels
from tracking.trackers.mfst import MFSTTracker

SMALL = {"s_backbone_options": {"width_mult": 0.25}, "a_backbone_options": {"width_mult": 0.25}}
BVLC_SHAPES = {"conv1": (11, 11, 3, 96), "conv2": (5, 5, 48, 256), "conv3": (3, 3, 256, 384),
               "conv4": (3, 3, 192, 384), "conv5": (3, 3, 192, 256)}


def write_bvlc_npy(path):
    """A file in the layout of the distributed bvlc_alexnet.npy: a pickled dict conv -> [HWIO weights, bias]."""
    rng = np.random.default_rng(0)
    data = {name: [rng.normal(0, 0.01, shape).astype(np.float32), np.zeros(shape[-1], np.float32)]
            for name, shape in BVLC_SHAPES.items()}
    np.save(path, np.array(data, dtype=object), allow_pickle=True)


def test_main_config_holds_the_papers_numbers():
    config = resolved_config("mfst/mfst")
    model, data = config.model.init_args, config.data.init_args
    assert config.model.class_path == "lightning_modules.mfst.MFSTModule"
    network = model.network
    assert (tuple(network.branches), tuple(network.levels)) == (("s", "a"), ("conv3", "conv4", "conv5"))
    assert (network.s_backbone, network.a_backbone, network.a_image_format) == ("siamfc_alexnet", "bvlc_alexnet",
                                                                                 "rgb255")
    assert network.s_out_scale == {"conv3": 1e-3, "conv4": 1e-3, "conv5": 1e-3}
    assert network.a_out_scale == {"conv3": 1e-5, "conv4": 1e-4, "conv5": 1e-3}
    assert (network.se, network.se_reduction, network.learned_bias) == (True, 4, True)
    tracker = model.tracker
    assert (tracker.scale_num, tracker.scale_step, tracker.scale_penalty, tracker.scale_lr, tracker.window_influence,
            tracker.response_up, tracker.upsample_mode, tracker.align_corners, tracker.min_scale,
            tracker.max_scale) == (3, 1.025, 0.9745, 0.59, 0.176, 16, "bicubic", True, 0.2, 5.0)
    assert (tracker.s_fusion, tuple(tracker.s_weights), tracker.a_fusion, tuple(tracker.a_weights),
            tracker.branch_fusion, tuple(tracker.branch_weights)) == \
        ("hard_weight", (0.1, 0.3, 0.7), "soft_weight", (0.1, 0.6, 0.3), "soft_weight", (0.3, 0.7))
    assert (model.positive_radius, model.negative_radius, model.train_search_size) == (16, 0, 255)
    optim = model.optim
    assert (optim.epochs, optim.base_lr, optim.momentum, optim.weight_decay, optim.lr_policy, optim.lr_step,
            optim.lr_step_mult, optim.warmup_epochs) == (50, 0.01, 0.9, 0.0, "step", 1, 0.86, 0)
    assert (data.sources, data.videos_per_epoch, data.batch_size, data.negative) == \
        ({"vid": {"frame_range": 100}}, 53_200, 8, 0.0)
    assert (data.template_shift, data.template_scale, data.search_shift, data.search_scale) == (0, 0, 0, 0)
    assert (data.flip, data.color, data.gray, data.template_blur, data.search_blur) == (0, 0, 0, 0, 0)
    assert not config.trainer.callbacks  # no BackboneUnfreeze: the backbones stay frozen


def test_schedule_decays_by_086_after_each_epoch():
    module = build_model("mfst/mfst", "--model.init_args.network.s_backbone_options={width_mult: 0.25}",
                         "--model.init_args.network.a_backbone_options={width_mult: 0.25}")
    np.testing.assert_allclose(module.lr_space, 0.01 * 0.86 ** np.arange(50), rtol=1e-12)
    assert module.optim == MFST_SCHEDULE
    assert module.training_crops() == {"template_size": 127, "search_size": 255, "context_amount": 0.5,
                                       "image_format": "rgb255"}


def random_batches(count: int, batch_size: int = 2):
    generator = torch.Generator().manual_seed(0)
    return [{"template": 255 * torch.rand(batch_size, 3, 127, 127, generator=generator),
             "search": 255 * torch.rand(batch_size, 3, 255, 255, generator=generator),
             "negative": torch.zeros(batch_size, dtype=torch.bool)} for _ in range(count)]


def test_training_moves_only_se_blocks_and_biases_and_the_checkpoint_tracks(tmp_path):
    torch.manual_seed(0)
    module = MFSTModule(network=SMALL, tracker={"scale_step": 1.0375})
    before = {k: v.clone() for k, v in module.state_dict().items()}
    trainer = pl.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    batches = random_batches(2)
    modes = []

    class Modes(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            modes.append([m.training for m in pl_module.model.branches["s"].backbone.modules()
                          if isinstance(m, torch.nn.BatchNorm2d)])

    trainer.callbacks.append(Modes())
    trainer.fit(module, DataLoader(batches, batch_size=None))
    assert trainer.global_step == 2 and modes and not any(any(m) for m in modes)  # frozen BN in eval mode
    after = module.state_dict()
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    assert changed and all(".se." in k or k.endswith("head.bias") for k in changed)
    assert any(k.startswith("model.branches.s.se.") for k in changed) and \
        any(k.startswith("model.branches.a.se.") for k in changed)
    assert {"model.branches.s.head.bias", "model.branches.a.head.bias"} <= set(changed)
    for key in before:  # backbone weights and BatchNorm statistics (running mean/var, counters) untouched
        if ".backbone." in key:
            assert torch.equal(before[key], after[key]), key
    groups = {g["name"]: g for g in trainer.optimizers[0].param_groups}
    assert groups["se"]["weight_decay"] == 0 and groups["se"]["momentum"] == 0.9
    assert sum(p.numel() for p in groups["se"]["params"]) == 2 * sum(
        p.numel() for p in module.model.branches["s"].se.parameters())
    trainer.save_checkpoint(tmp_path / "mfst.ckpt")
    # the checkpoint's weights as trained (unfolded: the tracker would otherwise fold BatchNorm into a copy)
    tracker = load_tracker(str(tmp_path / "mfst.ckpt"), {"branch_weights": [1.0, 0.0], "fold_batchnorm": False},
                           tracker="mfst")
    assert isinstance(tracker, MFSTTracker) and tracker.params.scale_step == 1.0375 and tracker.active == ["s"]
    for a, b in zip(tracker.net.module.parameters(), module.model.parameters()):
        assert torch.equal(a.cpu(), b.detach().cpu())


def test_losses_are_the_per_level_balanced_losses_summed():
    torch.manual_seed(1)
    module = MFSTModule(network=SMALL, train_branches=["a"])
    batch = random_batches(1)[0]
    losses = module.compute_losses(batch, torch.Generator())
    assert sorted(losses) == ["a.conv3", "a.conv4", "a.conv5", "total"]  # branch S is not even computed
    labels = siamfc_labels(17, 8, 16, 0)
    assert int(labels.sum()) == 13 and labels.numel() - 13 == 276
    with torch.no_grad():
        maps = module.model(batch["template"], batch["search"], branches=["a"])["a"]
    for level, response in zip(("conv3", "conv4", "conv5"), maps):
        expected = balanced_logistic_loss(response, labels.expand_as(response))
        torch.testing.assert_close(losses[f"a.{level}"].detach(), expected)
        # 0.5/13 per positive and 0.5/276 per negative, summed per map, averaged over the batch
        terms = torch.nn.functional.binary_cross_entropy_with_logits(response, labels.expand_as(response),
                                                                     reduction="none")[:, 0]
        by_hand = (0.5 / 13 * (terms * labels).sum((1, 2)) + 0.5 / 276 * (terms * (1 - labels)).sum((1, 2))).mean()
        torch.testing.assert_close(expected, by_hand)
    torch.testing.assert_close(losses["total"], sum(losses[k] for k in losses if k != "total"))
    assert all(not p.requires_grad for p in module.branch_parameters("s"))
    assert all(p.requires_grad for p in module.branch_parameters("a"))
    with pytest.raises(ValueError, match=r"train_branches \['b'\]"):
        MFSTModule(network=SMALL, train_branches=["b"])
    with pytest.raises(ValueError, match="nothing to train"):
        MFSTModule(network={**SMALL, "se": False, "learned_bias": False})


def siamfc_checkpoint(path, backbone_state):
    """A suite SiamFC checkpoint as SiamFCModule saves it: the backbone under model.backbone."""
    torch.save({"state_dict": {f"model.backbone.{k}": v for k, v in backbone_state.items()},
                "suite": {"module": "lightning_modules.siamfc.SiamFCModule"}}, path)


def test_branches_load_from_their_sources_and_warn_without(tmp_path, capsys):
    torch.manual_seed(2)
    donor = MFSTModule(network={"branches": ["s"], "s_backbone_options": {"width_mult": 0.25}})
    with torch.no_grad():
        for p in donor.model.branches["s"].backbone.parameters():
            p.add_(1.0)
    siamfc_checkpoint(tmp_path / "siamfc.ckpt", donor.model.branches["s"].backbone.state_dict())
    write_bvlc_npy(tmp_path / "bvlc_alexnet.npy")
    module = MFSTModule(network={"s_backbone_options": {"width_mult": 0.25}},
                        siamfc_checkpoint=str(tmp_path / "siamfc.ckpt"),
                        alexnet_weights=str(tmp_path / "bvlc_alexnet.npy"))
    module.load_pretrained()
    for a, b in zip(module.model.branches["s"].backbone.state_dict().values(),
                    donor.model.branches["s"].backbone.state_dict().values()):
        assert torch.equal(a, b)
    assert module.model.branches["a"].backbone.conv1[0].weight.shape == (96, 3, 11, 11)
    # an MFST run's checkpoint gives its whole branch: backbone, SE blocks, biases
    with torch.no_grad():
        donor.model.branches["s"].head.bias.fill_(0.5)
    torch.save({"state_dict": donor.state_dict()}, tmp_path / "siamfc_se.ckpt")
    assembled = MFSTModule(network={"s_backbone_options": {"width_mult": 0.25}},
                           siamfc_checkpoint=str(tmp_path / "siamfc_se.ckpt"))
    assembled.load_pretrained()
    assert torch.equal(assembled.model.branches["s"].head.bias, torch.full((3,), 0.5))
    assert torch.equal(assembled.model.branches["s"].se[0].squeeze.weight, donor.model.branches["s"].se[0].squeeze.weight)
    assert "branch A starts from random weights: pass --model.init_args.alexnet_weights" in capsys.readouterr().err
    with pytest.raises(DataError, match="does not fit"):
        MFSTModule(network=SMALL | {"s_backbone_options": {"width_mult": 0.5}},
                   siamfc_checkpoint=str(tmp_path / "siamfc.ckpt")).load_pretrained()
    with pytest.raises(DataError, match="not found"):
        MFSTModule(network=SMALL, alexnet_weights=str(tmp_path / "missing.npy")).load_pretrained()


def test_relative_sources_resolve_from_the_run_folder(tmp_path, monkeypatch):
    torch.manual_seed(3)
    donor = MFSTModule(network={"branches": ["s"], "s_backbone_options": {"width_mult": 0.25}})
    (tmp_path / "siamfc" / "checkpoints").mkdir(parents=True)
    siamfc_checkpoint(tmp_path / "siamfc" / "checkpoints" / "last.ckpt",
                      donor.model.branches["s"].backbone.state_dict())
    (tmp_path / "cwd" / "deeper").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "cwd" / "deeper")  # ../siamfc/... is not found from the working directory
    for run_folder, found in (("mfst", True), ("elsewhere/mfst", False)):
        module = MFSTModule(network={"branches": ["s"], "s_backbone_options": {"width_mult": 0.25}},
                            siamfc_checkpoint="../siamfc/checkpoints/last.ckpt")
        module.load_pretrained()  # deferred: the run folder is known once the trainer is attached
        assert module._pending_sources == {"s": "../siamfc/checkpoints/last.ckpt"}
        module.trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                                    default_root_dir=str(tmp_path / run_folder))
        if not found:
            with pytest.raises(DataError, match="nor from the run folder"):
                module.setup("fit")
            continue
        module.setup("fit")
        for a, b in zip(module.model.branches["s"].backbone.parameters(),
                        donor.model.branches["s"].backbone.parameters()):
            assert torch.equal(a, b)


# ---------------------------------------------------------------------------------------------- tables
def table_rows():
    root = locate_config("mfst/mfst")[1].parent / "tables"
    return sorted(f"mfst/tables/{path.stem}" for path in root.glob("*.yaml"))


def test_every_row_of_tables_1_and_2_is_a_config_with_its_trackers_values():
    rows = table_rows()
    assert len([r for r in rows if "/table1_a_" in r]) == len([r for r in rows if "/table1_s_" in r]) == 12
    assert len([r for r in rows if "/table2_" in r]) == 12
    assert {"mfst/mfst", "mfst/siamfc_se", "mfst/alexnet_se", "mfst/torchvision_alexnet"} <= set(config_names())
    one_hot = {"conv3": [1.0, 0.0, 0.0], "conv4": [0.0, 1.0, 0.0], "conv5": [0.0, 0.0, 1.0]}
    fusions = {"hw": "hard_weight", "sm": "soft_mean", "sw": "soft_weight"}
    paper_weights = {"s": [0.1, 0.3, 0.7], "a": [0.1, 0.6, 0.3]}
    bases = {name: resolved_config(name).model.init_args for name in ("mfst/mfst", "mfst/siamfc_se",
                                                                        "mfst/alexnet_se")}

    def row_config(row):
        """The row's values: its YAML's tracker values over its base's (resolved once per base)."""
        data = yaml.safe_load(locate_config(row)[1].read_text())
        base = bases[data["base"]]
        values = {**base.tracker.as_dict(), **data["model"]["init_args"]["tracker"]}
        assert set(data["model"]["init_args"]) == {"tracker"}, row  # a row changes tracker values only
        return SimpleNamespace(**values), base.network, base.train_branches

    for row in rows:
        tracker, network, train_branches = row_config(row)
        name = row.split("/")[-1]
        assert tracker.use_se == name.endswith("_se"), row
        parts = name.removesuffix("_se").split("_")
        if parts[0] == "table1":
            branch, what = parts[1], parts[2]
            assert tuple(network.branches) == (branch,) and tuple(train_branches) == (branch,)
            fusion, weights = getattr(tracker, f"{branch}_fusion"), list(getattr(tracker, f"{branch}_weights"))
            if what in one_hot:
                assert (fusion, weights) == ("hard_weight", one_hot[what]), row
            else:
                assert (fusion, weights) == (fusions[what], paper_weights[branch]), row
            continue
        assert tuple(network.branches) == ("s", "a"), row
        what = parts[1]
        if what in ("aconv5", "acom", "sconv5", "scom"):
            assert list(tracker.branch_weights) == ([0.0, 1.0] if what[0] == "a" else [1.0, 0.0]), row
            branch = what[0]
            expected = ("hard_weight", one_hot["conv5"]) if what.endswith("conv5") else \
                ({"a": "soft_weight", "s": "hard_weight"}[branch], paper_weights[branch])
            assert (getattr(tracker, f"{branch}_fusion"), list(getattr(tracker, f"{branch}_weights"))) == expected
        else:
            assert (tracker.branch_fusion, list(tracker.branch_weights)) == (fusions[what], [0.3, 0.7]), row
            assert (tracker.s_fusion, tracker.a_fusion) == ("hard_weight", "soft_weight"), row
    for row in ("mfst/tables/table1_a_sm_se", "mfst/tables/table1_s_conv3", "mfst/tables/table2_aconv5"):
        resolved = resolved_config(row).model.init_args.tracker  # the chain resolves to the same values
        assert resolved.as_dict() == {k: tuple(v) if isinstance(v, list) else v
                                      for k, v in vars(row_config(row)[0]).items()}, row
    assert resolved_config("mfst/tables/table2_sw_se").model.init_args.tracker == bases["mfst/mfst"].tracker


def test_training_pairs_are_unaugmented_with_the_exemplar_at_the_search_crops_centre(tmp_path):
    """mfst/mfst's pairs: no shift, stretch, blur, flip, colour or gray; with the same frame on both sides the
    exemplar is the centre 127 of the 255 search crop (the released code's), up to cv2's rounding of a pixel."""
    from experiments.train import build_cli
    from tracking.synthetic.training_formats import write_vid
    from tracking.synthetic.video import generate_videos

    write_vid(generate_videos(5, 2, num_frames=4, size=(120, 160)), tmp_path / "vid")
    built = build_cli(["--config", "mfst/mfst", "--data_root", str(tmp_path), "--out", str(tmp_path / "run"),
                       "--data.init_args.sources={vid: {frame_range: 0}}", "--data.init_args.num_workers=0",
                       "--model.init_args.network.s_backbone_options={width_mult: 0.25}",
                       "--model.init_args.network.a_backbone_options={width_mult: 0.25}"])
    data = built.datamodule
    data.setup("fit")
    for index in range(3):
        pair = data.train_dataset.sample(index)
        assert pair.template_ref == pair.search_ref and not pair.negative
        difference = np.abs(pair.template - pair.search[:, 64:191, 64:191])
        assert difference.max() <= 1 and (difference > 0).mean() < 1e-3  # cv2's fixed-point rounding to uint8
        x1, y1, x2, y2 = pair.search_box
        assert (x1 + x2) / 2 == pytest.approx(127) and (y1 + y2) / 2 == pytest.approx(127)  # centred
