"""SiamRPN++ (Li et al., CVPR 2019): backbone -> neck -> multi-level RPN head, as in pysot's ModelBuilder."""
from __future__ import annotations

import torch
import torch.nn as nn

from tracking.models.backbones import build_backbone
from tracking.models.config import SiamRPNNetwork, network_config
from tracking.models.heads import IdentityNeck, MultiLevelRPN, Neck


class SiamRPN(nn.Module):
    """Siamese region-proposal network.

    ``forward(template (B,3,E,E), search (B,3,S,S)) -> cls (B, 2K, s, s), loc (B, 4K, s, s)``; inputs are
    already in ``config.image_format``. ``config``: a ``SiamRPNNetwork`` or a mapping of its fields. For tracking, ``template_features`` runs the template branch once
    (backbone, neck and the head's template convolutions) and ``track_features`` the search branch.
    """

    def __init__(self, config: SiamRPNNetwork | dict | None = None):
        super().__init__()
        self.config = network_config(config)
        cfg = self.config
        options = {"used_layers": cfg.used_layers} if cfg.backbone != "alexnet_legacy" else {}
        if cfg.backbone in ("alexnet_legacy", "mobilenetv2"):
            options["width_mult"] = cfg.backbone_width_mult
        self.backbone = build_backbone(cfg.backbone, **options)
        if cfg.neck_channels is None:
            self.neck = IdentityNeck(self.backbone.out_channels)
        else:
            self.neck = Neck(self.backbone.out_channels, cfg.neck_channels, cfg.neck_center_size)
        self.head = MultiLevelRPN(cfg.head, cfg.anchor_num, self.neck.out_channels, cfg.head_hidden, cfg.weighted)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.neck(self.backbone(images))

    def template_features(self, template: torch.Tensor) -> list:
        """Everything that depends on the template only: per level the head's (cls, loc) kernels."""
        return self.head.template_kernels(self.features(template))

    def track_features(self, template_features: list, search: torch.Tensor):
        """Score and regression maps of ``search`` against precomputed ``template_features``."""
        return self.track_levels(template_features, search)[:2]

    def track_levels(self, template_features: list, search: torch.Tensor):
        """``track_features`` plus the search features of every level (what SNS-CF's filters read)."""
        search_features = self.features(search)
        cls, loc = self.head.correlate(template_features, search_features)
        return cls, loc, search_features

    def forward_levels(self, template: torch.Tensor, search: torch.Tensor):
        """``forward`` plus the features of every level: ``cls, loc, template maps (before the neck's centre crop),
        search maps``, from one backbone pass per image."""
        template_maps = self.neck.project(self.backbone(template))
        kernels = self.head.template_kernels(self.neck.crop(template_maps))
        cls, loc, search_features = self.track_levels(kernels, search)
        return cls, loc, template_maps, search_features

    def forward(self, template: torch.Tensor, search: torch.Tensor):
        return self.track_features(self.template_features(template), search)
