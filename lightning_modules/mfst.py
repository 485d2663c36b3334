"""MFST as a LightningModule: SE blocks and response biases trained on frozen backbones.

Training (Sec. IV-A c; where the paper is silent, the released code, reference notes part B6):

- Branch S's backbone comes from a suite SiamFC checkpoint (``siamfc_checkpoint``: ``make train-siamfc`` or
  ``make import-siamfc``), branch A's from the ImageNet AlexNet (``alexnet_weights``: ``bvlc_alexnet.npy``, a
  torchvision file for ``torchvision_alexnet_mfst``, or a suite checkpoint holding that backbone). "For each model,
  the original parameters are fixed": both backbones stay frozen, BatchNorm in eval mode (its statistics do not
  move); only the SE blocks and the response biases of the branches in ``train_branches`` train. Without a
  source a branch starts from random weights, with a warning saying what to pass (smoke runs and tests).
- Loss: per branch and level, the class-balanced logistic loss on the 17x17 map (labels 1 within L1 distance
  16 / 8 = 2 cells of the centre: 13 positives, 276 negatives; 0.5 / 13 and 0.5 / 276 per element, summed per map,
  averaged over the batch: ``tracking.models.losses.balanced_logistic_loss``), summed over levels and branches.
  The released code steps three optimisers, one per level, each with its own block and bias; their parameters
  are disjoint and nothing couples them (no weight decay, no clipping), so one SGD step on the summed loss is the
  same update.
- SGD momentum 0.9, no weight decay; lr 0.01 decayed by 0.86 after each epoch, 50 epochs (the paper; the
  base's "step" policy with step 1). The released code decays three times faster (its three optimisers share
  one step counter, B6.5: 1.15e-5 after epoch 16): the paper's schedule is followed. 53,200 pairs per epoch and
  batch 8 (the code's), exemplar the centre 127 of the 255 search crop, no augmentation, pairs of ImageNet VID
  (the configs).
- The paper trains the two branches separately; ``train_branches`` selects which train in a run (["s"] and
  ["a"]: the paper's two runs, ``mfst/siamfc_se`` and ``mfst/alexnet_se``; ["s", "a"]: both in one run on the
  same pairs, ``mfst/mfst``). As the branches' losses share no parameter, training them together is the same
  optimisation of each branch, on one stream of pairs instead of two.

Tracker ``mfst`` (``tracking.trackers.mfst.MFSTTracker``, ``MFSTParams``): the paper's fusion and scales, the
released code's step.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from lightning_modules.base import OptimizerSchedule, SiameseModule, plain
from tracking.errors import DataError
from tracking.models.losses import balanced_logistic_loss, siamfc_labels
from tracking.models.mfst import MFST, MFSTNetwork, mfst_network
from tracking.trackers.mfst import MFSTParams, MFSTTracker

# Sec. IV-A c: lr 0.01, x0.86 after each epoch, 50 epochs; SGD momentum 0.9 and no weight decay (B6.3-4)
MFST_SCHEDULE = OptimizerSchedule(base_lr=0.01, momentum=0.9, weight_decay=0.0, epochs=50, lr_policy="step",
                                  lr_start=0.01, lr_end=0.01 * 0.86 ** 49, lr_step=1, lr_step_mult=0.86,
                                  warmup_epochs=0)
# where a suite SiamFC checkpoint (SiamFCModule) holds its backbone
SIAMFC_BACKBONE_PREFIX = "model.backbone."
SOURCE_HELP = {"s": "--model.init_args.siamfc_checkpoint=PATH (a suite SiamFC checkpoint: make train-siamfc, or "
                    "make import-siamfc SIAMFC=siamfc_alexnet_e50.pth)",
               "a": "--model.init_args.alexnet_weights=PATH (bvlc_alexnet.npy; a torchvision alexnet file for "
                    "torchvision_alexnet_mfst)"}


def read_state_dict_of(path: Path) -> dict:
    """The state dict of a suite checkpoint (``state_dict``) or of a plain ``torch.save``d dict."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - torch raises many types for a bad file
        raise DataError(path, f"cannot read checkpoint ({type(error).__name__}: {error})") from None
    state = data.get("state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, dict):
        raise DataError(path, "not a checkpoint holding a state dict")
    return state


def matching_state(path: Path, state: dict, prefix: str, module: torch.nn.Module, what: str) -> dict:
    """``module``'s entries under ``prefix`` in ``state``, checked: every entry there (``num_batches_tracked`` may
    be missing) with its shape."""
    own = module.state_dict()
    found = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
    if not found:
        raise DataError(path, f"no {what} weights in it (no key starts with {prefix!r})")
    missing = sorted(k for k in own if k not in found and not k.endswith("num_batches_tracked"))
    wrong = [f"{k}: {tuple(found[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if k in found and found[k].shape != v.shape]
    if missing or wrong:
        raise DataError(path, f"it does not fit the {what} ({type(module).__name__}): missing {missing[:4]}, wrong "
                              f"shapes {wrong[:4]} (another width, layout or network config?)")
    return {k: found[k].to(v.dtype) if k in found else v.clone() for k, v in own.items()}


class MFSTModule(SiameseModule):
    """An ``MFST`` network whose SE blocks and response biases train on frozen backbones.

    Args:
        network: the network (``MFSTNetwork``: branches, levels, backbones, SE, response scales).
        tracker: parameters of the ``mfst`` tracker (``MFSTParams``: the paper's fusion and scales).
        trackers: values of the module's other trackers by name (a subclass's ``trackers`` mapping).
        benchmark_tracker: per-benchmark tracker values, ``{benchmark: {"mfst": {...}}}``.
        train_branches: the branches whose SE blocks and biases train in this run (["s"], ["a"] or both;
            None: all of the network's).
        positive_radius, negative_radius: label radii in search pixels (16, 0: 2 cells at stride 8).
        train_search_size, context_amount: the training search crop (255: 17x17 maps) and context (0.5).
        siamfc_checkpoint: branch S for new runs: a suite SiamFC checkpoint or a siamfc-pytorch file (its
            backbone), or an MFST run's checkpoint holding branch S (all of it: backbone, SE blocks, biases).
        alexnet_weights: branch A for new runs: ``bvlc_alexnet.npy`` (a torchvision file for
            ``torchvision_alexnet_mfst``), or an MFST run's checkpoint holding branch A. A relative path is looked
            up from the working directory, else from the run folder (``--out``; e.g.
            ``../siamfc/checkpoints/last.ckpt`` names a sibling run's checkpoint); likewise ``siamfc_checkpoint``.
        optim: SGD and the learning-rate space (``MFST_SCHEDULE``).
    """

    trackers = {"mfst": MFSTTracker}
    main_tracker = "mfst"

    def __init__(self, network: MFSTNetwork = MFSTNetwork(), tracker: MFSTParams = MFSTParams(),
                 trackers: dict[str, dict] | None = None, benchmark_tracker: dict[str, dict] | None = None,
                 train_branches: tuple[str, ...] | None = None,
                 positive_radius: float = 16.0, negative_radius: float = 0.0, train_search_size: int = 255,
                 context_amount: float = 0.5, siamfc_checkpoint: str = "", alexnet_weights: str = "",
                 optim: OptimizerSchedule = MFST_SCHEDULE, target_seed: int = 0):
        super().__init__(optim, tracker, trackers, benchmark_tracker, target_seed)
        self.network_config = mfst_network(network)
        branches = self.network_config.branches
        self.train_branches = tuple(branches if train_branches is None else train_branches)
        if not self.train_branches or any(b not in branches for b in self.train_branches):
            raise ValueError(f"train_branches {list(self.train_branches)}: name one or more of the network's "
                             f"branches {list(branches)}")
        if not (self.network_config.se or self.network_config.learned_bias):
            raise ValueError("network has neither SE blocks nor learned biases: MFST has nothing to train")
        self.save_hyperparameters(plain({
            "network": self.network_config, "train_branches": list(self.train_branches),
            "positive_radius": positive_radius, "negative_radius": negative_radius,
            "train_search_size": train_search_size, "context_amount": context_amount,
            "siamfc_checkpoint": siamfc_checkpoint, "alexnet_weights": alexnet_weights, "optim": self.optim,
            "target_seed": target_seed}))
        self.model = MFST(self.network_config)
        self.network_config.score_size_for(train_search_size)  # a search crop too small raises now
        self._labels: dict[tuple, torch.Tensor] = {}
        self._pending_sources: dict[str, str] = {}
        self.freeze_backbones()
        for name in self.model.branches:  # the other branches' blocks and biases stay as loaded
            for param in self.branch_parameters(name):
                param.requires_grad_(name in self.train_branches)

    @property
    def config(self) -> MFSTNetwork:
        return self.network_config

    def branch_parameters(self, branch: str) -> list[torch.nn.Parameter]:
        """A branch's trainable parameters: its SE blocks and response biases (never its backbone)."""
        module = self.model.branches[branch]
        return [*(module.se.parameters() if module.se is not None else []), *module.head.parameters()]

    # ------------------------------------------------------------------------------------------------ base API
    def backbones(self):
        return {name: branch.backbone for name, branch in self.model.branches.items()}

    def parameter_groups(self) -> list[dict]:
        branches = [self.model.branches[b] for b in self.train_branches]
        return [{"name": "se", "params": [p for b in branches if b.se is not None for p in b.se.parameters()]},
                {"name": "bias", "params": [p for b in branches for p in b.head.parameters()]}]

    def training_crops(self) -> dict:
        return {"template_size": self.network_config.exemplar_size, "search_size": self.hparams.train_search_size,
                "context_amount": self.hparams.context_amount, "image_format": self.network_config.image_format}

    def labels(self, size: int, device) -> torch.Tensor:
        key = (size, str(device))
        if key not in self._labels:
            self._labels[key] = siamfc_labels(size, self.network_config.total_stride, self.hparams.positive_radius,
                                              self.hparams.negative_radius, device=device)
        return self._labels[key]

    def compute_losses(self, batch: dict, generator: torch.Generator) -> dict:
        responses = self.model(batch["template"], batch["search"], branches=self.train_branches)
        negative = batch.get("negative")
        losses = {}
        for branch, maps in responses.items():
            for level, response in zip(self.network_config.levels, maps):
                labels = self.labels(response.shape[-1], response.device).expand_as(response)
                if negative is not None and bool(negative.any()):  # a negative pair has no target: all 0
                    labels = labels * (~negative.to(response.device)).to(labels.dtype)[:, None, None, None]
                losses[f"{branch}.{level}"] = balanced_logistic_loss(response, labels)
        return {"total": sum(losses.values()), **losses}

    # ------------------------------------------------------------------------------------------------ weights
    def load_pretrained(self) -> None:
        """Backbones for a new run: S from ``siamfc_checkpoint``, A from ``alexnet_weights`` (a relative path not
        found from the working directory is looked up from the run folder once the trainer is attached)."""
        sources = {"s": self.hparams.siamfc_checkpoint, "a": self.hparams.alexnet_weights}
        for branch in self.network_config.branches:
            source = sources[branch]
            if not source:
                print(f"warning: MFST branch {branch.upper()} starts from random weights: pass "
                      f"{SOURCE_HELP[branch]}", file=sys.stderr)
            elif source == "torchvision" or Path(source).expanduser().exists():
                self.load_branch_backbone(branch, str(Path(source).expanduser()) if source != "torchvision"
                                          else source)
            elif Path(source).is_absolute():
                raise DataError(source, f"branch {branch.upper()} weights not found")
            else:
                self._pending_sources[branch] = source

    def setup(self, stage: str) -> None:
        if not self._pending_sources:
            return
        run_folder = Path(self.trainer.default_root_dir)
        for branch, source in sorted(self._pending_sources.items()):
            path = Path(os.path.normpath(run_folder / source))  # lexically: "../x" from a folder not made yet
            if not path.exists():
                raise DataError(source, f"branch {branch.upper()} weights not found from the working directory "
                                        f"({Path.cwd()}) nor from the run folder ({path})")
            self.load_branch_backbone(branch, str(path))
        self._pending_sources = {}

    def load_branch_backbone(self, branch: str, source: str) -> None:
        """Load a branch from ``source``: an MFST checkpoint holding that branch gives all of it (backbone, SE
        blocks, biases: the paper's separately trained branches assembled); a SiamFC module's checkpoint (``.ckpt``)
        gives the backbone; any other file goes to the backbone's own loader (a siamfc-pytorch state dict,
        ``bvlc_alexnet.npy``, a torchvision file, "torchvision")."""
        module = self.model.branches[branch]
        if source.endswith(".ckpt"):
            state = read_state_dict_of(Path(source))
            prefix = f"model.branches.{branch}."
            if not any(key.startswith((prefix, SIAMFC_BACKBONE_PREFIX)) for key in state):
                raise DataError(source, f"holds neither an MFST branch {branch.upper()} ({prefix}*) nor a SiamFC "
                                        f"backbone ({SIAMFC_BACKBONE_PREFIX}*)")
            if any(key.startswith(prefix) for key in state):
                module.load_state_dict(matching_state(Path(source), state, prefix, module, f"MFST branch {branch}"))
                what = "backbone, SE blocks and biases"
            else:
                module.backbone.load_state_dict(matching_state(Path(source), state, SIAMFC_BACKBONE_PREFIX,
                                                               module.backbone, f"branch {branch.upper()} backbone"))
                what = "backbone"
        else:
            module.backbone.load_pretrained(source)
            what = "backbone"
        print(f"MFST branch {branch.upper()}: {what} from {source}", file=sys.stderr)

    def forward(self, template: torch.Tensor, search: torch.Tensor):
        return self.model(template, search)
