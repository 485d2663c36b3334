"""`make bench`: a tiny run on the demo config prints a table with positive speeds; the training figure comes
from the module's own training step."""
from __future__ import annotations

import json
import math

import pytest

from experiments import bench


def test_bench_demo_model_prints_positive_fps(tmp_path, capsys):
    out = tmp_path / "bench.json"
    results = bench.main(["--configs", "siamrpnpp/demo", "--device", "cpu", "--frames", "3", "--warmup", "1",
                          "--batch-size", "2", "--train-steps", "1", "--batches", "2", "--batch-steps", "1",
                          "--json", str(out)])
    printed = capsys.readouterr().out
    assert "device: cpu" in printed
    [result] = results
    assert result.model == "siamrpnpp/demo" and result.tracker == "siamrpn" and result.frames == 3
    assert result.tracker_fps > 0 and result.train_pairs_per_s > 0
    assert math.isclose(result.ms_per_frame, 1000 / result.tracker_fps, rel_tol=1e-9)
    table = printed[printed.index("Model"):].splitlines()
    assert table[0].split()[:4] == ["Model", "Tracker", "Params", "(M)"]
    row = table[2].split()
    assert row[0] == "siamrpnpp/demo" and row[1] == "siamrpn"
    assert float(row[3]) == pytest.approx(result.tracker_fps, abs=1e-3) and float(row[3]) > 0
    assert float(row[2]) == pytest.approx(result.parameters_m, abs=1e-3)
    assert set(result.batched_fps) == {1, 2} and result.batched_fps[2] > 0  # two sequences in lockstep
    assert "frames/s B=2" in table[0]
    saved = json.loads(out.read_text())
    assert saved["precision"] == "fp32" and saved["results"][0]["tracker_fps"] == result.tracker_fps


def test_bench_rejects_unknown_configs_and_trackers():
    from tracking.errors import DataError

    with pytest.raises(DataError, match="no packaged config named 'siamrpnpp/resnet9000'"):
        bench.main(["--configs", "siamrpnpp/resnet9000", "--device", "cpu"])
    with pytest.raises(ValueError, match=r"unknown tracker 'online'.*accepted: \['siamrpn'\]"):
        bench.main(["--configs", "siamrpnpp/demo", "--trackers", "online", "--device", "cpu", "--no-train"])


def test_tracker_parameters_reach_the_timed_trackers(monkeypatch):
    seen = []
    timed = bench.bench_tracker
    monkeypatch.setattr(bench, "bench_tracker", lambda tracker, *args: seen.append(tracker.params) or
                        timed(tracker, *args))
    results = bench.main(["--configs", "siamrpnpp/demo", "--device", "cpu", "--no-train", "--batches", "2",
                          "--frames", "2", "--warmup", "0", "--set", "crop_on_device=true", "--set", "lr=0.2"])
    assert seen[0].crop_on_device and seen[0].lr == 0.2
    assert results[0].tracker_fps > 0 and results[0].batched_fps[2] > 0
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['crop_in_space'\]"):
        bench.main(["--configs", "siamrpnpp/demo", "--device", "cpu", "--no-train", "--set", "crop_in_space=1"])


def test_training_figure_runs_the_modules_training_step(monkeypatch):
    """The timed steps are the module's own training_step, run by a Trainer (no copy of the step)."""
    import torch

    from experiments.config_library import build_model_cli

    built = build_model_cli(["--config", "siamrpnpp/demo"])
    module = built.model
    calls = []
    original = type(module).training_step

    def counting_step(self, batch, batch_index):
        calls.append(batch["template"].shape)
        return original(self, batch, batch_index)

    monkeypatch.setattr(type(module), "training_step", counting_step)
    before = [p.detach().clone() for p in module.parameters()]
    pairs = bench.bench_training(module, built.config_init.trainer.callbacks, torch.device("cpu"), "fp32",
                                 batch_size=2, steps=2, warmup=1)
    assert pairs > 0 and calls == [(2, 3, 127, 127)] * 3
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))
    # the demo config trains every backbone layer from epoch 0: all of them were trainable while timed
    assert module.trainable_backbone_layers == ("layer1", "layer2", "layer3", "layer4", "layer5")


def test_random_batches_have_the_training_layout():
    import torch

    crops = {"template_size": 127, "search_size": 255, "context_amount": 0.5, "image_format": "bgr255"}
    batch = bench.random_batch(crops, 5, torch.Generator().manual_seed(0))
    assert batch["template"].shape == (5, 3, 127, 127)
    assert batch["search"].shape == (5, 3, 255, 255)
    boxes = batch["search_box"]
    assert boxes.shape == (5, 4) and bool((boxes[:, 2:] > boxes[:, :2]).all())
    assert bool(((boxes >= 0) & (boxes <= 255)).all())
    assert batch["negative"].dtype == torch.bool


def test_bf16_instructions_are_read_from_the_cpu_flags():
    from tracking.inference.precision import cpu_bf16_flags

    amd = "processor\t: 0\nflags\t\t: fpu vme avx2 fma sse4_2\n"
    xeon = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
    assert cpu_bf16_flags(amd) == []
    assert cpu_bf16_flags(xeon) == ["avx512_bf16", "amx_bf16"]
    assert cpu_bf16_flags("") == []


def test_online_training_cost_is_printed_per_backbone():
    def result(model, fps):
        return bench.BenchResult(model, "t", 1.0, fps, 1000 / fps, 10, float("nan"), 4, 2)

    lines = bench.paired_costs([result("siamfc/imagenet_alexnet", 20.0), result("siamfc_online/imagenet_alexnet",
                                                                                15.0), result("siamfc/alexnet", 9.0)])
    assert lines == ["siamfc/imagenet_alexnet: 20.0 FPS without, 15.0 FPS with online training (-25 %)"]
