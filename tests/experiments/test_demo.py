"""`make demo` in miniature (--quick): every step end to end, the outputs, resume, and the untrained baseline."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from experiments import demo


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    summary = demo.main(["--out", str(out), "--quick", "--no-shared", "--no-progress"])
    return out, summary


def test_quick_demo_writes_table_plots_video_and_checkpoints(quick_demo, capsys):
    out, summary = quick_demo
    for path in ("data/vid/Data/VID/train", "data/coco/annotations/instances_train2017.json",
                 "data/otb_heldout/Heldout000/groundtruth_rect.txt", "checkpoints/untrained.ckpt",
                 "checkpoints/trained.ckpt", "train/checkpoints/last.ckpt", "results.md", "summary.json",
                 "plots/Synthetic-OTB/success_plot.png", "plots/Synthetic-OTB/precision_plot.png"):
        assert (out / path).exists(), path
    assert [row["Tracker"] for row in summary["ope"]] == ["untrained", "trained"]
    assert all(row["Benchmark"] == "Synthetic-OTB" and row["Seqs"] == 1 for row in summary["ope"])
    table = (out / "results.md").read_text()
    assert "| Synthetic-OTB | untrained |" in table and "| Synthetic-OTB | trained |" in table
    saved = json.loads((out / "summary.json").read_text())
    assert saved["gain"]["Synthetic-OTB"] == pytest.approx(
        saved["ope"][1]["Success AUC"] - saved["ope"][0]["Success AUC"])

    import imageio.v3 as iio

    video = out / "demo_Heldout000.gif"
    assert summary["video"] == str(video)
    assert iio.imread(video).shape[0] == demo.QUICK.heldout_frames  # one GIF frame per sequence frame

    # training moved the weights away from the untrained checkpoint
    untrained = torch.load(out / "checkpoints/untrained.ckpt", map_location="cpu", weights_only=False)
    trained = torch.load(out / "checkpoints/trained.ckpt", map_location="cpu", weights_only=False)
    assert trained["global_step"] > 0 and untrained["global_step"] == 0
    changed = [k for k, v in untrained["state_dict"].items() if not torch.equal(v, trained["state_dict"][k])]
    assert any("head" in k for k in changed) and any("backbone" in k for k in changed)


def test_table_numbers_are_the_scores_of_the_result_files(quick_demo):
    from tracking.benchmarks import OTB
    from tracking.evaluation.scoring import score_ope

    out, summary = quick_demo
    benchmark = OTB(out / demo.HELDOUT_DIR)
    for row in summary["ope"]:
        report = score_ope(benchmark, out / "results" / "Synthetic-OTB" / row["Tracker"], progress=False)
        assert row["Success AUC"] == pytest.approx(report.overall["success_auc"], abs=1e-12)
        assert row["Prec@20"] == pytest.approx(report.overall["precision_20"], abs=1e-12)
    # the two trackers really are different networks: different boxes
    boxes = [np.loadtxt(out / "results" / "Synthetic-OTB" / name / "Heldout000.txt", delimiter=",")
             for name in ("untrained", "trained")]
    assert not np.allclose(boxes[0][1:], boxes[1][1:])


def test_rerun_resumes_and_reproduces_the_table(quick_demo, capsys):
    out, summary = quick_demo
    before = (out / "checkpoints/trained.ckpt").read_bytes()
    again = demo.main(["--out", str(out), "--quick", "--no-shared", "--no-progress"])
    printed = capsys.readouterr().out
    assert "reusing the generated data" in printed
    assert again["ope"][0]["Success AUC"] == summary["ope"][0]["Success AUC"]
    assert again["ope"][1]["Success AUC"] == summary["ope"][1]["Success AUC"]
    assert (out / "checkpoints/trained.ckpt").read_bytes() == before  # training was not repeated
    assert "untrained" in printed and "trained - untrained success AUC on Synthetic-OTB" in printed


def test_untrained_checkpoint_holds_the_weights_training_starts_from(quick_demo, tmp_path):
    """With a zero learning rate, training leaves every parameter where it started: at the untrained weights."""
    from experiments.train import main as train_main

    out, _ = quick_demo
    args = demo.training_args("siamrpnpp/demo", demo.QUICK, seed=0, extra_args=["--model.init_args.optim.base_lr=0.0"])
    trainer = train_main([*args, "--trainer.accelerator=cpu", "--data_root", str(out / demo.TRAIN_DATA_DIR),
                          "--out", str(tmp_path / "run")])
    untrained = torch.load(out / "checkpoints/untrained.ckpt", map_location="cpu", weights_only=False)
    parameters = dict(trainer.lightning_module.named_parameters())
    assert trainer.global_step > 0
    for name, value in parameters.items():
        assert torch.equal(value.detach().cpu(), untrained["state_dict"][name]), name


def test_held_out_sequences_use_seeds_no_training_video_uses():
    seeds = demo.data_seeds(0, demo.FULL)
    assert len(seeds["vid"]) == demo.FULL.train_videos and len(seeds["heldout"]) == demo.FULL.heldout_videos
    assert not (set(seeds["vid"]) | set(seeds["coco"])) & set(seeds["heldout"])
    assert demo.data_seeds(1, demo.FULL)["heldout"] != seeds["heldout"]


def test_shared_benchmarks_are_used_when_present_and_skipped_when_absent(tmp_path, capsys, shared_data):
    runs = demo.benchmarks_to_run(tmp_path, shared_data, demo.FULL)
    assert [(r.kind, r.bench_name) for r in runs] == [("otb", "Synthetic-OTB"), ("otb", "OTB"), ("vot", "VOT")]
    assert runs[1].root == shared_data / "otb" and runs[1].max_sequences is None
    runs = demo.benchmarks_to_run(tmp_path, tmp_path / "missing", demo.FULL)
    assert [r.bench_name for r in runs] == ["Synthetic-OTB"]
    assert "skipping the real sequences" in capsys.readouterr().out


def test_a_folder_holding_another_demo_is_not_resumed_with_other_settings(quick_demo):
    out, _ = quick_demo
    with pytest.raises(SystemExit, match="seed differ"):
        demo.main(["--out", str(out), "--quick", "--no-shared", "--seed", "3"])


def test_plans_by_paper_and_stable_data_streams():
    plan = demo.load_plan("siamrpnpp")
    assert [run.config for run in plan.runs] == ["siamrpnpp/demo"]
    assert [t.label for t in plan.trackers] == ["untrained", "trained"] and plan.comparisons == (("trained",
                                                                                                   "untrained"),)
    with pytest.raises(ValueError, match="no demo for paper 'nope'; available: .*siamrpnpp"):
        demo.load_plan("nope")
    # another paper's extra training format does not move the VID, COCO or held-out videos
    base = demo.data_seeds(0, demo.FULL)
    more = demo.data_seeds(0, demo.FULL, ("vid", "coco", "lasot"))
    assert all(base[name] == more[name] for name in ("vid", "coco", "heldout"))
    assert len(more["lasot"]) == demo.FULL.train_videos and not set(more["lasot"]) & set(more["heldout"])
