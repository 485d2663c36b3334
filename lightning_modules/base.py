"""``SiameseModule``: what every paper's LightningModule shares.

A paper's module subclasses it and provides its network and losses; the base owns the rest:

- **Optimisation**: SGD over named parameter groups (:meth:`SiameseModule.parameter_groups`) with a per-epoch
  learning-rate space (:class:`OptimizerSchedule`): pysot's step warm-up followed by "log" / "linear" / "cos" /
  "step" decay (SiamRPN++, SNS-CF), or SiamFC's exponential decay "exp" (SiamFC, MFST).
- **Steps**: :meth:`training_step` / :meth:`validation_step` call the module's :meth:`compute_losses`, log every
  loss and skip steps whose total loss is NaN, infinite or above 1e4 (pysot ``tools/train.py``), on every rank
  when one rank sees one.
- **Freezing** (the protocol ``callbacks.BackboneUnfreeze`` drives): :meth:`backbones` names the module's
  backbones (one for SiamRPN++, two for MFST); their layer groups are addressed as ``"<group>"`` for a single
  backbone, ``"<backbone>.<group>"`` otherwise. :meth:`set_trainable_backbone_layers` trains exactly the named
  groups (``requires_grad``, BatchNorm in train mode), freezes the rest (BN in eval mode, whoever calls
  ``train()``), and sets the optimizer's "backbone" group to ``lr_scale`` x the schedule (0 when none trains).
  All backbone parameters sit in that group from the start: SGD skips a parameter without a gradient.
- **Trackers**: a module offers one or more trackers on its network (class attribute ``trackers``: name ->
  tracker class; ``main_tracker`` the default). Everything else follows from that mapping: each tracker's
  parameters are its class's ``params_class`` (defaults: its ``default_params`` when it has them), configured by
  the module's ``tracker`` (the main tracker's values) and ``trackers`` (name -> values) arguments and
  per-benchmark values (``benchmark_tracker``: benchmark -> tracker -> values, e.g. pysot's OTB values), checked
  at construction and saved in checkpoints; :meth:`build_tracker` resolves
  defaults <- configured <- benchmark <- call arguments and constructs ``tracker_class(network, params,
  device=...)``.
- **Checkpoints**: ``checkpoint["suite"]["module"]`` is ``type(self)``'s dotted path, which
  ``lightning_modules.checkpoints.load_tracker`` imports; hyper-parameters are plain values. Training checkpoints
  also hold every random state (torch, numpy, python, CUDA, and each rank's sampling stream), restored when the
  run resumes, so a resumed run takes the same steps as an uninterrupted one (with the data module's resumable
  loader, which restarts mid-epoch at the next pair).
- **Training data**: :meth:`training_crops` tells the data module its crop sizes, input layout and context
  (``experiments.config_library`` links them, so a config never restates them).
"""
from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn as nn
from torch.optim.lr_scheduler import LRScheduler

from tracking.params import build_params, params_dict

LR_POLICIES = ("log", "linear", "cos", "step", "exp")

# pysot skips a step whose loss is not a "valid number" (tools/train.py, is_valid_number)
MAX_VALID_LOSS = 1e4


def lr_space(epochs: int, start_lr: float, end_lr: float, policy: str = "log", warmup_epochs: int = 0,
             warmup_start_lr: float | None = None, warmup_end_lr: float | None = None, warmup_step: int = 1,
             step: int = 10, step_mult: float = 0.1) -> np.ndarray:
    """Per-epoch learning rates, ``epochs`` values: pysot's ``WarmUPScheduler(step warm-up, main policy)``.

    The warm-up covers ``warmup_epochs`` epochs with pysot's ``StepScheduler(start, end, step)``:
    ``start * mult ** (e // step)`` with ``mult = (end / start) ** (1 / (warmup_epochs // step))`` (so it stops
    one step short of ``end``); the main ``policy`` covers the remaining epochs:
    "log" ``logspace(log10 start, log10 end)``, "linear" ``linspace``, "cos" pysot's ``CosStepScheduler``,
    "step" ``start * step_mult ** (e // step)``, "exp" SiamFC's ``ExponentialLR`` stepped per epoch
    (siamfc-pytorch ``siamfc.py``: ``gamma = (end / start) ** (1 / epochs)``, so epoch e runs at
    ``start * gamma ** e`` and the last epoch one factor above ``end``).
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
    elif policy == "exp":
        gamma = (end_lr / start_lr) ** (1.0 / main)
        spaces.append(start_lr * gamma ** np.arange(main))
    else:
        spaces.append(start_lr * step_mult ** (np.arange(main) // step))
    return np.concatenate(spaces).astype(np.float64)


@dataclass(frozen=True)
class OptimizerSchedule:
    """SGD and its per-epoch learning-rate space (:func:`lr_space`); defaults are pysot's
    ``siamrpn_r50_l234_dwxcorr_8gpu``. Group rates are ``space[epoch] * base_lr / lr_start`` (pysot
    ``lr_scheduler.py``: ``lr_spaces[epoch] * initial_lr / start_lr``) times the group's scale.

    A paper's configs state its whole schedule in their base YAML (SiamFC: "exp" from 1e-2 to 1e-5 over 50
    epochs); a variant's partial ``optim:`` updates the values of the config it starts from."""

    base_lr: float = 0.005
    momentum: float = 0.9
    weight_decay: float = 1e-4
    epochs: int = 20
    lr_policy: str = "log"
    lr_start: float = 0.005
    lr_end: float = 0.0005
    lr_step: int = 10
    lr_step_mult: float = 0.1
    warmup_epochs: int = 5
    warmup_start_lr: float = 0.001
    warmup_end_lr: float = 0.005
    warmup_step: int = 1

    def space(self) -> np.ndarray:
        return lr_space(self.epochs, self.lr_start, self.lr_end, self.lr_policy, self.warmup_epochs,
                        self.warmup_start_lr, self.warmup_end_lr, self.warmup_step, self.lr_step, self.lr_step_mult)


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


NO_PRETRAINED = ("", "none")


def load_backbone_weights(backbone: nn.Module, source: str) -> None:
    """``pretrained_backbone`` of a new run: "none" (or "") keeps the random initialisation on purpose; "imagenet"
    loads the weights the paper starts from (``tracking.models.imagenet_weights``: torchvision's cache, or a
    clear error naming the file when it is missing offline); anything else is a weights file."""
    if str(source).lower() not in NO_PRETRAINED:
        backbone.load_pretrained(str(source))


def set_batchnorm_mode(module: nn.Module, train: bool) -> None:
    for child in module.modules():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            child.train(train)


def tracker_defaults_of(tracker_class: type):
    """A tracker class's default parameters: its ``default_params`` (e.g. the single-layer trackers' upsampling),
    else its ``params_class``'s defaults."""
    return getattr(tracker_class, "default_params", None) or tracker_class.params_class()


def plain(value):
    """Hyper-parameter values as plain YAML types (dataclasses -> dicts, tuples -> lists)."""
    if dataclasses.is_dataclass(value):
        return params_dict(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class SiameseModule(pl.LightningModule):
    """Base of the suite's LightningModules (see the module docstring for the protocol).

    Subclasses set ``trackers`` / ``main_tracker``, call ``super().__init__(optim, tracker, trackers,
    benchmark_tracker, target_seed)`` (their ``tracker`` argument: the main tracker's values; the base saves every
    tracker's values), then ``save_hyperparameters`` with their own plain values (:func:`plain`), and implement
    :meth:`backbones`, :meth:`parameter_groups`, :meth:`compute_losses` and :meth:`training_crops`.
    """

    trackers: ClassVar[dict[str, type]] = {}
    main_tracker: ClassVar[str] = ""

    def __init__(self, optim: OptimizerSchedule | dict | None = None, main_values=None, trackers: dict | None = None,
                 benchmark_tracker: dict | None = None, target_seed: int = 0):
        # ``main_values`` is the subclass's ``tracker`` argument; not named ``tracker`` here, as LightningCLI
        # (jsonargparse) would then read this untyped default in place of the subclass's typed one
        super().__init__()
        if optim is None:
            raise ValueError("optim is None: give the module's schedule (OptimizerSchedule or a mapping of it)")
        self.optim = build_params(OptimizerSchedule, optim, "optim")
        self.lr_space = self.optim.space()  # validates the schedule now rather than at the first epoch
        configured = dict(trackers or {})
        unknown = sorted(set(configured) - set(self.trackers))
        if unknown:
            raise ValueError(f"unknown tracker(s) {unknown} for {type(self).__name__}; its trackers: "
                             f"{sorted(self.trackers)}")
        if main_values is not None:
            configured[self.main_tracker] = main_values
        self.tracker_defaults = {name: build_params(cls.params_class, configured.get(name),
                                                    f"{name} tracker parameters", base=tracker_defaults_of(cls))
                                 for name, cls in self.trackers.items()}
        self.benchmark_tracker = {}
        for benchmark, per_tracker in (benchmark_tracker or {}).items():
            if not isinstance(per_tracker, dict):
                raise ValueError(f"benchmark_tracker.{benchmark} maps tracker names to parameters, got {per_tracker!r}")
            self.benchmark_tracker[str(benchmark).lower()] = {
                name: params_dict(self._resolve(name, values, where=f"benchmark_tracker.{benchmark}.{name}"))
                for name, values in per_tracker.items()}
        self.save_hyperparameters(plain({
            "tracker": self.tracker_defaults[self.main_tracker],
            "trackers": {name: values for name, values in self.tracker_defaults.items() if name != self.main_tracker},
            "benchmark_tracker": self.benchmark_tracker}))
        self.target_seed = int(target_seed)
        self._target_generator: torch.Generator | None = None
        self._val_generator: torch.Generator | None = None
        self._resumed_random_states: dict | None = None
        self.trainable_backbone_layers: tuple[str, ...] = ()
        self.backbone_lr_scale = 0.0

    # ------------------------------------------------------------------------------------------------ subclass API
    def backbones(self) -> dict[str, nn.Module]:
        """Name -> backbone (each with ``layer_groups()``); one entry for most papers."""
        raise NotImplementedError

    def parameter_groups(self) -> list[dict]:
        """Optimizer groups ``{"name": ..., "params": [...]}`` besides the "backbone" group the base adds."""
        raise NotImplementedError

    def compute_losses(self, batch: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The losses of a batch; ``"total"`` is optimised. ``generator`` draws any random sampling."""
        raise NotImplementedError

    def training_crops(self) -> dict:
        """``template_size``, ``search_size``, ``context_amount``, ``image_format`` of the training pairs."""
        raise NotImplementedError

    def tracking_network(self) -> nn.Module:
        """The network trackers run (default ``self.model``)."""
        return self.model

    def load_pretrained(self) -> None:
        """ImageNet initialisation for a new run (``experiments.train`` skips it when resuming)."""

    # ------------------------------------------------------------------------------------------------ trackers
    @classmethod
    def upgraded_hyperparameters(cls, hyperparameters: dict) -> dict:
        """The arguments that restate a checkpoint's ``hyperparameters`` of an older layout in this class's (the
        loader passes them to ``load_from_checkpoint``); nothing by default."""
        return {}

    def _resolve(self, name: str, values, base=None, where: str | None = None):
        cls = self.trackers[name] if name in self.trackers else None
        if cls is None:
            raise ValueError(f"unknown tracker {name!r} for {type(self).__name__}; accepted: {sorted(self.trackers)}")
        return build_params(cls.params_class, values, where or f"{name} tracker parameters",
                            base=base if base is not None else self.tracker_defaults.get(name))

    def tracker_params(self, name: str | None = None, benchmark: str | None = None, **overrides):
        """The parameters tracker ``name`` runs with: defaults <- config <- ``benchmark``'s values <- overrides."""
        name = name or self.main_tracker
        params = self._resolve(name, None)
        if benchmark is not None:
            params = self._resolve(name, self.benchmark_tracker.get(str(benchmark).lower(), {}).get(name), params)
        return self._resolve(name, overrides, params)

    def build_tracker(self, name: str | None = None, benchmark: str | None = None, **overrides):
        """Tracker ``name`` (default ``main_tracker``) on this module's network, on the module's device.

        Unknown tracker names or parameters raise ``ValueError`` listing the accepted ones. Mid-training (the
        evaluation callback) it tracks with a copy of the network, so the training network's modes stay untouched.
        """
        name = name or self.main_tracker
        params = self.tracker_params(name, benchmark, **overrides)
        network = self.tracking_network()
        if self.training:
            network = copy.deepcopy(network)
        return self.trackers[name](network, params, device=self.device)

    # ------------------------------------------------------------------------------------------------ freezing
    def backbone_groups(self) -> dict[str, nn.Module]:
        backbones = self.backbones()
        groups = {}
        for prefix, backbone in backbones.items():
            for group, module in backbone.layer_groups().items():
                groups[group if len(backbones) == 1 else f"{prefix}.{group}"] = module
        return groups

    def backbone_parameters(self) -> list[nn.Parameter]:
        return [p for backbone in self.backbones().values() for p in backbone.parameters()]

    def set_trainable_backbone_layers(self, layers: Sequence[str], lr_scale: float = 1.0) -> None:
        """Train exactly the named backbone layer groups (the others frozen, their BN in eval mode) with the
        optimizer's backbone group at ``lr_scale`` x the schedule (0 when no layer trains). Unknown names raise,
        listing the groups."""
        groups = self.backbone_groups()
        unknown = [name for name in layers if name not in groups]
        if unknown:
            raise ValueError(f"unknown backbone layer group(s) {unknown}; the groups are {list(groups)}")
        self.trainable_backbone_layers = tuple(layers)
        for param in self.backbone_parameters():
            param.requires_grad_(False)
        for name in layers:
            for param in groups[name].parameters():
                param.requires_grad_(True)
        self._apply_backbone_bn_modes()
        self.backbone_lr_scale = float(lr_scale) if layers else 0.0
        self._set_group_lr_scale("backbone", self.backbone_lr_scale * self._schedule_factor())

    def _apply_backbone_bn_modes(self) -> None:
        for backbone in self.backbones().values():
            set_batchnorm_mode(backbone, False)
        if self.training:
            groups = self.backbone_groups()
            for name in self.trainable_backbone_layers:
                set_batchnorm_mode(groups[name], True)

    def train(self, mode: bool = True):
        # whoever switches the module to training, frozen backbone BN layers stay in eval mode (pysot build_opt_lr)
        super().train(mode)
        if mode and getattr(self, "_backbones_ready", False):
            self._apply_backbone_bn_modes()
        return self

    def freeze_backbones(self) -> None:
        """Start state: every backbone frozen (call at the end of the subclass's ``__init__``)."""
        self._backbones_ready = True
        self.set_trainable_backbone_layers(())

    # ------------------------------------------------------------------------------------------------ optim
    def _schedule_factor(self) -> float:
        return self.optim.base_lr / self.optim.lr_start

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

    def configure_optimizers(self):
        factor = self._schedule_factor()
        groups = [{"name": "backbone", "params": self.backbone_parameters(),
                   "lr_scale": factor * self.backbone_lr_scale}]
        groups += [{**group, "lr_scale": factor * group.get("lr_scale", 1.0)} for group in self.parameter_groups()]
        groups = [g for g in groups if g["params"]]  # e.g. AlexNet SiamRPN has no neck parameters
        optimizer = torch.optim.SGD(groups, lr=self.optim.base_lr, momentum=self.optim.momentum,
                                    weight_decay=self.optim.weight_decay)
        scheduler = EpochLRSpace(optimizer, self.lr_space)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    # ------------------------------------------------------------------------------------------------ steps
    def _generator(self, seed: int) -> torch.Generator:
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed)
        return generator

    def on_train_start(self) -> None:
        # a different, reproducible random stream (e.g. anchor subsampling) per rank
        self._target_generator = self._generator(self.target_seed * 1000 + self.global_rank)
        resumed, self._resumed_random_states = getattr(self, "_resumed_random_states", None), None
        if resumed is not None:  # a resumed run continues every random stream where the checkpoint left it
            from lightning_fabric.utilities.seed import _set_rng_states

            states = dict(resumed["global"])
            if "numpy" in states:  # stored as plain values (weights-only checkpoint loading refuses numpy arrays)
                name, keys, position, has_gauss, gauss = states["numpy"]
                states["numpy"] = (name, np.asarray(keys, dtype=np.uint32), position, has_gauss, gauss)
            _set_rng_states(states)
            states = resumed["target"]
            self._target_generator.set_state(states[min(self.global_rank, len(states) - 1)].to("cpu"))

    def training_step(self, batch: dict, batch_index: int):
        if self._target_generator is None or self._target_generator.device != self.device:
            self.on_train_start()
        losses = self.compute_losses(batch, self._target_generator)
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
        # the same random sampling every validation run, so epochs compare
        self._val_generator = self._generator(self.target_seed * 1000 + 999 + self.global_rank)

    def validation_step(self, batch: dict, batch_index: int):
        if self._val_generator is None:
            self.on_validation_epoch_start()
        losses = self.compute_losses(batch, self._val_generator)
        batch_size = batch["template"].shape[0]
        for key, value in losses.items():
            self.log(f"val/{key}", value, on_step=False, on_epoch=True, prog_bar=key == "total",
                     batch_size=batch_size, sync_dist=True)
        return losses["total"]

    # ------------------------------------------------------------------------------------------------ checkpoints
    @classmethod
    def module_path(cls) -> str:
        return f"{cls.__module__}.{cls.__qualname__}"

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["suite"] = {"module": self.module_path()}
        if self._target_generator is not None and self._trainer is not None:
            from lightning_fabric.utilities.seed import _collect_rng_states

            state = self._target_generator.get_state()
            # every rank's stream (each rank subsamples differently); torch, numpy, python and CUDA RNGs
            per_rank = self.all_gather(state.to(self.device)) if self.trainer.world_size > 1 else state[None]
            states = _collect_rng_states()
            if "numpy" in states:
                name, keys, position, has_gauss, gauss = states["numpy"]
                states["numpy"] = (name, keys.tolist(), int(position), int(has_gauss), float(gauss))
            checkpoint["suite"]["random_states"] = {"global": states, "target": per_rank.cpu()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._resumed_random_states = (checkpoint.get("suite") or {}).get("random_states")
