"""SiamRPN/SiamRPN++ model configuration: one flat dataclass plus the named presets of the paper and pysot.

A config fully describes a network (backbone, neck, head, anchors, input format), the reference tracker's
hyper-parameters and the anchor-target/loss settings of training. Presets reproduce pysot's published
configs (``experiments/<name>/config.yaml``) and the SiamRPN++ paper's Table 1 ablation rows.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tracking.network_input import IMAGE_FORMATS

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet18_pysot", "resnet34_pysot", "resnet50_pysot",
             "alexnet_legacy", "mobilenetv2")
HEADS = ("dw", "up")


@dataclass(frozen=True)
class SiamRPNConfig:
    """Immutable (presets are shared): derive variants with ``replace(**changes)``."""

    name: str = "siamrpn_r50_l234_dwxcorr"

    # --- network -------------------------------------------------------------------------------------
    # "resnet50" etc.: torchvision's parameter layout (ImageNet weights from torchvision load);
    # "resnet50_pysot": the reference's layout (3x3 downsample convs), published checkpoints load.
    backbone: str = "resnet50_pysot"
    backbone_width_mult: float = 1.0  # AlexNet / MobileNetV2 only
    # Backbone outputs fed to the neck: ResNet 0=conv1 .. 4=layer4; MobileNetV2 0..7 = layer0..layer7.
    # AlexNet has a single output (its last layer); leave (5,).
    used_layers: tuple[int, ...] = (2, 3, 4)
    # "" (random init), a file path (torchvision or pysot backbone state dict), or "torchvision" (download).
    pretrained_backbone: str = ""
    neck_channels: int | None = 256  # None: no neck (the reference's AlexNet model)
    neck_center_size: int = 7  # template features narrower than 20 are center-cropped to this
    head: str = "dw"  # "dw": depth-wise XCorr (SiamRPN++); "up": SiamRPN's up-channel XCorr
    head_hidden: int = 256  # hidden channels of the depth-wise head's 3x3 and 1x1 convs
    weighted: bool = True  # softmax-weighted layer fusion (learned) vs. unweighted mean

    # --- anchors -------------------------------------------------------------------------------------
    anchor_stride: int = 8
    anchor_ratios: tuple[float, ...] = (0.33, 0.5, 1.0, 2.0, 3.0)
    anchor_scales: tuple[float, ...] = (8.0,)

    # --- input ---------------------------------------------------------------------------------------
    image_format: str = "bgr255"  # "bgr255": pysot checkpoints; "rgb_normalized": ImageNet mean/std RGB
    exemplar_size: int = 127
    instance_size: int = 255  # search size while tracking
    base_size: int = 8  # score size = (search - exemplar) // stride + 1 + base_size
    context_amount: float = 0.5

    # --- tracker (pysot SiamRPNTracker) --------------------------------------------------------------
    penalty_k: float = 0.05
    window_influence: float = 0.42
    lr: float = 0.38

    # --- training: anchor targets and loss (pysot TRAIN.*) ------------------------------------------
    train_search_size: int = 255
    thr_high: float = 0.6
    thr_low: float = 0.3
    pos_num: int = 16
    neg_num: int = 16  # negatives kept for a negative pair
    total_num: int = 64  # positives + negatives kept for a positive pair
    cls_loss_weight: float = 1.0
    loc_loss_weight: float = 1.2

    # --- training: backbone fine-tuning (pysot BACKBONE.TRAIN_*) -------------------------------------
    backbone_train_layers: tuple[str, ...] = ("layer2", "layer3", "layer4")  # empty: never fine-tuned
    backbone_train_epoch: int = 10
    backbone_lr_scale: float = 0.1

    def __post_init__(self):
        for name in ("used_layers", "anchor_ratios", "anchor_scales", "backbone_train_layers"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, name, tuple(value))
        self.validate()

    # ------------------------------------------------------------------------------------------------
    def validate(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"config {self.name!r}: unknown backbone {self.backbone!r}; choose one of {BACKBONES}")
        if self.head not in HEADS:
            raise ValueError(f"config {self.name!r}: unknown head {self.head!r}; choose one of {HEADS}")
        if self.image_format not in IMAGE_FORMATS:
            raise ValueError(f"config {self.name!r}: unknown image_format {self.image_format!r}; "
                             f"choose one of {IMAGE_FORMATS}")
        if not self.used_layers:
            raise ValueError(f"config {self.name!r}: used_layers is empty")
        if self.backbone == "alexnet_legacy" and len(self.used_layers) != 1:
            raise ValueError(f"config {self.name!r}: AlexNet has a single output layer, got used_layers "
                             f"{self.used_layers}")
        if self.backbone.startswith("resnet") and not all(0 <= i <= 4 for i in self.used_layers):
            raise ValueError(f"config {self.name!r}: ResNet used_layers must be in 0..4, got {self.used_layers}")
        if self.backbone == "mobilenetv2" and not all(0 <= i <= 7 for i in self.used_layers):
            raise ValueError(f"config {self.name!r}: MobileNetV2 used_layers must be in 0..7, got "
                             f"{self.used_layers}")
        if self.score_size_for(self.instance_size) <= 0 or self.score_size_for(self.train_search_size) <= 0:
            raise ValueError(f"config {self.name!r}: search size smaller than the exemplar")

    @property
    def anchor_num(self) -> int:
        return len(self.anchor_ratios) * len(self.anchor_scales)

    def score_size_for(self, search_size: int) -> int:
        """Side of the score map for a search crop of ``search_size`` pixels (pysot's formula)."""
        return (search_size - self.exemplar_size) // self.anchor_stride + 1 + self.base_size

    @property
    def score_size(self) -> int:
        """Score-map side while tracking (search crop ``instance_size``)."""
        return self.score_size_for(self.instance_size)

    @property
    def train_score_size(self) -> int:
        return self.score_size_for(self.train_search_size)

    def to_dict(self) -> dict:
        """Plain-type dict (tuples as lists) that ``config_from_dict`` reads back; YAML/JSON friendly."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def replace(self, **changes) -> "SiamRPNConfig":
        """A copy with some fields changed (unknown field names raise, naming the field)."""
        return config_from_dict({**self.to_dict(), **changes})


def config_from_dict(values: dict, source: str | None = None) -> SiamRPNConfig:
    """Build a config from a dict; ``values`` may name a preset under ``preset`` to start from.

    Unknown keys raise ``ValueError`` naming each key (and ``source``, e.g. the YAML file, when given).
    """
    values = dict(values)
    base = {}
    preset = values.pop("preset", None)
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"{source + ': ' if source else ''}unknown preset {preset!r}; "
                             f"choose one of {sorted(PRESETS)}")
        base = PRESETS[preset].to_dict()
    known = {f.name for f in dataclasses.fields(SiamRPNConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{source + ': ' if source else ''}unknown SiamRPN config key(s) {unknown}; "
                         f"known keys: {sorted(known)}")
    return SiamRPNConfig(**{**base, **values})


def get_config(name_or_config) -> SiamRPNConfig:
    """A preset by name, a dict (see ``config_from_dict``) or a config (returned as is)."""
    if isinstance(name_or_config, SiamRPNConfig):
        return name_or_config
    if isinstance(name_or_config, dict):
        return config_from_dict(name_or_config)
    if name_or_config not in PRESETS:
        raise ValueError(f"unknown SiamRPN preset {name_or_config!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name_or_config]


def _table1(name: str, backbone: str, used_layers, head: str, finetune: bool) -> SiamRPNConfig:
    """A row of the SiamRPN++ paper's Table 1 (VOT2018 ablation). The paper's conv3/conv4/conv5 are the
    ResNet's layer2/layer3/layer4. ResNet rows use torchvision's layout so ImageNet weights load."""
    if backbone == "alexnet":
        return SiamRPNConfig(
            name=name, backbone="alexnet_legacy", used_layers=(5,), neck_channels=None, head=head,
            weighted=False, base_size=0, instance_size=287, penalty_k=0.16, window_influence=0.40, lr=0.30,
            backbone_train_layers=("layer4", "layer5") if finetune else (), backbone_lr_scale=1.0)
    return SiamRPNConfig(
        name=name, backbone="resnet50", used_layers=tuple(used_layers), image_format="rgb_normalized",
        pretrained_backbone="torchvision", head=head, weighted=True,
        backbone_train_layers=("layer2", "layer3", "layer4") if finetune else ())


def _build_presets() -> dict[str, SiamRPNConfig]:
    presets = {
        # pysot experiments/siamrpn_r50_l234_dwxcorr (VOT): the reference's ResNet-50 layout.
        "siamrpn_r50_l234_dwxcorr": SiamRPNConfig(name="siamrpn_r50_l234_dwxcorr"),
        # pysot experiments/siamrpn_r50_l234_dwxcorr_otb: unweighted layer fusion, OTB tracker parameters.
        "siamrpn_r50_l234_dwxcorr_otb": SiamRPNConfig(name="siamrpn_r50_l234_dwxcorr_otb", weighted=False,
                                             penalty_k=0.24, window_influence=0.5, lr=0.25),
        # pysot experiments/siamrpn_alex_dwxcorr: alexnetlegacy, no neck, one depth-wise head, 287 search;
        # fine-tuning of layer4-5 at 1x from pysot's siamrpn_alex_dwxcorr_16gpu training config.
        "siamrpn_alex_dwxcorr": SiamRPNConfig(
            name="siamrpn_alex_dwxcorr", backbone="alexnet_legacy", used_layers=(5,), neck_channels=None,
            weighted=False, base_size=0, instance_size=287, penalty_k=0.16, window_influence=0.40, lr=0.30,
            backbone_train_layers=("layer4", "layer5"), backbone_lr_scale=1.0),
        # pysot experiments/siamrpn_mobilev2_l234_dwxcorr: width 1.4, layers 3/5/7 (44/134/448 channels).
        # (pysot publishes no training recipe for it: fine-tuning everything past layer2 is our choice.)
        "siamrpn_mobilev2_l234_dwxcorr": SiamRPNConfig(
            name="siamrpn_mobilev2_l234_dwxcorr", backbone="mobilenetv2", backbone_width_mult=1.4,
            used_layers=(3, 5, 7), weighted=False, penalty_k=0.04, window_influence=0.4, lr=0.5,
            backbone_train_layers=("layer3", "layer4", "layer5", "layer6", "layer7")),
        # Training from torchvision's ImageNet ResNet-50 (the reference's own pretrained file is not public
        # in torchvision's layout); same network geometry and tracker as siamrpn_r50_l234_dwxcorr.
        "siamrpn_r50_l234_dwxcorr_imagenet": SiamRPNConfig(
            name="siamrpn_r50_l234_dwxcorr_imagenet", backbone="resnet50", image_format="rgb_normalized",
            pretrained_backbone="torchvision"),
        # Small CPU model for `make demo`: the reference's AlexNet at half width with a narrow head, trained
        # from scratch (no fine-tuning schedule: every layer trains from epoch 0) at the reference sizes.
        "siamrpn_demo": SiamRPNConfig(
            name="siamrpn_demo", backbone="alexnet_legacy", backbone_width_mult=0.5, used_layers=(5,),
            neck_channels=None, head_hidden=64, weighted=False, image_format="rgb_normalized",
            base_size=0, instance_size=255, penalty_k=0.16, window_influence=0.40, lr=0.30,
            backbone_train_layers=("layer1", "layer2", "layer3", "layer4", "layer5"), backbone_train_epoch=0,
            backbone_lr_scale=1.0),
    }
    table1 = {
        "siamrpn_table1_alex_up": ("alexnet", (5,), "up", True),
        "siamrpn_table1_alex_dw": ("alexnet", (5,), "dw", True),
        "siamrpn_table1_r50_l4_up": ("resnet50", (3,), "up", False),
        "siamrpn_table1_r50_l4_up_finetune": ("resnet50", (3,), "up", True),
        "siamrpn_table1_r50_l4_dw": ("resnet50", (3,), "dw", False),
        "siamrpn_table1_r50_l4_dw_finetune": ("resnet50", (3,), "dw", True),
        "siamrpn_table1_r50_l3_dw_finetune": ("resnet50", (2,), "dw", True),
        "siamrpn_table1_r50_l5_dw_finetune": ("resnet50", (4,), "dw", True),
        "siamrpn_table1_r50_l34_dw_finetune": ("resnet50", (2, 3), "dw", True),
        "siamrpn_table1_r50_l35_dw_finetune": ("resnet50", (2, 4), "dw", True),
        "siamrpn_table1_r50_l45_dw_finetune": ("resnet50", (3, 4), "dw", True),
        "siamrpn_table1_r50_l345_dw_finetune": ("resnet50", (2, 3, 4), "dw", True),
    }
    for name, (backbone, layers, head, finetune) in table1.items():
        presets[name] = _table1(name, backbone, layers, head, finetune)
    return presets


PRESETS: dict[str, SiamRPNConfig] = _build_presets()
