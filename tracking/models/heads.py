"""Neck (adjust layers) and RPN heads of SiamRPN++: depth-wise XCorr, SiamRPN's up-channel XCorr, and the
layer-wise aggregation (learned softmax weights or plain mean), following pysot's ``neck.py`` and ``rpn.py``.

Classification maps have 2K channels ordered (background k=0..K-1, foreground k=0..K-1) and regression maps
4K channels ordered (dx, dy, dw, dh) x K, the layout pysot's tracker and loss read.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from tracking.inference.rewrites import Rewrites
from tracking.models.ops import xcorr_depthwise, xcorr_up_channel


def _conv_bn(in_channels: int, out_channels: int, kernel: int, relu: bool) -> nn.Sequential:
    layers = [("conv", nn.Conv2d(in_channels, out_channels, kernel, bias=False)), ("bn", nn.BatchNorm2d(out_channels))]
    if relu:
        layers.append(("relu", nn.ReLU(inplace=True)))
    return nn.Sequential(OrderedDict(layers))


class Neck(nn.Module):
    """Per level a 1x1 conv (no bias) + BN to ``out_channels``; narrow (template) maps are center-cropped."""

    def __init__(self, in_channels: list[int], out_channels: int, center_size: int = 7):
        super().__init__()
        self.adjust = nn.ModuleList(_conv_bn(c, out_channels, 1, relu=False) for c in in_channels)
        self.center_size = center_size
        self.out_channels = [out_channels] * len(in_channels)

    def project(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """The 1x1 conv + BN of each level, without the centre crop (SNS-CF's filters read whole template maps)."""
        return [layer(feature) for layer, feature in zip(self.adjust, features)]

    def crop(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for x in features:
            if x.shape[3] < 20:  # the reference's test for "template-sized" maps
                left = (x.shape[3] - self.center_size) // 2
                x = x[:, :, left:left + self.center_size, left:left + self.center_size]
            out.append(x)
        return out

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.crop(self.project(features))


class IdentityNeck(nn.Module):
    """No adjust layer (the reference's AlexNet model)."""

    def __init__(self, in_channels: list[int]):
        super().__init__()
        self.out_channels = list(in_channels)

    def project(self, features):
        return list(features)

    def crop(self, features):
        return list(features)

    def forward(self, features):
        return list(features)


class DepthwiseXCorr(nn.Module):
    """3x3 conv + BN + ReLU on template and on search, depth-wise correlation, 1x1 conv + BN + ReLU, 1x1 conv."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int):
        super().__init__()
        self.template_conv = _conv_bn(in_channels, hidden, 3, relu=True)
        self.search_conv = _conv_bn(in_channels, hidden, 3, relu=True)
        self.fusion = _conv_bn(hidden, hidden, 1, relu=True)
        self.predict = nn.Conv2d(hidden, out_channels, 1)

    def template_kernel(self, template_feature):
        return self.template_conv(template_feature)

    def correlate(self, kernel, search_feature):
        return self.predict(self.fusion(xcorr_depthwise(self.search_conv(search_feature), kernel)))

    def forward(self, template_feature, search_feature):
        return self.correlate(self.template_kernel(template_feature), search_feature)


class DepthwiseRPN(nn.Module):
    def __init__(self, anchor_num: int, in_channels: int, hidden: int):
        super().__init__()
        self.cls = DepthwiseXCorr(in_channels, hidden, 2 * anchor_num)
        self.loc = DepthwiseXCorr(in_channels, hidden, 4 * anchor_num)

    def template_kernels(self, template_feature):
        return self.cls.template_kernel(template_feature), self.loc.template_kernel(template_feature)

    def correlate(self, kernels, search_feature):
        return self.cls.correlate(kernels[0], search_feature), self.loc.correlate(kernels[1], search_feature)


class UpChannelRPN(nn.Module):
    """SiamRPN's head: the template is lifted to 2K (4K) x C-channel correlation filters (pysot UPChannelRPN)."""

    def __init__(self, anchor_num: int, in_channels: int):
        super().__init__()
        cls_out, loc_out = 2 * anchor_num, 4 * anchor_num
        self.template_cls_conv = nn.Conv2d(in_channels, in_channels * cls_out, 3)
        self.template_loc_conv = nn.Conv2d(in_channels, in_channels * loc_out, 3)
        self.search_cls_conv = nn.Conv2d(in_channels, in_channels, 3)
        self.search_loc_conv = nn.Conv2d(in_channels, in_channels, 3)
        self.loc_adjust = nn.Conv2d(loc_out, loc_out, 1)

    def template_kernels(self, template_feature):
        return self.template_cls_conv(template_feature), self.template_loc_conv(template_feature)

    def correlate(self, kernels, search_feature):
        cls = xcorr_up_channel(self.search_cls_conv(search_feature), kernels[0])
        loc = self.loc_adjust(xcorr_up_channel(self.search_loc_conv(search_feature), kernels[1]))
        return cls, loc


class MultiLevelRPN(nn.Module):
    """One RPN per feature level, fused by learned softmax weights (separately for cls and loc) or a mean.

    The template branch is split out (``template_kernels``) so a tracker computes it once per sequence.
    """

    # the search path a tracker's ``compile`` compiles (tracking.inference.rewrites)
    inference_rewrites = Rewrites(compile=("correlate",))

    def __init__(self, kind: str, anchor_num: int, in_channels: list[int], hidden: int, weighted: bool):
        super().__init__()
        if kind == "dw":
            self.levels = nn.ModuleList(DepthwiseRPN(anchor_num, c, hidden) for c in in_channels)
        elif kind == "up":
            self.levels = nn.ModuleList(UpChannelRPN(anchor_num, c) for c in in_channels)
        else:
            raise ValueError(f"unknown head {kind!r}")
        self.weighted = weighted and len(in_channels) > 1
        if self.weighted:
            self.cls_weight = nn.Parameter(torch.ones(len(in_channels)))
            self.loc_weight = nn.Parameter(torch.ones(len(in_channels)))

    def template_kernels(self, template_features: list[torch.Tensor]) -> list:
        return [level.template_kernels(z) for level, z in zip(self.levels, template_features)]

    def correlate(self, kernels: list, search_features: list[torch.Tensor]):
        outputs = [level.correlate(k, x) for level, k, x in zip(self.levels, kernels, search_features)]
        cls = [c for c, _ in outputs]
        loc = [l for _, l in outputs]
        if len(outputs) == 1:
            return cls[0], loc[0]
        if self.weighted:
            cls_w = F.softmax(self.cls_weight, 0)
            loc_w = F.softmax(self.loc_weight, 0)
            return (sum(c * w for c, w in zip(cls, cls_w)), sum(l * w for l, w in zip(loc, loc_w)))
        return sum(cls) / len(cls), sum(loc) / len(loc)

    def forward(self, template_features, search_features):
        return self.correlate(self.template_kernels(template_features), search_features)
