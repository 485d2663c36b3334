"""``SiameseModule``, the base of every paper's module: schedules, the freeze protocol over several backbones,
trackers by name with per-benchmark values, and a second module added without touching the suite's entry points
(trained by ``experiments.train``, evaluated by ``experiments.evaluate``, benchmarked by ``experiments.bench``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lightning_modules.base import OptimizerSchedule, SiameseModule, lr_space, plain
from tracking.crops import context_size, crop_and_resize
from tracking.models.backbones import Backbone
from tracking.models.ops import xcorr
from tracking.network_input import to_network_layout


# ---------------------------------------------------------------------------------------------- a second paper
class TinyBackbone(Backbone):
    """Two stride-4 convolutions: 127 -> 7 x 7, 255 -> 15 x 15 features."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, width, 7, stride=4), nn.BatchNorm2d(width), nn.ReLU())
        self.conv2 = nn.Conv2d(width, width, 5, stride=4)
        self.out_channels = [width]

    def forward(self, x):
        return [self.conv2(self.conv1(x / 255.0))]

    def layer_groups(self):
        return {"conv1": self.conv1, "conv2": self.conv2}


class TwoBranchNetwork(nn.Module):
    """Two backbones ("s" and "a", as MFST has) whose plain correlations are averaged."""

    def __init__(self, width: int):
        super().__init__()
        self.s, self.a = TinyBackbone(width), TinyBackbone(width)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, template, search):
        responses = [xcorr(branch(search)[0], branch(template)[0]) for branch in (self.s, self.a)]
        return 0.001 * sum(responses) / 2 + self.bias


@dataclass(frozen=True)
class PeakParams:
    context_amount: float = 0.5
    search_scale: float = 2.0  # search crop side / exemplar crop side


class PeakTracker:
    """Moves the box's centre to the response peak (a plain SiamFC step without scales or window)."""

    name = "Peak"
    params_class = PeakParams

    def __init__(self, network, params: PeakParams, device="cpu"):
        self.network, self.params = network.to(device).eval(), params

    def _crop(self, image, side, size):
        patch = crop_and_resize(image, self.center, side, size, fill=self.mean)
        return torch.from_numpy(to_network_layout(patch, "bgr255"))[None]

    def init(self, image, box):
        self.center = np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])
        self.size = np.array(box[2:], dtype=np.float64)
        self.mean = image.mean(axis=(0, 1))
        self.side = context_size(*self.size, self.params.context_amount)
        self.template = self._crop(image, round(self.side), 127)

    @torch.no_grad()
    def update(self, image):
        search_side = self.side * self.params.search_scale
        response = self.network(self.template, self._crop(image, round(search_side), 255))[0, 0]
        row, column = np.unravel_index(int(response.argmax()), response.shape)
        offset = (np.array([column, row]) - (response.shape[0] - 1) / 2) * 16 * search_side / 255
        self.center = self.center + offset
        return np.array([*(self.center - self.size / 2), *self.size])


class ToySiameseModule(SiameseModule):
    """A module the suite did not know: its own network, loss and tracker, nothing else."""

    trackers = {"peak": PeakTracker}
    main_tracker = "peak"

    def __init__(self, width: int = 8, tracker: PeakParams = PeakParams(), benchmark_tracker: dict | None = None,
                 optim: OptimizerSchedule = OptimizerSchedule()):
        super().__init__(optim, tracker, None, benchmark_tracker)
        self.save_hyperparameters(plain({"width": width, "optim": self.optim}))
        self.model = TwoBranchNetwork(width)
        self.freeze_backbones()

    def backbones(self):
        return {"s": self.model.s, "a": self.model.a}

    def parameter_groups(self):
        return [{"name": "head", "params": [self.model.bias]}]

    def training_crops(self):
        return {"template_size": 127, "search_size": 255, "context_amount": 0.5, "image_format": "bgr255"}

    def compute_losses(self, batch, generator):
        response = self.model(batch["template"], batch["search"])
        labels = torch.zeros_like(response)
        labels[..., response.shape[-2] // 2, response.shape[-1] // 2] = 1.0
        return {"total": F.binary_cross_entropy_with_logits(response, labels)}


# ---------------------------------------------------------------------------------------------- schedules
def test_exponential_schedule_is_siamfc_pytorchs():
    # siamfc-pytorch: ExponentialLR(gamma = (1e-5 / 1e-2) ** (1 / 50)), stepped once per epoch
    space = lr_space(50, 1e-2, 1e-5, "exp")
    gamma = (1e-5 / 1e-2) ** (1 / 50)
    assert space.shape == (50,)
    assert np.allclose(space, [1e-2 * gamma ** epoch for epoch in range(50)], rtol=1e-12)
    assert space[0] == pytest.approx(1e-2) and space[-1] == pytest.approx(1e-5 / gamma)


# ---------------------------------------------------------------------------------------------- freezing
def test_freeze_protocol_spans_several_backbones():
    module = ToySiameseModule(optim={"base_lr": 0.01, "lr_policy": "exp", "lr_start": 0.01, "lr_end": 0.001,
                                     "warmup_epochs": 0})
    groups = module.backbone_groups()
    assert list(groups) == ["s.conv1", "s.conv2", "a.conv1", "a.conv2"]
    assert all(not p.requires_grad for p in module.backbone_parameters())
    module.train()
    assert not module.model.s.conv1[1].training  # frozen BN stays in eval mode
    module.set_trainable_backbone_layers(["a.conv1", "s.conv2"], lr_scale=0.5)
    assert module.model.a.conv1[1].training and not module.model.s.conv1[1].training
    trainable = {name for name, p in module.model.named_parameters() if p.requires_grad}
    assert trainable == {"a.conv1.0.weight", "a.conv1.0.bias", "a.conv1.1.weight", "a.conv1.1.bias",
                         "s.conv2.weight", "s.conv2.bias", "bias"}
    optimizer = module.configure_optimizers()["optimizer"]
    assert [g["name"] for g in optimizer.param_groups] == ["backbone", "head"]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.005)  # 0.5 x the exp schedule's 0.01
    backbone_ids = {id(p) for p in optimizer.param_groups[0]["params"]}
    assert backbone_ids == {id(p) for p in module.backbone_parameters()}  # both backbones, frozen ones too
    with pytest.raises(ValueError, match=r"unknown backbone layer group\(s\) \['conv1'\]; the groups are"):
        module.set_trainable_backbone_layers(["conv1"])


def test_trackers_by_name_and_benchmark():
    module = ToySiameseModule(tracker={"search_scale": "2.5"}, benchmark_tracker={"vot": {"peak": {"context_amount": 1}}})
    assert module.tracker_params().search_scale == 2.5  # typed: text becomes a float
    assert module.tracker_params(benchmark="vot") == PeakParams(context_amount=1.0, search_scale=2.5)
    assert module.tracker_params("peak", "otb", context_amount=0.25).context_amount == 0.25
    with pytest.raises(ValueError, match=r"unknown tracker 'siamrpn' for ToySiameseModule; accepted: \['peak'\]"):
        module.build_tracker("siamrpn")
    with pytest.raises(ValueError, match=r"benchmark_tracker.vot.peak: unknown key\(s\) \['scale'\]"):
        ToySiameseModule(benchmark_tracker={"vot": {"peak": {"scale": 1}}})
    with pytest.raises(ValueError, match=r"unknown tracker\(s\) \['other'\]"):
        SiameseModule.__init__(ToySiameseModule.__new__(ToySiameseModule), OptimizerSchedule(), None, {"other": {}})


# ---------------------------------------------------------------------------------------------- the assembly
@pytest.mark.timeout(300)
def test_a_new_module_trains_evaluates_and_benches_through_the_suites_commands(tmp_path):
    from experiments import bench, evaluate
    from experiments.train import main as train_main
    from tracking.synthetic.training_formats import write_vid
    from tracking.synthetic.video import generate_videos
    from tracking.synthetic.writers import write_otb

    write_vid(generate_videos(1, 3, num_frames=8, size=(96, 128)), tmp_path / "data" / "vid")
    write_otb(generate_videos(4, 2, num_frames=5, size=(96, 128), difficulty="easy"), tmp_path / "otb")
    config = tmp_path / "toy.yaml"
    config.write_text(f"""
model:
  class_path: {ToySiameseModule.__module__}.ToySiameseModule
  init_args:
    width: 4
    benchmark_tracker: {{otb: {{peak: {{search_scale: 2.0}}}}}}
    optim: {{base_lr: 0.01, epochs: 2, lr_policy: exp, lr_start: 0.01, lr_end: 0.001, warmup_epochs: 0}}
data:
  class_path: datamodules.pair_datamodule.PairDataModule
  init_args:
    sources: {{vid: {{frame_range: 5}}}}
    videos_per_epoch: 4
    batch_size: 2
    num_workers: 0
    val_pairs: 0
    progress: false
trainer:
  callbacks:
    - class_path: callbacks.backbone_unfreeze.BackboneUnfreeze
      init_args: {{epoch: 1, layers: [s.conv2, a.conv2], lr_scale: 1.0}}
logging:
  wandb: false
""")
    out = tmp_path / "runs" / "toy"
    trainer = train_main(["--config", str(config), "--data_root", str(tmp_path / "data"), "--out", str(out),
                          "--trainer.enable_progress_bar=false"])
    assert trainer.current_epoch == 2 and trainer.global_step == 4  # the module's own 2-epoch schedule
    module = trainer.lightning_module
    assert module.trainable_backbone_layers == ("s.conv2", "a.conv2")
    ckpt = out / "checkpoints" / "last.ckpt"
    evaluation = evaluate.main(["otb", "--ckpt", str(ckpt), "--data", str(tmp_path / "otb"), "--out",
                                str(tmp_path / "eval"), "--device", "cpu", "--no-progress", "--tracker", "peak",
                                "--set", "context_amount=0.4"])
    assert evaluation.scores["num_sequences"] == 2 and 0 <= evaluation.scores["success_auc"] <= 1
    with pytest.raises(ValueError, match=r"accepted: \['peak'\]"):
        evaluate.main(["otb", "--ckpt", str(ckpt), "--data", str(tmp_path / "otb"), "--out", str(tmp_path / "e2"),
                       "--tracker", "siamrpn", "--no-progress"])
    [result] = bench.main(["--configs", str(config), "--device", "cpu", "--frames", "2", "--warmup", "0",
                           "--batch-size", "2", "--train-steps", "1"])
    assert result.tracker == "peak" and result.tracker_fps > 0 and result.train_pairs_per_s > 0
