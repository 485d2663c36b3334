"""Start fine-tuning backbone layers at a given epoch (SiamRPN++: layer2-4 from epoch 10 at 0.1x the lr).

The LightningModule provides the mechanics through ``set_trainable_backbone_layers(layers, lr_scale)``
(``requires_grad``, BatchNorm modes, the optimizer group's rate: the protocol of
``lightning_modules.base.SiameseModule``, which may span several backbones, e.g. "s.conv5" for MFST); this
callback decides when. A config lists it under ``trainer.callbacks`` with its paper's epoch, layers and scale.

DDP: ``DistributedDataParallel`` registers, when it wraps the model, only the parameters that require a gradient
at that moment; a parameter that starts training later would never have its gradient all-reduced, so the ranks'
weights would silently drift apart. When the set of trainable parameters changes under DDP, the callback wraps
the module again (the new reducer registers the new parameters and broadcasts rank 0's weights and buffers).
While the backbone is frozen nothing is spent on it: no backward through it, no all-reduce of its gradients.
"""
from __future__ import annotations

import gc
from collections.abc import Sequence

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities import rank_zero_info


def _trainable_ids(module) -> frozenset[int]:
    return frozenset(id(p) for p in module.parameters() if p.requires_grad)


class BackboneUnfreeze(Callback):
    """From epoch ``epoch`` (0-based, like pysot's ``BACKBONE.TRAIN_EPOCH``) train the backbone's ``layers``
    at ``lr_scale`` x the schedule's rate; before it, the whole backbone is frozen (BN in eval mode).

    ``reset_optimizer_state``: clear SGD's momentum buffers at the switch, as the reference does (pysot rebuilds
    its optimizer when the backbone starts training). The state is derived from the epoch at every epoch start,
    so a run resumed from a checkpoint before or after the switch gets the right one.
    """

    def __init__(self, epoch: int = 10, layers: Sequence[str] = ("layer2", "layer3", "layer4"),
                 lr_scale: float = 0.1, reset_optimizer_state: bool = True):
        super().__init__()
        self.epoch = int(epoch)
        self.layers = tuple(layers)
        self.lr_scale = float(lr_scale)
        self.reset_optimizer_state = reset_optimizer_state
        self._wrapped_trainable: frozenset[int] | None = None
        self._cleared_epoch: int | None = None  # saved with the run: a resume inside that epoch keeps its momentum

    def state_dict(self) -> dict:
        return {"cleared_epoch": self._cleared_epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        self._cleared_epoch = state_dict.get("cleared_epoch")

    def layers_for_epoch(self, epoch: int) -> tuple[str, ...]:
        return self.layers if epoch >= self.epoch else ()

    def on_fit_start(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        # the strategy has wrapped the module by now: remember which parameters its reducer registered
        self._wrapped_trainable = _trainable_ids(pl_module)

    def on_train_start(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        # a run resumed mid-epoch gets no on_train_epoch_start for that epoch: apply its state here too
        pl_module.set_trainable_backbone_layers(self.layers_for_epoch(trainer.current_epoch), self.lr_scale)
        self._rewrap_ddp_if_needed(trainer, pl_module)

    def on_train_epoch_start(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        wanted = self.layers_for_epoch(trainer.current_epoch)
        changed = tuple(getattr(pl_module, "trainable_backbone_layers", ())) != wanted
        pl_module.set_trainable_backbone_layers(wanted, self.lr_scale)
        if changed and wanted:
            rank_zero_info(f"epoch {trainer.current_epoch}: training backbone layers {list(wanted)} at "
                           f"{self.lr_scale}x the learning rate")
        # once, at the switch epoch's start (a run resumed inside that epoch has done it already: saved state)
        if wanted and self.reset_optimizer_state and trainer.current_epoch == self.epoch \
                and self._cleared_epoch != self.epoch:
            for optimizer in trainer.optimizers:
                optimizer.state.clear()
            self._cleared_epoch = self.epoch
        self._rewrap_ddp_if_needed(trainer, pl_module)

    def _rewrap_ddp_if_needed(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        from torch.nn.parallel import DistributedDataParallel

        strategy = trainer.strategy
        if not isinstance(strategy.model, DistributedDataParallel):
            return
        trainable = _trainable_ids(pl_module)
        if trainable == self._wrapped_trainable:
            return
        if not hasattr(strategy, "configure_ddp"):
            raise RuntimeError(f"{type(strategy).__name__}: cannot re-wrap the model for parameters that start "
                               f"training mid-run; use the 'ddp' or 'ddp_spawn' strategy")
        # drop the old wrapper first so its reducer (and the autograd hooks it installed) is released
        strategy.model = pl_module
        gc.collect()
        strategy.configure_ddp()
        self._wrapped_trainable = trainable
