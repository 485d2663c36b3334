"""SiamFC networks: a backbone's conv3/conv4/conv5 features, each cross-correlated template against search.

One network serves the SiamFC family:

- SiamFC (siamfc-pytorch ``Net``, ``siamfc.py:28-38``): the ``siamfc_alexnet`` backbone's conv5 and the plain
  correlation head ``SiamFC(out_scale=0.001)`` (``heads.py:10-26``): ``score = 0.001 * xcorr(z, x)``, no bias.
  127 / 255 crops give 6x6 / 22x22 features and a 17x17 score map (239 in training: 20x20 and 15x15).
- Hierarchical SiamFC: three levels (conv3, conv4, conv5) of an ImageNet network at total stride 16;
  each level's features are resampled bilinearly to a stride-8 grid, ``size // 8`` cells (127 -> 15x15,
  255 -> 31x31, the paper's sizes), so every level gives a 17x17 map at SiamFC's stride 8.
- MFST: several levels with a learned scalar bias per level (``learned_bias``), as its "adjust" layer.

The network config (``SiamFCNetwork``) holds what the weights fix; trackers' values are apart
(``tracking.trackers.siamfc.SiamFCParams``, ``tracking.trackers.hsiamfc.HierarchicalParams``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from tracking.models.backbones import BACKBONES, build_backbone
from tracking.models.ops import xcorr, xcorr_per_exemplar
from tracking.network_input import IMAGE_FORMATS
from tracking.params import build_params, params_dict


@dataclass(frozen=True)
class SiamFCNetwork:
    """Everything the weights fix: backbone, its levels, the head and the input convention.

    ``backbone``: a ``tracking.models.backbones.BACKBONES`` name ("siamfc_alexnet": siamfc-pytorch's AlexNetV1;
    "torchvision_vgg19" / "torchvision_resnet50" / "torchvision_densenet169": ImageNet networks) built with
    ``backbone_options`` (e.g. ``strides`` / ``remove`` for the torchvision ones, ``width_mult`` for AlexNet) and
    ``outputs=levels``. ``levels``: the backbone outputs scored, in order ("conv3", "conv4", "conv5").
    ``out_scale``: the head's factor, one for all levels or one per level (siamfc-pytorch 0.001).
    ``learned_bias``: a trained scalar added to each level's map (MFST; siamfc-pytorch has none).
    ``feature_grid_stride``: resample each level's features bilinearly to ``input_size // stride`` cells
    (Hierarchical SiamFC: 8, so 127 -> 15 and 255 -> 31); None keeps the backbone's own grid. ``align_corners``: that
    resampling's convention (True: PyTorch 0.3's ``F.upsample``, which Hierarchical SiamFC ran). ``total_stride``: input
    pixels per score-map cell (8 for all of these). Score side = (search - exemplar) // total_stride + 1.
    """

    backbone: str = "siamfc_alexnet"
    backbone_options: dict = field(default_factory=dict)
    levels: tuple[str, ...] = ("conv5",)
    out_scale: float | tuple[float, ...] = 0.001
    learned_bias: bool = False
    feature_grid_stride: int | None = None
    align_corners: bool = True
    image_format: str = "rgb255"
    exemplar_size: int = 127
    total_stride: int = 8

    def __post_init__(self):
        object.__setattr__(self, "levels", tuple(self.levels))
        if isinstance(self.out_scale, (list, tuple)):
            object.__setattr__(self, "out_scale", tuple(float(v) for v in self.out_scale))
        object.__setattr__(self, "backbone_options", dict(self.backbone_options or {}))
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose one of {sorted(BACKBONES)}")
        if not self.levels or len(set(self.levels)) != len(self.levels):
            raise ValueError(f"levels must name distinct backbone outputs, got {list(self.levels)}")
        if "outputs" in self.backbone_options:
            raise ValueError("backbone_options: give the scored outputs as 'levels', not 'outputs'")
        if isinstance(self.out_scale, tuple) and len(self.out_scale) != len(self.levels):
            raise ValueError(f"out_scale has {len(self.out_scale)} values for {len(self.levels)} levels")
        if self.image_format not in IMAGE_FORMATS:
            raise ValueError(f"unknown image_format {self.image_format!r}; choose one of {IMAGE_FORMATS}")
        if self.feature_grid_stride is not None and self.feature_grid_stride <= 0:
            raise ValueError(f"feature_grid_stride must be positive or None, got {self.feature_grid_stride}")

    def out_scales(self) -> tuple[float, ...]:
        if isinstance(self.out_scale, tuple):
            return self.out_scale
        return (float(self.out_scale),) * len(self.levels)

    def score_size_for(self, search_size: int) -> int:
        """Side of the score maps for a search crop of ``search_size`` pixels (17 for 255, 15 for 239)."""
        size = (search_size - self.exemplar_size) // self.total_stride + 1
        if size <= 0:
            raise ValueError(f"search size {search_size} gives no score map with exemplar {self.exemplar_size}")
        return size

    def to_dict(self) -> dict:
        return params_dict(self)

    def replace(self, **changes) -> "SiamFCNetwork":
        """A copy with some fields changed (unknown names raise, naming the field)."""
        return build_params(SiamFCNetwork, changes, "SiamFCNetwork", base=self)


def siamfc_network(values) -> SiamFCNetwork:
    """A ``SiamFCNetwork`` from an instance or a mapping of its fields (unknown keys raise, naming them)."""
    return build_params(SiamFCNetwork, values, "network")


class SiamFCHead(nn.Module):
    """Per level ``out_scale * xcorr(search, template)`` (+ a learned scalar bias, initialised to 0); with
    ``per_exemplar`` the correlation runs one template at a time (``xcorr_per_exemplar``: each sample's map is the
    one its template alone gives, bit for bit, as lockstep tracking needs)."""

    def __init__(self, out_scales, learned_bias: bool = False):
        super().__init__()
        self.out_scales = tuple(float(v) for v in out_scales)  # plain factors, as the reference's (not trained)
        self.bias = nn.Parameter(torch.zeros(len(self.out_scales))) if learned_bias else None

    def forward(self, template_features, search_features, per_exemplar: bool = False) -> list[torch.Tensor]:
        correlate = xcorr_per_exemplar if per_exemplar else xcorr
        maps = []
        for level, (z, x) in enumerate(zip(template_features, search_features)):
            score = correlate(x, z) * self.out_scales[level]
            maps.append(score if self.bias is None else score + self.bias[level])
        return maps


class SiamFC(nn.Module):
    """Siamese fully-convolutional network: ``forward(template, search) -> [score map per level]``.

    Inputs are in ``config.image_format``; each map is (B_search, 1, s, s). For tracking, ``template_features``
    runs once per sequence and ``responses(template_features, search)`` scores a frame's search crops (one
    template may serve several searches, e.g. the scales of a frame; with ``per_exemplar`` one template at a time,
    see ``SiamFCHead``).
    """

    def __init__(self, config: SiamFCNetwork | dict | None = None):
        super().__init__()
        self.config = siamfc_network(config)
        cfg = self.config
        self.backbone = build_backbone(cfg.backbone, **cfg.backbone_options, outputs=cfg.levels)
        self.head = SiamFCHead(cfg.out_scales(), cfg.learned_bias)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        features = self.backbone(images)
        stride = self.config.feature_grid_stride
        if stride is None:
            return features
        side = images.shape[-1] // stride
        return [F.interpolate(f, size=(side, side), mode="bilinear", align_corners=self.config.align_corners)
                for f in features]

    def template_features(self, template: torch.Tensor) -> list[torch.Tensor]:
        return self.features(template)

    def responses(self, template_features: list[torch.Tensor], search: torch.Tensor,
                  per_exemplar: bool = False) -> list[torch.Tensor]:
        return self.head(template_features, self.features(search), per_exemplar)

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> list[torch.Tensor]:
        return self.responses(self.template_features(template), search)
