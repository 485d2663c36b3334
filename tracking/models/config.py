"""What a SiamRPN/SiamRPN++ network is (``SiamRPNNetwork``) and how its anchors are trained
(``AnchorTargetParams``): two small typed configs, apart from the tracker's parameters
(``tracking.trackers.siamrpn.SiamRPNParams``) and the training schedule (the LightningModule and the
``BackboneUnfreeze`` callback). The values of each paper variant live in its YAML file under
``experiments/configs/siamrpnpp/``; the defaults here are pysot's ``siamrpn_r50_l234_dwxcorr`` network.
"""
from __future__ import annotations

from dataclasses import dataclass

from tracking.models.backbones import BACKBONES
from tracking.network_input import IMAGE_FORMATS
from tracking.params import build_params, params_dict

HEADS = ("dw", "up")


@dataclass(frozen=True)
class SiamRPNNetwork:
    """Everything the weights fix: backbone, neck, head, anchors and the input convention.

    ``backbone``: a name of ``tracking.models.backbones.BACKBONES`` ("resnet50_pysot": the reference's layout,
    published checkpoints load; "resnet50": torchvision's parameter layout, ImageNet weights from torchvision
    load). ``used_layers``: backbone outputs fed to the neck (ResNet 0=conv1 .. 4=layer4; MobileNetV2 0..7;
    AlexNet has one output, leave (5,)). ``neck_channels`` None: no neck (the reference's AlexNet model).
    ``head``: "dw" depth-wise XCorr (SiamRPN++) or "up" SiamRPN's up-channel XCorr. ``weighted``: learned softmax
    layer fusion (Eq. 3) instead of the plain mean. Score side = (search - exemplar) // stride + 1 + base_size.
    """

    backbone: str = "resnet50_pysot"
    backbone_width_mult: float = 1.0  # AlexNet / MobileNetV2 only
    used_layers: tuple[int, ...] = (2, 3, 4)
    neck_channels: int | None = 256
    neck_center_size: int = 7  # template features narrower than 20 are center-cropped to this
    head: str = "dw"
    head_hidden: int = 256  # hidden channels of the depth-wise head's 3x3 and 1x1 convs
    weighted: bool = True
    anchor_stride: int = 8
    anchor_ratios: tuple[float, ...] = (0.33, 0.5, 1.0, 2.0, 3.0)
    anchor_scales: tuple[float, ...] = (8.0,)
    image_format: str = "bgr255"  # "bgr255": pysot checkpoints; "rgb_normalized": ImageNet mean/std RGB
    exemplar_size: int = 127
    base_size: int = 8

    def __post_init__(self):
        for name in ("used_layers", "anchor_ratios", "anchor_scales"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose one of {sorted(BACKBONES)}")
        if self.head not in HEADS:
            raise ValueError(f"unknown head {self.head!r}; choose one of {HEADS}")
        if self.image_format not in IMAGE_FORMATS:
            raise ValueError(f"unknown image_format {self.image_format!r}; choose one of {IMAGE_FORMATS}")
        if not self.used_layers:
            raise ValueError("used_layers is empty")
        if self.backbone == "alexnet_legacy" and len(self.used_layers) != 1:
            raise ValueError(f"AlexNet has a single output layer, got used_layers {self.used_layers}")
        if self.backbone.startswith("resnet") and not all(0 <= i <= 4 for i in self.used_layers):
            raise ValueError(f"ResNet used_layers must be in 0..4, got {self.used_layers}")
        if self.backbone == "mobilenetv2" and not all(0 <= i <= 7 for i in self.used_layers):
            raise ValueError(f"MobileNetV2 used_layers must be in 0..7, got {self.used_layers}")

    @property
    def anchor_num(self) -> int:
        return len(self.anchor_ratios) * len(self.anchor_scales)

    def score_size_for(self, search_size: int) -> int:
        """Side of the score map for a search crop of ``search_size`` pixels (pysot's formula)."""
        size = (search_size - self.exemplar_size) // self.anchor_stride + 1 + self.base_size
        if size <= 0:
            raise ValueError(f"search size {search_size} gives no score map with exemplar {self.exemplar_size}")
        return size

    def to_dict(self) -> dict:
        return params_dict(self)

    def replace(self, **changes) -> "SiamRPNNetwork":
        """A copy with some fields changed (unknown names raise, naming the field)."""
        return build_params(SiamRPNNetwork, changes, "SiamRPNNetwork", base=self)


@dataclass(frozen=True)
class AnchorTargetParams:
    """pysot ``TRAIN.*`` anchor targets: IoU thresholds and how many anchors each pair keeps."""

    thr_high: float = 0.6
    thr_low: float = 0.3
    pos_num: int = 16
    neg_num: int = 16  # negatives kept for a negative pair
    total_num: int = 64  # positives + negatives kept for a positive pair


def network_config(values) -> SiamRPNNetwork:
    """A ``SiamRPNNetwork`` from an instance or a mapping of its fields (unknown keys raise, naming them)."""
    return build_params(SiamRPNNetwork, values, "network")
