"""``TrackingNetwork``: the crops of every style equal the reference crop functions, several requests in one call
equal each alone, the precision and the rewrites are the layer's, declared by the modules."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn

from tracking.crops import crop_and_resize, crop_and_resize_siamfc, crop_subpixel, frame_tensor
from tracking.inference import CropRequest, InferenceParams, Rewrites, TrackingNetwork
from tracking.inference.rewrites import fold_batchnorm, rewrites_of
from tracking.network_input import to_network_layout


class Config:
    image_format = "bgr255"


class TinyNetwork(nn.Module):
    """conv1 -> bn1 declared foldable; ``features`` is what a tracker runs."""

    inference_rewrites = Rewrites(fold="numbered")

    def __init__(self):
        super().__init__()
        self.config = Config()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.bn1 = nn.BatchNorm2d(4)

    def features(self, x):
        return self.bn1(self.conv1(x))


class Undeclared(TinyNetwork):
    inference_rewrites = None  # nothing declared: nothing folds


def image(seed=0, size=(60, 80)):
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


@pytest.mark.parametrize("style", ["pysot", "siamfc"])
def test_opencv_crops_are_the_reference_functions_and_one_call_serves_many_requests(style):
    frames = [image(0), image(1, (50, 70))]
    requests = [CropRequest(frames[0], (30.4, 20.2), [41.0, 55.5], 31, frames[0].mean(axis=(0, 1))),
                CropRequest(frames[1], (65.0, 45.0), [37.0, 29.0], 31, frames[1].mean(axis=(0, 1)))]
    net = TrackingNetwork(TinyNetwork(), InferenceParams(channels_last=True), crop_style=style)
    crop = crop_and_resize if style == "pysot" else crop_and_resize_siamfc
    expected = np.stack([to_network_layout(crop(r.image, r.center, w, 31, r.fill), "bgr255")
                         for r in requests for w in r.windows])
    together = net.crops(requests)
    assert together.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_array_equal(together.numpy(), expected)
    np.testing.assert_array_equal(torch.cat([net.crops([r]) for r in requests]).numpy(), expected)


def test_subpixel_crops_take_the_frames_mean_without_a_fill():
    frame = image(2)
    net = TrackingNetwork(TinyNetwork(), InferenceParams(channels_last=False), crop_style="subpixel")
    got = net.crops([CropRequest(frame, (10.3, 5.7), [33.3, 40.0], 17)])
    tensor = frame_tensor(frame, "cpu")
    expected = crop_subpixel(tensor, (10.3, 5.7), [33.3, 40.0], 17, tensor.mean(dim=(1, 2))).flip(1)  # bgr255
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_requests_of_one_call_share_an_output_size():
    net = TrackingNetwork(TinyNetwork(), InferenceParams())
    with pytest.raises(ValueError, match="one output size"):
        net.crops([CropRequest(image(), (9, 9), [9.0], 5, np.zeros(3)), CropRequest(image(), (9, 9), [9.0], 7,
                                                                                   np.zeros(3))])
    with pytest.raises(ValueError, match="crop_style"):
        TrackingNetwork(TinyNetwork(), InferenceParams(), crop_style="nearest")


def test_the_layer_folds_what_modules_declare_and_runs_at_its_precision():
    network = TinyNetwork().eval()
    with torch.no_grad():
        network.bn1.running_mean.uniform_(-1, 1)
        network.bn1.running_var.uniform_(0.5, 2)
    net = TrackingNetwork(network, InferenceParams(channels_last=False))
    assert isinstance(net.module.bn1, nn.Identity) and isinstance(network.bn1, nn.BatchNorm2d)  # a copy folds
    assert isinstance(fold_batchnorm(Undeclared()).bn1, nn.BatchNorm2d)
    assert rewrites_of(nn.Sequential()).fold == "sequence" and rewrites_of(nn.Conv2d(1, 1, 1)) == Rewrites()
    with pytest.raises(ValueError, match="fold must be one of"):
        Rewrites(fold="everything")
    x = torch.rand(1, 3, 9, 9) * 255
    out = net.run("features", x)
    assert out.is_inference() and out.dtype == torch.float32
    torch.testing.assert_close(out, network.features(x).detach(), rtol=1e-5, atol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bf16 on a CPU without bf16 instructions warns
        half = TrackingNetwork(network, InferenceParams(precision="bf16", fold_batchnorm=False))
    assert half.run("features", x).dtype == torch.bfloat16 and half.module is not network
    rebuilt = half.rebuilt(TinyNetwork())
    assert rebuilt.params == half.params and rebuilt.module is not half.module
