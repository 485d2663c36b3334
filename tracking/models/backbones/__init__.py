"""Backbones, one module per family, and their registry ``BACKBONES`` / ``build_backbone(name, **options)``:

- :mod:`.base`: the ``Backbone`` interface every family implements, ``read_state_dict``, ``IMAGENET``;
- :mod:`.resnet`: SiamRPN++'s atrous ResNet-18/34/50 (pysot's and torchvision's parameter layouts);
- :mod:`.alexnet`: pysot's AlexNet (legacy, BN) and SiamFC's AlexNet (siamfc-pytorch ``AlexNetV1``);
- :mod:`.mobilenet`: pysot's MobileNetV2;
- :mod:`.torchvision_features`: torchvision's ImageNet networks with named conv3/4/5 taps;
- :mod:`.mfst`: MFST's branch A (the BVLC AlexNet, torchvision's AlexNet in MFST's geometry).

As pysot's ``models/backbone/__init__.py``: this module imports the family modules and builds the registry; the
family modules import :mod:`.base` (and MFST's the torchvision family it builds on), never this module.
"""
from __future__ import annotations

import inspect

from tracking.models.backbones.alexnet import ALEXNET_LEGACY_FEATURES, AlexNetLegacy, SiamFCAlexNet
from tracking.models.backbones.base import IMAGENET, Backbone, read_state_dict
from tracking.models.backbones.mfst import BVLCAlexNet, read_bvlc_npy, torchvision_alexnet_mfst
from tracking.models.backbones.mobilenet import InvertedResidual, MobileNetV2Backbone
from tracking.models.backbones.resnet import BasicBlock, Bottleneck, CenterAlignedDownsample, ResNetBackbone
from tracking.models.backbones.torchvision_features import TORCHVISION_TAPS, TorchvisionFeatures

__all__ = ["ALEXNET_LEGACY_FEATURES", "BACKBONES", "IMAGENET", "TORCHVISION_TAPS", "AlexNetLegacy", "BVLCAlexNet",
           "Backbone", "BasicBlock", "Bottleneck", "CenterAlignedDownsample", "InvertedResidual",
           "MobileNetV2Backbone", "ResNetBackbone", "SiamFCAlexNet", "TorchvisionFeatures", "build_backbone",
           "read_bvlc_npy", "read_state_dict", "torchvision_alexnet_mfst"]


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
    "bvlc_alexnet": lambda outputs=("conv5",), width_mult=1.0: BVLCAlexNet(outputs, width_mult),
    "torchvision_alexnet_mfst": lambda outputs=("conv3", "conv4", "conv5"), weights="":
        torchvision_alexnet_mfst(outputs, weights),
}
"""Backbone name -> constructor. The hand-written layouts (``resnet*``, ``resnet*_pysot``, ``alexnet_legacy``,
``mobilenetv2``) are the ones pysot checkpoints import into, ``siamfc_alexnet`` the one siamfc-pytorch's do;
``torchvision_*`` are built from torchvision; ``bvlc_alexnet`` / ``torchvision_alexnet_mfst`` are MFST's branch A
(:mod:`.mfst`)."""


def build_backbone(name: str, **options) -> Backbone:
    """The registered backbone ``name`` built with its ``options`` (unknown names or options raise, listing
    what is accepted)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    builder = BACKBONES[name]
    accepted = inspect.signature(builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(f"backbone {name!r}: unknown option(s) {unknown}; accepted: {list(accepted)}")
    return builder(**options)
