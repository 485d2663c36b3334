"""The backbone registry (hand-written pysot layouts and torchvision feature extractors) and the shared ops
(plain, depth-wise and up-channel correlation, squeeze-and-excitation), on tiny inputs or the meta device."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from tracking.models.backbones import BACKBONES, TorchvisionFeatures, build_backbone
from tracking.models.ops import SqueezeExcitation, xcorr, xcorr_depthwise, xcorr_per_exemplar, xcorr_up_channel

META = torch.device("meta")


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------- registry
def test_family_modules_import_the_base_never_the_registry():
    """``tracking.models.backbones`` imports its family modules and builds the registry (as pysot's
    ``models/backbone/__init__.py``); a family module imports ``base`` (or a family it builds on), never the
    package, and the family imports form no cycle: any family module imports first."""
    import ast
    from pathlib import Path

    import tracking.models.backbones as package

    folder = Path(package.__file__).parent
    families = sorted(path.stem for path in folder.glob("*.py") if path.stem != "__init__")
    assert {"base", "resnet", "alexnet", "mobilenet", "torchvision_features", "mfst"} <= set(families)
    prefix = "tracking.models.backbones."
    uses = {}
    for name in families:
        imported = set()
        for node in ast.walk(ast.parse((folder / f"{name}.py").read_text())):
            modules = [node.module] if isinstance(node, ast.ImportFrom) else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for module in modules:
                assert module != "tracking.models.backbones" and getattr(node, "level", 0) == 0, (name, module)
                assert not (module == "tracking.models" and any(a.name == "backbones" for a in node.names)), name
                if module and module.startswith(prefix):
                    imported.add(module[len(prefix):])
        uses[name] = imported
    assert uses["base"] == set()
    done: set[str] = set()
    while len(done) < len(uses):  # peel off the families whose imports are done: a cycle would stop this
        ready = {name for name, imported in uses.items() if name not in done and imported <= done}
        assert ready, f"import cycle among {sorted(set(uses) - done)}"
        done |= ready
    for name in ("BasicBlock", "Bottleneck", "ResNetBackbone", "CenterAlignedDownsample", "read_state_dict",
                 "BVLCAlexNet", "torchvision_alexnet_mfst", "SiamFCAlexNet", "AlexNetLegacy"):
        assert hasattr(package, name), name  # the package still offers every name it offered as one module


def test_registry_names_and_errors():
    assert {"resnet50", "resnet50_pysot", "alexnet_legacy", "mobilenetv2", "torchvision_vgg19",
            "torchvision_resnet34", "torchvision_resnet50", "torchvision_densenet169",
            "torchvision_inception_v3"} <= set(BACKBONES)
    with pytest.raises(ValueError, match=r"unknown backbone 'vgg99'; choose one of \["):
        build_backbone("vgg99")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['depth'\]; accepted: \['width_mult'\]"):
        build_backbone("alexnet_legacy", depth=3)
    with META:
        assert build_backbone("resnet50_pysot").out_channels == [512, 1024, 2048]
        assert build_backbone("mobilenetv2", width_mult=1.4).out_channels == [44, 134, 448]


# torchvision network -> (total parameters up to conv5, conv3/4/5 channels, conv3/4/5 sides for 127 and 255)
TORCHVISION = {
    "torchvision_alexnet": (2_469_696, [384, 256, 256], [(7, 7, 7), (15, 15, 15)]),
    "torchvision_vgg19": (20_024_384, [256, 512, 512], [(31, 15, 7), (63, 31, 15)]),
    "torchvision_resnet34": (21_284_672, [128, 256, 512], [(16, 8, 4), (32, 16, 8)]),
    "torchvision_resnet50": (23_508_032, [512, 1024, 2048], [(16, 8, 4), (32, 16, 8)]),
    "torchvision_densenet169": (12_481_152, [512, 1280, 1664], [(16, 8, 4), (32, 16, 8)]),
    "torchvision_inception_v3": (21_785_568, [288, 768, 2048], [(13, 6, 2), (29, 14, 6)]),
}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_taps_channels_and_sizes(name):
    parameters, channels, sides = TORCHVISION[name]
    with META:
        backbone = build_backbone(name)
    assert count(backbone) == parameters and backbone.out_channels == channels
    for size, expected in zip((127, 255), sides):
        features = backbone(torch.empty(1, 3, size, size, device=META))
        assert [f.shape[1] for f in features] == channels
        assert tuple(f.shape[-1] for f in features) == expected, (name, size)
    groups = backbone.layer_groups()
    assert list(groups) == ["conv3", "conv4", "conv5"]
    # the groups partition the parameters: each one exactly once
    grouped = [id(p) for group in groups.values() for p in group.parameters()]
    assert sorted(grouped) == sorted(id(p) for p in backbone.parameters())


def test_stride_changes_and_removals_after_construction():
    with META:
        plain = build_backbone("torchvision_resnet50", outputs=["conv4"])
        # the conv4 block (layer3) at stride 1: its 3x3 conv and its shortcut
        finer = build_backbone("torchvision_resnet50", outputs=["conv4"],
                               strides={"layer3.0.conv2": 1, "layer3.0.downsample.0": 1})
        # VGG-19 without its fourth max-pool: conv5 at stride 8 instead of 16
        vgg = build_backbone("torchvision_vgg19", outputs=["conv5"], remove=["features.27"])
    image = torch.empty(1, 3, 255, 255, device=META)
    assert plain(image)[0].shape[-1] == 16 and finer(image)[0].shape[-1] == 32
    assert vgg(image)[0].shape[-1] == 31
    assert count(finer) == count(plain)
    with pytest.raises(ValueError, match="no module 'features.99'"):
        with META:
            build_backbone("torchvision_vgg19", remove=["features.99"])
    with pytest.raises(ValueError, match=r"outputs \['conv6'\] are not taps"):
        with META:
            build_backbone("torchvision_vgg19", outputs=["conv6"])


def test_imagenet_weights_from_a_file(tmp_path):
    import torchvision

    torch.manual_seed(0)
    imagenet = torchvision.models.alexnet()
    path = tmp_path / "alexnet.pth"
    torch.save(imagenet.state_dict(), path)  # with the classifier, which the features do not use
    backbone = TorchvisionFeatures("alexnet", weights=str(path))
    later = TorchvisionFeatures("alexnet")
    later.load_pretrained(str(path))
    reference = imagenet.state_dict()
    for key, value in backbone.state_dict().items():
        name = key.removeprefix("body.")
        assert torch.equal(value, reference[name]) and torch.equal(later.state_dict()[key], value), key
    image = torch.rand(1, 3, 127, 127)
    expected = imagenet.features[:12](image)  # through conv5's ReLU
    assert torch.allclose(backbone(image)[2], expected, atol=1e-6)
    torch.save({"other": torch.zeros(1)}, tmp_path / "wrong.pth")
    with pytest.raises(Exception, match="entries missing|lack"):
        TorchvisionFeatures("alexnet", weights=str(tmp_path / "wrong.pth"))


# ---------------------------------------------------------------------------------------------- ops
def test_plain_xcorr_equals_a_direct_sum():
    torch.manual_seed(0)
    search, exemplar = torch.randn(2, 3, 9, 8), torch.randn(2, 3, 4, 3)
    out = xcorr(search, exemplar)
    assert out.shape == (2, 1, 6, 6)
    for b in range(2):
        for i in range(6):
            for j in range(6):
                expected = (search[b, :, i:i + 4, j:j + 3] * exemplar[b]).sum()
                assert torch.allclose(out[b, 0, i, j], expected, atol=1e-5)
    # one exemplar for three searches (the scales of a frame): the same as repeating the exemplar
    many = torch.randn(6, 3, 9, 8)
    shared = xcorr(many, exemplar)
    repeated = xcorr(many, exemplar.repeat_interleave(3, dim=0))
    assert torch.allclose(shared, repeated, atol=1e-6)
    with pytest.raises(ValueError, match="cannot share"):
        xcorr(torch.randn(5, 3, 9, 8), exemplar)


def test_per_exemplar_xcorr_is_each_exemplar_alone():
    """Two exemplars, three searches each (two sequences' scales in lockstep): each response is bit for bit the
    one its exemplar alone gives; the grouped ``xcorr`` agrees up to rounding."""
    torch.manual_seed(2)
    search, exemplar = torch.randn(6, 16, 22, 22), torch.randn(2, 16, 6, 6)
    out = xcorr_per_exemplar(search, exemplar)
    alone = torch.cat([xcorr(search[3 * i:3 * i + 3], exemplar[i:i + 1]) for i in range(2)])
    assert out.shape == (6, 1, 17, 17) and torch.equal(out, alone)
    torch.testing.assert_close(out, xcorr(search, exemplar), rtol=1e-5, atol=1e-4)  # values ~ 25
    with pytest.raises(ValueError, match="cannot share"):
        xcorr_per_exemplar(torch.randn(5, 16, 22, 22), exemplar)


def test_depthwise_and_up_channel_correlation():
    torch.manual_seed(1)
    search, kernel = torch.randn(2, 4, 7, 7), torch.randn(2, 4, 3, 3)
    out = xcorr_depthwise(search, kernel)
    for b in range(2):
        for c in range(4):
            expected = F.conv2d(search[b:b + 1, c:c + 1], kernel[b:b + 1, c:c + 1])
            assert torch.allclose(out[b:b + 1, c:c + 1], expected, atol=1e-5)
    filters = torch.randn(2, 5 * 4, 3, 3)  # 5 output maps over 4 channels per sample
    up = xcorr_up_channel(search, filters)
    assert up.shape == (2, 5, 5, 5)
    assert torch.allclose(up[1:2], F.conv2d(search[1:2], filters[1].reshape(5, 4, 3, 3)), atol=1e-5)


def test_squeeze_excitation_gates_and_mfst_parameter_count():
    torch.manual_seed(2)
    block = SqueezeExcitation(384, reduction=4)
    assert (block.squeeze.out_channels, block.excite.out_channels) == (96, 384)
    assert torch.count_nonzero(block.squeeze.bias) == 0 and torch.count_nonzero(block.excite.bias) == 0
    x = torch.randn(2, 384, 6, 6)
    gates = block.gates(x)
    assert gates.shape == (2, 384, 1, 1) and bool(((gates > 0) & (gates < 1)).all())
    expected = torch.sigmoid(block.excite(torch.relu(block.squeeze(x.mean((2, 3), keepdim=True)))))
    assert torch.allclose(gates, expected) and torch.allclose(block(x), x * expected)
    # MFST: one block per conv3 (384), conv4 (384), conv5 (256) of a branch: 181,504 parameters
    assert sum(count(SqueezeExcitation(c, 4)) for c in (384, 384, 256)) == 181_504
    with pytest.raises(ValueError, match="reduction"):
        SqueezeExcitation(3, reduction=4)
