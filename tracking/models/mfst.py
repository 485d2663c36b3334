"""MFST (MFST, "Multi-Features Siamese Tracker"): two AlexNets, SE-recalibrated conv3/conv4/conv5 features,
six correlation responses fused hierarchically.

Network (Sec. III-A/B, IV-A; the layout of the released TensorFlow code,
``inference/``):

- Branch S: SiamFC's AlexNet (``siamfc_alexnet``, siamfc-pytorch's ``AlexNetV1``: 2,336,320 parameters, BatchNorm),
  its weights from a suite SiamFC checkpoint. Branch A: the ImageNet AlexNet with conv1 at stride 2
  (``bvlc_alexnet``, or ``torchvision_alexnet_mfst``: ``tracking.models.backbones.mfst``). Both take the same
  127 / 255 crops (RGB 0-255; A converts them when its ``a_image_format`` differs) and give conv3 / conv4 / conv5
  features of 10x10 / 8x8 / 6x6 and 26x26 / 24x24 / 22x22: six 17x17 responses.
- SE blocks (Eq. 1-3; ``tracking.models.ops.SqueezeExcitation``): one per level per branch (six), reduction 4
  (384-96-384, 384-96-384, 256-64-256: 181,504 parameters per branch), Xavier-uniform weights and zero biases
  (B2.7). One block serves the exemplar and the search (the paper: "the corresponding layers ... use the same
  channel weight"; the code shares the variables), but every input computes its own gates from its own average
  pool (B2.2: ``reuse=AUTO_REUSE``, one pool per tensor). The gated features feed only the correlation: the
  backbone goes on from the un-gated ones (B2.3). ``se=False`` builds none (the paper's ablation).
- Responses (Eq. 4; the "adjust" of B3.2, which the paper does not describe): ``out_scale * xcorr + bias`` per
  level, the scales S 0.001 / 0.001 / 0.001 and A 1e-5 / 1e-4 / 1e-3 (conv3 / conv4 / conv5, released code), a
  learned scalar bias per level and branch, initialised to 0 (``tracking.models.siamfc.SiamFCHead``).

Fusion (Eq. 5-7), :func:`fuse`: hard weight ``sum_t w_t r_t``, soft mean ``sum_t r_t / max(r_t)``, soft weight
``sum_t w_t r_t / max(r_t)``; first within each branch over its levels, then across the branches
(``tracking.trackers.mfst``). ``max(r_t)`` is taken over the map of every search scale together (the paper does
not say; the released tracker divides by the global maximum of the three scales, ``inference/tracker.py:231-253``,
so the scales stay comparable). A maximum that is not positive would flip the map (its worst location would
become its best; the released code divides regardless, B4.4): :func:`normalise_by_max` divides such a map by its
largest magnitude instead (values in [-1, 0], the order kept) and leaves an all-zero map as it is.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from tracking.models.backbones import BACKBONES, build_backbone
from tracking.models.ops import SqueezeExcitation
from tracking.models.siamfc import SiamFCHead
from tracking.network_input import IMAGE_FORMATS, IMAGENET_MEAN_RGB, IMAGENET_STD_RGB
from tracking.params import build_params, params_dict

BRANCHES = ("s", "a")
LEVELS = ("conv3", "conv4", "conv5")
FUSIONS = ("hard_weight", "soft_mean", "soft_weight")
INPUT_FORMAT = "rgb255"  # what both branches receive, as SiamFC (siamfc-pytorch) and the released MFST code


@dataclass(frozen=True)
class MFSTNetwork:
    """Everything the weights fix.

    ``branches``: which of "s" (SiamFC) and "a" (AlexNet) the network has (one for the single-branch rows of
    Table II). ``levels``: the scored layers of both branches, in order. ``<b>_backbone`` /
    ``<b>_backbone_options``: a ``tracking.models.backbones.BACKBONES`` name and its options (e.g.
    ``width_mult``); ``<b>_out_scale``: level -> the response's factor. ``a_image_format``: the layout branch A
    takes (``rgb255`` for the BVLC weights as the released code feeds them, ``rgb_normalized`` for torchvision's);
    the crops arrive as ``rgb255``. ``se``: SE blocks (reduction ``se_reduction``); ``learned_bias``: a trained
    scalar per response. Score side = (search - exemplar) // total_stride + 1 (17 for 255).
    """

    branches: tuple[str, ...] = BRANCHES
    levels: tuple[str, ...] = LEVELS
    s_backbone: str = "siamfc_alexnet"
    s_backbone_options: dict = field(default_factory=dict)
    s_out_scale: dict = field(default_factory=lambda: {"conv3": 1e-3, "conv4": 1e-3, "conv5": 1e-3})
    a_backbone: str = "bvlc_alexnet"
    a_backbone_options: dict = field(default_factory=dict)
    a_out_scale: dict = field(default_factory=lambda: {"conv3": 1e-5, "conv4": 1e-4, "conv5": 1e-3})
    a_image_format: str = "rgb255"
    se: bool = True
    se_reduction: int = 4
    learned_bias: bool = True
    exemplar_size: int = 127
    total_stride: int = 8

    def __post_init__(self):
        object.__setattr__(self, "branches", tuple(self.branches))
        object.__setattr__(self, "levels", tuple(self.levels))
        if not self.branches or len(set(self.branches)) != len(self.branches) or \
                any(b not in BRANCHES for b in self.branches):
            raise ValueError(f"branches must be distinct names among {list(BRANCHES)}, got {list(self.branches)}")
        if not self.levels or len(set(self.levels)) != len(self.levels) or any(v not in LEVELS for v in self.levels):
            raise ValueError(f"levels must be distinct names among {list(LEVELS)}, got {list(self.levels)}")
        for branch in BRANCHES:
            backbone = getattr(self, f"{branch}_backbone")
            if backbone not in BACKBONES:
                raise ValueError(f"{branch}_backbone: unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)}")
            options = dict(getattr(self, f"{branch}_backbone_options") or {})
            if "outputs" in options:
                raise ValueError(f"{branch}_backbone_options: the scored outputs are 'levels', not 'outputs'")
            object.__setattr__(self, f"{branch}_backbone_options", options)
            scales = {str(k): float(v) for k, v in dict(getattr(self, f"{branch}_out_scale") or {}).items()}
            missing = [level for level in self.levels if level not in scales]
            if missing:
                raise ValueError(f"{branch}_out_scale has no factor for level(s) {missing}")
            object.__setattr__(self, f"{branch}_out_scale", scales)
        if self.a_image_format not in IMAGE_FORMATS:
            raise ValueError(f"a_image_format must be one of {IMAGE_FORMATS}, got {self.a_image_format!r}")
        if self.se_reduction < 1:
            raise ValueError(f"se_reduction must be positive, got {self.se_reduction}")

    @property
    def image_format(self) -> str:
        """The crops' layout (both branches' input; branch A converts it to ``a_image_format``)."""
        return INPUT_FORMAT

    def out_scales(self, branch: str) -> tuple[float, ...]:
        scales = getattr(self, f"{branch}_out_scale")
        return tuple(scales[level] for level in self.levels)

    def image_format_of(self, branch: str) -> str:
        return self.a_image_format if branch == "a" else INPUT_FORMAT

    def score_size_for(self, search_size: int) -> int:
        """Side of the score maps for a search crop of ``search_size`` pixels (17 for 255)."""
        size = (search_size - self.exemplar_size) // self.total_stride + 1
        if size <= 0:
            raise ValueError(f"search size {search_size} gives no score map with exemplar {self.exemplar_size}")
        return size

    def to_dict(self) -> dict:
        return params_dict(self)


def mfst_network(values) -> MFSTNetwork:
    """An ``MFSTNetwork`` from an instance or a mapping of its fields (unknown keys raise, naming them)."""
    return build_params(MFSTNetwork, values, "network")


def convert_layout(images: torch.Tensor, image_format: str) -> torch.Tensor:
    """RGB 0-255 batches (B, 3, H, W) as ``image_format`` (``tracking.network_input``'s conversions, in torch)."""
    if image_format == "rgb255":
        return images
    if image_format == "bgr255":
        return images.flip(1)
    mean = torch.as_tensor(IMAGENET_MEAN_RGB, dtype=images.dtype, device=images.device)[:, None, None]
    std = torch.as_tensor(IMAGENET_STD_RGB, dtype=images.dtype, device=images.device)[:, None, None]
    return (images / 255.0 - mean) / std


class MFSTBranch(nn.Module):
    """One branch: a backbone's levels, their SE blocks (or none) and the per-level response head."""

    def __init__(self, config: MFSTNetwork, branch: str):
        super().__init__()
        self.image_format = config.image_format_of(branch)
        self.backbone = build_backbone(getattr(config, f"{branch}_backbone"),
                                       **getattr(config, f"{branch}_backbone_options"), outputs=config.levels)
        self.se = nn.ModuleList([SqueezeExcitation(channels, config.se_reduction)
                                 for channels in self.backbone.out_channels]) if config.se else None
        self.head = SiamFCHead(config.out_scales(branch), config.learned_bias)

    def features(self, images: torch.Tensor, use_se: bool = True) -> list[torch.Tensor]:
        """The levels' features for the correlation: SE-gated (each input its own gates) unless ``use_se`` is
        False or the branch has no SE blocks. The backbone itself runs on the un-gated features."""
        features = self.backbone(convert_layout(images, self.image_format))
        if self.se is None or not use_se:
            return features
        return [block(feature) for block, feature in zip(self.se, features)]

    def responses(self, template_features, search: torch.Tensor, use_se: bool = True,
                  per_exemplar: bool = False) -> list[torch.Tensor]:
        return self.head(template_features, self.features(search, use_se), per_exemplar)


class MFST(nn.Module):
    """Both branches: ``forward(template, search) -> {branch: [response per level]}`` ((B, 1, 17, 17) each).

    For tracking, ``template_features`` runs once per sequence; ``responses`` scores a frame's search crops (one
    template may serve several searches: the scales; ``per_exemplar`` correlates one template at a time, see
    ``tracking.models.siamfc.SiamFCHead``). ``branches`` restricts both to some branches (training one
    branch, or a tracker that gives a branch no weight); ``use_se=False`` correlates the un-gated features.
    """

    def __init__(self, config: MFSTNetwork | dict | None = None):
        super().__init__()
        self.config = mfst_network(config)
        self.branches = nn.ModuleDict({name: MFSTBranch(self.config, name) for name in self.config.branches})

    def _names(self, branches) -> list[str]:
        names = list(self.config.branches if branches is None else branches)
        unknown = [name for name in names if name not in self.branches]
        if unknown:
            raise ValueError(f"branch(es) {unknown} not in this network: {list(self.config.branches)}")
        return names

    def template_features(self, template: torch.Tensor, use_se: bool = True,
                          branches: Sequence[str] | None = None) -> dict[str, list[torch.Tensor]]:
        return {name: self.branches[name].features(template, use_se) for name in self._names(branches)}

    def responses(self, template_features: dict, search: torch.Tensor, use_se: bool = True,
                  per_exemplar: bool = False) -> dict[str, list[torch.Tensor]]:
        return {name: self.branches[name].responses(features, search, use_se, per_exemplar)
                for name, features in template_features.items()}

    def forward(self, template: torch.Tensor, search: torch.Tensor, use_se: bool = True,
                branches: Sequence[str] | None = None) -> dict[str, list[torch.Tensor]]:
        return self.responses(self.template_features(template, use_se, branches), search, use_se)


# --------------------------------------------------------------------------------------------- fusion (Eq. 5-7)
def normalise_by_max(response: torch.Tensor) -> torch.Tensor:
    """``response / max(response)`` over the whole tensor (every scale); a non-positive maximum divides by the
    largest magnitude instead (the order kept, values in [-1, 0]); an all-zero map is returned as it is."""
    peak = response.max()
    if peak > 0:
        return response / peak
    magnitude = response.abs().max()
    return response / magnitude if magnitude > 0 else response


def fuse(responses: Sequence[torch.Tensor], strategy: str, weights: Sequence[float] | None = None) -> torch.Tensor:
    """One map from several (Eq. 5-7): "hard_weight" ``sum w_t r_t``, "soft_mean" ``sum r_t / max(r_t)`` (no
    weights, no 1/N: Eq. 6 as printed), "soft_weight" ``sum w_t r_t / max(r_t)``."""
    if strategy not in FUSIONS:
        raise ValueError(f"unknown fusion {strategy!r}; choose one of {FUSIONS}")
    if not responses:
        raise ValueError("fuse needs at least one response")
    if strategy != "soft_mean" and (weights is None or len(weights) != len(responses)):
        raise ValueError(f"{strategy} needs one weight per response ({len(responses)}), got {weights}")
    terms = [normalise_by_max(r) for r in responses] if strategy != "hard_weight" else list(responses)
    if strategy == "soft_mean":
        return torch.stack(terms).sum(0)
    return sum(float(w) * term for w, term in zip(weights, terms))
