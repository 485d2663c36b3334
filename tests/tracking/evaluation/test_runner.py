"""The evaluation runner: got10k's result layouts, resume, atomic writes, VOT's supervised protocol."""
import os
from pathlib import Path

import numpy as np
import pytest

from tracking import atomic_files
from tracking.benchmarks import open_benchmark
from tracking.boxes import polygon_to_xywh
from tracking.errors import DataError
from tracking.evaluation.runner import (
    atomic_write_text,
    run_ope,
    run_vot_supervised,
    track_supervised,
)
from tracking.synthetic.video import generate_video
from tracking.synthetic.writers import write_got10k, write_otb, write_vot
from tracking.trackers.baselines import FirstBoxTracker

SIZE = (64, 80)


def _videos(count=3, frames=8, seed=0):
    return [generate_video(seed + i, num_frames=frames, size=SIZE, name=f"Seq{i}", difficulty="easy")
            for i in range(count)]


@pytest.fixture(scope="module")
def otb_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("otb")
    write_otb(_videos(count=3, frames=6), root)
    return root


@pytest.fixture(scope="module")
def vot_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("vot")
    write_vot([generate_video(7, num_frames=16, size=SIZE, name="vidA", difficulty="easy")], root)
    return root


class CountingTracker(FirstBoxTracker):
    """FirstBox that counts its calls and can fail on a chosen update of a chosen sequence."""

    def __init__(self, fail_on_update=None):
        super().__init__()
        self.inits, self.updates = 0, 0
        self.fail_on_update = fail_on_update

    def init(self, image, box):
        self.inits += 1
        super().init(image, box)

    def update(self, image):
        self.updates += 1
        if self.fail_on_update is not None and self.updates == self.fail_on_update:
            raise RuntimeError("simulated crash while tracking")
        return super().update(image)


def _tmp_files(folder: Path):
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_run_ope_writes_got10k_otb_layout(otb_root, tmp_path):
    benchmark = open_benchmark("otb", otb_root)
    summary = run_ope(FirstBoxTracker(), benchmark, tmp_path / "results", "FirstBox", "OTB", progress=False)
    result_dir = tmp_path / "results" / "OTB" / "FirstBox"
    assert summary.result_dir == result_dir
    assert summary.tracked == ["Seq0", "Seq1", "Seq2"] and summary.skipped == []
    for name in summary.tracked:
        sequence = benchmark[name]
        lines = (result_dir / f"{name}.txt").read_text().splitlines()
        assert len(lines) == len(sequence)
        # 4 decimals, comma separated, the first box repeated (FirstBox)
        expected = ",".join(f"{v:.4f}" for v in sequence.ground_truth[0])
        assert lines == [expected] * len(sequence)
        times = np.loadtxt(result_dir / "times" / f"{name}_time.txt")
        assert times.shape == (len(sequence),) and np.all(times >= 0)
    assert summary.frames == sum(len(benchmark[n]) for n in summary.tracked)
    assert _tmp_files(tmp_path) == []


def test_run_ope_resumes_and_skips_existing_results(otb_root, tmp_path, capsys):
    """A resumed folder keeps the results the run wrote; a missing one is tracked, and so is one edited after
    the run (its checksum is not the one recorded when it was written): named on stderr."""
    benchmark = open_benchmark("otb", otb_root)
    results = tmp_path / "results"
    run_ope(FirstBoxTracker(), benchmark, results, "T", "OTB", progress=False)
    result_dir = results / "OTB" / "T"
    written = (result_dir / "Seq0.txt").read_text()
    (result_dir / "Seq0.txt").write_text(written.replace("1", "2", 1))  # valid numbers, other boxes
    (result_dir / "Seq2.txt").unlink()

    tracker = CountingTracker()
    summary = run_ope(tracker, benchmark, results, "T", "OTB", progress=False)
    assert summary.skipped == ["Seq1"] and summary.tracked == ["Seq0", "Seq2"]
    assert "1 result file(s) differ" in capsys.readouterr().err and "Seq0.txt" not in summary.skipped
    assert tracker.inits == 2
    assert len((result_dir / "Seq2.txt").read_text().splitlines()) == len(benchmark["Seq2"])


def test_run_ope_max_sequences(otb_root, tmp_path):
    summary = run_ope(FirstBoxTracker(), open_benchmark("otb", otb_root), tmp_path, "T", "OTB", progress=False,
                      max_sequences=2)
    assert summary.tracked == ["Seq0", "Seq1"]
    assert sorted(p.name for p in (tmp_path / "OTB" / "T").glob("*.txt")) == ["Seq0.txt", "Seq1.txt"]


def test_crash_while_tracking_leaves_no_result_for_that_sequence(otb_root, tmp_path):
    benchmark = open_benchmark("otb", otb_root)
    frames_seq0 = len(benchmark["Seq0"])
    # crash on the third update of the second sequence
    tracker = CountingTracker(fail_on_update=frames_seq0 - 1 + 3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_ope(tracker, benchmark, tmp_path, "T", "OTB", progress=False)
    result_dir = tmp_path / "OTB" / "T"
    assert (result_dir / "Seq0.txt").exists()
    assert not (result_dir / "Seq1.txt").exists()
    assert not (result_dir / "times" / "Seq1_time.txt").exists()
    assert _tmp_files(tmp_path) == []
    # the next run tracks only what is missing
    summary = run_ope(CountingTracker(), benchmark, tmp_path, "T", "OTB", progress=False)
    assert summary.skipped == ["Seq0"] and summary.tracked == ["Seq1", "Seq2"]


def test_interrupt_during_the_write_leaves_no_partial_file(otb_root, tmp_path, monkeypatch):
    benchmark = open_benchmark("otb", otb_root)
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync_interrupted(descriptor):
        # 1st fsync: Seq0's time file; 2nd: Seq0's record -> interrupted after its bytes were written
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_fsync(descriptor)

    monkeypatch.setattr(atomic_files.os, "fsync", fsync_interrupted)
    monkeypatch.setattr(atomic_files, "_fsync_directory", lambda directory: None)
    with pytest.raises(KeyboardInterrupt):
        run_ope(FirstBoxTracker(), benchmark, tmp_path, "T", "OTB", progress=False)
    result_dir = tmp_path / "OTB" / "T"
    assert not (result_dir / "Seq0.txt").exists()
    assert _tmp_files(tmp_path) == []


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "a" / "file.txt"
    atomic_write_text(path, "one\n")
    atomic_write_text(path, "two\n")
    assert path.read_text() == "two\n"
    assert [p.name for p in path.parent.iterdir()] == ["file.txt"]


def test_invalid_first_box_names_the_annotation_file(tmp_path):
    """Readers that allow NaN rows (UAV123, LaSOT) can hand over a sequence whose first box is unusable."""
    from tracking.benchmarks.base import Benchmark, Sequence

    annotation = tmp_path / "anno" / "seqX.txt"

    class NaNStart(Benchmark):
        def __init__(self, root):
            super().__init__(root)
            self.sequence_names = ["seqX"]

        def load_sequence(self, name):
            gt = np.array([[np.nan] * 4, [1.0, 2.0, 3.0, 4.0]])
            return Sequence(name, [tmp_path / "1.jpg", tmp_path / "2.jpg"], gt, meta={"annotation_file": annotation})

    with pytest.raises(DataError, match=r"seqX\.txt, line 1: first ground-truth box"):
        run_ope(FirstBoxTracker(), NaNStart(tmp_path), tmp_path / "results", "T", "UAV123", progress=False)
    assert not (tmp_path / "results" / "UAV123" / "T" / "seqX.txt").exists()


def _otb_with_rows(tmp_path, replaced: dict) -> Path:
    """A synthetic OTB root (Seq0, Seq1, 6 frames) whose ground-truth lines ``{(seq, index): text}`` are replaced."""
    root = tmp_path / "otb"
    write_otb(_videos(count=2, frames=6), root)
    for (name, index), text in replaced.items():
        path = root / name / "groundtruth_rect.txt"
        lines = path.read_text().splitlines()
        lines[index] = text
        path.write_text("\n".join(lines) + "\n")
    return root


def test_degenerate_ground_truth_rows_after_the_first_are_tracked_and_scored(tmp_path):
    """OTB-100's Board ends with 0,0,0,0: the tracker starts from the (valid) first box and the frame scores 0."""
    from tracking.evaluation.runner import evaluate_tracker
    from tracking.metrics.ope import ope_scores

    root = _otb_with_rows(tmp_path, {("Seq0", 2): "0,0,0,0", ("Seq0", 5): "0,0,0,0", ("Seq1", 3): "NaN,NaN,NaN,NaN"})
    benchmark = open_benchmark("otb", root)
    evaluation = evaluate_tracker("otb", FirstBoxTracker(), benchmark, tmp_path / "out", "T", progress=False)
    assert evaluation.run.tracked == ["Seq0", "Seq1"]
    gt = benchmark["Seq0"].ground_truth
    boxes = np.loadtxt(tmp_path / "out" / "results" / "OTB" / "T" / "Seq0.txt", delimiter=",")
    np.testing.assert_allclose(boxes, np.repeat(gt[:1], 6, axis=0), atol=5e-5)  # started from the first box
    expected = ope_scores(boxes, gt)
    scores = evaluation.report.per_sequence["Seq0"]
    np.testing.assert_allclose(scores["success_curve"], expected["success_curve"])
    assert scores["success_curve"][0] <= 4 / 6  # the two 0,0,0,0 frames overlap nothing
    assert evaluation.report.per_sequence["Seq1"]["success_curve"][0] <= 5 / 6  # the NaN frame is a failure


def test_degenerate_first_box_is_a_clear_error(tmp_path):
    root = _otb_with_rows(tmp_path, {("Seq1", 0): "0,0,0,0"})
    with pytest.raises(DataError, match=r"Seq1/groundtruth_rect.txt, line 1: first ground-truth box "
                                        r"\[0.0, 0.0, 0.0, 0.0\] of Seq1 is degenerate"):
        run_ope(FirstBoxTracker(), open_benchmark("otb", root), tmp_path / "results", "T", "OTB", progress=False)
    assert (tmp_path / "results" / "OTB" / "T" / "Seq0.txt").is_file()
    assert not (tmp_path / "results" / "OTB" / "T" / "Seq1.txt").exists()


class NaNEveryOtherFrame(FirstBoxTracker):
    """FirstBox that loses the target (returns NaN) on every other update."""

    def init(self, image, box):
        super().init(image, box)
        self.calls = 0

    def update(self, image):
        self.calls += 1
        return np.full(4, np.nan) if self.calls % 2 else super().update(image)


def test_nan_result_lines_are_failures_and_counted_in_the_report(otb_root, tmp_path):
    import json

    from tracking.evaluation.runner import evaluate_tracker
    from tracking.metrics.ope import ope_scores

    benchmark = open_benchmark("otb", otb_root)
    evaluation = evaluate_tracker("otb", NaNEveryOtherFrame(), benchmark, tmp_path, "Lossy", progress=False)
    result = tmp_path / "results" / "OTB" / "Lossy" / "Seq0.txt"
    boxes = np.loadtxt(result, delimiter=",")
    assert np.isnan(boxes).any(axis=1).sum() == 3  # updates 1, 3, 5 of 5
    expected = ope_scores(boxes, benchmark["Seq0"].ground_truth)
    scores = evaluation.report.per_sequence["Seq0"]
    assert scores["success_auc"] == pytest.approx(expected["success_auc"])
    assert scores["success_curve"][0] <= 3 / 6 and scores["nan_result_lines"] == 3
    assert evaluation.report.overall["nan_result_lines"] == 9
    header, _, row = evaluation.table.splitlines()
    assert header.split()[-2:] == ["NaN", "lines"] and row.split()[-1] == "9"
    performance = json.loads((tmp_path / "reports" / "OTB" / "Lossy" / "performance.json").read_text())["Lossy"]
    assert performance["seq_wise"]["Seq2"]["nan_result_lines"] == 3 and performance["overall"]["nan_result_lines"] == 9


def test_run_ope_got10k_layout(tmp_path):
    root = tmp_path / "got10k"
    names = write_got10k(_videos(count=2, frames=5), root, subset="val")
    benchmark = open_benchmark("got10k", root, subset="val")
    summary = run_ope(FirstBoxTracker(), benchmark, tmp_path / "results", "T", "GOT-10k", progress=False)
    assert summary.tracked == names
    for name in names:
        folder = tmp_path / "results" / "GOT-10k" / "T" / name
        assert sorted(p.name for p in folder.iterdir()) == [f"{name}_001.txt", f"{name}_time.txt"]
        boxes = np.loadtxt(folder / f"{name}_001.txt", delimiter=",")
        np.testing.assert_allclose(boxes, np.repeat(benchmark[name].ground_truth[:1], 5, axis=0), atol=5e-5)
        assert np.loadtxt(folder / f"{name}_time.txt", delimiter=",").shape == (5,)


# --- VOT supervised ---------------------------------------------------------------------------------------------

class ScriptedTracker:
    """Returns the ground-truth box, except far outside the image on the chosen frames (-> failures).

    It finds the frame it is on from the image itself (frames are distinct), so re-initialisation does not
    confuse it.
    """

    name = "Scripted"

    def __init__(self, frames, ground_truth, fail_frames):
        self.keys = [frame.tobytes() for frame in frames]
        self.boxes = polygon_to_xywh(ground_truth)
        self.fail_frames = set(fail_frames)
        self.inits = []

    def init(self, image, box):
        self.inits.append(self.keys.index(np.asarray(image).tobytes()))

    def update(self, image):
        index = self.keys.index(np.asarray(image).tobytes())
        return np.array([-500.0, -500.0, 10.0, 10.0]) if index in self.fail_frames else self.boxes[index]


def _scripted(sequence, fail_frames):
    frames = [sequence.image(i) for i in range(len(sequence))]
    return ScriptedTracker(frames, sequence.ground_truth, fail_frames)


def test_track_supervised_failure_skip_and_reinit(vot_root):
    sequence = open_benchmark("vot", vot_root)["vidA"]
    tracker = _scripted(sequence, fail_frames={3, 14})
    record, times = track_supervised(tracker, sequence)
    codes = [int(r[0]) if len(r) == 1 else -1 for r in record]
    # init at 0, failure at 3, frames 4..7 skipped, re-init at 8 (= 3 + 5), failure at 14, skip 15
    assert codes == [1, -1, -1, 2, 0, 0, 0, 0, 1, -1, -1, -1, -1, -1, 2, 0]
    assert tracker.inits == [0, 8]
    assert np.isnan(times[[4, 5, 6, 7, 15]]).all() and np.isfinite(times[[0, 1, 3, 8, 14]]).all()
    np.testing.assert_allclose(record[1], polygon_to_xywh(sequence.ground_truth[1]))


def test_run_vot_supervised_matches_got10k_records(vot_root, tmp_path):
    from tracking.got10k_compat import experiment_vot
    from tracking.tracker import as_got10k_tracker

    sequence = open_benchmark("vot", vot_root)["vidA"]
    ours = run_vot_supervised(_scripted(sequence, {2, 11}), open_benchmark("vot", vot_root), tmp_path / "ours",
                              "Scripted", "VOT2018", progress=False)
    experiment = experiment_vot(vot_root, version=2018, result_dir=tmp_path / "got10k")
    experiment.run_supervised(as_got10k_tracker(_scripted(sequence, {2, 11})))

    relative = Path("VOT2018/Scripted/baseline/vidA")
    assert ours.result_dir == tmp_path / "ours" / "VOT2018" / "Scripted" / "baseline"
    ours_text = (tmp_path / "ours" / relative / "vidA_001.txt").read_text()
    assert ours_text == (tmp_path / "got10k" / relative / "vidA_001.txt").read_text()
    assert ours_text.splitlines()[2] == "2" and ours_text.splitlines()[7] == "1"
    our_times = (tmp_path / "ours" / relative / "vidA_time.txt").read_text().splitlines()
    their_times = (tmp_path / "got10k" / relative / "vidA_time.txt").read_text().splitlines()
    assert [t == "NaN" for t in our_times] == [t == "NaN" for t in their_times]


def test_run_vot_supervised_repetitions_resume(vot_root, tmp_path):
    benchmark = open_benchmark("vot", vot_root)
    sequence = benchmark["vidA"]
    folder = tmp_path / "VOT" / "T" / "baseline" / "vidA"
    run_vot_supervised(_scripted(sequence, {5}), benchmark, tmp_path, "T", "VOT", repetitions=1, progress=False)
    first = (folder / "vidA_001.txt").read_text()
    tracker = _scripted(sequence, {5})
    summary = run_vot_supervised(tracker, benchmark, tmp_path, "T", "VOT", repetitions=2, progress=False)
    assert summary.tracked == ["vidA"] and tracker.inits == [0, 10]  # only repetition 2 ran
    assert (folder / "vidA_001.txt").read_text() == first == (folder / "vidA_002.txt").read_text()
    rows = [line.split(",") for line in (folder / "vidA_time.txt").read_text().splitlines()]
    assert len(rows) == len(sequence) and all(len(row) == 2 for row in rows)
    # a repetition re-run (e.g. after a kill between time file and record) replaces its column
    (folder / "vidA_002.txt").unlink()
    run_vot_supervised(_scripted(sequence, {5}), benchmark, tmp_path, "T", "VOT", repetitions=2, progress=False)
    rows = [line.split(",") for line in (folder / "vidA_time.txt").read_text().splitlines()]
    assert all(len(row) == 2 for row in rows)
    again = run_vot_supervised(_scripted(sequence, {5}), benchmark, tmp_path, "T", "VOT", repetitions=2,
                               progress=False)
    assert again.skipped == ["vidA"] and again.tracked == []


# --- run, score, report; the eval command ---------------------------------------------------------------------------

def test_evaluate_tracker_scores_equal_scoring_the_written_results(otb_root, tmp_path):
    import json

    from tracking.evaluation.runner import evaluate_tracker
    from tracking.evaluation.scoring import score_ope
    from tracking.trackers.baselines import NCCTracker

    benchmark = open_benchmark("otb", otb_root)
    evaluation = evaluate_tracker("otb", NCCTracker(), benchmark, tmp_path, "NCC", progress=False)
    assert evaluation.bench_name == "OTB"
    reference = score_ope(benchmark, tmp_path / "results" / "OTB" / "NCC", "NCC", progress=False)
    for key in ("success_auc", "precision_20", "success_rate_50", "norm_precision_auc"):
        assert evaluation.scores[key] == pytest.approx(reference.overall[key], abs=1e-12)
    report_dir = tmp_path / "reports" / "OTB" / "NCC"
    performance = json.loads((report_dir / "performance.json").read_text())
    assert performance["NCC"]["overall"]["success_score"] == pytest.approx(reference.overall["success_auc"])
    assert set(performance["NCC"]["seq_wise"]) == {"Seq0", "Seq1", "Seq2"}
    assert (report_dir / "success_plot.png").stat().st_size > 0 and (report_dir / "precision_plot.png").exists()
    assert evaluation.table.splitlines()[2].split()[0] == "NCC"
    assert f"{reference.overall['success_auc']:.3f}" in evaluation.table


def test_evaluate_command_with_baseline_resumes(otb_root, tmp_path, capsys):
    from experiments import evaluate

    args = ["otb", "--ckpt", "baseline:firstbox", "--data", str(otb_root), "--out", str(tmp_path),
            "--max-sequences", "2", "--no-progress"]
    first = evaluate.main(args)
    output = capsys.readouterr().out
    assert first.tracker_name == "FirstBox" and first.run.tracked == ["Seq0", "Seq1"]
    assert "Success AUC" in output and "FirstBox" in output
    assert sorted(p.name for p in (tmp_path / "results" / "OTB" / "FirstBox").glob("*.txt")) == \
        ["Seq0.txt", "Seq1.txt"]
    assert first.report.missing == []  # only the selected sequences are scored
    second = evaluate.main(args + ["--name", "FirstBox"])
    assert second.run.tracked == [] and second.run.skipped == ["Seq0", "Seq1"]
    assert "already done (resumed)" in capsys.readouterr().out
    assert second.scores == first.scores


def test_evaluate_command_vot_and_override_errors(vot_root, otb_root, tmp_path):
    from experiments import evaluate

    evaluation = evaluate.main(["vot", "--ckpt", "baseline:ncc", "--data", str(vot_root), "--out", str(tmp_path),
                                "--name", "ncc-small", "--set", "exemplar_size=15", "--no-progress"])
    assert (tmp_path / "results" / "VOT" / "ncc-small" / "baseline" / "vidA" / "vidA_001.txt").is_file()
    assert {"accuracy", "robustness", "failures", "eao"} <= set(evaluation.scores)
    assert (tmp_path / "reports" / "VOT" / "ncc-small" / "performance.json").is_file()
    with pytest.raises(ValueError, match="unknown override.*penalty_q"):
        evaluate.main(["vot", "--ckpt", "baseline:ncc", "--data", str(vot_root), "--out", str(tmp_path),
                       "--set", "penalty_q=1"])
    with pytest.raises(ValueError, match="unknown baseline"):
        evaluate.main(["otb", "--ckpt", "baseline:kcf", "--data", str(otb_root), "--out", str(tmp_path)])


def test_entry_points_exit_2_with_the_message_on_bad_input(tmp_path, capsys):
    from experiments import cli
    from tracking.errors import DataError

    def failing_main():
        raise DataError(tmp_path / "groundtruth_rect.txt", "expected 4 values, got 3", line=7)

    with pytest.raises(SystemExit) as exit_info:
        cli.run(failing_main)
    assert exit_info.value.code == 2
    assert "groundtruth_rect.txt, line 7: expected 4 values, got 3" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.run(lambda: None)
    assert exit_info.value.code == 0
    assert cli.resolve_device("cpu") == "cpu"
