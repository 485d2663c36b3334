"""Reruns never report old results as new: result folders record what produced them (identity.json) and resume only
results of the same checkpoint contents, tracker and parameters; default names tell training runs apart."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from tracking.benchmarks import open_benchmark
from tracking.errors import DataError
from tracking.evaluation.identity import (IDENTITY_FILE, checkpoint_run_name, claim_result_folder, file_sha256,
                                          record_results, run_identity)
from tracking.evaluation.runner import run_ope, run_vot_supervised
from tracking.synthetic.video import generate_video
from tracking.synthetic.writers import write_otb, write_vot
from tracking.trackers.baselines import FirstBoxTracker, NCCTracker

SIZE = (64, 80)


@pytest.fixture(scope="module")
def otb_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("otb")
    write_otb([generate_video(i, num_frames=8, size=SIZE, name=f"Seq{i}", difficulty="easy") for i in range(2)], root)
    return root


def _evaluate(*args):
    from experiments import evaluate

    return evaluate.main([*map(str, args), "--no-progress"])


def test_rerun_with_other_tracker_parameters_is_refused_then_overwritten(otb_root, tmp_path):
    """make eval-otb CKPT=baseline:ncc, then the same with --set window_influence=0.9: not the first run's numbers."""
    common = ["otb", "--ckpt", "baseline:ncc", "--data", otb_root, "--out", tmp_path]
    first = _evaluate(*common)
    assert first.tracker_name == "NCC" and first.run.tracked == ["Seq0", "Seq1"]
    result_dir = tmp_path / "results" / "OTB" / "NCC"
    recorded = json.loads((result_dir / IDENTITY_FILE).read_text())
    assert recorded["tracker"] == "NCC" and recorded["parameters"]["window_influence"] == 0.25
    assert recorded["checkpoint"] == "baseline:ncc" and recorded["checkpoint_sha256"] is None

    with pytest.raises(DataError, match=r"holds results of another run.*window_influence: 0.25 there, 0.9 now.*"
                                        r"--name NEW_NAME.*--overwrite"):
        _evaluate(*common, "--set", "window_influence=0.9")
    assert json.loads((result_dir / IDENTITY_FILE).read_text()) == recorded  # nothing touched

    again = _evaluate(*common)  # the same command resumes everything
    assert again.run.tracked == [] and again.run.skipped == ["Seq0", "Seq1"] and again.scores == first.scores

    other = _evaluate(*common, "--set", "window_influence=0.9", "--name", "NCC-wi0.9")
    assert other.run.tracked == ["Seq0", "Seq1"]  # a new name: tracked, nothing reused
    replaced = _evaluate(*common, "--set", "window_influence=0.9", "--overwrite")
    assert replaced.run.tracked == ["Seq0", "Seq1"] and replaced.run.skipped == []
    for key in ("success_auc", "precision_20", "norm_precision_auc"):  # the new parameters' numbers
        assert replaced.scores[key] == other.scores[key]
    assert replaced.scores["success_auc"] != first.scores["success_auc"]
    assert json.loads((result_dir / IDENTITY_FILE).read_text())["parameters"]["window_influence"] == 0.9


def _fake_checkpoint(path, epoch, seed, legacy=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = torch.randn(4, generator=torch.Generator().manual_seed(seed))
    torch.save({"epoch": epoch, "global_step": 10 * epoch, "state_dict": {"w": weights}}, path,
               _use_new_zipfile_serialization=not legacy)
    return path


def test_default_names_tell_training_runs_apart(tmp_path):
    run_a = _fake_checkpoint(tmp_path / "r50_l234" / "checkpoints" / "last.ckpt", 19, 0)
    run_b = _fake_checkpoint(tmp_path / "alex_dw" / "checkpoints" / "last.ckpt", 3, 1, legacy=True)
    epoch_file = _fake_checkpoint(tmp_path / "r50_l234" / "checkpoints" / "epoch_07.ckpt", 7, 2)
    assert checkpoint_run_name(run_a) == "r50_l234-epoch19"
    assert checkpoint_run_name(run_b) == "alex_dw-epoch3"
    assert checkpoint_run_name(epoch_file) == "r50_l234-epoch_07"
    no_epoch = tmp_path / "imported" / "checkpoints" / "last.ckpt"
    no_epoch.parent.mkdir(parents=True)
    torch.save({"state_dict": {}}, no_epoch)
    assert checkpoint_run_name(no_epoch) == "imported-last"
    loose = _fake_checkpoint(tmp_path / "model.ckpt", 5, 3)
    assert checkpoint_run_name(loose) is None and checkpoint_run_name("baseline:ncc") is None


def test_second_runs_last_checkpoint_is_not_reported_with_the_first_runs_scores(otb_root, tmp_path, monkeypatch):
    """Two runs' last.ckpt get their own names; forced into one name, the other contents are refused."""
    import lightning_modules.checkpoints as checkpoints

    built = []

    def load_tracker(ckpt, overrides=None, device="cpu", **options):
        built.append(str(ckpt))
        return FirstBoxTracker()

    monkeypatch.setattr(checkpoints, "load_tracker", load_tracker)
    first = _fake_checkpoint(tmp_path / "runs" / "a" / "checkpoints" / "last.ckpt", 19, 0)
    second = _fake_checkpoint(tmp_path / "runs" / "b" / "checkpoints" / "last.ckpt", 19, 1)
    out = tmp_path / "out"
    common = ["otb", "--data", otb_root, "--out", out, "--device", "cpu"]
    a = _evaluate(*common, "--ckpt", first)
    b = _evaluate(*common, "--ckpt", second)
    assert (a.tracker_name, b.tracker_name) == ("a-epoch19", "b-epoch19")
    assert b.run.tracked == ["Seq0", "Seq1"]  # not the first run's files
    identity = json.loads((out / "results" / "OTB" / "b-epoch19" / IDENTITY_FILE).read_text())
    assert identity["checkpoint_sha256"] == file_sha256(second) != file_sha256(first)
    assert identity["checkpoint"] == str(second.resolve())

    with pytest.raises(DataError, match=r"a-epoch19: holds results of another run.*checkpoint contents differ"):
        _evaluate(*common, "--ckpt", second, "--name", "a-epoch19")
    copy = tmp_path / "elsewhere.ckpt"
    copy.write_bytes(first.read_bytes())  # the same contents under another path: the same run, resumed
    resumed = _evaluate(*common, "--ckpt", copy, "--name", "a-epoch19")
    assert resumed.run.skipped == ["Seq0", "Seq1"] and resumed.run.tracked == []


def test_results_without_an_identity_are_not_resumed(otb_root, tmp_path):
    benchmark = open_benchmark("otb", otb_root)
    folder = tmp_path / "OTB" / "T"
    folder.mkdir(parents=True)
    (folder / "Seq0.txt").write_text("1,2,3,4\n" * 8)  # e.g. from an older version or got10k itself
    with pytest.raises(DataError, match=r"holds results but no readable identity.json"):
        run_ope(FirstBoxTracker(), benchmark, tmp_path, "T", "OTB", progress=False)
    assert (folder / "Seq0.txt").read_text() == "1,2,3,4\n" * 8
    summary = run_ope(FirstBoxTracker(), benchmark, tmp_path, "T", "OTB", progress=False, overwrite=True)
    assert summary.tracked == ["Seq0", "Seq1"]
    assert (folder / "Seq0.txt").read_text() != "1,2,3,4\n" * 8


def test_a_folder_killed_before_its_first_result_is_reclaimed(tmp_path):
    folder = tmp_path / "T"
    claim_result_folder(folder, {"tracker": "A", "parameters": {"k": 1}})
    claim_result_folder(folder, {"tracker": "B", "parameters": {"k": 2}})  # no results yet: nothing to protect
    assert json.loads((folder / IDENTITY_FILE).read_text())["tracker"] == "B"
    (folder / "Seq.txt").write_text("1,2,3,4\n")
    record_results(folder, {"tracker": "B", "parameters": {"k": 2}}, [folder / "Seq.txt"])  # as the runner does
    claim_result_folder(folder, {"tracker": "B", "parameters": {"k": 2}})  # same identity: resumed
    assert (folder / "Seq.txt").is_file()
    with pytest.raises(DataError, match=r"tracker 'B' there, 'A' now; tracker parameters differ \(k: 2 there, 1 now\)"):
        claim_result_folder(folder, {"tracker": "A", "parameters": {"k": 1}})
    nan_folder = tmp_path / "N"
    claim_result_folder(nan_folder, {"tracker": "A", "parameters": {"k": float("nan"), "s": np.arange(2)}})
    (nan_folder / "Seq.txt").write_text("1,2,3,4\n")
    record_results(nan_folder, {"tracker": "A", "parameters": {"k": float("nan"), "s": [0, 1]}},
                   [nan_folder / "Seq.txt"])
    claim_result_folder(nan_folder, {"tracker": "A", "parameters": {"s": [0, 1], "k": float("nan")}})  # equal
    assert (nan_folder / "Seq.txt").is_file()


def test_identity_of_baselines_and_dataclass_trackers(tmp_path):
    identity = run_identity(NCCTracker(window_influence=0.5), "baseline:ncc", {"window_influence": 0.5})
    assert identity["parameters"]["window_influence"] == 0.5 and identity["parameters"]["exemplar_size"] == 31
    assert identity["overrides"] == {"window_influence": 0.5} and identity["checkpoint_sha256"] is None

    from dataclasses import dataclass

    @dataclass
    class Params:
        penalty_k: float = 0.04
        sizes: tuple = (1, 2)

    class Configured:
        name = "Configured"

        def __init__(self, params):
            self.params = params

    checkpoint = tmp_path / "x.ckpt"
    checkpoint.write_bytes(b"weights")
    identity = run_identity(Configured(Params(penalty_k=0.1)), checkpoint, {"penalty_k": 0.1})
    assert identity["parameters"] == {"penalty_k": 0.1, "sizes": [1, 2]}
    assert identity["checkpoint_sha256"] == hashlib.sha256(b"weights").hexdigest()


def test_vot_results_check_their_identity_too(tmp_path):
    root = tmp_path / "vot"
    write_vot([generate_video(7, num_frames=12, size=SIZE, name="vidA", difficulty="easy")], root)
    benchmark = open_benchmark("vot", root)
    run_vot_supervised(FirstBoxTracker(), benchmark, tmp_path / "results", "T", "VOT", progress=False,
                       identity={"tracker": "FirstBox", "parameters": {}, "checkpoint_sha256": "aaa"})
    assert (tmp_path / "results" / "VOT" / "T" / IDENTITY_FILE).is_file()
    with pytest.raises(DataError, match="checkpoint contents differ"):
        run_vot_supervised(FirstBoxTracker(), benchmark, tmp_path / "results", "T", "VOT", progress=False,
                           identity={"tracker": "FirstBox", "parameters": {}, "checkpoint_sha256": "bbb"})
    again = run_vot_supervised(FirstBoxTracker(), benchmark, tmp_path / "results", "T", "VOT", progress=False,
                               identity={"tracker": "FirstBox", "parameters": {}, "checkpoint_sha256": "aaa"})
    assert again.skipped == ["vidA"] and again.tracked == []
    assert np.isfinite(np.loadtxt(tmp_path / "results" / "VOT" / "T" / "baseline" / "vidA" / "vidA_time.txt")).any()


def test_a_file_where_the_result_folder_should_be_is_named(tmp_path):
    (tmp_path / "results" / "OTB").mkdir(parents=True)
    (tmp_path / "results" / "OTB" / "NCC").write_text("not a folder")
    with pytest.raises(DataError, match=r"results/OTB/NCC: is a file, where the result folder .* should be a folder"):
        claim_result_folder(tmp_path / "results" / "OTB" / "NCC", {"tracker": "NCC", "parameters": {}})


def test_a_writer_whose_folder_was_taken_over_stops_before_writing(tmp_path):
    from tracking.evaluation.identity import check_claim

    folder = tmp_path / "T"
    claim_result_folder(folder, {"tracker": "A", "parameters": {"k": 1}})
    check_claim(folder, {"tracker": "A", "parameters": {"k": 1}})
    claim_result_folder(folder, {"tracker": "A", "parameters": {"k": 2}}, overwrite=True)  # another run's values
    with pytest.raises(DataError, match=r"was claimed by another run while this one was writing into it \(tracker "
                                        r"parameters differ \(k: 2 there, 1 now\)\)"):
        record_results(folder, {"tracker": "A", "parameters": {"k": 1}}, [])
