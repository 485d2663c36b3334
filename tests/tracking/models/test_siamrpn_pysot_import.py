"""pysot checkpoint import: key mapping round trip, the reference's key names and shapes, the CLI end to end."""
import numpy as np
import pytest
import torch

from tracking.errors import DataError
from experiments.config_library import resolved_config
from tracking.models.config import network_config
from tracking.models.siamrpn import SiamRPN


def network(config: str, **changes):
    """The network of a packaged training config, with ``changes``."""
    return network_config(resolved_config(config).model.init_args.network.as_dict()).replace(**changes)
from tracking.models.pysot_import import pysot_to_suite, suite_to_pysot

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def expected_pysot_head_and_neck(levels, hidden=256, channels_in=None, anchor_num=5, weighted=True, bare=False):
    """pysot's neck / rpn_head key names and shapes, written from neck.py and rpn.py (AdjustAllLayer, MultiRPN
    of DepthwiseRPN of DepthwiseXCorr; ``bare``: a lone DepthwiseRPN, no neck)."""
    keys = {}
    if channels_in is not None:
        for i, c in enumerate(channels_in):
            keys[f"neck.downsample{i + 2}.downsample.0.weight"] = (256, c, 1, 1)
            for leaf in BN:
                keys[f"neck.downsample{i + 2}.downsample.1.{leaf}"] = () if leaf == "num_batches_tracked" else (256,)
    for level in range(levels):
        prefix = "rpn_head." if bare else f"rpn_head.rpn{level + 2}."
        for branch, out in (("cls", 2 * anchor_num), ("loc", 4 * anchor_num)):
            for conv in ("conv_kernel", "conv_search"):
                keys[f"{prefix}{branch}.{conv}.0.weight"] = (hidden, 256, 3, 3)
                for leaf in BN:
                    keys[f"{prefix}{branch}.{conv}.1.{leaf}"] = () if leaf == "num_batches_tracked" else (hidden,)
            keys[f"{prefix}{branch}.head.0.weight"] = (hidden, hidden, 1, 1)
            for leaf in BN:
                keys[f"{prefix}{branch}.head.1.{leaf}"] = () if leaf == "num_batches_tracked" else (hidden,)
            keys[f"{prefix}{branch}.head.3.weight"] = (out, hidden, 1, 1)
            keys[f"{prefix}{branch}.head.3.bias"] = (out,)
    if weighted:
        keys["rpn_head.cls_weight"] = (levels,)
        keys["rpn_head.loc_weight"] = (levels,)
    return keys


def shapes(state):
    return {k: tuple(v.shape) for k, v in state.items()}


@pytest.mark.parametrize("name, channels, weighted", [
    ("siamrpnpp/r50_l234_dwxcorr", [512, 1024, 2048], True),
    ("siamrpnpp/r50_l234_dwxcorr_otb", [512, 1024, 2048], False),
    ("siamrpnpp/mobilev2_l234_dwxcorr", [44, 134, 448], False),
])
def test_pysot_names_and_shapes_multi_level(name, channels, weighted):
    with torch.device("meta"):  # names and shapes only
        model = SiamRPN(network(name))
    pysot = shapes(suite_to_pysot(model))
    head_neck = {k: v for k, v in pysot.items() if not k.startswith("backbone.")}
    assert head_neck == expected_pysot_head_and_neck(3, channels_in=channels, weighted=weighted)
    backbone = {k: v for k, v in pysot.items() if k.startswith("backbone.")}
    assert backbone == shapes({f"backbone.{k}": v for k, v in model.backbone.state_dict().items()})
    if "r50" in name:  # resnet_atrous.py: conv1 7x7, 3x3 downsample convs in layer2-4
        assert backbone["backbone.conv1.weight"] == (64, 3, 7, 7)
        assert backbone["backbone.layer2.0.downsample.0.weight"] == (512, 256, 3, 3)
        assert backbone["backbone.layer3.0.downsample.0.weight"] == (1024, 512, 3, 3)
        assert backbone["backbone.layer4.0.downsample.0.weight"] == (2048, 1024, 3, 3)
        assert backbone["backbone.layer3.5.conv3.weight"] == (1024, 256, 1, 1)
        assert len(backbone) == 318  # 53 convs + 53 BNs x 5 entries: every ResNet-50 entry up to layer4
    else:  # mobile_v2.py: layer0 conv_bn, InvertedResidual .conv.{0..7}
        assert backbone["backbone.layer0.0.weight"] == (44, 3, 3, 3)
        assert backbone["backbone.layer7.0.conv.6.weight"] == (448, 1344, 1, 1)
        assert backbone["backbone.layer1.0.conv.3.weight"] == (44, 1, 3, 3)  # depth-wise, t = 1 still expands


def test_pysot_names_alexnet_legacy():
    model = SiamRPN(network("siamrpnpp/alex_dwxcorr"))
    pysot = shapes(suite_to_pysot(model))
    assert {k: v for k, v in pysot.items() if k.startswith("rpn_head.")} == \
        expected_pysot_head_and_neck(1, weighted=False, bare=True)
    # alexnet.py AlexNetLegacy.features: conv, bn, pool, relu, conv, bn, pool, relu, conv, bn, relu, conv, bn, relu,
    # conv, bn
    convs = {0: (96, 3, 11, 11), 4: (256, 96, 5, 5), 8: (384, 256, 3, 3), 11: (384, 384, 3, 3), 14: (256, 384, 3, 3)}
    expected = {}
    for index, shape in convs.items():
        expected[f"backbone.features.{index}.weight"] = shape
        expected[f"backbone.features.{index}.bias"] = (shape[0],)
        for leaf in BN:
            expected[f"backbone.features.{index + 1}.{leaf}"] = () if leaf == "num_batches_tracked" else (shape[0],)
    assert {k: v for k, v in pysot.items() if k.startswith("backbone.")} == expected
    assert not any(k.startswith("neck.") for k in pysot)


def test_round_trip_maps_every_r50_entry_onto_itself():
    with torch.device("meta"):
        model = SiamRPN(network("siamrpnpp/r50_l234_dwxcorr"))
        restored = pysot_to_suite(suite_to_pysot(model), model)
    own = model.state_dict()
    assert list(restored) == list(own) and all(restored[k].shape == own[k].shape for k in own)


@pytest.mark.parametrize("config", [
    ("siamrpnpp/alex_dwxcorr", {}),
    ("siamrpnpp/mobilev2_l234_dwxcorr", {"backbone_width_mult": 0.35}),  # narrow: same names, less init
    ("siamrpnpp/table1_alex_up", {"backbone_width_mult": 0.25}),
    ("siamrpnpp/table1_r50_l4_up", {"backbone": "resnet18"}),
], ids=["alex_dw", "mobilev2_l234", "alex_up", "r18_l4_up_neck"])
def test_round_trip_restores_every_tensor(config):
    config = network(config[0], **config[1])
    torch.manual_seed(0)
    source = SiamRPN(config)
    with torch.no_grad():
        for b in source.buffers():
            b.add_(1)
    pysot = {"module." + k: v for k, v in suite_to_pysot(source).items()}  # DataParallel prefix, under state_dict
    torch.manual_seed(1)  # a differently initialised target: every tensor must come from the file
    target = SiamRPN(config)
    restored = pysot_to_suite({"state_dict": pysot, "epoch": torch.tensor(19)}, target)
    target.load_state_dict(restored)
    original = source.state_dict()
    assert set(restored) == set(original)
    assert all(torch.equal(target.state_dict()[k], original[k]) for k in original)


def test_import_errors_name_the_problem():
    alex = SiamRPN(network("siamrpnpp/alex_dwxcorr"))
    pysot = suite_to_pysot(alex)
    # old-PyTorch checkpoints have no BN counters: filled in
    no_counters = {k: v for k, v in pysot.items() if not k.endswith("num_batches_tracked")}
    assert len(pysot_to_suite(no_counters, alex)) == len(alex.state_dict())
    with pytest.raises(DataError, match="missing"):
        pysot_to_suite(pysot, SiamRPN(network("siamrpnpp/table1_alex_up")))
    with pytest.raises(DataError, match="do not belong"):
        pysot_to_suite({**pysot, "mask_head.conv.weight": torch.zeros(1)}, alex)
    narrow = SiamRPN(network("siamrpnpp/alex_dwxcorr", backbone_width_mult=0.5))
    with pytest.raises(DataError, match="wrong shape"):
        pysot_to_suite(pysot, narrow)
    with pytest.raises(DataError, match="not a tensor"):
        pysot_to_suite({**pysot, "epoch": 3}, alex)


def test_import_cli_writes_a_checkpoint_that_tracks(tmp_path):
    from experiments.import_pysot import main
    from lightning_modules.checkpoints import load_tracker
    from lightning_modules.siamrpnpp import SiamRPNppModule
    from tracking.trackers.siamrpn import SiamRPNTracker

    torch.manual_seed(0)
    source = SiamRPN(network("siamrpnpp/alex_dwxcorr")).eval()
    pysot_file = tmp_path / "model.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in suite_to_pysot(source).items()}}, pysot_file)
    assert main(["--pysot", str(pysot_file), "--config", "siamrpnpp/alex_dwxcorr", "--out", str(tmp_path)]) == 0
    ckpt = tmp_path / "alex_dwxcorr.ckpt"
    assert ckpt.is_file()

    module = SiamRPNppModule.load_from_checkpoint(ckpt, map_location="cpu")
    assert module.config == network("siamrpnpp/alex_dwxcorr")
    assert all(torch.equal(module.model.state_dict()[k], v) for k, v in source.state_dict().items())

    tracker = load_tracker(str(ckpt), {"window_influence": 0.3}, "cpu")
    assert tracker.params.window_influence == 0.3 and tracker.params.penalty_k == 0.16
    reference = SiamRPNTracker(source, {"window_influence": 0.3, "penalty_k": 0.16, "lr": 0.3, "instance_size": 287})
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(2)]
    tracker.init(frames[0], [50, 40, 30, 20])
    reference.init(frames[0], [50, 40, 30, 20])
    for frame in frames[1:]:
        np.testing.assert_array_equal(tracker.update(frame), reference.update(frame))

    with pytest.raises(SystemExit):
        main(["--pysot", str(pysot_file), "--config", "siamrpnpp/r50_l234_dwxcorr", "--out", str(tmp_path)])


def test_import_cli_takes_pysot_experiment_names_and_refuses_non_checkpoints(tmp_path, capsys):
    from experiments.import_pysot import main, suite_config

    torch.manual_seed(0)
    source = SiamRPN(network("siamrpnpp/alex_dwxcorr")).eval()
    pysot_file = tmp_path / "model.pth"
    torch.save(suite_to_pysot(source), pysot_file)
    # what a pysot user types: the experiment's name, or its config file
    assert main(["--pysot", str(pysot_file), "--config", "siamrpn_alex_dwxcorr", "--out",
                 str(tmp_path / "a.ckpt")]) == 0
    assert main(["--pysot", str(pysot_file), "--config", "pysot/experiments/siamrpn_alex_dwxcorr/config.yaml",
                 "--out", str(tmp_path / "b.ckpt")]) == 0
    assert suite_config("siamrpn_r50_l234_dwxcorr_otb") == "siamrpnpp/r50_l234_dwxcorr_otb"
    assert suite_config("siamrpnpp/demo") == "siamrpnpp/demo"
    # random bytes: "not a checkpoint", not torch's weights_only advice
    (tmp_path / "random.pth").write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(SystemExit):
        main(["--pysot", str(tmp_path / "random.pth"), "--config", "siamrpn_alex_dwxcorr", "--out", str(tmp_path)])
    message = capsys.readouterr().err
    assert "random.pth: cannot read pysot checkpoint: the file is not a checkpoint" in message
    assert "weights_only" not in message
