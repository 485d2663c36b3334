"""SiamFC (siamfc-pytorch) and Hierarchical SiamFC as one LightningModule.

Training follows siamfc-pytorch (``siamfc/siamfc.py``, ``tools/train.py``; the mechanics live in
:class:`lightning_modules.base.SiameseModule`):

- Pairs: a 127 exemplar and a 239 search crop (the model's ``training_crops``, linked to the data module), RGB
  0-255; the configs turn on the pair pipeline's SiamFC options (stretch, integer shift, random interpolation).
- Labels: 1 within L1 distance ``positive_radius / stride`` = 16 / 8 = 2 cells of the map's centre, else 0
  (``_create_labels``, 307-339: 13 positives on the 15x15 map); the labels stay centred whatever small shift the
  crop augmentation gave the target, as in the reference; a negative pair (none in SiamFC's configs) is all 0.
- Loss: the class-balanced logistic loss (``BalancedLoss``), one per level, summed (Hierarchical SiamFC's fine-tuning of
  its three maps; SiamFC has one level).
- SGD momentum 0.9, weight decay 5e-4 on every parameter (BatchNorm and biases too), lr 1e-2 decayed
  exponentially to 1e-5 over 50 epochs (``ExponentialLR``, gamma 0.8709636, stepped per epoch: the base's "exp"
  policy), batch 8 per device: the configs' ``optim`` (``SIAMFC_SCHEDULE`` here).
- The whole AlexNet trains from epoch 0 (the configs' ``BackboneUnfreeze`` at epoch 0), BatchNorm in train mode.

Trackers: ``siamfc`` (siamfc-pytorch's step on the last level), ``conv3`` / ``conv4`` / ``conv5`` (the same step on
one level: Hierarchical SiamFC's single-layer baselines) and ``hierarchical`` (Hierarchical SiamFC's CTL/HTL-weighted
PSR selection over all levels). ``default_tracker`` names the one a checkpoint runs by default (its ``main_tracker``).
"""
from __future__ import annotations


import torch

from lightning_modules.base import OptimizerSchedule, SiameseModule, load_backbone_weights, plain
from tracking.models.losses import balanced_logistic_loss, siamfc_labels
from tracking.models.siamfc import SiamFC, SiamFCNetwork, siamfc_network
from tracking.trackers.hsiamfc import LAYER_TRACKERS, HierarchicalSiamFCTracker
from tracking.trackers.siamfc import SiamFCParams, SiamFCTracker
from tracking.trackers.siamfc_online import OnlineSiamFCTracker

# siamfc-pytorch parse_args / __init__ (siamfc.py:67-77, 99-110): SGD(1e-2, 0.9, 5e-4), ExponentialLR to 1e-5 in 50
SIAMFC_SCHEDULE = OptimizerSchedule(base_lr=1e-2, momentum=0.9, weight_decay=5e-4, epochs=50, lr_policy="exp",
                                    lr_start=1e-2, lr_end=1e-5, warmup_epochs=0)


class SiamFCModule(SiameseModule):
    """A ``SiamFC`` network trained on exemplar/search pairs with SiamFC's labels and balanced loss.

    Args:
        network: the network (``SiamFCNetwork``: backbone, levels, head, input layout).
        tracker: parameters of the ``siamfc`` tracker (``SiamFCParams``: siamfc-pytorch's by default).
        trackers: the other trackers' values by name: ``conv3`` / ``conv4`` / ``conv5`` (the single-layer baselines
            of Hierarchical SiamFC, its upsampling by default), ``hierarchical`` (``HierarchicalParams``), ``online``
            (``OnlineParams``: online training of a per-sequence copy of the network, on SiamFC's step).
        default_tracker: the tracker a checkpoint runs when none is named ("siamfc", "hierarchical", "conv4"...).
        benchmark_tracker: per-benchmark tracker values, ``{benchmark: {tracker name: {...}}}``.
        positive_radius, negative_radius: label radii in search pixels (siamfc-pytorch r_pos 16, r_neg 0).
        train_search_size, context_amount: training search crop (239) and context (0.5).
        pretrained_backbone: weights of new runs' backbone: "none" (the reference's random initialisation),
            "imagenet" (torchvision's ImageNet weights from its cache, for the torchvision backbones of papers 000 and
            001: ``tracking.models.imagenet_weights``), or a file path (ImageNet weights of a torchvision backbone, or
            a siamfc-pytorch checkpoint for the AlexNet).
        optim: SGD and the learning-rate space (``SIAMFC_SCHEDULE`` by default).
    """

    trackers = {"siamfc": SiamFCTracker, "hierarchical": HierarchicalSiamFCTracker, "online": OnlineSiamFCTracker,
                **LAYER_TRACKERS}
    main_tracker = "siamfc"

    def __init__(self, network: SiamFCNetwork = SiamFCNetwork(), tracker: SiamFCParams = SiamFCParams(),
                 trackers: dict[str, dict] | None = None, default_tracker: str = "siamfc",
                 benchmark_tracker: dict[str, dict] | None = None, positive_radius: float = 16.0,
                 negative_radius: float = 0.0, train_search_size: int = 239, context_amount: float = 0.5,
                 pretrained_backbone: str = "", optim: OptimizerSchedule = SIAMFC_SCHEDULE, target_seed: int = 0):
        super().__init__(optim, tracker, trackers, benchmark_tracker, target_seed)
        if default_tracker not in self.trackers:
            raise ValueError(f"default_tracker {default_tracker!r} is not a tracker of {type(self).__name__}; "
                             f"accepted: {sorted(self.trackers)}")
        self.main_tracker = default_tracker
        self.network_config = siamfc_network(network)
        self.save_hyperparameters(plain({
            "network": self.network_config, "default_tracker": default_tracker, "positive_radius": positive_radius,
            "negative_radius": negative_radius, "train_search_size": train_search_size,
            "context_amount": context_amount, "pretrained_backbone": pretrained_backbone, "optim": self.optim,
            "target_seed": target_seed}))
        self.model = SiamFC(self.network_config)
        self.network_config.score_size_for(train_search_size)  # a search crop too small for the exemplar raises now
        self._labels: dict[tuple, torch.Tensor] = {}
        self.freeze_backbones()

    @property
    def config(self) -> SiamFCNetwork:
        return self.network_config

    # ------------------------------------------------------------------------------------------------ base API
    def backbones(self):
        return {"backbone": self.model.backbone}

    def parameter_groups(self) -> list[dict]:
        return [{"name": "head", "params": list(self.model.head.parameters())}]

    def training_crops(self) -> dict:
        return {"template_size": self.network_config.exemplar_size, "search_size": self.hparams.train_search_size,
                "context_amount": self.hparams.context_amount, "image_format": self.network_config.image_format}

    def labels(self, size: int, device) -> torch.Tensor:
        """The (size, size) label map (cached per size and device, as the reference caches it)."""
        key = (size, str(device))
        if key not in self._labels:
            self._labels[key] = siamfc_labels(size, self.network_config.total_stride, self.hparams.positive_radius,
                                              self.hparams.negative_radius, device=device)
        return self._labels[key]

    def compute_losses(self, batch: dict, generator: torch.Generator) -> dict:
        responses = self.model(batch["template"], batch["search"])
        losses = {}
        for name, response in zip(self.network_config.levels, responses):
            labels = self.labels(response.shape[-1], response.device).expand_as(response)
            negative = batch.get("negative")
            if negative is not None and bool(negative.any()):
                labels = labels * (~negative.to(response.device)).to(labels.dtype)[:, None, None, None]
            losses[name] = balanced_logistic_loss(response, labels)
        total = sum(losses.values())
        return {"total": total, **(losses if len(losses) > 1 else {})}

    @classmethod
    def upgraded_hyperparameters(cls, hyperparameters: dict) -> dict:
        """A checkpoint that names its trackers' values by argument (``layer_tracker`` for conv3 / conv4 / conv5,
        ``hierarchical_tracker``, ``online_tracker``) restated as ``trackers``."""
        legacy = {"hierarchical_tracker": ("hierarchical",), "online_tracker": ("online",),
                  "layer_tracker": tuple(LAYER_TRACKERS)}
        if not any(key in hyperparameters for key in legacy):
            return {}
        trackers = dict(hyperparameters.get("trackers") or {})
        for key, names in legacy.items():
            if key in hyperparameters:
                trackers.update({name: hyperparameters[key] for name in names})
        return {"trackers": trackers}

    def load_pretrained(self) -> None:
        load_backbone_weights(self.model.backbone, self.hparams.pretrained_backbone)

    def forward(self, template: torch.Tensor, search: torch.Tensor):
        return self.model(template, search)
