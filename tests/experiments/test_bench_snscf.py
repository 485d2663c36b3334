"""`make bench` covers SNS-CF: its tracker (the filters on top of SiamRPN++'s step) and its training step (the joint
loss on the bench's random batches, which have no template box) run and give positive speeds."""
from experiments import bench


def test_bench_times_the_snscf_tracker_and_training_step(capsys):
    [result] = bench.main(["--configs", "snscf/demo", "--device", "cpu", "--frames", "3", "--warmup", "1",
                           "--batch-size", "2", "--train-steps", "1", "--batches"])
    assert result.model == "snscf/demo" and result.tracker == "snscf" and result.frames == 3
    assert result.tracker_fps > 0 and result.train_pairs_per_s > 0
    assert "snscf/demo" in capsys.readouterr().out
