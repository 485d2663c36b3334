"""`make demo PAPER=snscf` in miniature (--quick): YouTube-VOS data among the generated formats, both runs trained,
the snscf tracker on the SNS-CF checkpoint, and the comparison line."""
import json

import pytest

from experiments import demo
from lightning_modules.checkpoints import load_tracker
from tracking.trackers.siamrpn import SiamRPNTracker
from tracking.trackers.snscf import SNSCFTracker


def test_plan():
    plan = demo.load_plan("snscf")
    assert [run.config for run in plan.runs] == ["snscf/demo_siamrpnpp", "snscf/demo"]
    assert plan.comparisons == (("snscf", "siamrpnpp"),) and "ytvos" in plan.training_formats


def test_quick_demo_trains_both_and_prints_the_comparison(tmp_path, capsys):
    out = tmp_path / "demo"
    summary = demo.main(["--out", str(out), "--quick", "--no-shared", "--no-progress", "--paper", "snscf"])
    printed = capsys.readouterr().out
    assert "snscf - siamrpnpp success AUC on Synthetic-OTB: " in printed
    gain = summary["comparisons"][0]["gain"]["Synthetic-OTB"]
    rows = {row["Tracker"]: row["Success AUC"] for row in summary["ope"]}
    assert gain == pytest.approx(rows["snscf"] - rows["siamrpnpp"])
    assert f"{gain:+.3f}" in printed
    meta = json.loads((out / "data" / "ytvos" / "train" / "meta.json").read_text())
    assert len(meta["videos"]) == demo.QUICK.train_videos
    assert isinstance(load_tracker(str(out / "checkpoints" / "snscf-trained.ckpt")), SNSCFTracker)
    baseline = load_tracker(str(out / "checkpoints" / "siamrpnpp-trained.ckpt"))
    assert isinstance(baseline, SiamRPNTracker) and not isinstance(baseline, SNSCFTracker)
