"""Training configs (LightningCLI: composition, typed validation, every packaged config builds and steps) and
``python -m experiments.train`` end to end on generated data."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from experiments.config_library import build_model, config_names, resolved_config
from experiments.train import build_cli, checkpoint_to_resume, hardware, main, nodes_from_environment
from lightning_modules.base import lr_space
from lightning_modules.siamrpnpp import SiamRPNppModule
from tracking.errors import DataError

PAPER_CONFIGS = ["siamrpnpp/r50_l234_dwxcorr", "siamrpnpp/r50_l234_dwxcorr_otb", "siamrpnpp/alex_dwxcorr",
                 "siamrpnpp/mobilev2_l234_dwxcorr", "siamrpnpp/demo"]
SMALL_NETWORK = 10_000_000  # parameters: below it a config runs a real training step and tracker step here


@pytest.fixture(scope="module")
def training_root(tmp_path_factory):
    from tracking.synthetic.training_formats import write_coco, write_got10k_train, write_vid
    from tracking.synthetic.video import generate_videos

    root = tmp_path_factory.mktemp("training_data")
    write_vid(generate_videos(1, 4, num_frames=10, size=(120, 160)), root / "vid")
    write_coco(generate_videos(2, 2, num_frames=10, size=(120, 160)), root / "coco", frame_step=2)
    write_got10k_train(generate_videos(3, 3, num_frames=10, size=(120, 160)), root / "got10k")  # SiamFC's source
    return root


# ---------------------------------------------------------------------------------------------- every config
def test_every_paper_variant_and_table1_row_has_a_config():
    names = config_names()
    assert set(PAPER_CONFIGS) <= set(names)
    assert len([name for name in names if name.startswith("siamrpnpp/table1_")]) == 12


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", config_names())
def test_every_packaged_config_builds_and_takes_a_step(name, training_root, tmp_path):
    """The whole config (model, data, callbacks, trainer) instantiates; small networks take one real training
    step and one tracker step, big ones (ResNet-50) give their score maps' shapes on the meta device."""
    import pytorch_lightning as pl

    built = build_cli(["--config", name, "--data_root", str(training_root), "--out", str(tmp_path / "run"),
                       "--data.init_args.num_workers=0", "--data.init_args.val_pairs=0", "--logging.wandb=false",
                       "--data.init_args.batch_size=2", "--data.init_args.progress=false"])
    module, data = built.model, built.datamodule
    assert isinstance(module, pl.LightningModule) and module.main_tracker in module.trackers
    crops = module.training_crops()
    assert {key: getattr(data.config, key) for key in crops} == crops  # linked, never restated
    assert not (tmp_path / "run").exists()  # building writes nothing
    parameters = sum(p.numel() for p in module.parameters())
    template = (2, 3, crops["template_size"], crops["template_size"])
    search = (2, 3, crops["search_size"], crops["search_size"])
    if parameters > SMALL_NETWORK:
        with torch.device("meta"):
            outputs = module.to("meta").model(torch.empty(template), torch.empty(search))
        score = module.config.score_size_for(crops["search_size"])
        if isinstance(outputs, list):  # the SiamFC family: one score map per level
            assert [m.shape for m in outputs] == [(2, 1, score, score)] * len(module.config.levels)
            return
        cls, loc = outputs
        assert cls.shape[-2:] == (score, score) and loc.shape[1] == 2 * cls.shape[1]
        return
    trainer = pl.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         callbacks=built.config_init.trainer.callbacks)
    before = [p.detach().clone() for p in module.parameters()]
    trainer.fit(module, datamodule=data)
    assert trainer.global_step == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))
    module.eval()
    tracker = module.build_tracker()
    image = np.full((120, 160, 3), 90, np.uint8)
    image[40:70, 50:80] = 200
    tracker.init(image, np.array([50.0, 40.0, 30.0, 30.0]))
    assert np.all(np.isfinite(tracker.update(image)))


# ---------------------------------------------------------------------------------------------- values
def test_r50_config_is_pysot_8gpu_recipe():
    config = resolved_config("siamrpnpp/r50_l234_dwxcorr")
    model = config.model.init_args
    assert config.model.class_path == "lightning_modules.siamrpnpp.SiamRPNppModule"
    assert (model.tracker.penalty_k, model.tracker.window_influence, model.tracker.lr) == (0.05, 0.42, 0.38)
    [unfreeze] = config.trainer.callbacks
    assert unfreeze.class_path == "callbacks.backbone_unfreeze.BackboneUnfreeze"
    assert (unfreeze.init_args.epoch, unfreeze.init_args.layers, unfreeze.init_args.lr_scale) == \
        (10, ["layer2", "layer3", "layer4"], 0.1)
    optim = model.optim
    space = lr_space(optim.epochs, optim.lr_start, optim.lr_end, optim.lr_policy, optim.warmup_epochs,
                     optim.warmup_start_lr, optim.warmup_end_lr, optim.warmup_step)
    assert space[0] == pytest.approx(0.001) and space[5] == pytest.approx(0.005) and space[19] == pytest.approx(5e-4)
    assert (optim.momentum, optim.weight_decay, optim.base_lr) == (0.9, 1e-4, 0.005)
    assert (config.trainer.gradient_clip_val, config.seed_everything) == (10.0, 123456)
    data = config.data.init_args
    assert list(data.sources) == ["vid", "ytbb", "coco", "det"]
    assert data.sources["vid"]["frame_range"] == 100 and data.sources["ytbb"]["frame_range"] == 3
    assert (data.videos_per_epoch, data.negative, data.batch_size) == (600000, 0.2, 28)
    assert (data.search_shift, data.search_scale, data.search_blur) == (64, 0.18, 0.2)
    assert config.trainer.precision == "bf16-mixed"


def test_variant_configs_follow_their_pysot_files():
    otb = resolved_config("siamrpnpp/r50_l234_dwxcorr_otb")
    model = otb.model.init_args
    assert (model.tracker.penalty_k, model.tracker.window_influence, model.tracker.lr, model.network.weighted) == \
        (0.24, 0.5, 0.25, False)
    assert otb.trainer.callbacks[0].init_args.layers == ["layer1", "layer2", "layer3", "layer4"]
    assert (model.optim.lr_end, otb.data.init_args.batch_size, otb.data.init_args.gray) == (0.0025, 16, 0.2)
    assert model.optim.warmup_epochs == 5 and model.network.backbone == "resnet50_pysot"  # from its base

    alex = resolved_config("siamrpnpp/alex_dwxcorr")
    model = alex.model.init_args
    assert (model.tracker.instance_size, model.network.base_size) == (287, 0)
    assert alex.trainer.callbacks[0].init_args.layers == ["layer4", "layer5"]
    assert (model.optim.epochs, model.optim.lr_start, alex.data.init_args.negative) == (50, 0.01, 0.05)
    # a variant with its own network carries its own tracker values (no silent inheritance from another preset)
    mobile = resolved_config("siamrpnpp/mobilev2_l234_dwxcorr").model.init_args
    assert (mobile.tracker.penalty_k, mobile.tracker.window_influence, mobile.tracker.lr) == (0.04, 0.4, 0.5)
    assert (mobile.network.backbone, mobile.network.backbone_width_mult) == ("mobilenetv2", 1.4)


def test_command_line_values_are_typed():
    # YAML 1.1 reads 5e-3 as text; the signature says float
    assert resolved_config("siamrpnpp/demo", "--model.init_args.optim.base_lr=5e-3").model.init_args.optim.base_lr \
        == 0.005
    with pytest.raises(DataError, match=r"command line.*optim\.base_lr.*float.*abc"):
        resolved_config("siamrpnpp/demo", "--model.init_args.optim.base_lr=abc")
    with pytest.raises(DataError, match=r"command line.*unrecognized arguments: --optim\.learning_rate"):
        resolved_config("siamrpnpp/demo", "--model.init_args.optim.learning_rate=0.1")


def test_unknown_keys_and_wrong_types_name_the_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base: siamrpnpp/demo\nmodel:\n  init_args:\n    optim:\n      learning_rate: 0.1\n")
    with pytest.raises(DataError, match=r"bad\.yaml.*'optim' does not accept option 'learning_rate'"):
        resolved_config(str(path))
    path.write_text("base: siamrpnpp/demo\nmodels:\n  init_args: {}\n")
    with pytest.raises(DataError, match=r"bad\.yaml.*models"):
        resolved_config(str(path))
    path.write_text("base: siamrpnpp/demo\nmodel:\n  init_args:\n    network:\n      used_layers: three\n")
    with pytest.raises(DataError, match=r"bad\.yaml.*used_layers"):
        resolved_config(str(path))
    path.write_text("model: [1, 2\n")
    with pytest.raises(DataError, match=r"bad\.yaml.*YAML"):
        resolved_config(str(path))
    with pytest.raises(DataError, match="no packaged config named 'siamrpnpp/r51'"):
        resolved_config("siamrpnpp/r51")
    loop = tmp_path / "loop.yaml"
    loop.write_text("base: loop.yaml\n")
    with pytest.raises(DataError, match="circular"):
        resolved_config(str(loop))
    # a value the class refuses when it is built: the message names the problem
    with pytest.raises(ValueError, match=r"warm-up epochs \(5\) must be in \[0, epochs=3\)"):
        build_model("siamrpnpp/r50_l234_dwxcorr", "--model.init_args.optim.epochs=3")


def test_composition_from_a_users_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: siamrpnpp/r50_l234_dwxcorr_otb\nmodel:\n  init_args:\n    optim:\n      epochs: 40\n"
                    "data:\n  init_args:\n    sources:\n      got10k: {frame_range: 50}\n")
    config = resolved_config(str(path), "--model.init_args.optim.base_lr=0.02",
                             "--model.init_args.tracker.penalty_k=0.3")
    model = config.model.init_args
    assert model.optim.epochs == 40 and model.optim.base_lr == 0.02
    assert model.optim.lr_end == 0.0025  # from the middle of the chain
    assert model.tracker.penalty_k == 0.3 and model.tracker.lr == 0.25
    assert config.data.init_args.sources == {"got10k": {"frame_range": 50}}  # a mapping is replaced whole


def test_print_config_prints_the_resolved_config(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", "siamrpnpp/alex_dwxcorr", "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "class_path: lightning_modules.siamrpnpp.SiamRPNppModule" in printed
    assert "instance_size: 287" in printed and "backbone: alexnet_legacy" in printed


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
    from datamodules.pair_datamodule import sources_under_root

    wanted = resolved_config("siamrpnpp/r50_l234_dwxcorr").data.init_args.sources
    for name in ("vid", "coco", "lasot"):
        (tmp_path / name).mkdir()
    sources = sources_under_root(wanted, tmp_path)
    assert [(s["kind"], s["root"]) for s in sources] == [("vid", str(tmp_path / "vid")),
                                                         ("coco", str(tmp_path / "coco"))]
    assert sources[0]["frame_range"] == 100
    message = capsys.readouterr().err
    assert "ytbb, det" in message and "lasot" in message
    with pytest.raises(DataError, match="none of the training sources"):
        sources_under_root(wanted, tmp_path / "coco")
    # the model decides the crops: a data value that contradicts them is an error, not silently replaced
    with pytest.raises(DataError, match=r"data\.init_args\.template_size.*contradicts the model"):
        build_cli(["--config", "siamrpnpp/demo", "--data_root", str(tmp_path), "--data.init_args.template_size=100"])


# ---------------------------------------------------------------------------------------------- end to end
def _metrics(path) -> list[dict]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.timeout(300)
def test_train_command_checkpoints_resumes_and_tracks(training_root, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    out = tmp_path / "run"
    common = ["--config", "siamrpnpp/demo", "--gpus", "1", "--data_root", str(training_root), "--out", str(out),
              "--model.init_args.optim.epochs=2", "--data.init_args.videos_per_epoch=8",
              "--data.init_args.batch_size=4", "--data.init_args.num_workers=0", "--data.init_args.val_pairs=4",
              "--data.init_args.progress=false", "--trainer.enable_progress_bar=false", "--logging.wandb=true"]
    # "killed" after the first of two epochs
    trainer = main(common + ["--trainer.max_epochs=1"])
    assert trainer.current_epoch == 1 and trainer.global_step == 2
    assert (out / "checkpoints" / "epoch_00.ckpt").is_file() and (out / "checkpoints" / "last.ckpt").is_file()
    assert json.loads((out / "run.json").read_text()) == {"config": "siamrpnpp/demo"}
    assert "SiamRPNppModule" in (out / "config.yaml").read_text()
    assert list((out / "wandb").glob("offline-run-*")), "W&B runs offline when nothing is configured"
    first = torch.load(out / "checkpoints" / "epoch_00.ckpt", map_location="cpu", weights_only=False)
    assert first["suite"]["module"] == "lightning_modules.siamrpnpp.SiamRPNppModule"

    # started again: resumes from last.ckpt and trains only the second epoch (evaluating on a benchmark)
    from tracking.synthetic.video import generate_videos
    from tracking.synthetic.writers import write_otb

    write_otb(generate_videos(5, 1, num_frames=6, size=(120, 160)), tmp_path / "otb")
    trainer = main(common + [f"--eval.root={tmp_path / 'otb'}"])
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
    from lightning_modules.checkpoints import load_tracker

    tracker = load_tracker(str(out / "checkpoints" / "last.ckpt"), {"window_influence": 0.3})
    assert tracker.params.window_influence == 0.3 and tracker.params.penalty_k == 0.16
    image = np.zeros((120, 160, 3), np.uint8)
    image[40:70, 50:80] = 200
    tracker.init(image, np.array([50.0, 40.0, 30.0, 30.0]))
    assert np.all(np.isfinite(tracker.update(image)))

    # another config in the same folder is refused rather than resumed, and nothing is written into it
    before = sorted(p.name for p in out.rglob("*"))
    with pytest.raises(SystemExit, match="choose another --out"):
        main(["--config", "siamrpnpp/alex_dwxcorr", "--data_root", str(training_root), "--out", str(out)])
    assert sorted(p.name for p in out.rglob("*")) == before


def test_a_launch_that_fails_its_checks_writes_nothing(training_root, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(DataError, match="eval.root"):
        main(["--config", "siamrpnpp/demo", "--data_root", str(training_root), "--out", str(out),
              f"--eval.root={tmp_path / 'missing'}"])
    with pytest.raises(DataError):
        main(["--config", "siamrpnpp/demo", "--data_root", str(tmp_path / "nothing"), "--out", str(out)])
    assert not out.exists()


def test_a_damaged_last_checkpoint_falls_back_to_the_newest_readable_one(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save({"state_dict": {}, "epoch": 3}, folder / "epoch_03.ckpt")
    assert checkpoint_to_resume(tmp_path, None) == str(folder / "epoch_03.ckpt")
    good = (folder / "epoch_03.ckpt").read_bytes()
    (folder / "last.ckpt").write_bytes(good[: len(good) // 2])  # a kill during its write
    with pytest.warns(UserWarning, match=r"last\.ckpt is damaged.*epoch_03\.ckpt"):
        assert checkpoint_to_resume(tmp_path, None) == str(folder / "epoch_03.ckpt")
    (folder / "epoch_03.ckpt").write_bytes(b"\x00" * 10)
    with pytest.raises(DataError, match="no readable checkpoint"):
        checkpoint_to_resume(tmp_path, None)
    with pytest.raises(DataError, match="not a readable Lightning checkpoint"):
        checkpoint_to_resume(tmp_path, str(folder / "last.ckpt"))
    assert checkpoint_to_resume(tmp_path / "new", None) is None


def test_models_from_configs_hold_the_runs_initial_weights():
    first, second = build_model("siamrpnpp/demo"), build_model("siamrpnpp/demo")
    assert isinstance(first, SiamRPNppModule)
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters()))
    other = build_model("siamrpnpp/demo", "--seed_everything=5")
    assert not all(torch.equal(a, b) for a, b in zip(first.parameters(), other.parameters()))
    assert first.hparams.optim["epochs"] == 6 and first.hparams.optim["base_lr"] == 0.02


def test_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    import errno

    from lightning_modules.checkpoint_io import AtomicCheckpointIO

    target = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}}, target)
    before = target.read_bytes()

    def full_disk(obj, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(DataError, match=r"last\.ckpt: cannot write the checkpoint \(No space left on device\)"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(2)}}, target)
    assert target.read_bytes() == before  # the previous checkpoint is intact
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]  # no temporary file left


def test_a_damaged_run_file_is_named_with_what_to_do(training_root, tmp_path):
    """A 0-byte run.json (a full disk when a run started): the error names the file and what it should hold."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_bytes(b"")
    with pytest.raises(DataError, match=r"run\.json: damaged .*it should read \{\"config\": \"siamrpnpp/demo\"\}"):
        main(["--config", "siamrpnpp/demo", "--data_root", str(training_root), "--out", str(out)])


def test_run_files_are_written_atomically(training_root, tmp_path, monkeypatch):
    """A full disk while the run's files are written leaves no partial run.json and names the file."""
    import errno
    import os as os_module

    real_write = os_module.write

    def full_disk(descriptor, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "run"
    monkeypatch.setattr(os_module, "write", full_disk)
    try:
        with pytest.raises(OSError, match=r"run\.json"):
            main(["--config", "siamrpnpp/demo", "--data_root", str(training_root), "--out", str(out),
                  "--logging.wandb=false", "--logging.csv=false", "--trainer.max_steps=1"])
    finally:
        monkeypatch.setattr(os_module, "write", real_write)
    assert not (out / "run.json").exists() and not list(out.glob(".run.json*"))
