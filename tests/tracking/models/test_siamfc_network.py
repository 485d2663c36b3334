"""The SiamFC network: siamfc-pytorch's AlexNetV1 to the parameter (2,336,320), its state-dict keys, the head
(0.001 x xcorr, an optional bias per level), the labels and the balanced loss of training, and Hierarchical SiamFC's
three backbones at stride 16 with conv3/conv4/conv5 maps of 17x17 (shapes on the meta device)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from experiments.config_library import resolved_config
from tracking.models.backbones import build_backbone
from tracking.models.losses import balanced_logistic_loss, siamfc_labels
from tracking.models.siamfc import SiamFC, SiamFCNetwork

META = torch.device("meta")


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------- AlexNetV1
def test_alexnet_v1_has_the_references_parameters_and_buffers():
    backbone = build_backbone("siamfc_alexnet")
    assert count(backbone) == 2_336_320
    convs = [getattr(backbone, f"conv{i}")[0] for i in range(1, 6)]
    assert [count(conv) for conv in convs] == [34_944, 307_456, 885_120, 663_936, 442_624]  # 2,334,080
    norms = [m for m in backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert sum(count(n) for n in norms) == 2_240 and len(norms) == 4  # conv1-4; conv5 has none
    assert all(n.eps == 1e-6 and n.momentum == 0.05 for n in norms)
    running = sum(n.running_mean.numel() + n.running_var.numel() for n in norms)
    assert running == 2_240 and sum(1 for n in norms if n.num_batches_tracked is not None) == 4
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert [(c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs] == [(11, 2, 0), (5, 1, 0), (3, 1, 0),
                                                                               (3, 1, 0), (3, 1, 0)]
    assert len(backbone.conv5) == 1  # conv5 alone: no BatchNorm, no ReLU
    # ops.init_weights: Xavier-uniform (gain 1) weights, zero biases, BN weight 1 and bias 0
    for conv in convs:
        fan_in = conv.in_channels // conv.groups * conv.kernel_size[0] ** 2
        fan_out = conv.out_channels // conv.groups * conv.kernel_size[0] ** 2
        assert conv.weight.abs().max() <= math.sqrt(6 / (fan_in + fan_out)) and not conv.bias.any()
    assert all(bool((n.weight == 1).all()) and not n.bias.any() for n in norms)


def test_alexnet_v1_state_dict_is_the_references():
    state = SiamFC().state_dict()
    shapes = {key: tuple(value.shape) for key, value in state.items()}
    expected = {"backbone.conv1.0.weight": (96, 3, 11, 11), "backbone.conv2.0.weight": (256, 48, 5, 5),
                "backbone.conv3.0.weight": (384, 256, 3, 3), "backbone.conv4.0.weight": (384, 192, 3, 3),
                "backbone.conv5.0.weight": (256, 192, 3, 3), "backbone.conv5.0.bias": (256,)}
    for index, channels in zip(range(1, 5), (96, 256, 384, 384)):
        expected[f"backbone.conv{index}.0.bias"] = (channels,)
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            expected[f"backbone.conv{index}.1.{leaf}"] = (channels,)
        expected[f"backbone.conv{index}.1.num_batches_tracked"] = ()
    assert shapes == expected  # the head has no parameters


def test_alexnet_v1_feature_and_score_sizes():
    network = SiamFC().eval()
    with torch.no_grad():
        for size, side in ((127, 6), (255, 22), (239, 20)):
            assert network.features(torch.zeros(1, 3, size, size))[0].shape == (1, 256, side, side)
        every = build_backbone("siamfc_alexnet", outputs=("conv3", "conv4", "conv5"))
        assert [tuple(f.shape[1:]) for f in every(torch.zeros(1, 3, 127, 127))] == [(384, 10, 10), (384, 8, 8),
                                                                                    (256, 6, 6)]
        assert [f.shape[-1] for f in every(torch.zeros(1, 3, 255, 255))] == [26, 24, 22]
        # tracking: one exemplar, three scales -> [3, 1, 17, 17]; training: 8 pairs at 239 -> [8, 1, 15, 15]
        kernel = network.template_features(torch.rand(1, 3, 127, 127) * 255)
        assert network.responses(kernel, torch.rand(3, 3, 255, 255) * 255)[0].shape == (3, 1, 17, 17)
        assert network(torch.rand(8, 3, 127, 127), torch.rand(8, 3, 239, 239))[0].shape == (8, 1, 15, 15)
    assert network.config.score_size_for(255) == 17 and network.config.score_size_for(239) == 15
    with pytest.raises(ValueError, match="odd channel"):
        build_backbone("siamfc_alexnet", width_mult=0.3)
    with pytest.raises(ValueError, match="choose among"):
        build_backbone("siamfc_alexnet", outputs=("conv6",))


def test_head_is_a_scaled_correlation_with_an_optional_bias():
    torch.manual_seed(0)
    network = SiamFC(SiamFCNetwork(backbone_options={"width_mult": 0.25}, levels=("conv3", "conv5"),
                                   out_scale=(0.01, 0.001), learned_bias=True)).eval()
    with torch.no_grad():
        network.head.bias.copy_(torch.tensor([0.5, -2.0]))
        template, search = torch.rand(2, 3, 127, 127) * 255, torch.rand(2, 3, 255, 255) * 255
        maps = network(template, search)
        z, x = network.features(template), network.features(search)
        for level, (scale, bias) in enumerate(((0.01, 0.5), (0.001, -2.0))):
            for b in range(2):
                direct = F.conv2d(x[level][b:b + 1], z[level][b:b + 1]) * scale + bias
                assert torch.allclose(maps[level][b:b + 1], direct, rtol=1e-5, atol=1e-4)
    assert [m.shape for m in maps] == [(2, 1, 17, 17)] * 2
    assert [name for name, _ in network.head.named_parameters()] == ["bias"]
    with pytest.raises(ValueError, match="2 values for 3 levels"):
        SiamFCNetwork(levels=("conv3", "conv4", "conv5"), out_scale=(0.1, 0.2))
    with pytest.raises(ValueError, match="unknown backbone"):
        SiamFCNetwork(backbone="alexnet_v9")
    with pytest.raises(ValueError, match="'levels'"):
        SiamFCNetwork(backbone_options={"outputs": ["conv5"]})


# ---------------------------------------------------------------------------------------------- training
def test_labels_are_the_references():
    labels = siamfc_labels(15)  # 239 search: r_pos 16 / stride 8 = 2 cells of L1 distance
    assert int(labels.sum()) == 13 and int((labels == 0).sum()) == 212
    assert labels[7, 7] == 1 and labels[7, 9] == 1 and labels[6, 8] == 1 and labels[6, 9] == 0 and labels[7, 10] == 0
    assert int(siamfc_labels(17).sum()) == 13  # 255 search (17x17 maps): the same 13 cells
    banded = siamfc_labels(15, negative_radius=32)  # r_neg 4 cells: 0.5 at distance 3 (12 cells), 0 beyond
    assert int((banded == 0.5).sum()) == 12 and int((banded == 1).sum()) == 13 and int((banded == 0).sum()) == 200


def test_balanced_loss_is_half_positive_half_negative_mean_over_the_batch():
    torch.manual_seed(1)
    logits = torch.randn(4, 1, 15, 15)
    labels = siamfc_labels(15).expand(4, 1, 15, 15).clone()
    labels[3] = 0  # a pair without positives: counts still taken over the whole batch
    loss = balanced_logistic_loss(logits, labels)
    bce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    expected = 0.5 * bce[labels == 1].mean() + 0.5 * bce[labels == 0].mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # the reference's weights: 1 / pos_num, 1 / neg_num, normalised to sum 1, weighted sum
    weight = (labels == 1).float() / (labels == 1).sum() + (labels == 0).float() / (labels == 0).sum()
    reference = F.binary_cross_entropy_with_logits(logits, labels, weight / weight.sum(), reduction="sum")
    assert loss.item() == pytest.approx(reference.item(), rel=1e-6)
    assert balanced_logistic_loss(logits, torch.zeros_like(labels)).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, torch.zeros_like(labels)).item(), rel=1e-6)


# ---------------------------------------------------------------------------------------------- Hierarchical SiamFC
# backbone config -> native conv3/conv4/conv5 sides for a 127 exemplar and a 255 search (total stride 16 at conv5;
# torchvision's originals are at stride 32 there: 127 -> 4, 255 -> 8), and the parameters up to conv5: exactly
# torchvision's (the stride changes add or drop none, so ImageNet weights load as they are)
HIERARCHICAL = {
    "hsiamfc/vgg19": ((31, 15, 7), (63, 31, 15), 20_024_384),         # pools after blocks 1-4: strides 4, 8, 16
    "hsiamfc/resnet50": ((32, 16, 8), (64, 32, 16), 23_508_032),      # layer2 at stride 1: strides 4, 8, 16
    "hsiamfc/densenet169": ((16, 8, 8), (32, 16, 16), 12_481_152),    # transition3's pool removed: 8, 16, 16
}


@pytest.mark.parametrize("config", sorted(HIERARCHICAL))
def test_paper_000_backbones_give_three_17x17_maps(config):
    network_config = SiamFCNetwork(**resolved_config(config).model.init_args.network.as_dict())
    assert network_config.levels == ("conv3", "conv4", "conv5") and network_config.feature_grid_stride == 8
    with META:
        network = SiamFC(network_config)
        native = {size: [f.shape[-1] for f in network.backbone(torch.empty(1, 3, size, size))] for size in (127, 255)}
        template = network.template_features(torch.empty(1, 3, 127, 127))
        search = network.features(torch.empty(3, 3, 255, 255))
        maps = network.responses(template, torch.empty(3, 3, 255, 255))
    sides_127, sides_255, parameters = HIERARCHICAL[config]
    assert (tuple(native[127]), tuple(native[255])) == (sides_127, sides_255)
    assert count(network.backbone) == parameters and count(network.head) == 3  # a learned bias per level
    channels = [f.shape[1] for f in template]
    assert network.config.out_scales() == pytest.approx([1 / (c * 15 * 15) for c in channels], rel=1e-6)
    assert [f.shape[-2:] for f in template] == [(15, 15)] * 3  # exemplar features resized to 15x15
    assert [f.shape[-2:] for f in search] == [(31, 31)] * 3  # search features to 31x31
    assert [m.shape for m in maps] == [(3, 1, 17, 17)] * 3


def test_densenet_files_with_torchvisions_old_key_names_load():
    """The ImageNet DenseNet files torchvision downloads keep the old names ('denselayer1.norm.1.weight');
    torchvision renames them when loading, and so do the suite's backbones (a file path, not a download)."""
    from tracking.models.backbones.torchvision_features import _modern_densenet_keys

    old = {"features.denseblock1.denselayer1.norm.1.weight": 1, "features.denseblock4.denselayer32.conv.2.weight": 2,
           "features.transition1.norm.weight": 3, "features.norm0.running_var": 4}
    assert _modern_densenet_keys(old) == {"features.denseblock1.denselayer1.norm1.weight": 1,
                                          "features.denseblock4.denselayer32.conv2.weight": 2,
                                          "features.transition1.norm.weight": 3, "features.norm0.running_var": 4}
    import torchvision

    from tracking.models.backbones import TorchvisionFeatures

    renamed = TorchvisionFeatures._rename_pretrained(None, {"features.denseblock2.denselayer3.conv.2.weight": 0,
                                                            "features.denseblock2.denselayer3.norm.2.bias": 0})
    assert set(renamed) == {"body.features.denseblock2.denselayer3.conv2.weight",
                            "body.features.denseblock2.denselayer3.norm2.bias"}
    with META:
        names = set(torchvision.models.densenet169().state_dict())
    assert {key.removeprefix("body.") for key in renamed} <= names  # torchvision's own names
