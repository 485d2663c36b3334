"""SiamRPN++ LightningModule: pysot's schedule, backbone freezing/unfreezing, training steps, checkpoint -> tracker."""
from __future__ import annotations

import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

from callbacks.backbone_unfreeze import BackboneUnfreeze
from lightning_modules.base import EpochLRSpace
from lightning_modules.base import lr_space as pysot_lr_space
from lightning_modules.siamrpnpp import SiamRPNppModule
from tracking.models.config import SiamRPNNetwork

# The demo config's network: half-width AlexNet, one depth-wise head, no neck.
DEMO_NETWORK = SiamRPNNetwork(backbone="alexnet_legacy", backbone_width_mult=0.5, used_layers=(5,),
                              neck_channels=None, head_hidden=64, weighted=False, image_format="rgb_normalized",
                              base_size=0)
# Frozen/unfrozen like pysot's alex config (layer4-5 from epoch 10), but at the ResNet config's 0.1x backbone
# rate so the scale shows in the learning rates.
TINY_UNFREEZE = {"epoch": 10, "layers": ("layer4", "layer5"), "lr_scale": 0.1}


def tiny_module(**kwargs) -> SiamRPNppModule:
    """The demo network on small search crops (175: 7x7 score maps), so many epochs stay quick."""
    return SiamRPNppModule(network=DEMO_NETWORK, train_search_size=175, **kwargs)


class RandomPairs(Dataset):
    """Template/search pairs in the PairDataModule's batch layout, deterministic per index."""

    def __init__(self, count: int = 4, exemplar: int = 127, search: int = 255, seed: int = 0):
        self.count, self.exemplar, self.search, self.seed = count, exemplar, search, seed

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        generator = torch.Generator().manual_seed(self.seed * 1000 + index)
        size = 40 + 60 * torch.rand(2, generator=generator)
        center = self.search / 2 + 16 * (torch.rand(2, generator=generator) - 0.5)
        box = torch.cat([center - size / 2, center + size / 2])
        return {"template": 255 * torch.rand(3, self.exemplar, self.exemplar, generator=generator),
                "search": 255 * torch.rand(3, self.search, self.search, generator=generator),
                "search_box": box.float(), "negative": torch.tensor(index % 4 == 3)}


def _trainer(**kwargs) -> pl.Trainer:
    defaults = dict(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    defaults.update(kwargs)
    return pl.Trainer(**defaults)


# ---------------------------------------------------------------------------------------------- schedule
def test_lr_space_equals_pysot_r50_8gpu_schedule():
    # pysot siamrpn_r50_l234_dwxcorr_8gpu: 20 epochs, warm-up "step" 0.001 -> 0.005 over 5 epochs (step 1),
    # then "log" 0.005 -> 0.0005 over the remaining 15.
    space = pysot_lr_space(20, 0.005, 0.0005, "log", warmup_epochs=5, warmup_start_lr=0.001, warmup_end_lr=0.005,
                           warmup_step=1)
    assert space.shape == (20,)
    expected = {0: 0.001, 1: 0.001 * 5 ** 0.2, 2: 0.001 * 5 ** 0.4, 4: 0.001 * 5 ** 0.8,  # stops short of 0.005
                5: 0.005, 10: 0.005 * 10 ** (-5 / 14), 12: 0.005 / math.sqrt(10), 19: 0.0005}
    for epoch, value in expected.items():
        assert space[epoch] == pytest.approx(value, rel=1e-12), epoch
    assert space[1] == pytest.approx(0.0013797296614612148, rel=1e-12)
    assert space[12] == pytest.approx(0.0015811388300841897, rel=1e-12)
    # the log part: constant ratio between epochs
    ratios = space[6:] / space[5:-1]
    assert np.allclose(ratios, 10 ** (-1 / 14), rtol=1e-12)


def test_lr_space_alex_and_errors():
    # pysot siamrpn_alex_dwxcorr_16gpu: 50 epochs, warm-up 0.005 -> 0.01, log 0.01 -> 0.0005
    space = pysot_lr_space(50, 0.01, 0.0005, "log", 5, 0.005, 0.01, 1)
    assert space[0] == pytest.approx(0.005) and space[5] == pytest.approx(0.01) and space[49] == pytest.approx(5e-4)
    assert space[3] == pytest.approx(0.005 * 2 ** 0.6)
    with pytest.raises(ValueError, match="policy"):
        pysot_lr_space(20, 0.005, 0.0005, "exponential")
    with pytest.raises(ValueError, match="warm-up"):
        pysot_lr_space(5, 0.005, 0.0005, "log", warmup_epochs=5)


def test_scheduler_keeps_last_value_and_refreshes_scale():
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [param], "lr_scale": 0.5}], lr=1.0)
    scheduler = EpochLRSpace(optimizer, [1.0, 0.1])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5)
    scheduler.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    optimizer.param_groups[0]["lr_scale"] = 2.0
    scheduler.refresh()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.2)


# ---------------------------------------------------------------------------------------------- freezing (R50)
def _bn_modes(module: nn.Module) -> set[bool]:
    return {m.training for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}


def _requires_grad(module: nn.Module) -> set[bool]:
    return {p.requires_grad for p in module.parameters()}


def test_r50_freeze_state_before_and_after_epoch_10():
    from experiments.config_library import build_model_cli

    built = build_model_cli(["--config", "siamrpnpp/r50_l234_dwxcorr"])
    module = built.model
    groups = module.backbone_groups()
    assert list(groups) == ["conv1", "layer1", "layer2", "layer3", "layer4"]
    [callback] = built.config_init.trainer.callbacks
    assert (callback.epoch, callback.layers, callback.lr_scale) == (10, ("layer2", "layer3", "layer4"), 0.1)
    assert callback.layers_for_epoch(9) == () and callback.layers_for_epoch(10) == ("layer2", "layer3", "layer4")

    # before epoch 10: the whole backbone frozen with BN in eval mode; neck and head train
    module.set_trainable_backbone_layers(callback.layers_for_epoch(9), callback.lr_scale)
    module.train()
    for group in groups.values():
        assert _requires_grad(group) == {False} and _bn_modes(group) == {False}
    assert _requires_grad(module.model.neck) == {True} and _bn_modes(module.model.neck) == {True}
    assert _requires_grad(module.model.head) == {True} and _bn_modes(module.model.head) == {True}

    # from epoch 10: layer2-4 train with BN in train mode; conv1 and layer1 stay frozen, BN eval
    module.set_trainable_backbone_layers(callback.layers_for_epoch(10), callback.lr_scale)
    for name in ("conv1", "layer1"):
        assert _requires_grad(groups[name]) == {False} and _bn_modes(groups[name]) == {False}
    for name in ("layer2", "layer3", "layer4"):
        assert _requires_grad(groups[name]) == {True} and _bn_modes(groups[name]) == {True}
    # eval() / train() round trip keeps the policy
    module.eval()
    assert _bn_modes(module.model) == {False}
    module.train()
    assert _bn_modes(groups["layer1"]) == {False} and _bn_modes(groups["layer3"]) == {True}

    with pytest.raises(ValueError, match="layer9"):
        module.set_trainable_backbone_layers(["layer9"])


def test_optimizer_groups_follow_pysot_build_opt_lr():
    module = SiamRPNppModule()  # the defaults: pysot's r50 network and 8-GPU schedule
    config = module.configure_optimizers()
    optimizer = config["optimizer"]
    assert isinstance(optimizer, torch.optim.SGD)
    names = [g["name"] for g in optimizer.param_groups]
    assert names == ["backbone", "neck", "head"]
    for group in optimizer.param_groups:
        assert group["momentum"] == 0.9 and group["weight_decay"] == 1e-4
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs == {"backbone": 0.0, "neck": pytest.approx(0.001), "head": pytest.approx(0.001)}
    counted = sum(p.numel() for g in optimizer.param_groups for p in g["params"])
    assert counted == sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------- training
class Recorder(pl.Callback):
    """Per epoch (at its first batch): group learning rates, trainability and BN modes, optimizer state size."""

    def __init__(self):
        self.epochs = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx:
            return
        optimizer = trainer.optimizers[0]
        groups = pl_module.backbone_groups()
        self.epochs[trainer.current_epoch] = {
            "lr": {g["name"]: g["lr"] for g in optimizer.param_groups},
            "grad": {name: _requires_grad(group) for name, group in groups.items()},
            "bn": {name: _bn_modes(group) for name, group in groups.items()},
            "head_bn": _bn_modes(pl_module.model.head),
            "state": len(optimizer.state),
        }


def test_training_unfreezes_at_epoch_10_with_pysot_rates():
    torch.manual_seed(0)
    module = tiny_module()  # pysot r50 schedule: base lr 0.005, warm-up 5 epochs, 20 epochs
    before = {k: v.clone() for k, v in module.model.backbone.state_dict().items()}
    recorder = Recorder()
    trainer = _trainer(max_epochs=12, limit_train_batches=1, limit_val_batches=0, gradient_clip_val=10.0,
                       callbacks=[BackboneUnfreeze(**TINY_UNFREEZE), recorder])
    trainer.fit(module, DataLoader(RandomPairs(2, search=175), batch_size=2))

    space = pysot_lr_space(20, 0.005, 0.0005, "log", 5, 0.001, 0.005, 1)
    for epoch in range(12):
        record = recorder.epochs[epoch]
        assert record["lr"]["head"] == pytest.approx(space[epoch], rel=1e-9), epoch
        assert record["lr"]["backbone"] == pytest.approx(0.1 * space[epoch] if epoch >= 10 else 0.0, rel=1e-9)
        trained = {"layer4", "layer5"} if epoch >= 10 else set()
        for name in ("layer1", "layer2", "layer3", "layer4", "layer5"):
            assert record["grad"][name] == {name in trained}, (epoch, name)
            assert record["bn"][name] == {name in trained}, (epoch, name)
        assert record["head_bn"] == {True}
    # momentum buffers are dropped at the switch (pysot rebuilds its optimizer then)
    assert recorder.epochs[9]["state"] > 0 and recorder.epochs[10]["state"] == 0

    after = module.model.backbone.state_dict()
    for key, value in before.items():
        changed = not torch.equal(value, after[key])
        trained = key.startswith(("layer4.", "layer5."))
        # frozen layers: weights and BN running statistics untouched; fine-tuned ones moved
        assert changed == trained, key


def test_fast_dev_run_train_and_validation_logs_losses():
    torch.manual_seed(0)
    module = SiamRPNppModule(network=DEMO_NETWORK)
    trainer = _trainer(fast_dev_run=2, callbacks=[BackboneUnfreeze(epoch=0, layers=["layer1", "layer5"])])
    trainer.fit(module, DataLoader(RandomPairs(4), batch_size=2), DataLoader(RandomPairs(2, seed=1), batch_size=2))
    metrics = trainer.callback_metrics
    for key in ("train/total", "train/cls", "train/loc", "val/total", "val/cls", "val/loc"):
        assert key in metrics and torch.isfinite(metrics[key]), key
    assert metrics["val/total"] == pytest.approx(float(metrics["val/cls"] + 1.2 * metrics["val/loc"]), rel=1e-5)


def test_invalid_loss_skips_the_step():
    module = SiamRPNppModule(network=DEMO_NETWORK)
    before = [p.detach().clone() for p in module.parameters()]

    class NaNPairs(RandomPairs):
        def __getitem__(self, index):
            item = super().__getitem__(index)
            item["search"][:] = float("nan")
            return item

    trainer = _trainer(max_steps=1, limit_val_batches=0)
    trainer.fit(module, DataLoader(NaNPairs(2), batch_size=2))
    assert all(torch.equal(a, b) for a, b in zip(before, module.parameters()))
    assert trainer.callback_metrics["train/skipped_step"] == 1


# ---------------------------------------------------------------------------------------------- checkpoint
def _sequence(count=4, size=(120, 160)):
    rng = np.random.default_rng(0)
    frames = []
    for index in range(count):
        image = np.full((*size, 3), 90, np.uint8)
        x, y = 50 + 3 * index, 40 + 2 * index
        image[y:y + 30, x:x + 24] = rng.integers(0, 255, (30, 24, 3), dtype=np.uint8)
        frames.append(image)
    return frames, np.array([50.0, 40.0, 24.0, 30.0])


def test_checkpoint_round_trip_builds_the_same_tracker(tmp_path):
    torch.manual_seed(0)
    module = SiamRPNppModule(network=DEMO_NETWORK, tracker={"penalty_k": 0.2},
                             benchmark_tracker={"otb": {"siamrpn": {"lr": 0.1}}},
                             optim={"warmup_epochs": 0, "epochs": 3})
    trainer = _trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(module, DataLoader(RandomPairs(2), batch_size=2))
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)

    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    assert checkpoint["suite"]["module"] == "lightning_modules.siamrpnpp.SiamRPNppModule"
    assert checkpoint["hyper_parameters"]["tracker"]["penalty_k"] == 0.2
    assert checkpoint["hyper_parameters"]["network"]["backbone"] == "alexnet_legacy"

    loaded = SiamRPNppModule.load_from_checkpoint(path, map_location="cpu")
    assert loaded.config == module.config and loaded.optim == module.optim
    for key, value in module.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key

    from tracking.tracker import track_frames

    frames, box = _sequence()
    module.eval()
    original, _ = track_frames(module.build_tracker(), frames, box)
    reloaded_tracker = loaded.build_tracker(window_influence=0.3)
    assert reloaded_tracker.params.window_influence == 0.3 and reloaded_tracker.params.penalty_k == 0.2
    # the config's per-benchmark values come in under the benchmark's name, explicit values on top
    assert loaded.build_tracker(benchmark="otb").params.lr == 0.1 and loaded.build_tracker().params.lr == 0.38
    assert loaded.build_tracker("siamrpn", benchmark="OTB", lr=0.2).params.lr == 0.2
    reloaded, _ = track_frames(loaded.build_tracker(), frames, box)
    np.testing.assert_allclose(reloaded, original, atol=1e-4)
    assert np.all(np.isfinite(reloaded)) and not np.allclose(reloaded[1:], box)

    with pytest.raises(ValueError, match=r"unknown key\(s\) \['backbone'\]; accepted: "
                                         r"\['channels_last', 'compile', 'context_amount'"):
        loaded.build_tracker(backbone="resnet50")
    with pytest.raises(ValueError, match=r"unknown tracker 'hierarchical'.*accepted: \['siamrpn'\]"):
        loaded.build_tracker("hierarchical")
    with pytest.raises(ValueError, match="penalty_k='high' is not a valid float"):
        loaded.build_tracker(penalty_k="high")


def test_build_tracker_mid_training_leaves_modes_alone():
    module = SiamRPNppModule(network=DEMO_NETWORK)
    module.train()
    modes = [m.training for m in module.modules()]
    tracker = module.build_tracker()
    assert [m.training for m in module.modules()] == modes
    assert tracker.net.module is not module.model and not tracker.net.module.training
