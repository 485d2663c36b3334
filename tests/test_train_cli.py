"""Training configs (composition, validation) and ``python -m experiments.train`` end to end on generated data."""
from __future__ import annotations

import csv

import pytest
import torch

from experiments.configs import config_names, load_config, model_config, parse_overrides
from experiments.train import build_datamodule, data_sources, hardware, main, nodes_from_environment
from lightning_modules.siamrpnpp import SiamRPNppModule, pysot_lr_space
from tracking.errors import DataError
from tracking.models.config import PRESETS

PAPER_CONFIGS = ["siamrpn_r50_l234_dwxcorr", "siamrpn_r50_l234_dwxcorr_otb", "siamrpn_alex_dwxcorr",
                 "siamrpn_mobilev2_l234_dwxcorr", "siamrpn_demo"]


# ---------------------------------------------------------------------------------------------- configs
def test_every_paper_variant_and_table1_row_has_a_config():
    names = config_names()
    for name in PAPER_CONFIGS:
        assert name in names
    table1 = sorted(name for name in PRESETS if name.startswith("siamrpn_table1_"))
    assert len(table1) == 12 and set(table1) <= set(names)
    for name in names:
        config = load_config(name)
        model = model_config(config)
        assert config["name"] == name
        if name.startswith("siamrpn_table1_"):
            assert model == PRESETS[name]  # the row's network, tracker and fine-tuning exactly
        elif name in PRESETS and name != "siamrpn_r50_l234_dwxcorr_otb":
            assert model == PRESETS[name], name


def test_r50_config_is_pysot_8gpu_recipe():
    config = load_config("siamrpn_r50_l234_dwxcorr")
    model = model_config(config)
    assert (model.penalty_k, model.window_influence, model.lr) == (0.05, 0.42, 0.38)
    assert model.backbone_train_layers == ("layer2", "layer3", "layer4")
    assert (model.backbone_train_epoch, model.backbone_lr_scale) == (10, 0.1)
    optim = config["optim"]
    module_args = {k: v for k, v in optim.items() if k not in ("grad_clip", "reset_optimizer_state")}
    space = pysot_lr_space(module_args["epochs"], module_args["lr_start"], module_args["lr_end"],
                           module_args["lr_policy"], module_args["warmup_epochs"], module_args["warmup_start_lr"],
                           module_args["warmup_end_lr"], module_args["warmup_step"])
    assert space[0] == pytest.approx(0.001) and space[5] == pytest.approx(0.005) and space[19] == pytest.approx(5e-4)
    assert (optim["momentum"], optim["weight_decay"], optim["grad_clip"], optim["base_lr"]) == (0.9, 1e-4, 10.0, 0.005)
    data = config["data"]
    assert list(data["sources"]) == ["vid", "ytbb", "coco", "det"]
    assert data["sources"]["vid"]["frame_range"] == 100 and data["sources"]["ytbb"]["frame_range"] == 3
    assert (data["videos_per_epoch"], data["negative"], data["batch_size"]) == (600000, 0.2, 28)
    assert (data["search_shift"], data["search_scale"], data["search_blur"]) == (64, 0.18, 0.2)
    assert config["trainer"]["precision"] == "bf16-mixed"


def test_variant_configs_follow_their_pysot_files():
    otb = load_config("siamrpn_r50_l234_dwxcorr_otb")
    model = model_config(otb)
    assert (model.penalty_k, model.window_influence, model.lr, model.weighted) == (0.24, 0.5, 0.25, False)
    assert model.backbone_train_layers == ("layer1", "layer2", "layer3", "layer4")
    assert (otb["optim"]["lr_end"], otb["data"]["batch_size"], otb["data"]["gray"]) == (0.0025, 16, 0.2)
    assert otb["optim"]["warmup_epochs"] == 5  # inherited from its base

    alex = load_config("siamrpn_alex_dwxcorr")
    model = model_config(alex)
    assert (model.instance_size, model.base_size, model.train_score_size) == (287, 0, 17)
    assert (model.backbone_train_layers, model.backbone_lr_scale) == (("layer4", "layer5"), 1.0)
    assert (alex["optim"]["epochs"], alex["optim"]["lr_start"], alex["data"]["negative"]) == (50, 0.01, 0.05)


def test_unknown_keys_name_the_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base: siamrpn_demo\noptim:\n  base_lr: 0.1\n  learning_rate: 0.1\n")
    with pytest.raises(DataError, match=r"bad\.yaml.*optim\.learning_rate"):
        load_config(path)
    path.write_text("base: siamrpn_demo\nmodels:\n  preset: siamrpn_demo\n")
    with pytest.raises(DataError, match=r"bad\.yaml.*unknown section 'models'"):
        load_config(path)
    path.write_text("base: siamrpn_demo\ndata:\n  sources:\n    vid: {frames: 3}\n")
    with pytest.raises(DataError, match=r"data\.sources\.vid\.frames"):
        load_config(path)
    path.write_text("model:\n  preset: siamrpn_demo\n  backbone_depth: 3\n")
    with pytest.raises(DataError, match="model.backbone_depth"):
        load_config(path)
    path.write_text("optim: [1, 2\n")
    with pytest.raises(DataError, match=r"bad\.yaml.*YAML"):
        load_config(path)
    with pytest.raises(DataError, match=r"--set.*trainer\.epochs"):
        load_config("siamrpn_demo", ["trainer.epochs=3"])
    with pytest.raises(DataError, match="no packaged config named 'siamrpn_r51'"):
        load_config("siamrpn_r51")
    with pytest.raises(DataError, match="section.key=value"):
        parse_overrides(["base_lr=3"])


def test_composition_and_overrides(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: siamrpn_r50_l234_dwxcorr_otb\noptim:\n  epochs: 4\n")
    config = load_config(path, ["optim.base_lr=0.02", "data.sources.got10k={}", "data.sources.vid.num_use=7",
                                "tracker.penalty_k=0.3"])
    assert config["name"] == "mine"
    assert config["optim"]["epochs"] == 4 and config["optim"]["base_lr"] == 0.02
    assert config["optim"]["lr_end"] == 0.0025  # from the middle of the chain
    assert config["data"]["sources"]["vid"] == {"frame_range": 100, "num_use": 7}
    assert config["data"]["sources"]["got10k"] == {}
    assert model_config(config).penalty_k == 0.3


def test_nodes_and_hardware_from_environment():
    assert nodes_from_environment({}) == 1
    assert nodes_from_environment({"SLURM_NNODES": "4", "SLURM_NTASKS": "32"}) == 4
    assert nodes_from_environment({"WORLD_SIZE": "16", "LOCAL_WORLD_SIZE": "8"}) == 2
    assert nodes_from_environment({"NUM_NODES": "3"}) == 3
    if not torch.cuda.is_available():
        assert hardware(8, "auto", "bf16-mixed") == {"accelerator": "cpu", "devices": 1, "precision": "32-true"}
        assert hardware(2, "cpu", None)["devices"] == 2
        with pytest.raises(SystemExit, match="no CUDA"):
            hardware(1, "gpu", None)


def test_data_sources_from_root(tmp_path, capsys):
    config = load_config("siamrpn_r50_l234_dwxcorr")
    (tmp_path / "vid").mkdir()
    (tmp_path / "coco").mkdir()
    (tmp_path / "lasot").mkdir()
    sources = data_sources(config, tmp_path)
    assert [(s["kind"], s["root"]) for s in sources] == [("vid", str(tmp_path / "vid")),
                                                         ("coco", str(tmp_path / "coco"))]
    assert sources[0]["frame_range"] == 100
    message = capsys.readouterr().err
    assert "ytbb, det" in message and "lasot" in message
    with pytest.raises(DataError, match="none of the config's training sources"):
        data_sources(config, tmp_path / "coco")
    bad = load_config("siamrpn_demo", ["data.image_format=bgr255"])
    with pytest.raises(DataError, match="image_format"):
        build_datamodule(bad, tmp_path, model_config(bad))


# ---------------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def training_root(tmp_path_factory):
    from tracking.synthetic.training_formats import write_coco, write_vid
    from tracking.synthetic.video import generate_videos

    root = tmp_path_factory.mktemp("training_data")
    write_vid(generate_videos(1, 4, num_frames=10, size=(120, 160)), root / "vid")
    write_coco(generate_videos(2, 2, num_frames=10, size=(120, 160)), root / "coco", frame_step=2)
    return root


def _metrics(path) -> list[dict]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.timeout(300)
def test_train_command_checkpoints_resumes_and_tracks(training_root, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    out = tmp_path / "run"
    common = ["--config", "siamrpn_demo", "--gpus", "1", "--data", str(training_root), "--out", str(out),
              "--set", "optim.epochs=2", "--set", "data.videos_per_epoch=8", "--set", "data.batch_size=4",
              "--set", "data.num_workers=0", "--set", "data.val_pairs=4", "--set", "data.progress=false",
              "--set", "trainer.enable_progress_bar=false", "--set", "logger.wandb=true"]
    # "killed" after the first of two epochs
    trainer = main(common + ["--set", "trainer.max_epochs=1"])
    assert trainer.current_epoch == 1 and trainer.global_step == 2
    assert (out / "checkpoints" / "epoch_00.ckpt").is_file() and (out / "checkpoints" / "last.ckpt").is_file()
    assert (out / "config.yaml").is_file()
    assert list((out / "wandb").glob("offline-run-*")), "W&B runs offline when nothing is configured"
    first = torch.load(out / "checkpoints" / "epoch_00.ckpt", map_location="cpu", weights_only=False)
    assert first["suite"] == {"module": "lightning_modules.siamrpnpp.SiamRPNppModule"}

    # started again: resumes from last.ckpt and trains only the second epoch (evaluating on a benchmark)
    from tracking.synthetic.video import generate_videos
    from tracking.synthetic.writers import write_otb

    write_otb(generate_videos(5, 1, num_frames=6, size=(120, 160)), tmp_path / "otb")
    trainer = main(common + ["--set", f"eval.root={tmp_path / 'otb'}"])
    assert "eval/otb/success_auc" in trainer.callback_metrics
    assert list((out / "benchmark_eval").rglob("*.txt"))
    assert trainer.global_step == 4 and (out / "checkpoints" / "epoch_01.ckpt").is_file()
    again = torch.load(out / "checkpoints" / "epoch_00.ckpt", map_location="cpu", weights_only=False)
    assert all(torch.equal(v, again["state_dict"][k]) for k, v in first["state_dict"].items())
    launches = sorted((out / "csv").glob("version_*/metrics.csv"))
    assert len(launches) == 2
    rows = [row for path in launches for row in _metrics(path)]
    assert any(row.get("val/total") for row in rows) and any(row.get("train/total_epoch") for row in rows)
    head_lrs = sorted({float(row["lr-SGD/head"]) for row in rows if row.get("lr-SGD/head")})
    # the demo schedule: warm-up epoch at 0.004, then 0.02 (x base_lr / lr_start = 1)
    assert head_lrs == pytest.approx([0.004, 0.02])

    # the checkpoint runs as a tracker through the evaluation helper's loader
    import numpy as np

    from lightning_modules.checkpoints import load_tracker

    tracker = load_tracker(str(out / "checkpoints" / "last.ckpt"), {"window_influence": 0.3})
    image = np.zeros((120, 160, 3), np.uint8)
    image[40:70, 50:80] = 200
    tracker.init(image, np.array([50.0, 40.0, 30.0, 30.0]))
    assert np.all(np.isfinite(tracker.update(image)))

    # another config in the same folder is refused rather than resumed
    with pytest.raises(SystemExit, match="choose another --out"):
        main(["--config", "siamrpn_alex_dwxcorr", "--data", str(training_root), "--out", str(out)])


def test_module_hyperparameters_rebuild_from_checkpoint_config():
    config = load_config("siamrpn_demo", ["optim.epochs=3", "optim.warmup_epochs=0"])
    from experiments.train import build_module

    module = build_module(config, model_config(config))
    assert isinstance(module, SiamRPNppModule)
    assert module.hparams.epochs == 3 and module.hparams.base_lr == 0.02
    assert module.hparams.model == PRESETS["siamrpn_demo"].to_dict()
