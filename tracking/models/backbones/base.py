"""What every backbone family shares: the ``Backbone`` interface (``forward(x) -> list[Tensor]``,
``out_channels``, ``layer_groups()``, ImageNet weights), reading ``torch.save`` state dicts and the source of
torchvision's ImageNet files. Family modules import this one only, never the package's registry.

Every backbone keeps total stride 8 and valid-padding geometry, so a 127 exemplar gives 15x15 (ResNet /
MobileNetV2) or 6x6 (AlexNet) features and the score maps come out at pysot's sizes. ``forward`` returns the
list of the ``used_layers`` outputs; ``layer_groups()`` names the trainable groups for freezing by name.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from tracking.errors import DataError
from tracking.inference.rewrites import Rewrites


def strip_prefixes(state_dict: dict) -> dict:
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


def torchvision_source(arch: str, weights: str) -> tuple[str, str, str]:
    from torchvision.models import get_model_weights

    url = getattr(get_model_weights(arch), weights).url
    return url.rsplit("/", 1)[-1], url, f"torchvision's {arch} {weights}"


class Backbone(nn.Module):
    """Common interface: ``forward(x) -> list[Tensor]``, ``out_channels``, ``layer_groups()``."""

    out_channels: list[int]
    # what a tracker's ``compile`` compiles (tracking.inference.rewrites); subclasses add their BatchNorm folding
    inference_rewrites = Rewrites(compile=("forward",))

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
        state_dict = self._rename_pretrained(strip_prefixes(dict(state_dict)))
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


class StagedBackbone(Backbone):
    """A backbone of named stages run in order (``LAYERS``, each an attribute of the subclass), returning the
    features of the stages ``outputs`` names; the stages are its layer groups."""

    LAYERS: tuple[str, ...] = ()

    def __init__(self, outputs):
        super().__init__()
        self.outputs = tuple(outputs)
        unknown = [name for name in self.outputs if name not in self.LAYERS]
        if unknown or not self.outputs:
            raise ValueError(f"outputs {list(self.outputs)}: choose among {list(self.LAYERS)}")
        self._last = max(self.LAYERS.index(name) for name in self.outputs)

    def forward(self, x):
        features = {}
        for name in self.LAYERS[:self._last + 1]:
            x = getattr(self, name)(x)
            features[name] = x
        return [features[name] for name in self.outputs]

    def layer_groups(self) -> dict[str, nn.Module]:
        return {name: getattr(self, name) for name in self.LAYERS}
