"""Running a network for tracking: what every tracker shares and none of them implements.

- ``InferenceParams`` (``params``): the five inference values a tracker's parameters extend, and their meaning;
- ``TrackingNetwork`` (``network``): the tracking copy of a network, its device, precision and crops;
- ``CropRequest`` (``crops``): what a tracker asks to be cropped, in the crop style of its reference;
- ``rewrites``: BatchNorm folding, channels-last weights and compilation, declared by the modules
  (``Rewrites``); ``precision``: the precision names and the device checks.
"""
from tracking.inference.crops import CropRequest
from tracking.inference.network import TrackingNetwork
from tracking.inference.params import InferenceParams
from tracking.inference.rewrites import Rewrites

__all__ = ["CropRequest", "InferenceParams", "Rewrites", "TrackingNetwork"]
