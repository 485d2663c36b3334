"""`make ablation PAPER=mfst`: the plan holds every row of Tables I and II with the paper's numbers; rows run on
their training run's checkpoint with their config's tracker values, and the same result files are scored on
OTB-2013 / OTB-50 / OTB-100 (equal to scoring those sequences' files directly; nan for a subset absent from the
root), printed in the paper's layout; bad checkpoints are reported."""
from __future__ import annotations

import json
import math

import pytest

from experiments import ablation
from experiments.ablations.mfst import PLAN, ROWS, MFSTTables, row_tracker_values
from experiments.demo import save_checkpoint
from lightning_modules.mfst import MFSTModule
from tracking.benchmarks import OTB
from tracking.evaluation.scoring import score_ope
from tracking.synthetic.video import generate_video
from tracking.synthetic.writers import write_otb

SMALL = {"s_backbone_options": {"width_mult": 0.25}, "a_backbone_options": {"width_mult": 0.25}}


def test_plan_has_every_row_with_the_papers_numbers():
    assert len(PLAN.rows) == 36 and len({row.config for row in ROWS}) == 36
    assert [row.weights for row in ROWS].count("mfst/alexnet_se") == 12
    assert [row.weights for row in ROWS].count("mfst/siamfc_se") == 12
    assert [row.weights for row in ROWS].count("mfst/mfst") == 12
    final = next(row for row in ROWS if row.label == "table2_sw_se")
    assert final.paper == (0.667, 0.854, 0.581, 0.764, 0.647, 0.831) and final.cells == ("Acom", "Scom", "SW", "x")
    a_conv5 = next(row for row in ROWS if row.label == "table1_a_conv5")
    assert a_conv5.paper[:2] == (0.582, 0.763) and a_conv5.cells == ("A", "", "", "x", "", "")
    assert next(row for row in ROWS if row.label == "table2_aconv5").paper == a_conv5.paper  # the same variant
    for row in ROWS:  # the configs' values themselves: tests/lightning_modules/test_lightning_mfst.py
        assert (row.cells[-1] == "x") == row.label.endswith("_se"), row.label
        assert row.label.startswith({"mfst/alexnet_se": "table1_a_", "mfst/siamfc_se": "table1_s_",
                                     "mfst/mfst": "table2_"}[row.weights])
    values = row_tracker_values("mfst/tables/table1_s_conv4_se")
    assert values["branches"] == ("s",) and values["tracker"]["s_weights"] == [0.0, 1.0, 0.0]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("mfst_ablation")
    # OTB names: Couple (OTB-2013, TB-50, TB-100), Crossing (OTB-2013, TB-100), Bird2 (TB-100 only)
    write_otb([generate_video(seed, num_frames=4, size=(96, 128), name=name, difficulty="easy")
               for seed, name in ((1, "Couple"), (2, "Crossing"), (3, "Bird2"))], root / "otb")
    runs = root / "runs"
    for config, branches in (("mfst/alexnet_se", ["a"]), ("mfst/siamfc_se", ["s"]), ("mfst/mfst", ["s", "a"])):
        module = MFSTModule(network={**SMALL, "branches": branches})
        save_checkpoint(module, runs / config / "checkpoints" / "last.ckpt")
    return root, runs


def test_rows_scored_on_the_otb_subsets_in_the_papers_layout(setup, capsys, monkeypatch):
    root, runs = setup
    rows = tuple(row for row in ROWS if row.label in ("table1_s_sw_se", "table2_sm"))
    monkeypatch.setattr("experiments.ablations.mfst.PLAN", MFSTTables("MFST test", rows))
    summary = ablation.main(["--paper", "mfst", "--data", str(root / "otb"), "--runs", str(runs),
                             "--out", str(root / "out"), "--device", "cpu", "--no-progress"])
    printed = capsys.readouterr().out
    assert summary["sequences"] == {"OTB-2013": 2, "OTB-50": 1, "OTB-100": 3}
    benchmark = OTB(root / "otb")
    for row in rows:
        values = summary["measured"][row.label]
        result_dir = root / "out" / "results" / "OTB" / row.label
        for index, names in enumerate((["Couple", "Crossing"], ["Couple"], ["Couple", "Crossing", "Bird2"])):
            report = score_ope([benchmark[n] for n in names], result_dir, progress=False)
            assert values[2 * index] == pytest.approx(report.overall["success_auc"])
            assert values[2 * index + 1] == pytest.approx(report.overall["precision_20"])
        assert summary["paper"][row.label] == list(row.paper)
    assert "Table I" in printed and "Table II" in printed and "OTB-50 Prec." in printed
    assert "reported by the paper" in printed and "0.647" in printed
    written = json.loads((root / "out" / "ablation_otb.json").read_text())
    assert written["measured"] == summary["measured"]
    # the same rows on a root without any OTB-50 sequence: that subset is nan
    write_otb([generate_video(4, num_frames=3, size=(96, 128), name="Crossing", difficulty="easy")], root / "otb2")
    summary = MFSTTables("MFST test", rows[:1]).run_ablation("otb", root / "otb2", root / "out2", runs,
                                                              progress=False)
    assert summary["sequences"] == {"OTB-2013": 1, "OTB-50": 0, "OTB-100": 1}
    assert math.isnan(summary["measured"]["table1_s_sw_se"][2]) and not math.isnan(
        summary["measured"]["table1_s_sw_se"][0])


def test_missing_and_wrong_checkpoints_are_reported(setup, tmp_path):
    root, runs = setup
    with pytest.raises(FileNotFoundError, match=r"mfst/mfst: .* \(make train CONFIG=mfst/mfst"):
        PLAN.run_ablation("otb", root / "otb", tmp_path, tmp_path / "no_runs")
    with pytest.raises(ValueError, match=r"unknown training config\(s\) \['mfst/x'\]"):
        PLAN.run_ablation("otb", root / "otb", tmp_path, runs, {"mfst/x": "a.ckpt"})
    row = next(row for row in ROWS if row.label == "table1_a_conv3")
    wrong = {"mfst/alexnet_se": str(runs / "mfst/mfst/checkpoints/last.ckpt")}
    with pytest.raises(ValueError, match=r"row for branches \['a'\]; the checkpoint .* has \['s', 'a'\]"):
        MFSTTables("t", (row,)).run_ablation("otb", root / "otb", tmp_path, runs, wrong, progress=False)
    with pytest.raises(ValueError, match="MFST's tables are on OTB"):
        PLAN.run_ablation("vot", root / "otb", tmp_path, runs)
