"""`make bench`: a tiny run on the demo model prints a table with positive speeds."""
from __future__ import annotations

import json
import math

import pytest

from experiments import bench


def test_bench_demo_model_prints_positive_fps(tmp_path, capsys):
    out = tmp_path / "bench.json"
    results = bench.main(["--models", "demo", "--device", "cpu", "--frames", "3", "--warmup", "1",
                          "--batch-size", "2", "--train-steps", "1", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "device: cpu" in printed
    [result] = results
    assert result.model == "demo" and result.preset == "siamrpn_demo" and result.frames == 3
    assert result.tracker_fps > 0 and result.train_pairs_per_s > 0
    assert math.isclose(result.ms_per_frame, 1000 / result.tracker_fps, rel_tol=1e-9)
    table = printed[printed.index("Model"):].splitlines()
    assert table[0].split()[:3] == ["Model", "Params", "(M)"]
    row = table[2].split()
    assert row[0] == "demo" and float(row[2]) == pytest.approx(result.tracker_fps, abs=1e-3) and float(row[2]) > 0
    assert float(row[1]) == pytest.approx(result.parameters_m, abs=1e-3)
    saved = json.loads(out.read_text())
    assert saved["precision"] == "fp32" and saved["results"][0]["tracker_fps"] == result.tracker_fps


def test_bench_rejects_unknown_models():
    with pytest.raises(ValueError, match="unknown model 'resnet9000'"):
        bench.main(["--models", "resnet9000", "--device", "cpu"])


def test_random_batches_have_the_training_layout():
    import torch

    from tracking.models.config import PRESETS

    config = PRESETS["siamrpn_demo"]
    batch = bench.random_batch(config, 5, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert batch["template"].shape == (5, 3, 127, 127)
    assert batch["search"].shape == (5, 3, config.train_search_size, config.train_search_size)
    boxes = batch["search_box"]
    assert boxes.shape == (5, 4) and bool((boxes[:, 2:] > boxes[:, :2]).all())
    assert bool(((boxes >= 0) & (boxes <= config.train_search_size)).all())
    assert batch["negative"].dtype == torch.bool
