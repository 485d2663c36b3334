"""SiamRPN++ training as a LightningModule, with the reference's (pysot's) optimiser and learning-rate schedule.

What pysot's ``tools/train.py`` does and how it maps here:

- SGD, momentum 0.9, weight decay 1e-4; parameter groups backbone / neck / head. The head and neck run at the
  schedule's rate; the backbone at ``config.backbone_lr_scale`` (0.1) times it once fine-tuning starts.
- The learning rate is set once per epoch: ``lr_group(epoch) = lr_space[epoch] * base_lr * scale / lr_start``
  (``pysot/utils/lr_scheduler.py``: ``lr_spaces[epoch] * initial_lr / start_lr``), where ``lr_space`` is the
  warm-up "step" schedule (``start * mult ** (epoch // step)``, ``mult = (end / start) ** (1 / (epochs // step))``)
  followed by the main schedule ("log": ``logspace(start, end)``). See :func:`pysot_lr_space`.
- The backbone starts frozen with every BatchNorm in eval mode; from ``config.backbone_train_epoch`` its
  ``config.backbone_train_layers`` train with BN in train mode (conv1 / layer1 never). The switch is the
  :class:`callbacks.backbone_unfreeze.BackboneUnfreeze` callback; this module offers the mechanics
  (:meth:`SiamRPNppModule.set_trainable_backbone_layers`). All backbone parameters sit in the optimizer from the
  start: a parameter without a gradient is skipped by SGD (no update, no weight decay), so a frozen one is
  untouched, and nothing has to be rebuilt when it starts training.
- Gradient clipping at 10 (L2 norm over all parameters) is the Trainer's ``gradient_clip_val``; steps whose loss
  is NaN, infinite or above 1e4 are skipped like the reference does (on every rank when one rank sees one).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn as nn
from torch.optim.lr_scheduler import LRScheduler

from tracking.models.config import SiamRPNConfig, get_config
from tracking.models.losses import rpn_loss
from tracking.models.siamrpn import SiamRPN
from tracking.models.targets import AnchorTargetBuilder

SUITE_MODULE_PATH = "lightning_modules.siamrpnpp.SiamRPNppModule"

LR_POLICIES = ("log", "linear", "cos", "step")

# pysot skips a step whose loss is not a "valid number" (tools/train.py, is_valid_number)
MAX_VALID_LOSS = 1e4


def pysot_lr_space(epochs: int, start_lr: float, end_lr: float, policy: str = "log", warmup_epochs: int = 0,
                   warmup_start_lr: float | None = None, warmup_end_lr: float | None = None, warmup_step: int = 1,
                   step: int = 10, step_mult: float = 0.1) -> np.ndarray:
    """pysot's per-epoch learning-rate space (``WarmUPScheduler(step warm-up, main policy)``), ``epochs`` values.

    The warm-up covers ``warmup_epochs`` epochs with pysot's ``StepScheduler(start, end, step)``:
    ``start * mult ** (e // step)`` with ``mult = (end / start) ** (1 / (warmup_epochs // step))`` (so it stops
    one step short of ``end``); the main ``policy`` covers the remaining epochs:
    "log" ``logspace(log10 start, log10 end)``, "linear" ``linspace``, "cos" pysot's ``CosStepScheduler``,
    "step" ``start * step_mult ** (e // step)``.
    """
    if policy not in LR_POLICIES:
        raise ValueError(f"unknown learning-rate policy {policy!r}; choose one of {LR_POLICIES}")
    if not 0 <= warmup_epochs < epochs:
        raise ValueError(f"warm-up epochs ({warmup_epochs}) must be in [0, epochs={epochs})")
    spaces = []
    if warmup_epochs:
        w_start = start_lr if warmup_start_lr is None else warmup_start_lr
        w_end = start_lr if warmup_end_lr is None else warmup_end_lr
        mult = math.pow(w_end / w_start, 1.0 / (warmup_epochs // warmup_step))
        spaces.append(w_start * mult ** (np.arange(warmup_epochs) // warmup_step))
    main = epochs - warmup_epochs
    if policy == "log":
        spaces.append(np.logspace(math.log10(start_lr), math.log10(end_lr), main))
    elif policy == "linear":
        spaces.append(np.linspace(start_lr, end_lr, main))
    elif policy == "cos":
        index = np.arange(main).astype(np.float32)
        spaces.append((end_lr + (start_lr - end_lr) * (1.0 + np.cos(index * np.pi / main)) * 0.5).astype(np.float32))
    else:
        spaces.append(start_lr * step_mult ** (np.arange(main) // step))
    return np.concatenate(spaces).astype(np.float64)


class EpochLRSpace(LRScheduler):
    """Per-epoch learning rates from a precomputed space: ``group lr = space[epoch] * group["lr_scale"]``.

    ``lr_scale`` is a key of each optimizer parameter group (saved with the optimizer's state, so a resumed run
    keeps it); :meth:`refresh` re-applies the current epoch's rates after a scale changed mid-run.
    Epochs past the end of the space keep its last value.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, lr_space: Sequence[float], last_epoch: int = -1):
        self.lr_space = [float(v) for v in lr_space]
        for group in optimizer.param_groups:
            group.setdefault("lr_scale", 1.0)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch: int) -> float:
        return self.lr_space[min(max(epoch, 0), len(self.lr_space) - 1)]

    def get_lr(self) -> list[float]:
        base = self.lr_at(self.last_epoch)
        return [base * group["lr_scale"] for group in self.optimizer.param_groups]

    def refresh(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


def _set_batchnorm_mode(module: nn.Module, train: bool) -> None:
    for child in module.modules():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            child.train(train)


class SiamRPNppModule(pl.LightningModule):
    """SiamRPN++ (Li et al., CVPR 2019) trained on template/search pairs.

    ``model``: a preset name of ``tracking.models.config.PRESETS``, a config dict (``config_from_dict``, may name
    a ``preset``) or a ``SiamRPNConfig``; saved in the hyper-parameters as a plain dict so a checkpoint rebuilds
    the same network. Batches: ``template`` (B,3,E,E), ``search`` (B,3,S,S) in the config's image format,
    ``search_box`` (B,4) target corners in search-crop pixels, ``negative`` (B,) bool.

    Optimisation (defaults = pysot's ``siamrpn_r50_l234_dwxcorr_8gpu``): ``base_lr``, ``momentum``,
    ``weight_decay``, ``epochs`` (schedule length), ``lr_policy`` / ``lr_start`` / ``lr_end``, warm-up
    ``warmup_epochs`` from ``warmup_start_lr`` to ``warmup_end_lr`` in steps of ``warmup_step`` epochs.
    ``target_seed`` seeds the random anchor subsampling (per rank).
    """

    def __init__(self, model: str | dict | SiamRPNConfig = "siamrpn_r50_l234_dwxcorr", base_lr: float = 0.005,
                 momentum: float = 0.9, weight_decay: float = 1e-4, epochs: int = 20, lr_policy: str = "log",
                 lr_start: float = 0.005, lr_end: float = 0.0005, lr_step: int = 10, lr_step_mult: float = 0.1,
                 warmup_epochs: int = 5, warmup_start_lr: float = 0.001, warmup_end_lr: float = 0.005,
                 warmup_step: int = 1, target_seed: int = 0):
        super().__init__()
        config = get_config(model)
        self.save_hyperparameters(ignore=["model"])
        self.hparams["model"] = config.to_dict()
        self.config: SiamRPNConfig = config
        # validate the schedule now rather than at the first epoch
        self.lr_space = pysot_lr_space(epochs, lr_start, lr_end, lr_policy, warmup_epochs, warmup_start_lr,
                                       warmup_end_lr, warmup_step, lr_step, lr_step_mult)
        self.model = SiamRPN(config)
        self.targets = AnchorTargetBuilder(config)
        self._target_generator: torch.Generator | None = None
        self._val_generator: torch.Generator | None = None
        self.trainable_backbone_layers: tuple[str, ...] = ()
        self.backbone_lr_scale = 0.0
        self.set_trainable_backbone_layers(())

    # ------------------------------------------------------------------------------------------------ freezing
    def backbone_groups(self) -> dict[str, nn.Module]:
        return self.model.backbone.layer_groups()

    def set_trainable_backbone_layers(self, layers: Sequence[str], lr_scale: float | None = None) -> None:
        """Train exactly the named backbone layer groups (others frozen, their BN in eval mode).

        Trained groups get ``requires_grad`` and BN in train mode (when the module is training); the optimizer's
        backbone group runs at ``lr_scale`` (default ``config.backbone_lr_scale``) times the schedule, or 0 when no
        layer trains. Unknown group names raise, listing the backbone's groups.
        """
        groups = self.backbone_groups()
        unknown = [name for name in layers if name not in groups]
        if unknown:
            raise ValueError(f"unknown backbone layer(s) {unknown} for backbone {self.config.backbone!r}; "
                             f"its layer groups are {list(groups)}")
        self.trainable_backbone_layers = tuple(layers)
        for param in self.model.backbone.parameters():
            param.requires_grad_(False)
        for name in layers:
            for param in groups[name].parameters():
                param.requires_grad_(True)
        self._apply_backbone_bn_modes()
        self.backbone_lr_scale = (self.config.backbone_lr_scale if lr_scale is None else lr_scale) if layers else 0.0
        self.set_backbone_lr_scale(self.backbone_lr_scale)

    def _apply_backbone_bn_modes(self) -> None:
        _set_batchnorm_mode(self.model.backbone, False)
        if self.training:
            groups = self.backbone_groups()
            for name in self.trainable_backbone_layers:
                _set_batchnorm_mode(groups[name], True)

    def train(self, mode: bool = True):
        # whoever switches the module to training, frozen backbone BN layers stay in eval mode (pysot build_opt_lr)
        super().train(mode)
        if mode and hasattr(self, "model"):
            self._apply_backbone_bn_modes()
        return self

    def _set_group_lr_scale(self, name: str, scale: float) -> None:
        trainer = self._trainer
        if trainer is None or not trainer.optimizers:
            return
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                if group.get("name") == name:
                    group["lr_scale"] = scale
        for config in trainer.lr_scheduler_configs:
            if isinstance(config.scheduler, EpochLRSpace):
                config.scheduler.refresh()

    # ------------------------------------------------------------------------------------------------ optim
    def configure_optimizers(self):
        hp = self.hparams
        # pysot: group lr = lr_space[epoch] * initial_lr / start_lr with initial_lr = BASE_LR (x LAYERS_LR)
        factor = hp.base_lr / hp.lr_start
        backbone_scale = factor * self.backbone_lr_scale
        groups = [
            {"name": "backbone", "params": list(self.model.backbone.parameters()), "lr_scale": backbone_scale},
            {"name": "neck", "params": list(self.model.neck.parameters()), "lr_scale": factor},
            {"name": "head", "params": list(self.model.head.parameters()), "lr_scale": factor},
        ]
        groups = [g for g in groups if g["params"]]  # AlexNet configs have no neck parameters
        optimizer = torch.optim.SGD(groups, lr=hp.base_lr, momentum=hp.momentum, weight_decay=hp.weight_decay)
        scheduler = EpochLRSpace(optimizer, self.lr_space)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def set_backbone_lr_scale(self, scale: float) -> None:
        """Backbone group at ``scale`` x the head's rate (0: frozen); applied to the current epoch at once."""
        self._set_group_lr_scale("backbone", scale * self.hparams.base_lr / self.hparams.lr_start)

    # ------------------------------------------------------------------------------------------------ steps
    def forward(self, template: torch.Tensor, search: torch.Tensor):
        return self.model(template, search)

    def _generator(self, device: torch.device, seed: int) -> torch.Generator:
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)
        return generator

    def _losses(self, batch: dict, generator: torch.Generator) -> dict:
        cls, loc = self.model(batch["template"], batch["search"])
        labels, loc_target, loc_weight = self.targets(batch["search_box"], batch["negative"], generator)
        return rpn_loss(cls, loc, labels, loc_target, loc_weight, cls_weight=self.config.cls_loss_weight,
                        loc_weight_factor=self.config.loc_loss_weight)

    def on_train_start(self) -> None:
        # a different, reproducible anchor subsampling stream per rank
        seed = self.hparams.target_seed * 1000 + self.global_rank
        self._target_generator = self._generator(self.device, seed)

    def training_step(self, batch: dict, batch_index: int):
        if self._target_generator is None or self._target_generator.device != self.device:
            self.on_train_start()
        losses = self._losses(batch, self._target_generator)
        total = losses["total"]
        value = float(total.detach())
        valid = math.isfinite(value) and value <= MAX_VALID_LOSS
        if self.trainer.world_size > 1:
            valid = self.trainer.strategy.reduce_boolean_decision(valid, all=True)
        batch_size = batch["template"].shape[0]
        # every rank takes the same decision: rank 0's count is the run's
        self.log("train/skipped_step", float(not valid), on_step=False, on_epoch=True, reduce_fx="sum",
                 batch_size=batch_size, rank_zero_only=True)
        if not valid:
            return None
        for key, loss in losses.items():
            self.log(f"train/{key}", loss.detach(), on_step=True, on_epoch=True, prog_bar=key == "total",
                     batch_size=batch_size, sync_dist=True)
        return total

    def on_validation_epoch_start(self) -> None:
        # the same anchor subsampling every validation run, so epochs compare
        self._val_generator = self._generator(self.device, self.hparams.target_seed * 1000 + 999 + self.global_rank)

    def validation_step(self, batch: dict, batch_index: int):
        if self._val_generator is None:
            self.on_validation_epoch_start()
        losses = self._losses(batch, self._val_generator)
        batch_size = batch["template"].shape[0]
        for key, value in losses.items():
            self.log(f"val/{key}", value, on_step=False, on_epoch=True, prog_bar=key == "total",
                     batch_size=batch_size, sync_dist=True)
        return losses["total"]

    # ------------------------------------------------------------------------------------------------ tracking
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["suite"] = {"module": SUITE_MODULE_PATH}

    def build_tracker(self, **overrides):
        """The reference SiamRPN++ tracker on this module's network (on the module's device).

        ``overrides`` change tracker hyper-parameters (``tracking.trackers.siamrpn.TRACKER_KEYS``: penalty_k,
        window_influence, lr, instance_size, context_amount); any other key raises ``ValueError`` naming it.
        """
        from tracking.trackers.siamrpn import SiamRPNTracker, tracker_config

        config = tracker_config(self.config, overrides)
        # mid-training (evaluation callback) track with a copy, so the training network's modes stay untouched
        network = copy.deepcopy(self.model) if self.training else self.model
        return SiamRPNTracker(network, config, device=self.device)
