"""Sweeps: W&B sweep YAML parsing, the offline grid / random search, and a tiny end-to-end sweep."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import yaml

from experiments import sweep
from tracking.errors import DataError


def _spec(parameters: dict, method: str = "grid", **extra) -> sweep.SweepSpec:
    config = {"method": method, "metric": {"name": "success_auc", "goal": "maximize"}, "parameters": parameters}
    config.update(extra)
    return sweep.parse_sweep(config, "test.yaml")


def test_grid_enumerates_every_combination_in_yaml_order():
    spec = _spec({"penalty_k": {"values": [0.1, 0.2]}, "window_influence": {"value": 0.4},
                  "lr": {"values": [0.3, 0.35, 0.4]}})
    trials = sweep.grid_trials(spec)
    assert len(trials) == 6
    assert trials[0] == {"penalty_k": 0.1, "window_influence": 0.4, "lr": 0.3}
    assert trials[1] == {"penalty_k": 0.1, "window_influence": 0.4, "lr": 0.35}  # the last parameter fastest
    assert trials[-1] == {"penalty_k": 0.2, "window_influence": 0.4, "lr": 0.4}
    assert len({tuple(t.values()) for t in trials}) == 6
    assert sweep.local_trials(spec, count=4) == trials[:4]
    assert sweep.grid_values("n", {"distribution": "int_uniform", "min": 2, "max": 5}) == [2, 3, 4, 5]
    assert sweep.grid_values("q", {"distribution": "q_uniform", "min": 0.1, "max": 0.3, "q": 0.1}) == [0.1, 0.2, 0.3]


def test_random_search_is_seeded_and_respects_each_distribution():
    spec = _spec({"penalty_k": {"distribution": "log_uniform_values", "min": 0.02, "max": 0.5},
                  "window_influence": {"min": 0.2, "max": 0.6},
                  "instance_size": {"min": 239, "max": 271},
                  "lr": {"values": [0.1, 0.2, 0.3], "probabilities": [0.5, 0.0, 0.5]}}, method="random", run_cap=7)
    first, again, other = (sweep.local_trials(spec, seed=s) for s in (3, 3, 4))
    assert len(first) == 7 and first == again and first != other
    draws = sweep.random_trials(spec, 400, seed=0)
    penalty = np.array([d["penalty_k"] for d in draws])
    assert penalty.min() >= 0.02 and penalty.max() <= 0.5
    # log-uniform: the median sits at the geometric mean of the range, not the arithmetic one
    assert abs(np.median(penalty) - math.sqrt(0.02 * 0.5)) < 0.03
    assert all(0.2 <= d["window_influence"] <= 0.6 for d in draws)
    sizes = {d["instance_size"] for d in draws}
    assert all(isinstance(s, int) and 239 <= s <= 271 for s in sizes) and len(sizes) > 20
    assert {d["lr"] for d in draws} == {0.1, 0.3}  # probability 0 is never drawn


def test_bad_sweep_files_name_the_file_and_the_problem(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"method": "grid", "metric": {"name": "success_auc"},
                                    "paramters": {"lr": {"values": [0.1]}}}))
    with pytest.raises(DataError, match=r"bad\.yaml.*paramters"):
        sweep.load_sweep(path)
    path.write_text(yaml.safe_dump({"method": "grid", "metric": {"name": "success_auc"},
                                    "parameters": {"lr": {"min": 0.1, "max": 0.5}}}))
    with pytest.raises(DataError, match="grid search: parameter 'lr'"):
        sweep.load_sweep(path)
    path.write_text(yaml.safe_dump({"method": "random", "metric": {"name": "success_auc"},
                                    "parameters": {"lr": {"valus": [0.1]}}}))
    with pytest.raises(DataError, match=r"parameter 'lr': unknown key\(s\) \['valus'\]"):
        sweep.load_sweep(path)
    path.write_text("method: grid\nparameters: [1, 2\n")
    with pytest.raises(DataError, match=r"bad\.yaml, line \d+: invalid YAML"):
        sweep.load_sweep(path)
    with pytest.raises(ValueError, match="unknown sweep 'nope'"):
        sweep.load_sweep("nope")


def test_bundled_sweeps_are_valid_wandb_configs():
    grid = sweep.load_sweep("siamrpnpp_hyperparameters")
    assert grid.method == "grid" and grid.metric == "success_auc" and grid.goal == "maximize"
    assert set(grid.parameters) == {"penalty_k", "window_influence", "lr"}
    assert len(sweep.grid_trials(grid)) == 3 * 3 * 2
    random = sweep.load_sweep("siamrpnpp_random")
    assert random.method == "random" and len(sweep.local_trials(random)) == random.run_cap == 20


def test_without_checkpoint_it_explains_what_to_pass(tmp_path):
    with pytest.raises(SystemExit, match="make demo"):
        sweep.main(["--out", str(tmp_path / "out"), "--demo-dir", str(tmp_path / "no_demo")])


def _tiny_checkpoint(path):
    import pytorch_lightning as pl

    from experiments.config_library import build_model

    module = build_model("siamrpnpp/demo")
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


def test_tiny_sweep_writes_table_plot_and_offline_runs(tmp_path, monkeypatch, capsys):
    from tracking.benchmarks import OTB
    from tracking.evaluation.scoring import score_ope
    from tracking.synthetic import generate_videos, write_otb

    monkeypatch.setenv("WANDB_MODE", "offline")
    data = tmp_path / "otb"
    write_otb(generate_videos(5, 2, num_frames=6, size=(120, 160), difficulty="easy"), data)
    ckpt = _tiny_checkpoint(tmp_path / "random.ckpt")
    sweep_file = tmp_path / "tiny.yaml"
    sweep_file.write_text(yaml.safe_dump({
        "name": "tiny", "method": "grid", "metric": {"name": "success_auc", "goal": "maximize"},
        "parameters": {"penalty_k": {"values": [0.02, 0.5]}, "window_influence": {"values": [0.1, 0.6]},
                       "lr": {"value": 0.3}}}))
    out = tmp_path / "sweep"
    trials = sweep.main(["--sweep", str(sweep_file), "--out", str(out), "--ckpt", str(ckpt), "--data", str(data),
                         "--count", "3", "--device", "cpu", "--no-progress"])

    rows = list(csv.DictReader(open(out / "trials.csv")))
    assert len(rows) == len(trials) == 3
    parameter_sets = {(r["penalty_k"], r["window_influence"], r["lr"]) for r in rows}
    assert len(parameter_sets) == 3  # the trials differ in their parameters
    benchmark = OTB(data)
    for row, trial in zip(rows, trials):
        # each trial's number is the scoring of the boxes it tracked with its own parameters
        result_dir = out / "results" / "OTB" / row["name"]
        assert float(row["success_auc"]) == pytest.approx(score_ope(benchmark, result_dir, progress=False)
                                                          .overall["success_auc"], abs=1e-6)
        assert trial.parameters["penalty_k"] == float(row["penalty_k"])
    table = (out / "trials.md").read_text()
    assert sum(line.startswith("| **") for line in table.splitlines()) == 1  # the best row is bold
    assert len([line for line in table.splitlines() if line.startswith("| ") and "rank" not in line]) == 3
    assert (out / "sweep_scores.png").stat().st_size > 1000
    assert len(list((out / "wandb").glob("offline-run-*"))) == 3
    best = max(rows, key=lambda r: float(r["success_auc"]))
    printed = capsys.readouterr().out
    assert f"best: {best['name']}" in printed
    # a rerun resumes: every sequence of every trial is already tracked, the scores are the same
    again = sweep.main(["--sweep", str(sweep_file), "--out", str(out), "--ckpt", str(ckpt), "--data", str(data),
                        "--count", "3", "--device", "cpu", "--no-progress", "--no-wandb"])
    assert [t.scores["success_auc"] for t in again] == [t.scores["success_auc"] for t in trials]


def test_with_wandb_configured_the_sweep_goes_through_wandb_sweep_and_agent(tmp_path, monkeypatch):
    """W&B configured (API key): the YAML is registered with wandb.sweep and trials come from wandb.agent."""
    import wandb

    from tracking.synthetic import generate_videos, write_otb

    data = tmp_path / "otb"
    write_otb(generate_videos(3, 1, num_frames=5, size=(64, 80), difficulty="easy"), data)
    sweep_file = tmp_path / "ncc.yaml"
    sweep_file.write_text(yaml.safe_dump({
        "method": "grid", "metric": {"name": "success_auc", "goal": "maximize"},
        "parameters": {"window_influence": {"values": [0.0, 0.9]}, "scale_lr": {"value": 0.5}}}))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    calls = {"logged": []}

    class FakeRun:
        def __init__(self, config):
            self.config = config

        def log(self, values):
            calls["logged"].append(dict(values))

        def finish(self):
            calls["finished"] = calls.get("finished", 0) + 1

    def fake_sweep(config, project=None, **_):
        calls["sweep"] = (config, project)
        return "sweep123"

    def fake_agent(sweep_id, function, count=None, **_):
        calls["agent"] = (sweep_id, count)
        spec = sweep.parse_sweep(calls["sweep"][0])
        proposals = iter(sweep.grid_trials(spec))  # what the server's grid would hand out
        monkeypatch.setattr(wandb, "init", lambda **kwargs: FakeRun(next(proposals)))
        for _ in range(count or 2):
            function()

    monkeypatch.setattr(wandb, "sweep", fake_sweep)
    monkeypatch.setattr(wandb, "agent", fake_agent)
    out = tmp_path / "out"
    trials = sweep.main(["--sweep", str(sweep_file), "--out", str(out), "--ckpt", "baseline:ncc", "--data", str(data),
                         "--count", "2", "--device", "cpu", "--no-progress"])
    assert calls["sweep"][0]["method"] == "grid" and calls["agent"] == ("sweep123", 2)
    assert [t.parameters for t in trials] == [{"window_influence": 0.0, "scale_lr": 0.5},
                                              {"window_influence": 0.9, "scale_lr": 0.5}]
    assert [entry["success_auc"] for entry in calls["logged"]] == [t.scores["success_auc"] for t in trials]
    assert calls["finished"] == 2
    assert len(list(csv.DictReader(open(out / "trials.csv")))) == 2
    assert not (out / "wandb").exists()  # no offline runs: W&B itself recorded the trials
    # a second machine joins the same sweep: no new sweep is registered, its agent pulls from the given id
    registered = calls["sweep"]
    sweep.main(["--sweep", str(sweep_file), "--out", str(tmp_path / "second"), "--ckpt", "baseline:ncc", "--data",
                str(data), "--count", "1", "--device", "cpu", "--no-progress", "--sweep-id", "existing42"])
    assert calls["sweep"] is registered and calls["agent"] == ("existing42", 1)


def test_defaults_come_from_the_demo_beside_the_output_folder(tmp_path):
    demo_dir = tmp_path / "demo"
    (demo_dir / sweep.DEMO_CHECKPOINT).parent.mkdir(parents=True)
    (demo_dir / sweep.DEMO_CHECKPOINT).write_bytes(b"")
    (demo_dir / sweep.DEMO_HELDOUT).mkdir(parents=True)
    args = sweep.build_parser().parse_args(["--out", str(tmp_path / "sweep")])
    assert sweep.resolve_inputs(args) == (str(demo_dir / sweep.DEMO_CHECKPOINT), demo_dir / sweep.DEMO_HELDOUT)
    args = sweep.build_parser().parse_args(["--out", str(tmp_path / "sweep"), "--data", "/elsewhere"])
    assert sweep.resolve_inputs(args)[1] == sweep.Path("/elsewhere")


@pytest.mark.timeout(300)
def test_a_training_key_trains_each_trial_before_tracking(tmp_path, monkeypatch):
    """A parameter named like a training flag (model.init_args...) trains the trial's run, then tracks with it."""
    import torch

    from tracking.synthetic import generate_videos, write_otb
    from tracking.synthetic.training_formats import write_vid

    monkeypatch.setenv("WANDB_MODE", "offline")
    data = tmp_path / "otb"
    write_otb(generate_videos(5, 1, num_frames=5, size=(96, 128), difficulty="easy"), data)
    write_vid(generate_videos(6, 3, num_frames=8, size=(96, 128)), tmp_path / "train" / "vid")
    sweep_file = tmp_path / "train.yaml"
    sweep_file.write_text(yaml.safe_dump({
        "name": "train", "method": "grid", "metric": {"name": "success_auc", "goal": "maximize"},
        "parameters": {"model.init_args.optim.base_lr": {"values": [0.0, 0.05]}, "penalty_k": {"value": 0.2}}}))
    out = tmp_path / "sweep"
    flags = ["--model.init_args.optim.epochs=1", "--model.init_args.optim.warmup_epochs=0",
             "--data.init_args.videos_per_epoch=4", "--data.init_args.batch_size=2", "--data.init_args.num_workers=0",
             "--data.init_args.val_pairs=0", "--logging.wandb=false", "--trainer.enable_progress_bar=false"]
    trials = sweep.main(["--sweep", str(sweep_file), "--out", str(out), "--data", str(data), "--device", "cpu",
                         "--train-config", "siamrpnpp/demo", "--train-data", str(tmp_path / "train"), "--no-progress",
                         "--no-wandb", *[f"--train-arg={flag}" for flag in flags]])
    assert len(trials) == 2
    runs = [out / "runs" / trial.name / "checkpoints" / "last.ckpt" for trial in trials]
    weights = [torch.load(run, map_location="cpu", weights_only=False) for run in runs]
    assert [w["hyper_parameters"]["optim"]["base_lr"] for w in weights] == [0.0, 0.05]
    assert [w["hyper_parameters"]["tracker"]["penalty_k"] for w in weights] == [0.16, 0.16]  # the config's ...
    identity = json.loads((out / "results" / "OTB" / trials[0].name / "identity.json").read_text())
    assert identity["parameters"]["penalty_k"] == 0.2  # ... and the trial's value for tracking
    changed = [k for k, v in weights[0]["state_dict"].items() if not torch.equal(v, weights[1]["state_dict"][k])]
    assert changed  # lr 0 left the initial weights, lr 0.05 moved them
    with pytest.raises(ValueError, match="--train-config"):
        sweep.main(["--sweep", str(sweep_file), "--out", str(tmp_path / "x"), "--data", str(data), "--device", "cpu",
                    "--no-progress", "--no-wandb", "--ckpt", "baseline:ncc"])


# --- the trials of a sweep in lockstep (--batch N): one network call per frame step for pairs of different trials ---

@pytest.fixture(scope="module")
def lockstep_inputs(otb_and_vot, tmp_path_factory):
    """A random-weight demo checkpoint and five generated sequences of 5 to 13 frames (OTB and VOT layouts)."""
    ckpt = _tiny_checkpoint(tmp_path_factory.mktemp("lockstep") / "random.ckpt")
    return ckpt, otb_and_vot(60, frames=lambda i: 5 + 2 * i, size=(96, 128))


def _lockstep_sweep(tmp_path, inputs, kind: str, parameters: dict, batch: int, monkeypatch):
    """A grid sweep over ``parameters`` with ``--batch batch``; returns (trials, out folder, network calls (the
    crops of each call), update_slots steps (how many trials' trackers each served))."""
    from tracking.models.siamrpn import SiamRPN
    from tracking.trackers.batched import BatchedTracker

    ckpt, benchmarks = inputs
    sweep_file = tmp_path / f"grid_{kind}.yaml"
    sweep_file.write_text(yaml.safe_dump({
        "name": "grid", "method": "grid", "metric": {"name": "success_auc" if kind == "otb" else "accuracy",
                                                     "goal": "maximize"}, "parameters": parameters}))
    calls, steps = [], []
    track_features, update_slots = SiamRPN.track_features, BatchedTracker.update_slots
    monkeypatch.setattr(SiamRPN, "track_features", lambda self, template, search: calls.append(
        search.shape[0]) or track_features(self, template, search))
    monkeypatch.setattr(BatchedTracker, "update_slots", lambda self, slots, images: steps.append(
        len({id(self.prototypes[slot]) for slot in slots})) or update_slots(self, slots, images))
    out = tmp_path / f"batch{batch}_{kind}"
    trials = sweep.main(["--sweep", str(sweep_file), "--out", str(out), "--ckpt", str(ckpt), "--data",
                         str(benchmarks[kind].root), "--benchmark", kind, "--device", "cpu", "--no-progress",
                         "--no-wandb", "--batch", str(batch)])
    monkeypatch.undo()
    return trials, out, calls, steps


def _same_results(one, together) -> float:
    """The largest difference (px) between the boxes of two sweeps' result files (the same files, the same VOT
    codes, the same identity files)."""
    def results(root):  # the result files (not the writers' lock files)
        return {path.relative_to(root).as_posix() for path in (root / "results").rglob("*")
                if path.is_file() and not path.name.startswith(".")}

    files = results(one)
    assert files == results(together)
    worst = 0.0
    for name in sorted(files):
        if name.endswith("identity.json"):
            # the same identity, with a checksum of the same result files (whose digits may differ within 1e-3)
            ours, theirs = (json.loads((folder / name).read_text()) for folder in (one, together))
            assert sorted(ours.pop("results")) == sorted(theirs.pop("results"))
            assert ours == theirs
        elif not name.endswith("_time.txt"):
            ours, theirs = ((folder / name).read_text().split() for folder in (one, together))
            assert len(ours) == len(theirs)
            for a, b in zip(ours, theirs):
                a, b = np.array(a.split(","), dtype=float), np.array(b.split(","), dtype=float)
                assert a.shape == b.shape, name  # same VOT codes at the same frames
                worst = max(worst, float(np.abs(a - b).max()))
    return worst


def _scores(trials):
    """Each trial's scores but its speed (equal up to the boxes' last recorded decimal)."""
    return {(trial.name, k): v for trial in trials for k, v in trial.scores.items() if k != "speed_fps"}


def _numbers(folder) -> list:
    return [path.read_text() for path in sorted(folder.rglob("*.txt")) if "time" not in path.name]


@pytest.mark.parametrize("kind", ["otb", "vot"])
def test_a_grid_in_lockstep_writes_the_results_and_scores_of_trial_at_a_time(lockstep_inputs, tmp_path, kind,
                                                                           monkeypatch, capsys):
    grid = {"penalty_k": {"values": [0.02, 0.5]}, "lr": {"values": [0.1, 0.8]}, "window_influence": {"value": 0.3}}
    single, one, single_calls, _ = _lockstep_sweep(tmp_path, lockstep_inputs, kind, grid, 1, monkeypatch)
    trials, together, calls, steps = _lockstep_sweep(tmp_path, lockstep_inputs, kind, grid, 4, monkeypatch)
    assert len(trials) == 4 and _scores(trials) == pytest.approx(_scores(single), nan_ok=True)
    assert _same_results(one, together) <= 1e-3
    # each slot decoded with its own trial's parameters: the four trials' boxes differ
    bench = "OTB" if kind == "otb" else "VOT"
    assert len({json.dumps(_numbers(together / "results" / bench / trial.name)) for trial in trials}) == 4
    # one network call per lockstep step, up to 4 (trial, sequence) pairs of different trials in it
    assert set(single_calls) == {1} and len(calls) == len(steps) < len(single_calls) / 2
    assert sum(calls) == sum(single_calls) and max(calls) == 4 and max(steps) > 1
    assert "differ in shape" not in capsys.readouterr().out
    # a rerun resumes every trial from its files: nothing tracked, the same scores
    again, _, calls, _ = _lockstep_sweep(tmp_path, lockstep_inputs, kind, grid, 4, monkeypatch)
    assert calls == [] and _scores(again) == pytest.approx(_scores(trials), nan_ok=True)


def test_trials_with_other_crop_sizes_run_one_after_another(lockstep_inputs, tmp_path, monkeypatch, capsys):
    grid = {"instance_size": {"values": [255, 287]}, "penalty_k": {"values": [0.02, 0.5]}}
    single, one, _, _ = _lockstep_sweep(tmp_path, lockstep_inputs, "otb", grid, 1, monkeypatch)
    trials, together, calls, steps = _lockstep_sweep(tmp_path, lockstep_inputs, "otb", grid, 4, monkeypatch)
    assert "note: the trackers' search crops differ in shape" in capsys.readouterr().out
    assert _scores(trials) == pytest.approx(_scores(single), nan_ok=True) and _same_results(one, together) <= 1e-3
    assert set(steps) == {1} and max(calls) == 4  # each trial's sequences in lockstep, one trial at a time
