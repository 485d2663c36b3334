"""`make demo PAPER=siamfc` in miniature (--quick): the small three-level SiamFC trained, the untrained and trained
SiamFC trackers and Hierarchical SiamFC's hierarchical tracker with its single-layer baselines on the held-out
sequences, and the `trained - untrained success AUC on <benchmark>: <signed number>` lines."""
import re

import pytest

from experiments import demo
from lightning_modules.checkpoints import load_tracker
from tracking.trackers.hsiamfc import HierarchicalSiamFCTracker
from tracking.trackers.siamfc import SiamFCTracker


def test_plan():
    plan = demo.load_plan("siamfc")
    assert [run.config for run in plan.runs] == ["siamfc/demo"]
    assert [t.label for t in plan.trackers] == ["untrained", "trained", "hierarchical", "conv3", "conv4"]
    assert plan.comparisons[0] == ("trained", "untrained")


def test_quick_demo_compares_trained_untrained_and_hierarchical(tmp_path, capsys):
    out = tmp_path / "demo"
    summary = demo.main(["--out", str(out), "--quick", "--no-shared", "--no-progress", "--paper", "siamfc"])
    printed = capsys.readouterr().out
    rows = {row["Tracker"]: row["Success AUC"] for row in summary["ope"]}
    assert list(rows) == ["untrained", "trained", "hierarchical", "conv3", "conv4"]
    line = re.search(r"^trained - untrained success AUC on Synthetic-OTB: ([+-]\d\.\d{3})$", printed, re.MULTILINE)
    assert line and float(line.group(1)) == pytest.approx(rows["trained"] - rows["untrained"], abs=5e-4)
    assert "hierarchical - conv4 success AUC on Synthetic-OTB: " in printed
    trained = out / "checkpoints" / "trained.ckpt"
    assert type(load_tracker(str(trained))) is SiamFCTracker
    hierarchical = load_tracker(str(trained), tracker="hierarchical")
    assert isinstance(hierarchical, HierarchicalSiamFCTracker) and hierarchical.upscale_size == 272
