"""`make import-siamfc`: siamfc-pytorch checkpoints in their layouts, ImageNet weights for Hierarchical SiamFC's
configs, and clear errors naming the keys for a checkpoint of another architecture or width."""
from __future__ import annotations

import pytest
import torch

from experiments.import_siamfc import main
from lightning_modules.checkpoints import load_module
from tracking.errors import DataError
from tracking.models.siamfc import SiamFC, SiamFCNetwork
from tracking.models.siamfc_import import siamfc_to_suite


def reference_state(seed: int = 0, **network) -> dict:
    torch.manual_seed(seed)
    model = SiamFC(SiamFCNetwork(**network))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
                module.num_batches_tracked.fill_(1234)
    return model.state_dict()


def test_reference_layouts_convert_to_the_same_weights():
    state = reference_state()
    model = SiamFC()
    raw = siamfc_to_suite(state, model)
    assert all(torch.equal(raw[key], value) for key, value in state.items())
    wrapped = {"state_dict": {f"module.{k}": v for k, v in state.items() if not k.endswith("num_batches_tracked")}}
    converted = siamfc_to_suite(wrapped, model)
    assert set(converted) == set(state)
    for key, value in state.items():
        expected = model.state_dict()[key] if key.endswith("num_batches_tracked") else value  # the model's own
        assert torch.equal(converted[key], expected), key


def test_another_architecture_is_an_error_naming_its_keys(tmp_path):
    from tracking.models.config import SiamRPNNetwork
    from tracking.models.pysot_import import suite_to_pysot
    from tracking.models.siamrpn import SiamRPN

    pysot_alexnet = suite_to_pysot(SiamRPN(SiamRPNNetwork(backbone="alexnet_legacy", used_layers=(5,),
                                                          neck_channels=None, weighted=False, base_size=0,
                                                          head_hidden=16, backbone_width_mult=0.25)))
    with pytest.raises(DataError, match=r"weights of the SiamFC AlexNet are missing, e\.g\. \['backbone\.conv1\.0\.bias'"
                                        r".*entries do not belong to it, e\.g\. \['backbone\.features\.0\.bias'"):
        siamfc_to_suite(pysot_alexnet, SiamFC())
    narrow = reference_state(backbone_options={"width_mult": 0.5})
    with pytest.raises(DataError, match=r"wrong shape.*backbone\.conv1\.0\.weight: \(48, 3, 11, 11\) \(expected "
                                        r"\(96, 3, 11, 11\)\)"):
        siamfc_to_suite(narrow, SiamFC())
    with pytest.raises(DataError, match="not a siamfc-pytorch state dict"):
        siamfc_to_suite({}, SiamFC())
    path = tmp_path / "pysot_alex.pth"
    torch.save(pysot_alexnet, path)
    with pytest.raises(SystemExit) as exit_info:
        main(["--siamfc", str(path), "--out", str(tmp_path / "x.ckpt")])
    assert exit_info.value.code == 2 and not (tmp_path / "x.ckpt").exists()
    with pytest.raises(SystemExit):
        main(["--siamfc", str(tmp_path / "missing.pth"), "--out", str(tmp_path / "x.ckpt")])


def test_imagenet_weights_for_a_paper_000_config(tmp_path):
    """--imagenet loads torchvision ImageNet weights into the backbone of an hsiamfc config (here a variant on
    torchvision's AlexNet, so the test stays small; the paper's VGG-19 / ResNet-50 / DenseNet-169 load the same
    way) and the checkpoint runs the hierarchical tracker; a siamfc config refuses them."""
    import torchvision

    torch.manual_seed(0)
    imagenet = torchvision.models.alexnet()
    weights = tmp_path / "alexnet-owt.pth"
    torch.save(imagenet.state_dict(), weights)  # with its classifier, as torchvision's file
    config = tmp_path / "hsiamfc_alexnet.yaml"
    config.write_text("base: hsiamfc/vgg19\nmodel:\n  init_args:\n    network:\n      backbone: torchvision_alexnet\n"
                      "      backbone_options: {}\n")
    assert main(["--imagenet", str(weights), "--config", str(config), "--out", str(tmp_path / "h.ckpt")]) == 0
    module = load_module(tmp_path / "h.ckpt")
    backbone = module.model.backbone.state_dict()
    for key, value in imagenet.state_dict().items():
        if key.startswith("features."):
            assert torch.equal(backbone[f"body.{key}"], value), key
    assert module.main_tracker == "hierarchical" and type(module.build_tracker()).__name__ == "HierarchicalSiamFCTracker"
    with pytest.raises(SystemExit):
        main(["--imagenet", str(weights), "--out", str(tmp_path / "s.ckpt")])  # siamfc/alexnet: not torchvision
    with pytest.raises(SystemExit):
        main(["--siamfc", str(weights), "--config", str(config), "--out", str(tmp_path / "t.ckpt")])
    assert not (tmp_path / "s.ckpt").exists() and not (tmp_path / "t.ckpt").exists()
