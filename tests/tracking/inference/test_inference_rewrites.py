"""fold_batchnorm: the same function with the Conv2d -> BatchNorm2d pairs folded, on every registered backbone."""
import pytest
import torch
import torch.nn as nn

from tracking.models.backbones import BACKBONES, build_backbone
from tracking.inference.rewrites import fold_batchnorm, tracking_copy

# BatchNorms that precede their convolution stay: DenseNet-169's norm1 of its 82 dense layers and the norm of
# its 3 transitions (the stem's norm0 and each layer's norm2 follow a convolution and fold)
STAYING = {"torchvision_densenet169": 82 + 3}


def randomized(network: nn.Module, seed: int = 0) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
    return network.eval()


def outputs(network, x):
    out = network(x)
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_folded_backbone_computes_the_same_function(name):
    torch.manual_seed(0)
    network = randomized(build_backbone(name))
    bn_before = sum(isinstance(m, nn.BatchNorm2d) for m in network.modules())
    folded = fold_batchnorm(network)
    bn_after = sum(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert bn_after == STAYING.get(name, 0)  # elsewhere every BatchNorm follows a convolution
    assert sum(isinstance(m, nn.BatchNorm2d) for m in network.modules()) == bn_before  # the original is untouched
    x = torch.rand(2, 3, 127, 127) * 255
    with torch.no_grad():
        for expected, got in zip(outputs(network, x), outputs(folded, x)):
            assert got.shape == expected.shape
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_channels_last_copy_holds_nhwc_weights_and_leaves_the_network():
    torch.manual_seed(0)
    network = randomized(build_backbone("alexnet_legacy"))
    copy = tracking_copy(network, fold=False, channels_last=True)
    assert copy is not network
    convolutions = [m for m in copy.modules() if isinstance(m, nn.Conv2d)]
    assert convolutions and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convolutions)
    assert all(m.weight.is_contiguous() for m in network.modules() if isinstance(m, nn.Conv2d))  # untouched
    assert tracking_copy(network, fold=False) is network  # no rewrite asked for: the network itself
    x = (torch.rand(1, 3, 127, 127) * 255).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        for expected, got in zip(outputs(network, x), outputs(copy, x)):
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
