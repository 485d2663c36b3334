"""Atrous ResNet-18/34/50 of SiamRPN++ at total stride 8, in two parameter layouts:

- ``pysot``: the reference (``pysot/models/backbone/resnet_atrous.py``): conv1 padding 0, 3x3 downsample
  convs in layer2 (stride 2, padding 0), layer3 (dilation 1, padding 1) and layer4 (dilation 2, padding 2);
  the stride-2 3x3 conv of layer2 has padding 0; the first block of a dilated stage runs at half its dilation.
- ``torchvision``: torchvision's parameters (1x1 downsample convs) so its ImageNet weights load, with the
  same geometry: conv1 and layer2's stride-2 3x3 conv without padding, and layer2's 1x1 stride-2 downsample
  taken at the centre pixel of that 3x3 window (one border pixel dropped) so both paths stay aligned.
"""
from __future__ import annotations

import torch.nn as nn

from tracking.inference.rewrites import Rewrites
from tracking.models.backbones.base import Backbone, torchvision_source


class BasicBlock(nn.Module):
    inference_rewrites = Rewrites(fold="numbered")  # bn<k> follows conv<k>
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int, first_dilation: int, first_padding: int,
                 dilation: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=first_padding,
                               dilation=first_dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    inference_rewrites = Rewrites(fold="numbered")  # bn<k> follows conv<k>
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, first_dilation: int, first_padding: int,
                 dilation: int, downsample: nn.Module | None):
        super().__init__()
        del dilation  # a bottleneck has one 3x3 conv: it runs at ``first_dilation`` in the first block
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=first_padding, dilation=first_dilation,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class CenterAlignedDownsample(nn.Sequential):
    """torchvision's 1x1 stride-2 downsample (conv, BN) sampled at the centres of the unpadded 3x3 stride-2
    windows of the block's main path: drop one border pixel, then the strided 1x1 conv."""

    inference_rewrites = Rewrites(fold="sequence")  # Sequential's pairs, on a cropped input

    def forward(self, x):
        return super().forward(x[:, :, 1:-1, 1:-1])


_RESNET_STAGES = {"resnet18": (BasicBlock, (2, 2, 2, 2)), "resnet34": (BasicBlock, (3, 4, 6, 3)),
                  "resnet50": (Bottleneck, (3, 4, 6, 3))}


class ResNetBackbone(Backbone):
    """Atrous ResNet: layer3/layer4 at stride 1 with dilation 2/4 (total stride 8)."""

    inference_rewrites = Rewrites(fold="numbered", compile=("forward",))  # the stem's conv1 -> bn1

    def __init__(self, depth: str, used_layers, layout: str = "pysot"):
        super().__init__()
        if layout not in ("pysot", "torchvision"):
            raise ValueError(f"unknown ResNet layout {layout!r}")
        block, counts = _RESNET_STAGES[depth]
        self.depth, self.layout = depth, layout
        self.used_layers = tuple(used_layers)
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self._inplanes = 64
        last = max(max(self.used_layers), 1)  # like the reference, stages past the last used one are absent
        stage_specs = [(64, 1, 1), (128, 2, 1), (256, 1, 2), (512, 1, 4)]  # planes, stride, dilation
        self.stages = []
        for index, (planes, stride, dilation) in enumerate(stage_specs, start=1):
            if index > last:
                break
            setattr(self, f"layer{index}", self._make_stage(block, planes, counts[index - 1], stride, dilation))
            self.stages.append(f"layer{index}")
        widths = [64, 64 * block.expansion, 128 * block.expansion, 256 * block.expansion, 512 * block.expansion]
        self.out_channels = [widths[i] for i in self.used_layers]
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _make_stage(self, block, planes: int, count: int, stride: int, dilation: int) -> nn.Sequential:
        out_planes = planes * block.expansion
        # first block of a dilated stage at half the dilation; an undilated stride-2 3x3 conv without padding
        first_dilation = dilation // 2 if dilation > 1 else 1
        first_padding = first_dilation if dilation > 1 else 2 - stride
        downsample = None
        if stride != 1 or self._inplanes != out_planes:
            if stride == 1 and dilation == 1:
                conv = nn.Conv2d(self._inplanes, out_planes, 1, bias=False)
                downsample = nn.Sequential(conv, nn.BatchNorm2d(out_planes))
            elif self.layout == "pysot":
                conv = nn.Conv2d(self._inplanes, out_planes, 3, stride=stride, padding=first_padding if dilation > 1
                                 else 0, dilation=first_dilation, bias=False)
                downsample = nn.Sequential(conv, nn.BatchNorm2d(out_planes))
            else:
                conv = nn.Conv2d(self._inplanes, out_planes, 1, stride=stride, bias=False)
                if stride == 1:
                    downsample = nn.Sequential(conv, nn.BatchNorm2d(out_planes))
                else:
                    downsample = CenterAlignedDownsample(conv, nn.BatchNorm2d(out_planes))
        blocks = [block(self._inplanes, planes, stride, first_dilation, first_padding, dilation, downsample)]
        self._inplanes = out_planes
        for _ in range(1, count):
            blocks.append(block(self._inplanes, planes, 1, dilation, dilation, dilation, None))
        return nn.Sequential(*blocks)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        outputs = [x]
        x = self.maxpool(x)
        for name in self.stages:
            x = getattr(self, name)(x)
            outputs.append(x)
        return [outputs[i] for i in self.used_layers]

    def layer_groups(self) -> dict[str, nn.Module]:
        groups = {"conv1": nn.ModuleList([self.conv1, self.bn1])}
        groups.update({name: getattr(self, name) for name in self.stages})
        return groups

    def imagenet_source(self) -> tuple[str, str | None, str]:
        if self.layout == "pysot":  # 3x3 downsampling convolutions: torchvision's 1x1 ones do not fit
            return f"{self.depth}.model", None, f"pysot's pretrained_models/{self.depth}.model"
        return torchvision_source(self.depth, "IMAGENET1K_V1")
