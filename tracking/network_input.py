"""The one conversion from an RGB crop to a network's input layout, shared by training data and trackers
(a mismatch between the two would silently ruin a trained tracker).

- ``bgr255``: BGR, 0-255: what checkpoints of the reference implementation (pysot) were trained on.
- ``rgb_normalized``: RGB scaled to 0-1 and normalized with the ImageNet mean/std of torchvision backbones.
- ``rgb255``: RGB, 0-255, not normalized: siamfc-pytorch's input (``ops.read_image`` converts to RGB and its
  ``ToTensor`` only casts to float, ``transforms.py:87-90``; the tracker likewise, ``siamfc.py:150-151``).
"""
from __future__ import annotations

import numpy as np

IMAGE_FORMATS = ("bgr255", "rgb_normalized", "rgb255")
IMAGENET_MEAN_RGB = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD_RGB = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def check_image_format(image_format: str) -> str:
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
    return image_format


def to_network_layout(image_rgb: np.ndarray, image_format: str) -> np.ndarray:
    """An H x W x 3 RGB image (uint8 or float, 0-255) as the network's 3 x H x W float32 input."""
    check_image_format(image_format)
    if image_format == "bgr255":
        out = image_rgb[:, :, ::-1]
    elif image_format == "rgb255":
        out = image_rgb
    else:
        out = (image_rgb.astype(np.float32) / 255.0 - IMAGENET_MEAN_RGB) / IMAGENET_STD_RGB
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)

