"""The AlexNets: pysot's 'alexnetlegacy' (SiamRPN's, BN after every conv) and siamfc-pytorch's ``AlexNetV1``
(SiamFC's), both unpadded at total stride 8 (127 -> 6x6 features)."""
from __future__ import annotations

import torch.nn as nn

from tracking.models.backbones.base import Backbone, StagedBackbone


# pysot 'alexnetlegacy' keeps its layers in one ``features`` Sequential: our layerN.{0: conv, 1: bn} index there
ALEXNET_LEGACY_FEATURES = {1: (0, 1), 2: (4, 5), 3: (8, 9), 4: (11, 12), 5: (14, 15)}


class AlexNetLegacy(Backbone):
    """The reference's 'alexnetlegacy' (SiamRPN's AlexNet): BN after every conv, no groups, no padding.

    Modules are split into ``layer1``..``layer5`` (pysot's ``alexnet`` naming) so they can be frozen by
    name; pysot's ``features.N`` keys of 'alexnetlegacy' checkpoints are mapped onto them on import.
    """

    def __init__(self, width_mult: float = 1.0):
        super().__init__()
        c = [3] + [int(x * width_mult) for x in (96, 256, 384, 384, 256)]
        self.layer1 = nn.Sequential(nn.Conv2d(c[0], c[1], 11, stride=2), nn.BatchNorm2d(c[1]),
                                    nn.MaxPool2d(3, stride=2), nn.ReLU(inplace=True))
        self.layer2 = nn.Sequential(nn.Conv2d(c[1], c[2], 5), nn.BatchNorm2d(c[2]),
                                    nn.MaxPool2d(3, stride=2), nn.ReLU(inplace=True))
        self.layer3 = nn.Sequential(nn.Conv2d(c[2], c[3], 3), nn.BatchNorm2d(c[3]), nn.ReLU(inplace=True))
        self.layer4 = nn.Sequential(nn.Conv2d(c[3], c[4], 3), nn.BatchNorm2d(c[4]), nn.ReLU(inplace=True))
        self.layer5 = nn.Sequential(nn.Conv2d(c[4], c[5], 3), nn.BatchNorm2d(c[5]))
        self.out_channels = [c[5]]

    def forward(self, x):
        for index in range(1, 6):
            x = getattr(self, f"layer{index}")(x)
        return [x]

    def layer_groups(self) -> dict[str, nn.Module]:
        return {f"layer{i}": getattr(self, f"layer{i}") for i in range(1, 6)}

    def imagenet_source(self) -> tuple[str, str | None, str]:
        return "alexnet-bn.pth", None, "pysot's pretrained_models/alexnet-bn.pth"

    def _rename_pretrained(self, state_dict: dict) -> dict:
        # also accept the 'alexnetlegacy' naming (features.N) besides pysot's 'alexnet' naming (layerN.M)
        legacy = {f"features.{index}.": f"layer{layer}.{part}."
                  for layer, indices in ALEXNET_LEGACY_FEATURES.items() for part, index in enumerate(indices)}
        renamed = {}
        for key, value in state_dict.items():
            prefix = next((p for p in legacy if key.startswith(p)), None)
            renamed[legacy[prefix] + key[len(prefix):] if prefix else key] = value
        return renamed


class SiamFCAlexNet(StagedBackbone):
    """siamfc-pytorch's ``AlexNetV1`` (``backbones.py:9-51``), the SiamFC network: conv1 96-11/2, max-pool 3/2,
    conv2 256-5 in 2 groups, max-pool 3/2, conv3 384-3, conv4 384-3 in 2 groups, conv5 256-3 in 2 groups, no
    padding; BatchNorm (eps 1e-6, momentum 0.05) and ReLU after conv1-4, conv5 bare. 2,336,320 parameters;
    127 -> 6x6 and 255 -> 22x22 features (total stride 8). Inputs are RGB 0-255, not normalised.

    Module names are the reference's (``convN.0`` conv, ``convN.1`` BatchNorm), so its state dicts load as they
    are. ``outputs`` names the layers ``forward`` returns ("conv3", "conv4", "conv5"; SiamFC uses conv5, MFST
    and the hierarchical tracker all three); ``width_mult`` narrows every layer (1.0: the reference).
    Initialisation as ``ops.init_weights``: Xavier-uniform conv weights, zero biases, BN weight 1 and bias 0.
    """

    LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")

    def __init__(self, outputs=("conv5",), width_mult: float = 1.0):
        super().__init__(outputs)
        c = [3] + [int(round(x * width_mult)) for x in (96, 256, 384, 384, 256)]
        if any(channels % 2 for channels in c[1:]):
            raise ValueError(f"width_mult {width_mult} gives odd channel counts {c[1:]}: groups of 2 need even ones")

        def norm(channels):
            return nn.BatchNorm2d(channels, eps=1e-6, momentum=0.05)

        self.conv1 = nn.Sequential(nn.Conv2d(c[0], c[1], 11, 2), norm(c[1]), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(3, 2))
        self.conv2 = nn.Sequential(nn.Conv2d(c[1], c[2], 5, 1, groups=2), norm(c[2]), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(3, 2))
        self.conv3 = nn.Sequential(nn.Conv2d(c[2], c[3], 3, 1), norm(c[3]), nn.ReLU(inplace=True))
        self.conv4 = nn.Sequential(nn.Conv2d(c[3], c[4], 3, 1, groups=2), norm(c[4]), nn.ReLU(inplace=True))
        self.conv5 = nn.Sequential(nn.Conv2d(c[4], c[5], 3, 1, groups=2))
        self.out_channels = [c[self.LAYERS.index(name) + 1] for name in self.outputs]
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight, 1)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
