"""torchvision's ImageNet networks (alexnet, vgg19, resnet34, resnet50, densenet169, inception_v3) as backbones
with named conv3/conv4/conv5 taps (``torchvision.models.feature_extraction``), and the papers' changes for a finer
feature map (strides, removed modules) applied by module path."""
from __future__ import annotations

import re

import torch
import torch.nn as nn

from tracking.errors import DataError
from tracking.models.backbones.base import IMAGENET, Backbone, read_state_dict, strip_prefixes, torchvision_source


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
            state = _modern_densenet_keys(strip_prefixes(read_state_dict(weights)))
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
        return torchvision_source(self.arch, "DEFAULT")

    def _rename_pretrained(self, state_dict: dict) -> dict:
        # torchvision's names live under the extractor's ``body``
        state_dict = _modern_densenet_keys(state_dict)
        return {key if key.startswith("body.") else f"body.{key}": value for key, value in state_dict.items()}
