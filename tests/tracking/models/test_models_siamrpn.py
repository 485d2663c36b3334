"""SiamRPN++ network components: parameter counts of the reference, feature and score-map sizes, layouts."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from tracking.errors import DataError
from experiments.config_library import config_names, resolved_config
from tracking.models.anchors import anchor_shapes, generate_anchors
from tracking.models.backbones import AlexNetLegacy, MobileNetV2Backbone, ResNetBackbone
from tracking.models.config import SiamRPNNetwork, network_config
from tracking.models.heads import MultiLevelRPN, Neck
from tracking.models.ops import xcorr_depthwise, xcorr_up_channel
from tracking.models.siamrpn import SiamRPN


def network(config: str, **changes) -> SiamRPNNetwork:
    """The network of a packaged training config, with ``changes``."""
    return network_config(resolved_config(config).model.init_args.network.as_dict()).replace(**changes)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# Shape-only checks build the big networks on the meta device: no memory, no initialisation, no compute.
META = torch.device("meta")


def test_r50_dw_parameter_counts_match_the_reference():
    with META:
        model = SiamRPN(network("siamrpnpp/r50_l234_dwxcorr"))
    assert count(model) == 53_950_624
    assert count(model.backbone) == 45_528_128
    assert count(model.neck) == 919_040
    assert count(model.head) == 7_503_456


def test_torchvision_layout_has_torchvision_parameter_names_and_shapes():
    torchvision = pytest.importorskip("torchvision")
    with META:
        ours = ResNetBackbone("resnet50", used_layers=(2, 3, 4), layout="torchvision").state_dict()
        reference = {k: v for k, v in torchvision.models.resnet50().state_dict().items() if not k.startswith("fc.")}
    assert set(ours) == set(reference)
    assert all(ours[k].shape == reference[k].shape for k in ours)
    assert sum(v.numel() for k, v in ours.items() if "running" not in k and "num_batches" not in k) == 23_508_032
    # ResNet-18 too (BasicBlock)
    with META:
        ours18 = ResNetBackbone("resnet18", used_layers=(2, 3, 4), layout="torchvision").state_dict()
        ref18 = {k: v for k, v in torchvision.models.resnet18().state_dict().items() if not k.startswith("fc.")}
    assert set(ours18) == set(ref18) and all(ours18[k].shape == ref18[k].shape for k in ours18)


def test_pysot_layout_downsample_convs_and_dilations():
    with META:
        net = ResNetBackbone("resnet50", used_layers=(2, 3, 4), layout="pysot")
    assert net.conv1.padding == (0, 0)
    ds2, ds3, ds4 = net.layer2[0].downsample[0], net.layer3[0].downsample[0], net.layer4[0].downsample[0]
    assert (ds2.kernel_size, ds2.stride, ds2.padding, ds2.dilation) == ((3, 3), (2, 2), (0, 0), (1, 1))
    assert (ds3.kernel_size, ds3.stride, ds3.padding, ds3.dilation) == ((3, 3), (1, 1), (1, 1), (1, 1))
    assert (ds4.kernel_size, ds4.stride, ds4.padding, ds4.dilation) == ((3, 3), (1, 1), (2, 2), (2, 2))
    assert net.layer2[0].conv2.padding == (0, 0) and net.layer2[0].conv2.stride == (2, 2)
    # first block of a dilated stage at half the dilation, the others at full dilation
    assert net.layer3[0].conv2.dilation == (1, 1) and net.layer3[1].conv2.dilation == (2, 2)
    assert net.layer4[0].conv2.dilation == (2, 2) and net.layer4[2].conv2.dilation == (4, 4)
    assert net.layer4[2].conv2.padding == (4, 4)


@pytest.mark.parametrize("depth", ["resnet18", "resnet34", "resnet50"])
@pytest.mark.parametrize("layout", ["pysot", "torchvision"])
def test_resnet_feature_sizes_15_and_31(depth, layout):
    expansion = 4 if depth == "resnet50" else 1
    with META:
        net = ResNetBackbone(depth, used_layers=(2, 3, 4), layout=layout).eval()
        template = net(torch.zeros(1, 3, 127, 127))
        search = net(torch.zeros(1, 3, 255, 255))
    assert [t.shape[1] for t in template] == [128 * expansion, 256 * expansion, 512 * expansion]
    assert net.out_channels == [128 * expansion, 256 * expansion, 512 * expansion]
    assert all(t.shape[2:] == (15, 15) for t in template)
    assert all(s.shape[2:] == (31, 31) for s in search)


def test_torchvision_layout_downsample_is_centre_aligned():
    """layer2's 1x1 stride-2 shortcut reads the centre pixel of each unpadded 3x3 stride-2 window."""
    torch.manual_seed(0)
    net = ResNetBackbone("resnet18", used_layers=(2,), layout="torchvision").eval()
    block = net.layer2[0]
    x = torch.randn(1, 64, 31, 31)
    with torch.no_grad():
        shortcut = block.downsample(x)
        by_hand = block.downsample[1](F.conv2d(x, block.downsample[0].weight)[:, :, 1:30:2, 1:30:2])
    assert shortcut.shape[2:] == block.bn1(block.conv1(x)).shape[2:] == (15, 15)
    assert torch.allclose(shortcut, by_hand, atol=1e-5)


def test_alexnet_and_mobilenet_layouts():
    with META:
        alex = AlexNetLegacy().eval()
        assert count(alex) == 3_749_952
        assert all(m.groups == 1 for m in alex.modules() if isinstance(m, nn.Conv2d))
        assert sum(isinstance(m, nn.BatchNorm2d) for m in alex.modules()) == 5
        assert alex(torch.zeros(1, 3, 127, 127))[0].shape == (1, 256, 6, 6)
        assert alex(torch.zeros(1, 3, 287, 287))[0].shape == (1, 256, 26, 26)
        mobile = MobileNetV2Backbone(width_mult=1.4, used_layers=(3, 5, 7)).eval()
        assert mobile.out_channels == [44, 134, 448]
        outputs = mobile(torch.zeros(1, 3, 127, 127))
    assert [tuple(o.shape[1:]) for o in outputs] == [(44, 15, 15), (134, 15, 15), (448, 15, 15)]


def test_neck_crops_template_to_7x7_and_keeps_search():
    neck = Neck([512, 1024], 256).eval()
    assert count(neck) == 512 * 256 + 1024 * 256 + 4 * 256
    assert all(m.bias is None for m in neck.modules() if isinstance(m, nn.Conv2d))
    template = [torch.randn(1, 512, 15, 15), torch.randn(1, 1024, 15, 15)]
    with torch.no_grad():
        out = neck(template)
        full = neck.adjust[0](template[0])
        search = neck([torch.randn(1, 512, 31, 31), torch.randn(1, 1024, 31, 31)])
    assert out[0].shape == (1, 256, 7, 7) and torch.equal(out[0], full[:, :, 4:11, 4:11])
    assert search[1].shape == (1, 256, 31, 31)


def test_depthwise_and_up_channel_xcorr_against_loops():
    gen = torch.Generator().manual_seed(0)
    search, kernel = torch.randn(2, 3, 9, 9, generator=gen), torch.randn(2, 3, 4, 4, generator=gen)
    out = xcorr_depthwise(search, kernel)
    assert out.shape == (2, 3, 6, 6)
    i, c, y, x = 1, 2, 3, 4
    assert torch.isclose(out[i, c, y, x], (search[i, c, y:y + 4, x:x + 4] * kernel[i, c]).sum(), atol=1e-5)
    up_kernel = torch.randn(2, 5 * 3, 4, 4, generator=gen)  # 5 output maps over 3 channels
    up = xcorr_up_channel(search, up_kernel)
    assert up.shape == (2, 5, 6, 6)
    o = 3
    expected = (search[i, :, y:y + 4, x:x + 4] * up_kernel[i, o * 3:(o + 1) * 3]).sum()
    assert torch.isclose(up[i, o, y, x], expected, atol=1e-4)


def test_head_fusion_weighted_softmax_and_mean():
    torch.manual_seed(0)
    head = MultiLevelRPN("dw", 5, [8, 8, 8], hidden=8, weighted=True).eval()
    with torch.no_grad():
        head.cls_weight.copy_(torch.tensor([0.0, 1.0, 2.0]))
        head.loc_weight.copy_(torch.tensor([2.0, 0.0, -1.0]))
    z = [torch.randn(1, 8, 7, 7) for _ in range(3)]
    x = [torch.randn(1, 8, 31, 31) for _ in range(3)]
    with torch.no_grad():
        cls, loc = head(z, x)
        per_level = [level.correlate(level.template_kernels(zi), xi) for level, zi, xi in zip(head.levels, z, x)]
    cw, lw = torch.softmax(head.cls_weight, 0), torch.softmax(head.loc_weight, 0)
    assert cls.shape == (1, 10, 25, 25) and loc.shape == (1, 20, 25, 25)
    assert torch.allclose(cls, sum(w * c for w, (c, _) in zip(cw, per_level)), atol=1e-6)
    assert torch.allclose(loc, sum(w * l for w, (_, l) in zip(lw, per_level)), atol=1e-6)
    head.weighted = False
    with torch.no_grad():
        cls_mean, _ = head(z, x)
    assert torch.allclose(cls_mean, sum(c for c, _ in per_level) / 3, atol=1e-6)
    # the depth-wise head: 3x3 conv+BN+ReLU per branch, 1x1 conv+BN+ReLU, 1x1 conv with bias
    branch = head.levels[0].cls
    assert branch.template_conv.conv.kernel_size == (3, 3) and branch.template_conv.conv.bias is None
    assert branch.fusion.conv.kernel_size == (1, 1) and branch.predict.bias is not None


def test_anchor_shapes_and_grid():
    config = network("siamrpnpp/r50_l234_dwxcorr")
    assert anchor_shapes(config).tolist() == [[104, 32], [88, 40], [64, 64], [40, 80], [32, 96]]
    assert config.score_size_for(255) == 25
    anchors = generate_anchors(config, 255)
    assert anchors.shape == (5 * 25 * 25, 4)
    grid = anchors.reshape(5, 25, 25, 4)
    assert grid[0, 12, 12, :2].tolist() == [127, 127]  # center cell at the crop center
    assert grid[2, 0, 0].tolist() == [31, 31, 64, 64]
    assert grid[4, 3, 7].tolist() == [127 + (7 - 12) * 8, 127 + (3 - 12) * 8, 32, 96]
    alex = network("siamrpnpp/alex_dwxcorr")
    assert alex.score_size_for(287) == 21 and alex.score_size_for(255) == 17
    with pytest.raises(ValueError, match="no score map"):
        alex.score_size_for(100)


def test_up_channel_model_runs_for_real():
    """Real compute through SiamRPN's up-channel head (the meta-device shape tests never run the kernels)."""
    torch.manual_seed(0)
    model = SiamRPN(network("siamrpnpp/table1_alex_up", backbone_width_mult=0.25)).eval()
    with torch.no_grad():
        cls, loc = model(torch.randn(2, 3, 127, 127), torch.randn(2, 3, 255, 255))
    assert cls.shape == (2, 10, 17, 17) and loc.shape == (2, 20, 17, 17)
    assert torch.isfinite(cls).all() and not torch.equal(cls[0], cls[1])


def test_template_features_then_track_equals_forward():
    torch.manual_seed(1)
    config = SiamRPNNetwork(backbone="resnet18", used_layers=(2,), neck_channels=32, head_hidden=32)
    model = SiamRPN(config).eval()
    template, search = torch.randn(1, 3, 127, 127), torch.randn(1, 3, 255, 255)
    with torch.no_grad():
        cls, loc = model(template, search)
        kernels = model.template_features(template)
        cls2, loc2 = model.track_features(kernels, search)
    assert cls.shape == (1, 10, 25, 25)
    assert torch.equal(cls, cls2) and torch.equal(loc, loc2)


def test_forward_levels_equals_forward_and_keeps_whole_template_maps():
    """SNS-CF's access to every level: the same maps as forward, template maps before the neck's 7x7 crop."""
    torch.manual_seed(2)
    config = SiamRPNNetwork(backbone="mobilenetv2", backbone_width_mult=0.35, used_layers=(3, 4, 5),
                            neck_channels=16, head_hidden=16, weighted=True)
    model = SiamRPN(config).eval()
    template, search = torch.randn(1, 3, 127, 127), torch.randn(1, 3, 255, 255)
    with torch.no_grad():
        cls, loc = model(template, search)
        cls2, loc2, template_maps, search_maps = model.forward_levels(template, search)
        cls3, loc3, search_maps3 = model.track_levels(model.template_features(template), search)
        cropped = model.neck(model.backbone(template))
    torch.testing.assert_close(cls2, cls)
    torch.testing.assert_close(loc2, loc)
    assert torch.equal(cls3, cls) and torch.equal(loc3, loc)
    assert [tuple(m.shape) for m in template_maps] == [(1, 16, 15, 15)] * 3
    assert [tuple(m.shape) for m in search_maps] == [(1, 16, 31, 31)] * 3
    for whole, crop in zip(template_maps, cropped):
        assert torch.equal(whole[:, :, 4:11, 4:11], crop)
    for a, b in zip(search_maps, search_maps3):
        assert torch.equal(a, b)


def test_layer_groups_by_name():
    model = SiamRPN(SiamRPNNetwork(backbone="resnet18_pysot", used_layers=(2, 3, 4), neck_channels=16,
                                  head_hidden=16))
    groups = model.backbone.layer_groups()
    assert list(groups) == ["conv1", "layer1", "layer2", "layer3", "layer4"]
    backbone_params = {id(p) for p in model.backbone.parameters()}
    grouped = {id(p) for g in groups.values() for p in g.parameters()}
    assert grouped == backbone_params
    assert list(SiamRPN(network("siamrpnpp/demo")).backbone.layer_groups()) == [f"layer{i}" for i in range(1, 6)]


def test_config_round_trip_and_errors():
    for name in config_names():
        if name.startswith("siamrpnpp/"):
            config = network(name)
            assert network_config(config.to_dict()) == config, name
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['penalty_k'\]"):
        network_config({"penalty_k": 0.1})  # a tracker parameter, not the network's
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        network_config({"backbone": "vgg"})
    with pytest.raises(Exception):
        network("siamrpnpp/r50_l234_dwxcorr").head = "up"  # configs are immutable
    r50 = resolved_config("siamrpnpp/r50_l234_dwxcorr").model.init_args
    assert (r50.tracker.penalty_k, r50.tracker.window_influence, r50.tracker.lr, r50.tracker.instance_size,
            r50.network.base_size) == (0.05, 0.42, 0.38, 255, 8)
    alex = resolved_config("siamrpnpp/alex_dwxcorr").model.init_args
    assert (alex.tracker.penalty_k, alex.tracker.window_influence, alex.tracker.lr, alex.tracker.instance_size,
            alex.network.base_size) == (0.16, 0.4, 0.3, 287, 0)
    assert math.isclose(network("siamrpnpp/mobilev2_l234_dwxcorr").backbone_width_mult, 1.4)


def _geometry(name: str):
    # what decides the map sizes (ResNet/MobileNet levels used share one spatial size, tested above)
    values = resolved_config(name).model.init_args
    config = network(name)
    return (config.backbone, config.head, config.neck_channels is None, config.exemplar_size,
            values.tracker.instance_size, values.train_search_size, config.base_size)


def _one_config_per_geometry() -> list[str]:
    chosen = {}
    for name in config_names():
        if name.startswith("siamrpnpp/"):
            chosen.setdefault(_geometry(name), name)
    return sorted(chosen.values())


@pytest.mark.parametrize("name", _one_config_per_geometry())
def test_configs_output_their_score_size(name):
    """Shapes only (meta tensors, no compute): the network's maps match the anchors' score size, for one config
    of each geometry among the packaged ones."""
    config = network(name)
    values = resolved_config(name).model.init_args
    with torch.device("meta"):
        model = SiamRPN(config)
        for search_size in {values.tracker.instance_size, values.train_search_size}:
            cls, loc = model(torch.empty(2, 3, config.exemplar_size, config.exemplar_size),
                             torch.empty(2, 3, search_size, search_size))
            score = config.score_size_for(search_size)
            assert cls.shape == (2, 2 * config.anchor_num, score, score), (name, search_size)
            assert loc.shape == (2, 4 * config.anchor_num, score, score), (name, search_size)


def test_pretrained_backbone_from_a_torchvision_file(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    imagenet = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(imagenet.state_dict(), path)  # with its fc layer, which the backbone does not use
    model = SiamRPN(SiamRPNNetwork(backbone="resnet18", used_layers=(2, 3), neck_channels=16,
                                  head_hidden=16, image_format="rgb_normalized"))
    model.backbone.load_pretrained(str(path))
    reference = imagenet.state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in model.backbone.state_dict().items())
    # the reference's layout cannot take torchvision's 1x1 shortcut weights: a clear error
    pysot_layout = SiamRPN(SiamRPNNetwork(backbone="resnet18_pysot", used_layers=(2, 3),
                                         neck_channels=16, head_hidden=16))
    with pytest.raises(DataError, match="wrong shapes"):
        pysot_layout.backbone.load_pretrained(str(path))
    with pytest.raises(DataError, match="not found"):
        model.backbone.load_pretrained(str(tmp_path / "missing.pth"))


def test_pretrained_alexnet_from_pysot_legacy_names(tmp_path):
    torch.manual_seed(0)
    source = AlexNetLegacy(width_mult=0.25)
    from tracking.models.pysot_import import suite_key_to_pysot

    config = network("siamrpnpp/alex_dwxcorr")
    legacy = {suite_key_to_pysot("backbone." + k, config): v for k, v in source.state_dict().items()}
    assert "backbone.features.14.weight" in legacy
    torch.save({"state_dict": {"module." + k: v for k, v in legacy.items()}}, tmp_path / "alexnet.pth")
    target = AlexNetLegacy(width_mult=0.25)
    target.load_pretrained(str(tmp_path / "alexnet.pth"))
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in target.state_dict().items())
