"""`make ablation`: a plan's columns evaluated from their checkpoints on generated OTB and VOT sequences, the
numbers equal to the runner's scores, tables and files, missing checkpoints and bad --ckpt values reported."""
import json

import numpy as np
import pytest

from experiments import ablation
from experiments.demo import save_checkpoint
from experiments.config_library import build_model_cli
from tracking.evaluation.scoring import score_ope
from tracking.benchmarks import open_benchmark
from tracking.synthetic.video import generate_videos
from tracking.synthetic.writers import write_otb, write_vot

PLAN = ablation.AblationPlan(
    title="test ablation",
    columns=(ablation.AblationColumn("SiamRPN++", "snscf/demo_siamrpnpp", paper=(("dp", 80.0), ("eao", 0.4))),
             ablation.AblationColumn("SNS-CF", "snscf/demo", paper=(("dp", 84.0), ("cle", 20.2)))),
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablation")
    videos = generate_videos(21, 1, num_frames=6, size=(120, 160), difficulty="easy")
    write_otb(videos, root / "otb")
    write_vot(videos, root / "vot")
    runs = root / "runs"
    for column in PLAN.columns:  # untrained weights where make train would leave the last checkpoint
        module = build_model_cli(["--config", column.config, "--seed_everything=0"]).model
        save_checkpoint(module, runs / column.config / "checkpoints" / "last.ckpt")
    return root, runs


def test_otb_columns_side_by_side(setup, capsys):
    root, runs = setup
    summary = ablation.run_ablation(PLAN, "otb", root / "otb", root / "out", runs, device="cpu", progress=False)
    printed = capsys.readouterr().out
    assert set(summary["measured"]) == {"SiamRPN++", "SNS-CF"}
    for label, values in summary["measured"].items():
        assert set(values) == {"dp", "os", "cle", "fps", "success", "precision"}
        report = score_ope(open_benchmark("otb", root / "otb"), root / "out" / "results" / "OTB" / label,
                           progress=False)
        assert values["dp"] == pytest.approx(100 * report.overall["precision_20"])
        assert values["os"] == pytest.approx(100 * report.overall["success_rate_50"])
        assert values["cle"] == pytest.approx(report.overall["center_error_mean"]) and values["cle"] > 0
    assert "DP@20 (%)" in printed and "CLE (px)" in printed and "reported by the paper" in printed
    assert summary["paper"]["SNS-CF"] == {"dp": 84.0, "cle": 20.2}
    written = json.loads((root / "out" / "ablation_otb.json").read_text())
    assert written["measured"] == summary["measured"]
    table = (root / "out" / "ablation_otb.md").read_text()
    assert "SiamRPN++" in table and "SNS-CF" in table and "84.000" in table


def test_vot_columns_and_errors(setup, tmp_path):
    root, runs = setup
    summary = ablation.run_ablation(PLAN, "vot", root / "vot", tmp_path / "out", runs, device="cpu", progress=False,
                                    max_sequences=1)
    for values in summary["measured"].values():
        assert set(values) == {"eao", "accuracy", "robustness", "ao", "fps"}
        assert 0.0 <= values["ao"] <= 1.0 and np.isfinite(values["robustness"])
    with pytest.raises(FileNotFoundError, match="make train CONFIG=snscf/demo"):
        ablation.run_ablation(PLAN, "otb", root / "otb", tmp_path / "x", tmp_path / "no_runs", progress=False)
    with pytest.raises(ValueError, match="unknown column"):
        ablation.checkpoints(PLAN, runs, {"CF2": "x.ckpt"})
    given = ablation.checkpoints(PLAN, tmp_path / "no_runs",
                                 {c.label: str(runs / c.config / "checkpoints" / "last.ckpt") for c in PLAN.columns})
    assert all(path.is_file() for path in given.values())
    with pytest.raises(ValueError, match="runs on otb"):
        ablation.run_ablation(PLAN, "got10k", root / "otb", tmp_path / "x", runs, progress=False)
    with pytest.raises(SystemExit, match="not LABEL=PATH"):
        ablation.main(["--paper", "snscf", "--data", str(root / "otb"), "--ckpt", "SNS-CF"])


def test_snscf_plan_names_table3_configs():
    plan = ablation.load_plan("snscf")
    assert [c.config for c in plan.columns] == ["snscf/table3_siamrpnpp", "snscf/table3_direct",
                                                "snscf/r50_l234_acf"]
    assert dict(plan.columns[2].paper) == {"dp": 84.0, "os": 65.7, "cle": 20.2, "eao": 0.423, "accuracy": 0.587,
                                           "robustness": 0.223, "ao": 0.487, "fps": 35.1}
    with pytest.raises(ValueError, match="no ablation for paper 'nope'"):
        ablation.load_plan("nope")


def test_columns_sharing_a_checkpoint_run_their_own_trackers(setup, tmp_path, capsys):
    """Two columns of one checkpoint (a paper's offline / online trackers): each tracks with its tracker, the rows
    are success AUC and precision, and --ckpt CONFIG=PATH gives every column of that config its file."""
    root, _ = setup
    module = build_model_cli(["--config", "siamfc/demo", "--seed_everything=0"]).model
    checkpoint = tmp_path / "siamfc.ckpt"
    save_checkpoint(module, checkpoint)
    plan = ablation.AblationPlan(
        title="offline vs online", one_pass_metrics="ope_scores",
        columns=(ablation.AblationColumn("offline", "siamfc/demo", paper=(("fps", 121.0),), tracker="siamfc"),
                 ablation.AblationColumn("online", "siamfc/demo", paper=(("fps", 103.0),), tracker="online")))
    summary = ablation.run_ablation(plan, "otb", root / "otb", tmp_path / "out", tmp_path / "runs",
                                    given={"siamfc/demo": str(checkpoint)}, device="cpu", progress=False)
    printed = capsys.readouterr().out
    assert "Success AUC" in printed and "Precision@20" in printed and "DP@20" not in printed
    identities = {label: json.loads((tmp_path / "out" / "results" / "OTB" / label / "identity.json").read_text())
                  for label in ("offline", "online")}
    assert identities["offline"]["tracker"] != identities["online"]["tracker"]  # SiamFC-... vs SiamFC-OT
    for label in ("offline", "online"):
        report = score_ope(open_benchmark("otb", root / "otb"), tmp_path / "out" / "results" / "OTB" / label,
                           progress=False)
        assert summary["measured"][label]["success"] == pytest.approx(report.overall["success_auc"])


def test_paper_plans_of_the_siamfc_family_score_otb_2013():
    hierarchical = ablation.load_plan("hsiamfc")
    assert dict(hierarchical.benchmark_options) == {"version": 2013}
    assert {c.config for c in hierarchical.columns} == {"hsiamfc/vgg19", "hsiamfc/resnet50", "hsiamfc/densenet169"}
    assert [c.tracker for c in hierarchical.columns[:4]] == ["conv3", "conv4", "conv5", "hierarchical"]
    assert dict(hierarchical.columns[3].paper) == {"success": 0.604, "precision": 0.859}
    online = ablation.load_plan("siamfc_online")
    assert ablation.load_plan("siamfc-online") == online  # the paper's other spelling (make ablation PAPER=...)
    assert dict(online.benchmark_options) == {"version": 2013}
    assert [(c.config, c.tracker, dict(c.paper)["fps"]) for c in online.columns[:2]] == [
        ("siamfc/imagenet_alexnet", "siamfc", 121), ("siamfc/imagenet_alexnet", "online", 103)]
    from experiments.config_library import config_names

    assert {c.config for plan in (hierarchical, online) for c in plan.columns} <= set(config_names())
