"""The benchmark-evaluation callback and the W&B mode setup."""
import os
from pathlib import Path

import pytest

from experiments.wandb_setup import configure_wandb_mode


@pytest.fixture
def clean_wandb_env(monkeypatch, tmp_path):
    for key in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL", "NETRC"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_wandb_offline_when_not_configured(clean_wandb_env):
    assert configure_wandb_mode() == "offline"
    assert os.environ["WANDB_MODE"] == "offline"


def test_wandb_user_mode_is_kept(clean_wandb_env, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert configure_wandb_mode() == "disabled"
    assert os.environ["WANDB_MODE"] == "disabled"


def test_wandb_api_key_means_online(clean_wandb_env, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert configure_wandb_mode() == "online"
    assert "WANDB_MODE" not in os.environ


def test_wandb_netrc_login_means_online(clean_wandb_env):
    netrc_file = clean_wandb_env / ".netrc"
    netrc_file.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc_file.chmod(0o600)
    assert configure_wandb_mode() == "online"
    assert "WANDB_MODE" not in os.environ


def test_wandb_netrc_for_other_host_is_not_a_login(clean_wandb_env):
    netrc_file = clean_wandb_env / ".netrc"
    netrc_file.write_text("machine example.org\n  login user\n  password secret\n")
    netrc_file.chmod(0o600)
    assert configure_wandb_mode() == "offline"


# --- a tiny suite LightningModule ----------------------------------------------------------------------------------
import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from tracking.errors import DataError
from tracking.trackers.baselines import FirstBoxTracker


class TinyTrackingModule(pl.LightningModule):
    """One linear layer; its tracker is FirstBox (named by the ``tracker_name`` override)."""

    def __init__(self, width: int = 4):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(width, 1)
        self.norm = torch.nn.BatchNorm1d(width)
        self.built = 0

    def training_step(self, batch, batch_index):
        (x,) = batch
        return self.layer(self.norm(x)).pow(2).mean()

    def validation_step(self, batch, batch_index):
        (x,) = batch
        self.log("val_loss", self.layer(x).pow(2).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def on_save_checkpoint(self, checkpoint):
        checkpoint["suite"] = {"module": f"{type(self).__module__}.{type(self).__qualname__}"}

    def build_tracker(self, name=None, benchmark=None, **overrides):
        unknown = set(overrides) - {"tracker_name"}
        if unknown:
            raise ValueError(f"unknown tracker override(s): {', '.join(sorted(unknown))}")
        if name not in (None, "firstbox"):
            raise ValueError(f"unknown tracker {name!r}; accepted: ['firstbox']")
        self.built += 1
        self.last_request = (name, benchmark)
        self.eval()  # as a tracker sharing the network would: the callback must restore the modes
        tracker = FirstBoxTracker()
        tracker.name = overrides.get("tracker_name", "Tiny")
        return tracker


class NoSuiteModule(TinyTrackingModule):
    def on_save_checkpoint(self, checkpoint):
        pass


def _loader(count=8):
    return DataLoader(TensorDataset(torch.randn(count, 4)), batch_size=4)


class ImageLogger(CSVLogger):
    """A CSV logger with WandbLogger's ``log_image``, recording its calls."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.images = []

    def log_image(self, key, images, step=None, **kwargs):
        self.images.append((key, list(images), step))


def _trainer(tmp_path, callbacks, max_epochs=1, logger=None, **kwargs):
    return pl.Trainer(max_epochs=max_epochs, accelerator="cpu", devices=1,
                      logger=logger or CSVLogger(tmp_path / "logs"),
                      callbacks=callbacks, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, num_sanity_val_steps=0, **kwargs)


@pytest.fixture(scope="module")
def tiny_otb(tmp_path_factory):
    from tracking.synthetic.video import generate_video
    from tracking.synthetic.writers import write_otb

    root = tmp_path_factory.mktemp("otb")
    write_otb([generate_video(20 + i, num_frames=6, size=(64, 80), name=f"S{i}", difficulty="easy")
               for i in range(3)], root)
    return root


# --- the callback --------------------------------------------------------------------------------------------------
from callbacks.evaluation import BenchmarkEvaluation  # noqa: E402


def test_callback_logs_the_scores_of_its_results(tiny_otb, tmp_path):
    from tracking.benchmarks import open_benchmark
    from tracking.evaluation.scoring import score_ope

    callback = BenchmarkEvaluation("otb", tiny_otb, every_n_epochs=1, max_sequences=2, progress=False)
    module = TinyTrackingModule()
    modes_after = {}

    class FrozenNormAndModeProbe(pl.Callback):
        # like the backbone-unfreeze callback: a frozen BN layer stays in eval mode while the rest trains
        def on_train_epoch_start(self, trainer, pl_module):
            pl_module.norm.eval()

        def on_train_epoch_end(self, trainer, pl_module):  # runs after the evaluation (callback order)
            modes_after.update(layer=pl_module.layer.training, norm=pl_module.norm.training)

    trainer = _trainer(tmp_path, [callback, FrozenNormAndModeProbe()])
    trainer.fit(module, _loader())
    assert modes_after == {"layer": True, "norm": False}
    assert module.built == 1 and len(callback.history) == 1
    folder = Path(callback.history[0]["folder"])
    assert folder.parent == Path(trainer.log_dir) / "benchmark_eval" / "otb"
    result_dir = folder / "results" / "OTB" / "Tiny"
    assert sorted(p.name for p in result_dir.glob("*.txt")) == ["S0.txt", "S1.txt"]

    benchmark = open_benchmark("otb", tiny_otb)
    reference = score_ope([benchmark["S0"], benchmark["S1"]], result_dir, "Tiny", progress=False).overall
    for key in ("success_auc", "precision_20", "success_rate_50", "norm_precision_auc", "norm_precision_20"):
        logged = trainer.callback_metrics[f"eval/otb/{key}"]
        assert float(logged) == pytest.approx(float(reference[key]), abs=1e-6)
    assert float(trainer.callback_metrics["eval/otb/num_sequences"]) == 2

    # the CSV logger got them too, and the success plot was saved in its log dir
    import csv

    rows = list(csv.DictReader(open(Path(trainer.logger.log_dir) / "metrics.csv")))
    logged_auc = [float(r["eval/otb/success_auc"]) for r in rows if r.get("eval/otb/success_auc")]
    assert logged_auc == [pytest.approx(float(reference["success_auc"]), abs=1e-6)]
    assert (Path(trainer.logger.log_dir) / "eval_plots" / "otb_epoch=000_success.png").stat().st_size > 0


def test_callback_every_n_epochs_with_validation(tiny_otb, tmp_path):
    callback = BenchmarkEvaluation("otb", tiny_otb, every_n_epochs=2, max_sequences=1, out_dir=tmp_path / "ev",
                                   progress=False, tracker_overrides={"tracker_name": "Renamed"})
    module = TinyTrackingModule()
    logger = ImageLogger(tmp_path / "logs")
    trainer = _trainer(tmp_path, [callback], max_epochs=3, logger=logger)
    trainer.fit(module, _loader(), _loader(4))
    assert [(key, step) for key, _, step in logger.images] == [("eval/otb/success_plot", callback.history[0]["step"])]
    assert Path(logger.images[0][1][0]).name == "success_plot.png" and Path(logger.images[0][1][0]).is_file()
    assert [entry["epoch"] for entry in callback.history] == [1]  # epochs 0, 1, 2 -> only after the 2nd
    assert (Path(callback.history[0]["folder"]) / "results" / "OTB" / "Renamed" / "S0.txt").is_file()
    assert Path(callback.history[0]["folder"]).parent == tmp_path / "ev"
    assert "eval/otb/success_auc" in trainer.callback_metrics


def test_callback_rejects_bad_arguments(tiny_otb):
    with pytest.raises(ValueError, match="every_n_epochs"):
        BenchmarkEvaluation("otb", tiny_otb, every_n_epochs=0)
    with pytest.raises(ValueError, match="unknown benchmark kind"):
        BenchmarkEvaluation("otb2", tiny_otb)


# --- checkpoints -> trackers ---------------------------------------------------------------------------------------
from lightning_modules.checkpoints import load_tracker, parse_overrides  # noqa: E402


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=folder)
    trainer.fit(TinyTrackingModule(width=3), DataLoader(TensorDataset(torch.randn(4, 3)), batch_size=4))
    trainer.save_checkpoint(folder / "tiny.ckpt")
    trainer.strategy.connect(NoSuiteModule(width=3))
    trainer.save_checkpoint(folder / "nosuite.ckpt")
    return folder


def test_load_tracker_builds_the_modules_tracker(tiny_checkpoint):
    tracker = load_tracker(tiny_checkpoint / "tiny.ckpt", {"tracker_name": "FromCkpt"}, device="cpu")
    assert isinstance(tracker, FirstBoxTracker) and tracker.name == "FromCkpt"
    load_tracker(tiny_checkpoint / "tiny.ckpt", device="cpu", tracker="firstbox", benchmark="vot")
    with pytest.raises(ValueError, match=r"unknown tracker 'online'; accepted: \['firstbox'\]"):
        load_tracker(tiny_checkpoint / "tiny.ckpt", tracker="online")
    with pytest.raises(ValueError, match="baseline"):
        load_tracker("baseline:ncc", tracker="online")
    tracker.init(np.zeros((8, 8, 3), np.uint8), np.array([1.0, 1.0, 3.0, 3.0]))
    np.testing.assert_array_equal(tracker.update(None), [1.0, 1.0, 3.0, 3.0])


def test_load_tracker_errors(tiny_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="unknown tracker override.*penalty_z"):
        load_tracker(tiny_checkpoint / "tiny.ckpt", {"penalty_z": 1})
    with pytest.raises(DataError, match="missing.ckpt: checkpoint file does not exist"):
        load_tracker(tmp_path / "missing.ckpt")
    with pytest.raises(DataError, match='nosuite.ckpt: checkpoint has no "suite" entry'):
        load_tracker(tiny_checkpoint / "nosuite.ckpt")
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(DataError, match="corrupt.ckpt: cannot read checkpoint"):
        load_tracker(corrupt)
    random_bytes = tmp_path / "random.ckpt"
    random_bytes.write_bytes(b"\x13" + np.random.default_rng(0).bytes(4095))
    with pytest.raises(DataError, match=r"random.ckpt: .*the file is not a checkpoint") as error:
        load_tracker(random_bytes)
    assert "_use_new_zipfile_serialization" not in str(error.value) and "mmap" not in str(error.value)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes((tiny_checkpoint / "tiny.ckpt").read_bytes()[:2000])
    with pytest.raises(DataError, match=r"truncated.ckpt: cannot read checkpoint: a truncated or corrupt"):
        load_tracker(truncated)
    legacy = tmp_path / "legacy.ckpt"
    torch.save({"suite": {"module": "no_such_package.Module"}}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(DataError, match="cannot be imported"):  # the legacy format is still read
        load_tracker(legacy)
    bad_module = tmp_path / "badmodule.ckpt"
    torch.save({"suite": {"module": "no_such_package.Module"}, "state_dict": {}}, bad_module)
    with pytest.raises(DataError, match="cannot be imported"):
        load_tracker(bad_module)


def test_evaluate_command_with_a_checkpoint(tiny_checkpoint, tiny_otb, tmp_path):
    from experiments import evaluate

    evaluation = evaluate.main(["otb", "--ckpt", str(tiny_checkpoint / "tiny.ckpt"), "--data", str(tiny_otb),
                                "--out", str(tmp_path), "--device", "cpu", "--no-progress"])
    assert evaluation.tracker_name == "tiny"  # the checkpoint's stem
    assert (tmp_path / "results" / "OTB" / "tiny" / "S2.txt").is_file()


def test_parse_overrides():
    assert parse_overrides(["penalty_k=0.04", "lr=3e-1", "name=abc", "flag=true"]) == \
        {"penalty_k": 0.04, "lr": 0.3, "name": "abc", "flag": True}
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["penalty_k"])


class RecordRank(pl.Callback):
    """Saves what each rank saw: the logged score, its evaluation history, how often it built a tracker."""

    def __init__(self, directory):
        self.directory = str(directory)

    def on_train_end(self, trainer, pl_module):
        evaluation = next(c for c in trainer.callbacks if isinstance(c, BenchmarkEvaluation))
        record = {"auc": float(trainer.callback_metrics["eval/otb/success_auc"]), "built": pl_module.built,
                  "history": len(evaluation.history),
                  "file_auc": evaluation.history[0]["scores"]["success_auc"] if evaluation.history else None}
        torch.save(record, f"{self.directory}/rank{trainer.global_rank}.pt")


@pytest.mark.timeout(300)
def test_callback_under_ddp_every_rank_tracks_its_shard_and_logs_the_merged_scores(tiny_otb, tmp_path):
    callback = BenchmarkEvaluation("otb", tiny_otb, max_sequences=3, out_dir=tmp_path / "ev", progress=False,
                                   log_plot=False)
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp_fork", max_epochs=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[callback, RecordRank(tmp_path)])
    trainer.fit(TinyTrackingModule(), _loader())
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    assert ranks[0]["auc"] == ranks[1]["auc"]
    # both ranks tracked (their shards); rank 0 scored the whole folder: the torchmetrics merge of the ranks'
    # sequences equals the offline scoring of every result file
    assert [r["built"] for r in ranks] == [1, 1] and [r["history"] for r in ranks] == [1, 0]
    assert ranks[0]["auc"] == pytest.approx(ranks[0]["file_auc"], abs=1e-6)  # logged as float32
    [folder] = list((tmp_path / "ev").iterdir())
    assert sorted(p.name for p in (folder / "results" / "OTB" / "Tiny").glob("S*.txt")) == ["S0.txt", "S1.txt", "S2.txt"]
