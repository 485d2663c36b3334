"""Two CPU processes (gloo DDP): backbone layers unfrozen mid-run get their gradients synchronised.

``ddp_fork`` (CPU only) starts the two ranks without re-importing torch in each, which keeps these tests fast;
the callback's re-wrap is the same under ``ddp`` / ``ddp_spawn``.
"""
from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from callbacks.backbone_unfreeze import BackboneUnfreeze
from test_lightning_siamrpnpp import RandomPairs, tiny_module

# layer4-5 start training at epoch 1, at the full rate so one step moves them clearly
UNFREEZE = {"epoch": 1, "layers": ("layer4", "layer5"), "lr_scale": 1.0}


class SaveWeights(pl.Callback):
    def __init__(self, directory):
        self.directory = str(directory)

    def on_train_end(self, trainer, pl_module):
        weights = {k: v.detach().clone() for k, v in pl_module.model.named_parameters()}
        torch.save(weights, f"{self.directory}/rank{trainer.global_rank}.pt")


class NoRewrap(BackboneUnfreeze):
    """The callback without its DDP re-wrap: what a naive requires_grad toggle does under DDP."""

    def _rewrap_ddp_if_needed(self, trainer, pl_module):
        pass


def _run(tmp_path, callback_class) -> tuple[dict, dict, dict]:
    torch.manual_seed(0)
    module = tiny_module(optim={"warmup_epochs": 0, "epochs": 2})
    initial = {k: v.detach().clone() for k, v in module.model.named_parameters()}
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp_fork", max_epochs=2, limit_train_batches=2,
                         limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, gradient_clip_val=10.0,
                         callbacks=[callback_class(**UNFREEZE), SaveWeights(tmp_path)])
    # 8 different pairs: each rank gets its own shard (DistributedSampler), so local gradients differ
    trainer.fit(module, DataLoader(RandomPairs(8, search=175), batch_size=2))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    return initial, ranks[0], ranks[1]


@pytest.mark.timeout(300)
def test_ddp_unfrozen_backbone_layers_stay_identical_across_ranks(tmp_path):
    initial, rank0, rank1 = _run(tmp_path, BackboneUnfreeze)
    for key, value in rank0.items():
        assert torch.equal(value, rank1[key]), f"{key} differs between the ranks"
        changed = not torch.equal(value, initial[key])
        trained = not key.startswith("backbone.") or key.startswith(("backbone.layer4.", "backbone.layer5."))
        assert changed == trained, key


@pytest.mark.timeout(300)
def test_ddp_without_rewrap_lets_ranks_drift_apart(tmp_path):
    # the failure the callback prevents: the reducer built while layer4-5 were frozen never syncs them (and
    # through the gradient-norm clipping, which sees the unsynchronised gradients, the rest drifts too)
    initial, rank0, rank1 = _run(tmp_path, NoRewrap)
    drifted = {key for key in rank0 if not torch.equal(rank0[key], rank1[key])}
    assert {"backbone.layer4.0.weight", "backbone.layer5.0.weight"} <= drifted
