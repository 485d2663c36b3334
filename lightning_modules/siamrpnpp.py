"""SiamRPN++ (Li et al., CVPR 2019) as a LightningModule, with the reference's (pysot's) optimisation.

What pysot's ``tools/train.py`` does and how it maps here (the mechanics live in
:class:`lightning_modules.base.SiameseModule`):

- SGD, momentum 0.9, weight decay 1e-4; parameter groups backbone / neck / head. The head and neck run at the
  schedule's rate; the backbone at the ``BackboneUnfreeze`` callback's scale (0.1) once fine-tuning starts.
- The learning rate is set once per epoch: ``lr_group(epoch) = lr_space[epoch] * base_lr * scale / lr_start``,
  the warm-up "step" schedule followed by the "log" decay (``lightning_modules.base.lr_space``).
- The backbone starts frozen with every BatchNorm in eval mode; from epoch 10 layer2-4 train with BN in train
  mode (conv1 / layer1 never): the ``callbacks.backbone_unfreeze.BackboneUnfreeze`` callback of the config.
- Gradient clipping at 10 is the Trainer's ``gradient_clip_val``; non-finite steps are skipped (base class).
"""
from __future__ import annotations


import torch

from lightning_modules.base import OptimizerSchedule, SiameseModule, load_backbone_weights, plain
from tracking.models.config import AnchorTargetParams, SiamRPNNetwork, network_config
from tracking.models.losses import rpn_loss
from tracking.models.siamrpn import SiamRPN
from tracking.models.targets import AnchorTargetBuilder
from tracking.params import build_params
from tracking.trackers.siamrpn import SiamRPNParams, SiamRPNTracker


class SiamRPNppModule(SiameseModule):
    """SiamRPN++ trained on template/search pairs; tracker ``siamrpn`` (pysot's tracking step).

    Args:
        network: the network (``SiamRPNNetwork``: backbone, neck, heads, anchors, input layout).
        tracker: parameters of the ``siamrpn`` tracker (``SiamRPNParams``); checkpoints carry them.
        trackers: values of the module's other trackers by name (a subclass's ``trackers`` mapping).
        benchmark_tracker: per-benchmark tracker values, ``{benchmark: {"siamrpn": {...}}}`` (e.g. ``otb``).
        targets: anchor-target thresholds and counts (``AnchorTargetParams``).
        cls_loss_weight, loc_loss_weight: pysot ``TRAIN.CLS_WEIGHT`` (1.0) / ``TRAIN.LOC_WEIGHT`` (1.2).
        train_search_size, context_amount: training search crop (255) and context (0.5).
        pretrained_backbone: weights of new runs' backbone: "imagenet" (the paper's start: pysot's
            ``pretrained_models`` file or torchvision's, from torchvision's cache: ``tracking.models.imagenet_weights``),
            "none" (random, on purpose: the demo configs), or a file path (torchvision or pysot layout).
        optim: SGD and the learning-rate space (``OptimizerSchedule``; pysot's r50 8-GPU recipe by default).
        target_seed: seeds the random anchor subsampling (per rank).

    Batches: ``template`` (B,3,E,E), ``search`` (B,3,S,S) in the network's image format, ``search_box`` (B,4)
    target corners in search-crop pixels, ``negative`` (B,) bool.
    """

    trackers = {"siamrpn": SiamRPNTracker}
    main_tracker = "siamrpn"

    def __init__(self, network: SiamRPNNetwork = SiamRPNNetwork(), tracker: SiamRPNParams = SiamRPNParams(),
                 trackers: dict[str, dict] | None = None, benchmark_tracker: dict[str, dict] | None = None,
                 targets: AnchorTargetParams = AnchorTargetParams(), cls_loss_weight: float = 1.0,
                 loc_loss_weight: float = 1.2, train_search_size: int = 255, context_amount: float = 0.5,
                 pretrained_backbone: str = "", optim: OptimizerSchedule = OptimizerSchedule(),
                 target_seed: int = 0):
        # the main tracker's values (a subclass such as SNS-CF offers its own tracker on the same network)
        super().__init__(optim, tracker, trackers, benchmark_tracker, target_seed)
        self.network_config = network_config(network)
        self.targets_config = build_params(AnchorTargetParams, targets, "targets")
        self.save_hyperparameters(plain({
            "network": self.network_config, "targets": self.targets_config,
            "cls_loss_weight": cls_loss_weight, "loc_loss_weight": loc_loss_weight,
            "train_search_size": train_search_size, "context_amount": context_amount,
            "pretrained_backbone": pretrained_backbone, "optim": self.optim, "target_seed": target_seed}))
        self.model = SiamRPN(self.network_config)
        self.targets = AnchorTargetBuilder(self.network_config, train_search_size, self.targets_config)
        self.freeze_backbones()

    @property
    def config(self) -> SiamRPNNetwork:
        return self.network_config

    # ------------------------------------------------------------------------------------------------ base API
    def backbones(self):
        return {"backbone": self.model.backbone}

    def parameter_groups(self) -> list[dict]:
        return [{"name": "neck", "params": list(self.model.neck.parameters())},
                {"name": "head", "params": list(self.model.head.parameters())}]

    def training_crops(self) -> dict:
        return {"template_size": self.network_config.exemplar_size, "search_size": self.hparams.train_search_size,
                "context_amount": self.hparams.context_amount, "image_format": self.network_config.image_format}

    def compute_losses(self, batch: dict, generator: torch.Generator) -> dict:
        cls, loc = self.model(batch["template"], batch["search"])
        return self.rpn_losses(cls, loc, batch, generator)

    def rpn_losses(self, cls: torch.Tensor, loc: torch.Tensor, batch: dict, generator: torch.Generator) -> dict:
        """pysot's loss of the score and regression maps against the batch's anchor targets."""
        labels, loc_target, loc_weight = self.targets(batch["search_box"], batch["negative"], generator)
        return rpn_loss(cls, loc, labels, loc_target, loc_weight, cls_weight=self.hparams.cls_loss_weight,
                        loc_weight_factor=self.hparams.loc_loss_weight)

    def load_pretrained(self) -> None:
        load_backbone_weights(self.model.backbone, self.hparams.pretrained_backbone)

    def forward(self, template: torch.Tensor, search: torch.Tensor):
        return self.model(template, search)
