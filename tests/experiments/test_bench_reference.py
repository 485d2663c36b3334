"""make bench-reference: our trackers and the restated references timed on the same weights and frames."""
import pytest

from experiments import bench_reference


def test_bench_reference_times_both_on_the_same_work(capsys):
    rows = bench_reference.main(["--trackers", "siamfc", "siamrpn_alex", "--frames", "1", "--rounds", "1",
                                 "--no-compiled"])
    assert [row["tracker"] for row in rows] == ["siamfc", "siamrpn_alex"]
    for row in rows:
        # the same backbone and head per frame on both sides (ours computes the head's template convolutions once
        # per sequence, pysot every frame: 0.3 % of the SiamRPN++ AlexNet's work): the comparison is of the steps
        assert row["reference_gflop_per_frame"] * 0.99 < row["gflop_per_frame"] <= row["reference_gflop_per_frame"]
        assert row["ours_fps"] > 0 and row["reference_fps"] > 0
        assert row["ratio"] == pytest.approx(row["ours_fps"] / row["reference_fps"])
        assert row["ours_of_limit"] == pytest.approx(row["ours_fps"] / row["limit_fps"])
    # SiamFC AlexNet, 3 scales of 255: 2 x 3 x 2.71 GFLOP-ish per crop is what the reference's network does
    assert 14 < rows[0]["gflop_per_frame"] < 19
    # SiamRPN++ AlexNet at 287 (the 12.9 GFLOP per frame)
    assert rows[1]["gflop_per_frame"] == pytest.approx(12.9, abs=0.1)
    printed = capsys.readouterr().out
    assert "GFLOP/s" in printed and "siamrpn_alex" in printed
    assert all(row["matmul_gflops"] > 1 for row in rows)
    assert "compiled" not in printed and "compiled_fps" not in rows[0]


def test_bench_reference_times_the_compiled_tracker_beside(capsys):
    rows = bench_reference.main(["--trackers", "siamrpn_alex", "--frames", "1", "--rounds", "1"])
    row = rows[0]
    assert row["compiled_fps"] > 0
    limit = row["matmul_gflops"] / row["gflop_per_frame"]
    assert row["compiled_of_limit"] == pytest.approx(row["compiled_fps"] / limit)
    lines = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip().startswith("siamrpn_alex")]
    assert [line[1:-5] for line in lines] == [["ours"], ["ours", "compiled"], ["reference"]]
    assert float(lines[1][-5]) == pytest.approx(row["compiled_fps"], abs=0.01)


def test_unknown_tracker_is_refused():
    with pytest.raises(SystemExit):
        bench_reference.main(["--trackers", "siamfc_typo"])
