"""`make bench` covers the SiamFC family: SiamFC's tracker and Hierarchical SiamFC's hierarchical tracker on a SiamFC
network, and its training step (the balanced loss of every level on the bench's random batches), at positive speeds; the
Makefile's BENCH_CONFIGS name the SiamFC and Hierarchical SiamFC configs."""
from pathlib import Path

from experiments import bench


def test_bench_times_siamfc_and_hierarchical_trackers_and_the_training_step(capsys):
    results = bench.main(["--configs", "siamfc/demo", "--trackers", "siamfc", "hierarchical", "--device", "cpu",
                          "--frames", "2", "--warmup", "1", "--batch-size", "2", "--train-steps", "1", "--batches"])
    assert [(r.model, r.tracker) for r in results] == [("siamfc/demo", "siamfc"), ("siamfc/demo", "hierarchical")]
    assert all(r.tracker_fps > 0 and r.train_pairs_per_s > 0 and r.frames == 2 for r in results)
    assert "siamfc/demo" in capsys.readouterr().out


def test_bench_configs_cover_siamfc_and_each_paper_000_backbone():
    makefile = Path(__file__).resolve().parents[2] / "Makefile"
    line = next(line for line in makefile.read_text().replace("\\\n", " ").splitlines()
                if line.startswith("BENCH_CONFIGS"))
    assert {"siamfc/alexnet", "hsiamfc/vgg19", "hsiamfc/resnet50", "hsiamfc/densenet169"} <= set(line.split())
