"""``pretrained_backbone: imagenet``: the paper's ImageNet weights found in torchvision's cache (random weights saved
here under the real file names and keys), a clear refusal when they are missing offline, ``none`` on purpose."""
from __future__ import annotations

import urllib.error

import pytest
import torch

from experiments.config_library import resolved_config
from experiments.train import main
from tracking.errors import DataError
from tracking.models.config import SiamRPNNetwork
from tracking.models.imagenet_weights import imagenet_weights_file
from tracking.models.pysot_import import suite_to_pysot
from tracking.models.siamrpn import SiamRPN


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torchvision cache, on a machine that cannot download."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(url, destination, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path / "torch"


def test_torchvision_weights_are_found_in_the_cache_under_their_real_name(torch_home):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    imagenet = torchvision.models.resnet18()
    path = imagenet_weights_file("resnet18-f37072fd.pth")  # torchvision's name of IMAGENET1K_V1
    assert path == torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    torch.save(imagenet.state_dict(), path)
    model = SiamRPN(SiamRPNNetwork(backbone="resnet18", used_layers=(2, 3), neck_channels=16, head_hidden=16,
                                  image_format="rgb_normalized"))
    model.backbone.load_pretrained("imagenet")
    reference = imagenet.state_dict()
    assert all(torch.equal(value, reference[key]) for key, value in model.backbone.state_dict().items())


def test_pysots_pretrained_model_file_is_found_in_the_cache(torch_home):
    torch.manual_seed(1)
    source = SiamRPN(SiamRPNNetwork(backbone="alexnet_legacy", used_layers=(5,), neck_channels=None, head="up",
                                   weighted=False, base_size=0))
    legacy = {key[len("backbone."):]: value for key, value in suite_to_pysot(source).items()
              if key.startswith("backbone.")}  # pysot's 'features.N' names, as alexnet-bn.pth holds them
    path = imagenet_weights_file("alexnet-bn.pth")
    path.parent.mkdir(parents=True)
    torch.save(legacy, path)
    target = SiamRPN(SiamRPNNetwork(backbone="alexnet_legacy", used_layers=(5,), neck_channels=None, head="up",
                                   weighted=False, base_size=0))
    target.backbone.load_pretrained("imagenet")
    assert all(torch.equal(value, source.backbone.state_dict()[key])
               for key, value in target.backbone.state_dict().items())


def test_missing_weights_offline_are_refused_with_the_file_and_the_ways_on(torch_home):
    model = SiamRPN(SiamRPNNetwork(backbone="resnet18", used_layers=(2, 3), neck_channels=16, head_hidden=16,
                                  image_format="rgb_normalized"))
    with pytest.raises(DataError, match=r"hub/checkpoints/resnet18-f37072fd\.pth: ImageNet weights of the "
                                        r"ResNetBackbone backbone not found \(torchvision's resnet18 IMAGENET1K_V1; "
                                        r"this machine could not download it\).*pretrained_backbone=none"):
        model.backbone.load_pretrained("imagenet")
    assert not (torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth").exists()  # nothing half-written


def test_a_launch_without_its_imagenet_weights_stops_before_writing(torch_home, tmp_path):
    from tracking.synthetic.training_formats import write_vid
    from tracking.synthetic.video import generate_videos

    write_vid(generate_videos(1, 2, num_frames=6, size=(120, 160)), tmp_path / "data" / "vid")
    out = tmp_path / "run"
    with pytest.raises(DataError, match=r"alexnet-bn\.pth: ImageNet weights .* not found \(pysot's "
                                        r"pretrained_models/alexnet-bn\.pth; it cannot be downloaded\)"):
        main(["--config", "siamrpnpp/demo", "--data_root", str(tmp_path / "data"), "--out", str(out),
              "--model.init_args.pretrained_backbone=imagenet", "--logging.wandb=false"])
    assert not out.exists()


@pytest.mark.parametrize("config, expected", [
    ("siamrpnpp/r50_l234_dwxcorr", "imagenet"), ("siamrpnpp/alex_dwxcorr", "imagenet"),
    ("siamrpnpp/mobilev2_l234_dwxcorr", "imagenet"), ("siamrpnpp/table1_r50_l4_dw", "imagenet"),
    ("snscf/r50_l234_acf", "imagenet"), ("siamfc/imagenet_vgg19", "imagenet"), ("hsiamfc/resnet50", "imagenet"),
    ("siamrpnpp/demo", "none"), ("snscf/demo", "none"), ("siamfc/demo", "none"), ("siamfc/alexnet", "none")])
def test_configs_start_where_their_paper_starts(config, expected):
    assert resolved_config(config).model.init_args.pretrained_backbone == expected
