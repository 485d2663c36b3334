"""Scoring result folders, the reports and the ``experiments.score`` command."""
from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from experiments import score as score_command
from tracking.benchmarks import GOT10k, LaSOT, OTB
from tracking.errors import DataError
from tracking.evaluation.report import format_table, plot_curves, write_performance_json
from tracking.evaluation.scoring import open_for_scoring, score_got10k, score_lasot, score_ope
from tracking.metrics import lasot as lasot_metrics
from tracking.metrics.ope import ope_scores


def _track(rng, count):
    start = rng.uniform(20, 40, 2)
    return np.concatenate([start + np.cumsum(rng.normal(0, 1, (count, 2)), axis=0),
                           np.tile(rng.uniform(10, 20, 2), (count, 1))], axis=1).round(2)


def _otb_ground_truth_root(root, rng, lengths, attributes=None):
    truths = {}
    for name, count in lengths.items():
        (root / name).mkdir(parents=True)
        truths[name] = _track(rng, count)
        np.savetxt(root / name / "groundtruth_rect.txt", truths[name], fmt="%.2f", delimiter=",")
    if attributes:
        (root / "attributes.json").write_text(json.dumps({n: {"attr": a} for n, a in attributes.items()}))
    return truths


def _noisy(rng, gt):
    pred = gt + rng.normal(0, 3, gt.shape)
    pred[2] = np.nan
    return pred


@pytest.fixture()
def otb_case(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "otb"
    truths = _otb_ground_truth_root(root, rng, {"Alpha": 20, "Beta": 15, "Gamma": 12},
                                    {"Alpha": ["Occlusion", "Scale Variation"], "Beta": ["Occlusion"]})
    results = tmp_path / "results" / "Noisy"
    results.mkdir(parents=True)
    for name in ("Alpha", "Beta"):  # Gamma has no result
        np.savetxt(results / f"{name}.txt", _noisy(rng, truths[name]), fmt="%.3f", delimiter=",")
    return root, results, truths


def test_score_ope_lists_missing_sequences_and_scores_the_rest(otb_case):
    root, results, truths = otb_case
    report = score_ope(OTB(root, images=False), results, progress=False)
    assert report.tracker_name == "Noisy" and report.missing == ["Gamma"]
    assert sorted(report.per_sequence) == ["Alpha", "Beta"]
    alpha = ope_scores(np.loadtxt(results / "Alpha.txt", delimiter=","), truths["Alpha"])
    assert report.per_sequence["Alpha"]["success_auc"] == pytest.approx(alpha["success_auc"])
    expected = np.mean([report.per_sequence[n]["success_auc"] for n in ("Alpha", "Beta")])
    assert report.overall["success_auc"] == pytest.approx(expected)
    assert report.overall["num_sequences"] == 2
    # OCC = Alpha and Beta, SV = Alpha only
    assert report.per_attribute["OCC"]["success_auc"] == pytest.approx(expected)
    assert report.per_attribute["SV"]["precision_20"] == pytest.approx(alpha["precision_20"])
    assert report.per_attribute["SV"]["num_sequences"] == 1


def test_mean_centre_location_error_in_reports_and_tables(otb_case):
    """CLE of the report: per sequence the mean finite centre error (Alpha and Beta have a NaN frame), overall
    their mean; the evaluation table shows it."""
    from tracking.evaluation.runner import format_report_table
    from tracking.metrics.ope import center_error

    root, results, truths = otb_case
    report = score_ope(OTB(root, images=False), results, progress=False)
    means = []
    for name in ("Alpha", "Beta"):
        pred = np.loadtxt(results / f"{name}.txt", delimiter=",")
        pred[0] = truths[name][0]  # the first frame is the ground truth
        errors = center_error(pred, truths[name])
        means.append(np.nanmean(errors))
        assert report.per_sequence[name]["center_error_mean"] == pytest.approx(means[-1])
    assert report.overall["center_error_mean"] == pytest.approx(np.mean(means))
    assert report.per_attribute["OCC"]["center_error_mean"] == pytest.approx(np.mean(means))
    table = format_report_table([report], "otb")
    assert "CLE px" in table.splitlines()[0] and f"{report.overall['center_error_mean']:.3f}" in table


def test_result_files_with_tabs_or_spaces_score_the_same(otb_case, tmp_path):
    root, results, _ = otb_case
    for separator, folder in (("\t", "Tabs"), (" ", "Spaces")):
        other = tmp_path / folder
        other.mkdir()
        for path in results.glob("*.txt"):
            (other / path.name).write_text(path.read_text().replace(",", separator))
        report = score_ope(OTB(root, images=False), other, tracker_name="Same", progress=False)
        reference = score_ope(OTB(root, images=False), results, progress=False)
        assert report.tracker_name == "Same"
        assert report.overall["success_auc"] == reference.overall["success_auc"]
        assert report.overall["norm_precision_auc"] == reference.overall["norm_precision_auc"]


def test_bad_result_files_raise_data_errors_naming_them(otb_case, tmp_path):
    root, results, _ = otb_case
    lines = (results / "Beta.txt").read_text().splitlines()
    (results / "Beta.txt").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DataError, match=r"Beta.txt: 14 boxes for 15 frames \(fewer lines than frames\)"):
        score_ope(OTB(root, images=False), results, progress=False)
    (results / "Beta.txt").write_text("\n".join(lines[:3] + ["1,2,3"] + lines[4:]))
    with pytest.raises(DataError, match=r"Beta.txt, line 4: expected 4 values, got 3"):
        score_ope(OTB(root, images=False), results, progress=False)
    with pytest.raises(DataError, match="results folder does not exist"):
        score_ope(OTB(root, images=False), tmp_path / "nowhere", progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no result file for any of the 3"):
        score_ope(OTB(root, images=False), empty, progress=False)


def test_ground_truth_only_otb_root_matches_the_full_reader(shared_data, tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "otb"
    for sequence_folder in (shared_data / "otb").iterdir():
        if sequence_folder.is_dir():
            (root / sequence_folder.name).mkdir(parents=True)
            shutil.copy(sequence_folder / "groundtruth_rect.txt", root / sequence_folder.name)
    shutil.copy(shared_data / "otb" / "attributes.json", root)
    full = OTB(shared_data / "otb")
    results = tmp_path / "results" / "Noisy"
    results.mkdir(parents=True)
    for sequence in full:
        np.savetxt(results / f"{sequence.name}.txt", _noisy(rng, sequence.ground_truth), fmt="%.3f", delimiter=",")

    assert open_for_scoring("otb", root).with_images is False
    ours = score_ope(open_for_scoring("otb", root), results, progress=False)
    reference = score_ope(full, results, progress=False)
    assert ours.overall["success_auc"] == reference.overall["success_auc"]
    assert ours.per_attribute.keys() == reference.per_attribute.keys()
    assert ours.per_attribute["BC"] == reference.per_attribute["BC"]


def test_ground_truth_only_reader_special_cases(tmp_path):
    rng = np.random.default_rng(2)
    (tmp_path / "Jogging").mkdir()
    for index in (1, 2):
        np.savetxt(tmp_path / "Jogging" / f"groundtruth_rect.{index}.txt", _track(rng, 6), fmt="%.2f", delimiter=",")
    (tmp_path / "Tiger1").mkdir()
    tiger = _track(rng, 10)
    np.savetxt(tmp_path / "Tiger1" / "groundtruth_rect.txt", tiger, fmt="%.2f", delimiter="\t")
    benchmark = OTB(tmp_path, images=False)
    assert benchmark.sequence_names == ["Jogging.1", "Jogging.2", "Tiger1"]
    np.testing.assert_allclose(benchmark["Tiger1"].ground_truth, tiger[5:])  # Tiger1 omits 5 frames (OTB)
    with pytest.raises(DataError, match="no sequence folder"):
        OTB(tmp_path / "Jogging", images=False)


def _write_lasot(root, rng):
    folder = root / "cat" / "cat-1"
    (folder / "img").mkdir(parents=True)
    for index in range(1, 9):
        cv2.imwrite(str(folder / "img" / f"{index:08d}.jpg"), np.zeros((8, 8, 3), np.uint8))
    gt = _track(rng, 8)
    gt[4] = 0  # absent
    np.savetxt(folder / "groundtruth.txt", gt, fmt="%.2f", delimiter=",")
    occlusion = np.zeros(8, int)
    occlusion[4:6] = 1  # frame 5 fully occluded but annotated
    (folder / "full_occlusion.txt").write_text(",".join(map(str, occlusion)))
    (folder / "out_of_view.txt").write_text(",".join(["0"] * 8))
    return gt, occlusion.astype(bool)


def test_score_lasot_follows_the_lasot_toolkit(tmp_path):
    rng = np.random.default_rng(3)
    gt, occluded = _write_lasot(tmp_path / "lasot", rng)
    results = tmp_path / "results" / "Noisy"
    results.mkdir(parents=True)
    pred = gt.copy()
    pred[4] = [1, 1, 5, 5]
    np.savetxt(results / "cat-1.txt", pred, fmt="%.2f", delimiter=",")

    report = score_lasot(LaSOT(tmp_path / "lasot"), results, progress=False)
    absent = occluded | np.all(gt == 0, axis=1)
    expected = lasot_metrics.lasot_sequence_scores(pred, gt, absent)
    assert report.protocol == "lasot"
    assert report.overall["success_auc"] == pytest.approx(expected["success_auc"])
    # 6 present frames tracked perfectly out of 8: the absent frames count as failures
    assert report.overall["success_rate_50"] == pytest.approx(6 / 8)
    assert report.overall["precision_20"] == pytest.approx(6 / 8)


def test_score_lasot_nan_and_zero_rows_as_the_toolkit(tmp_path):
    """calc_seq_err_robust.m on its own data: absent = the flag files only; a NaN or 0,0,0,0 ground-truth row not
    flagged stays in (overlap -1, centre error -1: precise); a NaN prediction is replaced by the previous one
    only where the ground truth has no NaN. Hand-computed from the toolkit's code."""
    folder = tmp_path / "lasot" / "cat" / "cat-1"
    (folder / "img").mkdir(parents=True)
    for index in range(1, 7):
        cv2.imwrite(str(folder / "img" / f"{index:08d}.jpg"), np.zeros((8, 8, 3), np.uint8))
    (folder / "groundtruth.txt").write_text("1,1,10,10\nNaN,NaN,NaN,NaN\n1,1,10,10\n0,0,0,0\n1,1,10,10\n1,1,10,10\n")
    (folder / "full_occlusion.txt").write_text("0,0,0,0,1,0")
    (folder / "out_of_view.txt").write_text("0,0,0,0,0,0")
    results = tmp_path / "results" / "T"
    results.mkdir(parents=True)
    # frame 1: NaN kept (its ground truth is NaN); frame 2: repaired from frame 1, still NaN; frame 5: repaired
    (results / "cat-1.txt").write_text("1,1,10,10\nNaN,NaN,NaN,NaN\nNaN,NaN,NaN,NaN\n1,1,10,10\n1,1,10,10\n0,0,0,0\n")
    report = score_lasot(LaSOT(tmp_path / "lasot"), results, progress=False)
    sequence = report.per_sequence["cat-1"]
    # frame 4 absent (flagged); overlaps of frames 0, 1, 2, 3, 5: 1, -1, NaN, -1, 1 over 6 frames
    assert sequence["success_curve"][0] == pytest.approx(2 / 6)
    # centre errors 0, -1, NaN, -1, 0: four of them <= 20 px
    assert sequence["precision_20"] == pytest.approx(4 / 6)
    assert sequence["nan_result_lines"] == 2 and report.overall["nan_result_lines"] == 2


def test_score_got10k_refuses_the_withheld_test_ground_truth(tmp_path):
    folder = tmp_path / "got10k" / "test" / "GOT-10k_Test_000001"
    folder.mkdir(parents=True)
    (tmp_path / "got10k" / "test" / "list.txt").write_text("GOT-10k_Test_000001\n")
    for index in range(1, 4):
        cv2.imwrite(str(folder / f"{index:08d}.jpg"), np.zeros((8, 8, 3), np.uint8))
    (folder / "groundtruth.txt").write_text("1,1,4,4\n")
    (tmp_path / "results").mkdir()
    with pytest.raises(DataError, match="withheld"):
        score_got10k(GOT10k(tmp_path / "got10k", "test"), tmp_path / "results", progress=False)


def test_score_command_prints_tables_and_writes_the_report(otb_case, tmp_path, capsys):
    root, results, _ = otb_case
    (results / "times").mkdir()
    np.savetxt(results / "times" / "Alpha_time.txt", np.full(20, 0.02), fmt="%.8f")
    code = score_command.main(["otb", "--results", str(results), "--data", str(root), "--out", str(tmp_path / "out"),
                               "--name", "MyTracker", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    report = score_ope(OTB(root, images=False), results, progress=False)
    assert "MyTracker" in printed and f"{report.overall['success_auc']:.3f}" in printed
    assert "Per attribute:" in printed and "OCC" in printed
    assert "Missing results for 1 sequence(s): Gamma" in printed

    folder = tmp_path / "out" / "reports" / "OTB" / "MyTracker"
    performance = json.loads((folder / "performance.json").read_text())["MyTracker"]
    for key in ("success_curve", "precision_curve", "success_score", "precision_score", "success_rate",
                "speed_fps", "norm_precision_auc", "norm_precision_20", "norm_precision_curve"):
        assert key in performance["overall"] and key in performance["seq_wise"]["Alpha"]
    assert performance["overall"]["success_score"] == pytest.approx(report.overall["success_auc"])
    assert performance["overall"]["speed_fps"] == pytest.approx(50.0)
    assert performance["seq_wise"]["Beta"]["speed_fps"] == -1
    assert performance["missing"] == ["Gamma"] and "OCC" in performance["per_attribute"]
    assert (folder / "success_plot.png").stat().st_size > 0 and (folder / "precision_plot.png").is_file()


def test_score_command_reports_bad_input_as_an_error(otb_case, tmp_path, capsys):
    root, results, _ = otb_case
    (results / "Alpha.txt").write_text("1,2,3,4\n")
    code = score_command.main(["otb", "--results", str(results), "--data", str(root), "--out", str(tmp_path),
                               "--no-progress"])
    assert code == 2
    assert "Alpha.txt: 1 boxes for 20 frames" in capsys.readouterr().err


def test_performance_json_layout_and_nan(tmp_path):
    overall = {"success_auc": 0.5, "precision_20": float("nan"), "success_rate_50": 0.4,
               "success_curve": np.array([1.0, 0.5])}
    path = write_performance_json(tmp_path, "T", overall, {"s": dict(overall)}, "OTB", extra={"missing": ["x"]})
    assert path == tmp_path / "OTB" / "T" / "performance.json"
    data = json.loads(path.read_text())
    assert data["T"]["overall"]["success_score"] == 0.5 and data["T"]["overall"]["precision_score"] is None
    assert data["T"]["seq_wise"]["s"]["success_rate"] == 0.4 and data["T"]["missing"] == ["x"]


def test_plot_curves_and_format_table(tmp_path):
    reports = {"A": {"success_curve": np.linspace(1, 0, 21), "precision_curve": np.linspace(0, 1, 51),
                     "success_auc": 0.5, "precision_20": 0.4},
               "B": {"success_curve": np.linspace(0.8, 0, 21), "success_auc": 0.4}}
    written = plot_curves(reports, tmp_path / "plots", title_suffix="on test")
    assert [p.name for p in written] == ["success_plot.png", "precision_plot.png"]
    assert all(p.stat().st_size > 1000 for p in written)
    table = format_table([{"tracker": "A", "auc": 0.51234, "n": 3}, {"tracker": "Bee", "auc": float("nan"), "n": 12}])
    assert table.splitlines() == ["tracker    auc   n",
                                  "-------  -----  --",
                                  "A        0.512   3",
                                  "Bee        nan  12"]
    assert format_table([]) == ""
