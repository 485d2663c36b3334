"""MFST's branch A (MFST, Sec. IV-A a): the ImageNet AlexNet with conv1 at stride 2, so that its conv3 / conv4 /
conv5 features have SiamFC's sizes (127 -> 10x10 / 8x8 / 6x6, 255 -> 26x26 / 24x24 / 22x22).

- :class:`BVLCAlexNet` (``bvlc_alexnet``): the Caffe BVLC AlexNet as MFST's released code builds it
  (``embed_alexnet``, ``convolutional_alexnet.py:247-364``; reference notes part B1): conv1 96-11 at stride 2
  (Caffe: 4), ReLU, LRN, max-pool 3/2; conv2 256-5 in two groups, ReLU, LRN, max-pool 3/2; conv3 384-3, ReLU;
  conv4 384-3 in two groups, ReLU; conv5 256-3 in two groups, ReLU; every convolution unpadded. Caffe's LRN
  (TF ``depth_radius 2, alpha 2e-5, beta 0.75, bias 1``) is PyTorch's ``LocalResponseNorm(5, 1e-4, 0.75, 1)``
  (PyTorch divides alpha by the window size). 2,334,080 parameters. The weights come from the widely
  distributed ``bvlc_alexnet.npy`` (:func:`read_bvlc_npy`). Input: RGB 0-255 without mean subtraction, as the
  released code feeds it (the paper does not say; Caffe trained on mean-subtracted BGR).
- ``torchvision_alexnet_mfst`` (:func:`torchvision_alexnet_mfst`): torchvision's ImageNet AlexNet changed the same
  way (conv1 stride 4 -> 2, the paddings of all five convolutions removed), the alternative branch A. Its
  channels differ: conv1 64, conv2 192, conv3 384, conv4 **256**, conv5 256 (no groups), so its features are
  10x10x384 / 8x8x256 / 6x6x256 (127) and 26x26x384 / 24x24x256 / 22x22x256 (255) and the three responses are
  still 17x17; its SE blocks are 384-96-384, 256-64-256, 256-64-256 (140,384 parameters instead of 181,504).
  It takes torchvision's normalised input (its weights expect it; ``MFSTNetwork.a_image_format``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from tracking.errors import DataError
from tracking.models.backbones.base import StagedBackbone
from tracking.models.backbones.torchvision_features import TorchvisionFeatures

BVLC_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")
BVLC_CHANNELS = (96, 256, 384, 384, 256)
BVLC_GROUPS = (1, 2, 1, 2, 2)
# Caffe LRN: local_size 5, alpha 1e-4 over the window (TF depth_radius 2, alpha 2e-5 per element), beta 0.75, k 1
LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0}


def read_bvlc_npy(path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``bvlc_alexnet.npy``: a pickled dict ``{"convN": [weights (kh, kw, in/groups, out) HWIO, bias (out,)],
    "fc6": ...}`` (Caffe's AlexNet converted for TensorFlow; the released MFST code reads it with
    ``np.load(..., encoding="latin1").item()``). Returns conv1-conv5 as float32 arrays; clear errors for a missing
    file, another format or a missing layer. The file is a pickle: load only files you trust."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "AlexNet weights file not found (the BVLC AlexNet as bvlc_alexnet.npy)")
    try:
        data = np.load(path, allow_pickle=True, encoding="latin1")
        data = data.item() if isinstance(data, np.ndarray) and data.dtype == object and data.shape == () else data
    except Exception as error:  # noqa: BLE001 - numpy/pickle raise many types for a bad file
        raise DataError(path, f"cannot read as a pickled numpy dict ({type(error).__name__}: {error})") from None
    if not isinstance(data, dict):
        raise DataError(path, f"expected a pickled dict conv1..conv5 -> [weights, bias], got {type(data).__name__}")
    layers = {}
    for name in BVLC_LAYERS:
        entry = data.get(name)
        if entry is None or len(entry) != 2:
            raise DataError(path, f"no {name!r} entry [weights, bias] (keys: {sorted(data)})")
        weights, bias = (np.asarray(v, dtype=np.float32) for v in entry)
        layers[name] = (weights, bias)
    return layers


class BVLCAlexNet(StagedBackbone):
    """The BVLC AlexNet in MFST's geometry (see the module docstring). ``outputs`` names the returned layers
    ("conv3", "conv4", "conv5" for MFST); ``width_mult`` narrows every layer (1.0: the ImageNet network; the demo
    uses 0.5). Random initialisation: Xavier-uniform weights, zero biases (overwritten by :meth:`load_pretrained`)."""

    LAYERS = BVLC_LAYERS

    def __init__(self, outputs=("conv5",), width_mult: float = 1.0):
        super().__init__(outputs)
        c = [3] + [int(round(x * width_mult)) for x in BVLC_CHANNELS]
        if any(channels % 2 for channels in c[1:]):
            raise ValueError(f"width_mult {width_mult} gives odd channel counts {c[1:]}: groups of 2 need even ones")
        self.conv1 = nn.Sequential(nn.Conv2d(c[0], c[1], 11, 2), nn.ReLU(inplace=True), nn.LocalResponseNorm(**LRN),
                                   nn.MaxPool2d(3, 2))
        self.conv2 = nn.Sequential(nn.Conv2d(c[1], c[2], 5, 1, groups=2), nn.ReLU(inplace=True),
                                   nn.LocalResponseNorm(**LRN), nn.MaxPool2d(3, 2))
        self.conv3 = nn.Sequential(nn.Conv2d(c[2], c[3], 3, 1), nn.ReLU(inplace=True))
        self.conv4 = nn.Sequential(nn.Conv2d(c[3], c[4], 3, 1, groups=2), nn.ReLU(inplace=True))
        self.conv5 = nn.Sequential(nn.Conv2d(c[4], c[5], 3, 1, groups=2), nn.ReLU(inplace=True))
        self.out_channels = [c[self.LAYERS.index(name) + 1] for name in self.outputs]
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def load_pretrained(self, source: str) -> None:
        """``bvlc_alexnet.npy`` (HWIO weights transposed to PyTorch's OIHW; the grouped layers' outputs
        ``[0, C/2)`` read the first input half in both layouts, as Caffe's and the released code's split-and-concat
        do), or a state dict of this module's layout (``Backbone.load_pretrained``)."""
        if not str(source).endswith(".npy"):
            return super().load_pretrained(source)
        layers = read_bvlc_npy(source)
        state = {}
        for name, (weights, bias) in layers.items():
            conv = getattr(self, name)[0]
            weight = torch.from_numpy(np.ascontiguousarray(weights.transpose(3, 2, 0, 1)))
            if weight.shape != conv.weight.shape or bias.shape != tuple(conv.bias.shape):
                raise DataError(source, f"{name}: weights {weights.shape} (HWIO) and bias {bias.shape} do not fit "
                                        f"this AlexNet's {tuple(conv.weight.shape)} (OIHW) and "
                                        f"{tuple(conv.bias.shape)} (width_mult other than 1?)")
            state[f"{name}.0.weight"] = weight
            state[f"{name}.0.bias"] = torch.from_numpy(bias)
        self.load_state_dict(state)


def torchvision_alexnet_mfst(outputs=("conv3", "conv4", "conv5"), weights: str = "") -> TorchvisionFeatures:
    """torchvision's AlexNet with conv3/conv4/conv5 taps, conv1 at stride 2 and no padding anywhere (MFST's
    geometry; channels 384 / 256 / 256, see the module docstring). ``weights``: "" (random), a torchvision
    ImageNet file (``alexnet-owt-7be5be79.pth``) or "torchvision" (download)."""
    backbone = TorchvisionFeatures("alexnet", outputs=outputs, strides={"features.0": 2}, weights=weights)
    for index in (0, 3, 6, 8, 10):  # the five convolutions; the feature extractor holds the same modules
        backbone.body.get_submodule(f"features.{index}").padding = (0, 0)
    return backbone
