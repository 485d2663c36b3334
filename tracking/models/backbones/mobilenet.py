"""pysot's MobileNetV2 (``mobile_v2.py``) for SiamRPN++: stages 4-7 dilated instead of strided (total stride 8)."""
from __future__ import annotations

import torch.nn as nn

from tracking.models.backbones.base import Backbone


def _conv_bn_relu6(inp: int, oup: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                   groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(inp, oup, kernel, stride, padding, dilation=dilation, groups=groups, bias=False),
            nn.BatchNorm2d(oup), nn.ReLU6(inplace=True)]


class InvertedResidual(nn.Module):
    """pysot's block: always a 1x1 expansion (also for t = 1), valid padding at stride 2."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, dilation: int = 1):
        super().__init__()
        self.use_residual = stride == 1 and inp == oup
        padding = dilation if dilation > 1 else 2 - stride
        hidden = inp * expand_ratio
        layers = _conv_bn_relu6(inp, hidden, 1)
        layers += _conv_bn_relu6(hidden, hidden, 3, stride, padding, dilation, groups=hidden)
        layers += [nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2Backbone(Backbone):
    """pysot's MobileNetV2 (``mobile_v2.py``): stages 4-7 dilated (2, 2, 4, 4) instead of strided."""

    def imagenet_source(self) -> tuple[str, str | None, str]:
        return "mobilenet_v2.pth", None, "pysot's pretrained_models/mobilenet_v2.pth"

    # expansion t, channels c, blocks n, stride s, dilation d
    SETTINGS = [(1, 16, 1, 1, 1), (6, 24, 2, 2, 1), (6, 32, 3, 2, 1), (6, 64, 4, 1, 2),
                (6, 96, 3, 1, 2), (6, 160, 3, 1, 4), (6, 320, 1, 1, 4)]

    def __init__(self, width_mult: float = 1.0, used_layers=(3, 5, 7)):
        super().__init__()
        self.used_layers = tuple(used_layers)
        channels = int(32 * width_mult)
        self.layer0 = nn.Sequential(*_conv_bn_relu6(3, channels, 3, stride=2, padding=0))
        widths = [channels]
        last_dilation = 1
        for index, (t, c, n, s, d) in enumerate(self.SETTINGS, start=1):
            out = int(c * width_mult)
            blocks = []
            for i in range(n):
                if i == 0:
                    first_dilation = d if d == last_dilation else max(d // 2, 1)
                    blocks.append(InvertedResidual(channels, out, s, t, first_dilation))
                else:
                    blocks.append(InvertedResidual(channels, out, 1, t, d))
                channels = out
            last_dilation = d
            setattr(self, f"layer{index}", nn.Sequential(*blocks))
            widths.append(out)
        self.out_channels = [widths[i] for i in self.used_layers]
        self._last = max(self.used_layers)

    def forward(self, x):
        outputs = []
        for index in range(self._last + 1):
            x = getattr(self, f"layer{index}")(x)
            outputs.append(x)
        return [outputs[i] for i in self.used_layers]

    def layer_groups(self) -> dict[str, nn.Module]:
        return {f"layer{i}": getattr(self, f"layer{i}") for i in range(8)}
