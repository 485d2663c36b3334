"""MFST's network: branch A in the BVLC layout (sizes, parameters, the npy loader checked against a
hand-written restatement of the released TF graph: split-and-concat groups, TF's LRN), torchvision's AlexNet as
the alternative A, the six SE blocks (181,504 parameters per branch, gates per input with shared weights, gated
features feeding only the correlation), the response scales and biases, and the fusion formulas (Eq. 5-7) on
hand-made maps."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from tracking.errors import DataError
from tracking.models.backbones import build_backbone
from tracking.models.mfst import MFST, MFSTNetwork, convert_layout, fuse, mfst_network, normalise_by_max
from tracking.models.backbones.mfst import BVLCAlexNet, read_bvlc_npy
from tracking.models.ops import xcorr

LEVELS = ("conv3", "conv4", "conv5")
BVLC_SHAPES = {"conv1": (11, 11, 3, 96), "conv2": (5, 5, 48, 256), "conv3": (3, 3, 256, 384),
               "conv4": (3, 3, 192, 384), "conv5": (3, 3, 192, 256)}


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def write_bvlc_npy(path, seed: int = 0, shapes=BVLC_SHAPES):
    """A file laid out as the distributed bvlc_alexnet.npy: a pickled dict conv -> [HWIO weights, bias], fc too."""
    rng = np.random.default_rng(seed)
    data = {name: [rng.normal(0, 0.01, shape).astype(np.float32), rng.normal(0, 0.1, shape[-1]).astype(np.float32)]
            for name, shape in shapes.items()}
    data["fc6"] = [rng.normal(size=(4, 3)).astype(np.float32), np.zeros(3, np.float32)]
    np.save(path, np.array(data, dtype=object), allow_pickle=True)
    return data


def tf_alexnet(image: torch.Tensor, data: dict) -> dict[str, torch.Tensor]:
    """The released ``embed_alexnet`` restated (convolutional_alexnet.py:247-364): VALID convolutions from the HWIO
    arrays, two groups as split input / split kernel along its outputs / concat, ReLU, TF's LRN
    (depth_radius 2, alpha 2e-5, beta 0.75, bias 1) computed by its formula, 3/2 max-pools."""

    def conv(x, name, stride=1, groups=1):
        weights, bias = (torch.from_numpy(np.asarray(v, np.float64)) for v in data[name])
        kernel = weights.permute(3, 2, 0, 1)  # HWIO -> OIHW
        outs = [F.conv2d(xi, ki, stride=stride) for xi, ki in zip(x.chunk(groups, 1), kernel.chunk(groups, 0))]
        return torch.relu(torch.cat(outs, 1) + bias[:, None, None])

    def lrn(x):
        squares = F.pad(x ** 2, (0, 0, 0, 0, 2, 2))  # channels padded by 2 on each side
        window = sum(squares[:, i:i + x.shape[1]] for i in range(5))
        return x / (1.0 + 2e-5 * window) ** 0.75

    x = F.max_pool2d(lrn(conv(image, "conv1", stride=2)), 3, 2)
    x = F.max_pool2d(lrn(conv(x, "conv2", groups=2)), 3, 2)
    c3 = conv(x, "conv3")
    c4 = conv(c3, "conv4", groups=2)
    return {"conv3": c3, "conv4": c4, "conv5": conv(c4, "conv5", groups=2)}


# ---------------------------------------------------------------------------------------------- branch A
def test_bvlc_alexnet_layout_parameters_and_sizes():
    backbone = build_backbone("bvlc_alexnet", outputs=LEVELS)
    assert isinstance(backbone, BVLCAlexNet) and backbone.out_channels == [384, 384, 256]
    convs = [getattr(backbone, name)[0] for name in BVLC_SHAPES]
    assert [c.stride for c in convs] == [(2, 2)] + [(1, 1)] * 4  # conv1 at stride 2 (Caffe: 4)
    assert [c.padding for c in convs] == [(0, 0)] * 5 and [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert [count(c) for c in convs] == [34_944, 307_456, 885_120, 663_936, 442_624]
    assert count(backbone) == 2_334_080
    assert isinstance(backbone.conv1[2], nn.LocalResponseNorm) and backbone.conv1[2].alpha == 1e-4
    assert isinstance(backbone.conv5[1], nn.ReLU)  # A's conv5 is ReLU'd (S's is not)
    with torch.no_grad():
        exemplar = backbone(255 * torch.rand(1, 3, 127, 127))
        search = backbone(255 * torch.rand(1, 3, 255, 255))
    assert [tuple(f.shape[1:]) for f in exemplar] == [(384, 10, 10), (384, 8, 8), (256, 6, 6)]
    assert [tuple(f.shape[1:]) for f in search] == [(384, 26, 26), (384, 24, 24), (256, 22, 22)]
    assert float(exemplar[2].min()) >= 0


def test_npy_loader_matches_the_released_graph_on_a_generated_bvlc_file(tmp_path):
    data = write_bvlc_npy(tmp_path / "bvlc_alexnet.npy")
    layers = read_bvlc_npy(tmp_path / "bvlc_alexnet.npy")
    assert sorted(layers) == ["conv1", "conv2", "conv3", "conv4", "conv5"]  # fc layers are not read
    backbone = build_backbone("bvlc_alexnet", outputs=LEVELS)
    backbone.load_pretrained(str(tmp_path / "bvlc_alexnet.npy"))
    assert torch.equal(backbone.conv2[0].weight, torch.from_numpy(data["conv2"][0]).permute(3, 2, 0, 1))
    assert torch.equal(backbone.conv5[0].bias, torch.from_numpy(data["conv5"][1]))
    image = 255 * torch.rand(1, 3, 127, 127, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = dict(zip(LEVELS, backbone(image)))
    reference = tf_alexnet(image.double(), data)
    for level in LEVELS:
        torch.testing.assert_close(ours[level].double(), reference[level], rtol=1e-4, atol=1e-4)


def test_npy_loader_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_bvlc_npy(tmp_path / "missing.npy")
    shapes = dict(BVLC_SHAPES)
    del shapes["conv4"]
    write_bvlc_npy(tmp_path / "partial.npy", shapes=shapes)
    with pytest.raises(DataError, match="no 'conv4' entry"):
        read_bvlc_npy(tmp_path / "partial.npy")
    np.save(tmp_path / "list.npy", np.arange(3))
    with pytest.raises(DataError, match="pickled dict"):
        read_bvlc_npy(tmp_path / "list.npy")
    write_bvlc_npy(tmp_path / "full.npy")
    with pytest.raises(DataError, match=r"conv1: weights \(11, 11, 3, 96\).*width_mult"):
        build_backbone("bvlc_alexnet", width_mult=0.5).load_pretrained(str(tmp_path / "full.npy"))
    (tmp_path / "bad.npy").write_bytes(b"\x00 not a numpy file")
    with pytest.raises(DataError, match="cannot read as a pickled numpy dict"):
        read_bvlc_npy(tmp_path / "bad.npy")


def test_torchvision_alexnet_alternative_channels_sizes_and_se():
    backbone = build_backbone("torchvision_alexnet_mfst")
    assert backbone.out_channels == [384, 256, 256]
    convs = [backbone.body.get_submodule(f"features.{i}") for i in (0, 3, 6, 8, 10)]
    assert convs[0].stride == (2, 2) and all(c.padding == (0, 0) for c in convs)
    with torch.no_grad():
        exemplar, search = backbone(torch.randn(1, 3, 127, 127)), backbone(torch.randn(1, 3, 255, 255))
    assert [tuple(f.shape[1:]) for f in exemplar] == [(384, 10, 10), (256, 8, 8), (256, 6, 6)]
    assert [tuple(f.shape[1:]) for f in search] == [(384, 26, 26), (256, 24, 24), (256, 22, 22)]
    network = MFST({"branches": ["a"], "a_backbone": "torchvision_alexnet_mfst", "a_image_format": "rgb_normalized"})
    assert count(network.branches["a"].se) == 140_384  # 384-96-384, 256-64-256, 256-64-256
    with torch.no_grad():
        maps = network(255 * torch.rand(1, 3, 127, 127), 255 * torch.rand(1, 3, 255, 255))["a"]
    assert [tuple(m.shape) for m in maps] == [(1, 1, 17, 17)] * 3
    image = 255 * torch.rand(1, 3, 4, 4)
    expected = (image / 255 - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / \
        torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    torch.testing.assert_close(convert_layout(image, "rgb_normalized"), expected)


# ---------------------------------------------------------------------------------------------- network
@pytest.fixture(scope="module")
def network():
    torch.manual_seed(0)
    return MFST(MFSTNetwork()).eval()


def test_parameter_counts_sizes_and_responses(network):
    s, a = network.branches["s"], network.branches["a"]
    assert (count(s.backbone), count(a.backbone)) == (2_336_320, 2_334_080)
    assert count(s.se) == count(a.se) == 181_504  # 74,208 + 74,208 + 33,088
    assert [count(block) for block in s.se] == [74_208, 74_208, 33_088]
    assert [(b.squeeze.out_channels, b.excite.out_channels) for b in a.se] == [(96, 384), (96, 384), (64, 256)]
    assert tuple(s.head.bias.shape) == tuple(a.head.bias.shape) == (3,) and not s.head.bias.any()
    assert count(network) == 2_336_320 + 2_334_080 + 2 * 181_504 + 6
    assert s.head.out_scales == (1e-3, 1e-3, 1e-3) and a.head.out_scales == (1e-5, 1e-4, 1e-3)
    with torch.no_grad():
        template = network.template_features(255 * torch.rand(1, 3, 127, 127))
        maps = network.responses(template, 255 * torch.rand(3, 3, 255, 255))
    for branch in ("s", "a"):
        assert [tuple(f.shape[1:]) for f in template[branch]] == [(384, 10, 10), (384, 8, 8), (256, 6, 6)]
        assert [tuple(m.shape) for m in maps[branch]] == [(3, 1, 17, 17)] * 3  # one template, three scales
    assert network.config.score_size_for(255) == 17


def test_se_gates_per_input_with_shared_weights_and_the_backbone_ungated(network):
    branch = network.branches["s"]
    generator = torch.Generator().manual_seed(3)
    exemplar, search = 255 * torch.rand(2, 3, 127, 127, generator=generator), \
        255 * torch.rand(2, 3, 255, 255, generator=generator)
    with torch.no_grad():
        raw = branch.backbone(exemplar)
        gated = branch.features(exemplar)
        raw_x = branch.backbone(search)
        gated_x = branch.features(search)
        assert all(torch.equal(a, b) for a, b in zip(branch.features(exemplar, use_se=False), raw))
        for level, block in enumerate(branch.se):
            # one block for exemplar and search, each input gated by its own average pool
            gates = torch.sigmoid(block.excite(torch.relu(block.squeeze(raw[level].mean((2, 3), keepdim=True)))))
            torch.testing.assert_close(gated[level], raw[level] * gates)
            gates_x = block.gates(raw_x[level])
            torch.testing.assert_close(gated_x[level], raw_x[level] * gates_x)
            assert not torch.allclose(gates[0], gates[1])  # two inputs, two sets of gates
        # the backbone goes on from the un-gated conv3: its conv4 is that of the raw features
        torch.testing.assert_close(branch.backbone.conv4(raw[0]), raw[1])
        branch.head.bias.fill_(0.25)
        maps = branch.responses(gated, search)
        branch.head.bias.zero_()
    for level in range(3):
        expected = 1e-3 * xcorr(gated_x[level], gated[level]) + 0.25
        torch.testing.assert_close(maps[level], expected, rtol=1e-5, atol=1e-5)


def test_config_switches_and_errors():
    no_se = MFST({"se": False, "branches": ["a"], "levels": ["conv5"], "a_backbone_options": {"width_mult": 0.25}})
    assert no_se.branches["a"].se is None and count(no_se) == count(no_se.branches["a"].backbone) + 1
    assert mfst_network({"branches": ["s"]}).branches == ("s",)
    with pytest.raises(ValueError, match="branches must be distinct names among"):
        mfst_network({"branches": ["s", "b"]})
    with pytest.raises(ValueError, match="levels must be distinct"):
        mfst_network({"levels": ["conv2"]})
    with pytest.raises(ValueError, match=r"s_out_scale has no factor for level\(s\) \['conv4'\]"):
        mfst_network({"s_out_scale": {"conv3": 1.0, "conv5": 1.0}})
    with pytest.raises(ValueError, match="unknown backbone"):
        mfst_network({"a_backbone": "alexnet99"})
    with pytest.raises(ValueError, match="unknown key"):
        mfst_network({"fusion": "soft"})
    with pytest.raises(ValueError, match=r"branch\(es\) \['s'\] not in this network"):
        no_se.template_features(torch.zeros(1, 3, 127, 127), branches=["s"])


# ---------------------------------------------------------------------------------------------- fusion
def test_fusion_formulas_on_hand_made_maps():
    r1 = torch.tensor([[[1.0, 2.0], [0.5, 4.0]], [[0.0, 8.0], [1.0, 2.0]]])  # two scales: global max 8
    r2 = torch.tensor([[[3.0, 1.0], [2.0, 0.0]], [[1.0, 1.0], [6.0, 2.0]]])  # global max 6
    torch.testing.assert_close(fuse([r1, r2], "hard_weight", [0.3, 0.7]), 0.3 * r1 + 0.7 * r2)
    torch.testing.assert_close(fuse([r1, r2], "soft_mean"), r1 / 8 + r2 / 6)
    torch.testing.assert_close(fuse([r1, r2], "soft_weight", [0.3, 0.7]), 0.3 * r1 / 8 + 0.7 * r2 / 6)
    assert float(fuse([r1, r2], "soft_mean").max()) == pytest.approx(1 + 1 / 6)  # Eq. 6: no 1/N
    # the non-positive-maximum guard: divide by the largest magnitude (order kept), zero maps unchanged
    negative = torch.tensor([[-2.0, -1.0], [-4.0, -0.5]])
    normalised = normalise_by_max(negative)
    torch.testing.assert_close(normalised, negative / 4)
    assert int(normalised.argmax()) == int(negative.argmax()) and float(normalised.min()) == -1.0
    zero = torch.zeros(2, 2)
    assert torch.equal(normalise_by_max(zero), zero)
    torch.testing.assert_close(fuse([negative, zero + 2], "soft_weight", [1.0, 1.0]), negative / 4 + 1)
    with pytest.raises(ValueError, match="unknown fusion 'max'"):
        fuse([r1], "max", [1.0])
    with pytest.raises(ValueError, match="needs one weight per response"):
        fuse([r1, r2], "soft_weight", [1.0])
