"""Backbones of SiamRPN++: atrous ResNet-18/34/50 (two parameter layouts), AlexNet (legacy, BN) and MobileNetV2;
SiamFC's AlexNet (siamfc-pytorch ``AlexNetV1``); torchvision's ImageNet networks with named conv3/4/5 taps.

Every backbone keeps total stride 8 and valid-padding geometry, so a 127 exemplar gives 15x15 (ResNet /
MobileNetV2) or 6x6 (AlexNet) features and the score maps come out at pysot's sizes. ``forward`` returns the
list of the ``used_layers`` outputs; ``layer_groups()`` names the trainable groups for freezing by name.

ResNet layouts:

- ``pysot``: the reference (``pysot/models/backbone/resnet_atrous.py``): conv1 padding 0, 3x3 downsample
  convs in layer2 (stride 2, padding 0), layer3 (dilation 1, padding 1) and layer4 (dilation 2, padding 2);
  the stride-2 3x3 conv of layer2 has padding 0; the first block of a dilated stage runs at half its dilation.
- ``torchvision``: torchvision's parameters (1x1 downsample convs) so its ImageNet weights load, with the
  same geometry: conv1 and layer2's stride-2 3x3 conv without padding, and layer2's 1x1 stride-2 downsample
  taken at the centre pixel of that 3x3 window (one border pixel dropped) so both paths stay aligned.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn as nn

from tracking.errors import DataError


def _strip_prefixes(state_dict: dict) -> dict:
    for prefix in ("module.", "backbone."):
        if state_dict and all(k.startswith(prefix) for k in state_dict):
            state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
    return state_dict


def read_state_dict(path) -> dict:
    """A state dict from a ``torch.save`` file (optionally under ``state_dict`` / ``model``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "weights file not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt or not a torch file
        raise DataError(path, f"cannot read weights ({type(error).__name__}: {error})") from error
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise DataError(path, "not a state dict of tensors")
    return data


IMAGENET = "imagenet"  # pretrained_backbone value: the paper's ImageNet weights (tracking.models.imagenet_weights)


def _torchvision_source(arch: str, weights: str) -> tuple[str, str, str]:
    from torchvision.models import get_model_weights

    url = getattr(get_model_weights(arch), weights).url
    return url.rsplit("/", 1)[-1], url, f"torchvision's {arch} {weights}"


class Backbone(nn.Module):
    """Common interface: ``forward(x) -> list[Tensor]``, ``out_channels``, ``layer_groups()``."""

    out_channels: list[int]
    compiled_methods = ("forward",)  # what a tracker's ``compile`` compiles (tracking.models.inference)

    def layer_groups(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def load_pretrained(self, source: str) -> None:
        """Load ImageNet weights: ``source`` is a file path, or "imagenet" (the weights the paper used, from
        torchvision's cache: ``tracking.models.imagenet_weights``; "torchvision" is the same)."""
        if source in (IMAGENET, "torchvision"):
            from tracking.models.imagenet_weights import imagenet_state_dict

            state_dict = imagenet_state_dict(self)
            where = IMAGENET
        else:
            state_dict = read_state_dict(source)
            where = source
        state_dict = self._rename_pretrained(_strip_prefixes(dict(state_dict)))
        own = self.state_dict()
        # classifier and unused deeper stages of the source are not part of this backbone
        usable = {k: v for k, v in state_dict.items() if k in own}
        missing = sorted(k for k in own if k not in usable and not k.endswith("num_batches_tracked"))
        if missing:
            raise DataError(where, f"pretrained weights lack {len(missing)} backbone entries, e.g. {missing[:5]} "
                                   f"(wrong layout for backbone {type(self).__name__}?)")
        wrong = [f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in usable.items()
                 if v.shape != own[k].shape]
        if wrong:
            raise DataError(where, f"pretrained weights have wrong shapes: {wrong[:5]}")
        self.load_state_dict(usable, strict=False)

    def imagenet_source(self) -> tuple[str, str | None, str]:
        """(file name in torchvision's cache, download URL or None, where the file comes from) of this backbone's
        ImageNet weights."""
        raise DataError(IMAGENET, f"the {type(self).__name__} backbone has no ImageNet weights (its paper trains it "
                                  "from random weights): use pretrained_backbone=none")

    def _rename_pretrained(self, state_dict: dict) -> dict:
        return state_dict


# --------------------------------------------------------------------------------------------- ResNet
class BasicBlock(nn.Module):
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

    def forward(self, x):
        return super().forward(x[:, :, 1:-1, 1:-1])


_RESNET_STAGES = {"resnet18": (BasicBlock, (2, 2, 2, 2)), "resnet34": (BasicBlock, (3, 4, 6, 3)),
                  "resnet50": (Bottleneck, (3, 4, 6, 3))}


class ResNetBackbone(Backbone):
    """Atrous ResNet: layer3/layer4 at stride 1 with dilation 2/4 (total stride 8)."""

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
        return _torchvision_source(self.depth, "IMAGENET1K_V1")


# --------------------------------------------------------------------------------------------- AlexNet
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


# --------------------------------------------------------------------------------------------- SiamFC AlexNet
class SiamFCAlexNet(Backbone):
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
        super().__init__()
        self.outputs = tuple(outputs)
        unknown = [name for name in self.outputs if name not in self.LAYERS]
        if unknown or not self.outputs:
            raise ValueError(f"outputs {list(self.outputs)}: choose among {list(self.LAYERS)}")
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
        self._last = max(self.LAYERS.index(name) for name in self.outputs)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight, 1)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        features = {}
        for name in self.LAYERS[:self._last + 1]:
            x = getattr(self, name)(x)
            features[name] = x
        return [features[name] for name in self.outputs]

    def layer_groups(self) -> dict[str, nn.Module]:
        return {name: getattr(self, name) for name in self.LAYERS}


# --------------------------------------------------------------------------------------------- MobileNetV2
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


# --------------------------------------------------------------------------------------------- torchvision
# Default taps of the ImageNet networks: the outputs of the blocks the SiamFC-family papers call conv3/4/5.
TORCHVISION_TAPS = {
    "alexnet": {"conv3": "features.7", "conv4": "features.9", "conv5": "features.11"},
    "vgg19": {"conv3": "features.17", "conv4": "features.26", "conv5": "features.35"},
    "resnet34": {"conv3": "layer2", "conv4": "layer3", "conv5": "layer4"},
    "resnet50": {"conv3": "layer2", "conv4": "layer3", "conv5": "layer4"},
    "densenet169": {"conv3": "features.denseblock2", "conv4": "features.denseblock3",
                    "conv5": "features.denseblock4"},
    "inception_v3": {"conv3": "Mixed_5d", "conv4": "Mixed_6e", "conv5": "Mixed_7c"},
}


def _set_stride(module: nn.Module, stride: int, where: str) -> None:
    if not hasattr(module, "stride"):
        raise ValueError(f"{where}: {type(module).__name__} has no stride to change")
    module.stride = (stride, stride) if isinstance(module, nn.Conv2d) else stride


_OLD_DENSENET_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|"
                               r"running_var))$")


def _modern_densenet_keys(state_dict: dict) -> dict:
    """The ImageNet DenseNet files torchvision downloads name ``denselayerN.norm.1.weight`` what its modules call
    ``denselayerN.norm1.weight`` (torchvision ``densenet.py`` renames them with this pattern when it loads them)."""
    renamed = {}
    for key, value in state_dict.items():
        match = _OLD_DENSENET_KEY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    return renamed


class TorchvisionFeatures(Backbone):
    """Named multi-layer features of a torchvision ImageNet network (``torchvision.models.feature_extraction``).

    ``arch``: a torchvision constructor (alexnet, vgg19, resnet34, resnet50, densenet169, inception_v3).
    ``taps``: output name -> torchvision node (default ``TORCHVISION_TAPS[arch]``: conv3/conv4/conv5);
    ``outputs``: which taps ``forward`` returns, in order (default all). The papers' changes for a finer
    feature map are applied after construction, by module path: ``strides`` ({"layer3.0.conv2": 1, ...}) sets a
    conv or pooling stride, ``remove`` (["features.27", ...]) replaces modules by identities (a pooling layer or
    a whole stage). ``weights`` "" keeps random initialisation; a file path or "torchvision" (download) loads
    ImageNet weights now (``load_pretrained`` does it later, for new runs only). Inputs are normalised RGB as
    torchvision expects (``rgb_normalized``) unless the paper says otherwise.

    ``layer_groups()``: one group per tap, holding the modules between the previous tap and this one, so a
    fine-tuning schedule can name "conv4" and "conv5".
    """

    def __init__(self, arch: str, taps: dict[str, str] | None = None, outputs=None, strides: dict | None = None,
                 remove=(), weights: str = ""):
        super().__init__()
        import torchvision
        from torchvision.models.feature_extraction import create_feature_extractor

        if arch not in TORCHVISION_TAPS:
            raise ValueError(f"unknown torchvision backbone {arch!r}; choose one of {sorted(TORCHVISION_TAPS)}")
        self.arch = arch
        self.taps = dict(taps or TORCHVISION_TAPS[arch])
        self.outputs = tuple(outputs or self.taps)
        unknown = [name for name in self.outputs if name not in self.taps]
        if unknown:
            raise ValueError(f"outputs {unknown} are not taps of {arch}: {sorted(self.taps)}")
        # Inception-v3's ImageNet weights expect inputs scaled to [-1, 1]: torchvision builds it with them with
        # transform_input=True, which maps the ImageNet-normalised input (rgb_normalized) onto that range
        options = {"aux_logits": False, "init_weights": False, "transform_input": True} if arch == "inception_v3" \
            else {}
        network = getattr(torchvision.models, arch)(weights=None, **options)
        if weights:
            self._load_into(network, weights)
        for path, stride in (strides or {}).items():
            _set_stride(network.get_submodule(path), int(stride), f"{arch} strides[{path!r}]")
        for path in remove:
            parent, _, child = path.rpartition(".")
            owner = network.get_submodule(parent) if parent else network
            if not hasattr(owner, child):
                raise ValueError(f"{arch}: no module {path!r} to remove")
            setattr(owner, child, nn.Identity())
        self.body = create_feature_extractor(network, return_nodes={self.taps[name]: name for name in self.outputs})
        self.out_channels = self._probe_channels()

    def _load_into(self, network: nn.Module, weights: str) -> None:
        if weights in (IMAGENET, "torchvision"):
            from tracking.models.imagenet_weights import imagenet_state_dict

            state = _modern_densenet_keys(imagenet_state_dict(self))
        else:
            state = _modern_densenet_keys(_strip_prefixes(read_state_dict(weights)))
        missing, _ = network.load_state_dict(state, strict=False)
        if missing:
            raise DataError(weights, f"not {self.arch} ImageNet weights: {len(missing)} entries missing, "
                                     f"e.g. {missing[:5]}")

    def _probe_channels(self) -> list[int]:
        """Channel count of each output, from one forward pass of a small image in eval mode (on the meta device
        when built there): a copy of the traced extractor would cost seconds for DenseNet."""
        parameter = next(self.body.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        training = self.body.training
        self.body.eval()  # BatchNorm statistics stay as they are
        try:
            with torch.no_grad():
                features = self.body(torch.zeros(1, 3, 96, 96, device=device))  # >= 1 pixel at stride 32
        finally:
            self.body.train(training)
        return [int(features[name].shape[1]) for name in self.outputs]

    def forward(self, x):
        features = self.body(x)
        return [features[name] for name in self.outputs]

    def layer_groups(self) -> dict[str, nn.Module]:
        groups: dict[str, list[nn.Module]] = {name: [] for name in self.outputs}
        current, inside, seen = 0, False, set()
        for node in self.body.graph.nodes:
            if node.op != "call_module" or current >= len(self.outputs):
                continue
            target = str(node.target)

            def within(index: int) -> bool:
                tap = self.taps[self.outputs[index]]
                return target == tap or target.startswith(tap + ".")

            if inside and not within(current):  # left the current tap's block: the next group starts
                current, inside = current + 1, False
                if current >= len(self.outputs):
                    break
            inside = inside or within(current)
            module = self.body.get_submodule(target)
            if id(module) not in seen and any(True for _ in module.parameters(recurse=False)):
                seen.add(id(module))
                groups[self.outputs[current]].append(module)
        return {name: nn.ModuleList(modules) for name, modules in groups.items()}

    def imagenet_source(self) -> tuple[str, str | None, str]:
        return _torchvision_source(self.arch, "DEFAULT")

    def _rename_pretrained(self, state_dict: dict) -> dict:
        # torchvision's names live under the extractor's ``body``
        state_dict = _modern_densenet_keys(state_dict)
        return {key if key.startswith("body.") else f"body.{key}": value for key, value in state_dict.items()}


# --------------------------------------------------------------------------------------------- registry
def _resnet(depth: str, layout: str):
    def build(used_layers=(2, 3, 4)):
        return ResNetBackbone(depth, used_layers, layout=layout)

    build.__doc__ = f"Atrous {depth} at stride 8, {layout} parameter layout."
    return build


def _torchvision(arch: str):
    def build(**options):
        return TorchvisionFeatures(arch, **options)

    build.__doc__ = f"torchvision's ImageNet {arch} with named conv3/conv4/conv5 taps."
    return build


BACKBONES = {
    **{f"resnet{d}": _resnet(f"resnet{d}", "torchvision") for d in (18, 34, 50)},
    **{f"resnet{d}_pysot": _resnet(f"resnet{d}", "pysot") for d in (18, 34, 50)},
    "alexnet_legacy": lambda width_mult=1.0: AlexNetLegacy(width_mult),
    "siamfc_alexnet": lambda outputs=("conv5",), width_mult=1.0: SiamFCAlexNet(outputs, width_mult),
    "mobilenetv2": lambda width_mult=1.0, used_layers=(3, 5, 7): MobileNetV2Backbone(width_mult, used_layers),
    **{f"torchvision_{arch}": _torchvision(arch) for arch in TORCHVISION_TAPS},
    "bvlc_alexnet": lambda outputs=("conv5",), width_mult=1.0: _mfst_backbones().BVLCAlexNet(outputs, width_mult),
    "torchvision_alexnet_mfst": lambda outputs=("conv3", "conv4", "conv5"), weights="":
        _mfst_backbones().torchvision_alexnet_mfst(outputs, weights),
}
"""Backbone name -> constructor. The hand-written layouts (``resnet*``, ``resnet*_pysot``, ``alexnet_legacy``,
``mobilenetv2``) are the ones pysot checkpoints import into, ``siamfc_alexnet`` the one siamfc-pytorch's do;
``torchvision_*`` are built from torchvision; ``bvlc_alexnet`` / ``torchvision_alexnet_mfst`` are MFST's branch A
(``tracking.models.backbones.mfst``)."""


def _mfst_backbones():
    from tracking.models.backbones import mfst  # imported when used: it builds on this module

    return mfst


def build_backbone(name: str, **options) -> Backbone:
    """The registered backbone ``name`` built with its ``options`` (unknown names or options raise, listing
    what is accepted)."""
    import inspect

    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    builder = BACKBONES[name]
    accepted = inspect.signature(builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(f"backbone {name!r}: unknown option(s) {unknown}; accepted: {list(accepted)}")
    return builder(**options)
