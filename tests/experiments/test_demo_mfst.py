"""`make demo PAPER=mfst` in miniature (--quick): the small SiamFC trained, MFST's SE blocks trained on its frozen
backbone (branch S equal to the SiamFC's, branch A's backbone untouched), MFST against its single-layer, no-SE and
single-branch variants, and the `mfst - <variant> success AUC on <benchmark>: <signed number>` lines."""
import re

import pytest
import torch

from experiments import demo
from lightning_modules.checkpoints import load_module
from tracking.trackers.mfst import MFSTTracker


def test_plan():
    plan = demo.load_plan("mfst")
    assert [run.config for run in plan.runs] == ["mfst/demo_siamfc", "mfst/demo"]
    assert [t.label for t in plan.trackers] == ["mfst", "conv5", "no_se", "s_only"]
    assert plan.comparisons == (("mfst", "conv5"), ("mfst", "no_se"), ("mfst", "s_only"))


def test_quick_demo_trains_se_on_the_frozen_siamfc_and_compares_the_variants(tmp_path, capsys):
    out = tmp_path / "demo"
    summary = demo.main(["--out", str(out), "--quick", "--no-shared", "--no-progress", "--paper", "mfst"])
    printed = capsys.readouterr().out
    rows = {row["Tracker"]: row["Success AUC"] for row in summary["ope"]}
    assert list(rows) == ["mfst", "conv5", "no_se", "s_only"]
    for variant in ("conv5", "no_se", "s_only"):
        line = re.search(rf"^mfst - {variant} success AUC on Synthetic-OTB: ([+-]\d\.\d{{3}})$", printed,
                         re.MULTILINE)
        assert line and float(line.group(1)) == pytest.approx(rows["mfst"] - rows[variant], abs=5e-4)
    siamfc = load_module(str(out / "checkpoints" / "siamfc-trained.ckpt")).model.backbone.state_dict()
    mfst = load_module(str(out / "checkpoints" / "mfst-trained.ckpt"))
    start = load_module(str(out / "checkpoints" / "mfst-untrained.ckpt"))
    for key, value in mfst.model.branches["s"].backbone.state_dict().items():
        assert torch.equal(value, siamfc[key]), key  # branch S is the trained SiamFC, frozen
    for key, value in mfst.model.branches["a"].backbone.state_dict().items():
        assert torch.equal(value, start.model.branches["a"].backbone.state_dict()[key]), key
    assert not torch.equal(mfst.model.branches["a"].se[0].excite.weight, start.model.branches["a"].se[0].excite.weight)
    assert isinstance(mfst.build_tracker(), MFSTTracker)
