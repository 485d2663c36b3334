"""The five inference values every network tracker takes: how it runs its network, apart from what it tracks
with. A tracker's parameter dataclass extends ``InferenceParams``; ``tracking.inference.TrackingNetwork`` reads
these values, so a tracker gets all five without code of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

from tracking.inference.precision import check_precision
from tracking.params import check_ranges


@dataclass(frozen=True)
class InferenceParams:
    """How a tracker runs its network. None of them changes what the tracker computes beyond float rounding,
    except ``crop_on_device`` (within one grey level of the crops) and a half ``precision``:

    - ``channels_last``: the network's input, and the convolution weights of the tracking copy, in NHWC memory
      order (the same values, rounded differently): oneDNN's faster path on the CPU for the AlexNet-style and
      torchvision networks, as the reference trackers' permuted crops are; pysot's dilated ResNet-50 configs
      turn it off (docs/speed.md has the measurements).
    - ``fold_batchnorm``: track with a copy of the network whose BatchNorms are folded into the convolutions
      before them (``tracking.inference.rewrites.fold_batchnorm``; about 1e-6 relative).
    - ``crop_on_device``: cut the crops in torch on the tracker's device (one call for every lockstep slot's
      crops) instead of OpenCV on the CPU: for GPUs, where the CPU crop and the upload of float crops would bound
      the frame rate. Its bilinear samples are not rounded to uint8 as OpenCV's are (within one grey level), so
      the boxes are not the references' to the last digit: off by default. (Sub-pixel crops, MFST's, are always
      cut in torch.)
    - ``compile``: track with the network's search path compiled by ``torch.compile`` with frozen weights
      (``tracking.inference.rewrites.frozen_compiled``: convolutions fused with their additions, ReLUs and
      poolings), the same function up to about 1e-5 relative; each new input shape costs a compilation (seconds
      to a minute): off by default.
    - ``precision``: ``fp32`` (the references'), ``bf16`` or ``fp16`` (the network under autocast of that dtype;
      the decoding stays float32/float64), or ``auto``, the fastest native one of the device
      (``tracking.inference.precision``).
    """

    channels_last: bool = True
    fold_batchnorm: bool = True
    crop_on_device: bool = False
    compile: bool = False
    precision: str = "fp32"

    def __post_init__(self):
        check_precision(self.precision)
        check_ranges(self)  # every subclass's fields: its RANGES and finite numbers
