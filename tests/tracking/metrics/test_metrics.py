"""Metric definitions on hand-computed cases (OPE, GOT-10k, VOT accuracy/robustness/EAO, LaSOT, attributes)
and the torchmetrics wrappers (split over instances / ranks = one instance)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tracking.errors import DataError
from tracking.metrics import got10k as got10k_metrics
from tracking.metrics import lasot, ope, vot
from tracking.metrics.attributes import attribute_scores, tag_means
from tracking.metrics.torchmetrics_wrappers import (AverageOverlap, GOT10kSuccessRate, NormalizedPrecision,
                                                    PrecisionAt20, SuccessAUC, SuccessRate)

GT = [0.0, 0.0, 10.0, 10.0]
THIRD = [5.0, 0.0, 10.0, 10.0]  # IoU 1/3 with GT


# --- OPE -------------------------------------------------------------------------------------------

def test_iou_center_error_and_normalized_error_by_hand():
    assert ope.iou([THIRD], [GT])[0] == pytest.approx(1 / 3)
    assert ope.iou([[20, 20, 5, 5]], [GT])[0] == 0.0
    assert np.isnan(ope.iou([[np.nan] * 4], [GT])[0])
    assert ope.iou([[0, 0, 0, 10]], [GT])[0] == 0.0  # zero width
    # centers x + (w - 1) / 2: (4.5, 4.5) and (7.5, 8.5)
    assert ope.center_error([GT], [[3, 4, 10, 10]])[0] == pytest.approx(5.0)
    # offsets (3, 4) divided by the ground-truth size (10, 20)
    assert ope.normalized_center_error([[0, 0, 10, 20]], [[3, 4, 10, 20]])[0] == pytest.approx(np.sqrt(0.13))


def test_iou_bound_clips_like_got10k():
    # got10k moves x, y into the image but keeps w, h (up to the image size)
    pred, gt = [[-5.0, -5.0, 10.0, 10.0]], [GT]
    assert ope.iou(pred, gt)[0] == pytest.approx(25 / 175)
    assert ope.iou(pred, gt, bound=(100, 100))[0] == pytest.approx(1.0)
    assert ope.iou([[95, 0, 10, 10]], [[95, 0, 5, 10]], bound=(100, 100))[0] == pytest.approx(1.0)


def test_threshold_strictness():
    # success counts IoU > t: an IoU of exactly 0.5 is not a success at 0.5
    curve = ope.success_curve([0.5])
    assert curve[ope.SUCCESS_INDEX_05] == 0.0 and curve[ope.SUCCESS_INDEX_05 - 1] == 1.0
    assert ope.success_rate([0.5, 0.51]) == 0.5
    # precision counts error <= t: 20 px exactly is precise at 20
    assert ope.precision_at([20.0, 20.5]) == 0.5
    assert ope.precision_curve([20.0])[20] == 1.0 and ope.precision_curve([20.0])[19] == 0.0
    assert ope.norm_precision_at([0.2, 0.3]) == 0.5
    assert ope.PRECISION_THRESHOLDS[20] == 20 and ope.NORM_PRECISION_THRESHOLDS[20] == 0.2
    assert ope.SUCCESS_THRESHOLDS[ope.SUCCESS_INDEX_05] == 0.5


def test_ope_scores_first_frame_and_nan_frames_count_as_failures():
    gt = np.array([GT, GT, GT, [np.nan] * 4])
    pred = np.array([[50, 50, 1, 1], GT, [np.nan] * 4, GT])  # frame 0 replaced by the ground truth
    scores = ope.ope_scores(pred, gt)
    assert set(scores) == set(ope.SCALAR_KEYS) | set(ope.CURVE_KEYS)
    assert scores["success_rate_50"] == 0.5  # frames 0 and 1 of 4
    assert scores["precision_20"] == 0.5
    assert scores["norm_precision_20"] == 0.5
    assert scores["success_auc"] == pytest.approx(0.5 * 20 / 21)  # IoU 1 is > every threshold but 1.0
    assert scores["norm_precision_auc"] == pytest.approx(0.5)
    assert len(scores["success_curve"]) == 21 and len(scores["precision_curve"]) == 51
    assert len(scores["norm_precision_curve"]) == 51
    without = ope.ope_scores(pred, gt, first_frame_from_gt=False)
    assert without["success_rate_50"] == 0.25


def test_average_ope_scores_average_curves_over_sequences():
    rng = np.random.default_rng(0)
    sequences = []
    for length in (10, 40):
        gt = rng.uniform(20, 60, (length, 4))
        sequences.append(ope.ope_scores(gt + rng.normal(0, 6, gt.shape), gt))
    overall = ope.average_ope_scores(sequences)
    # every sequence weighs the same, whatever its length
    assert overall["success_auc"] == pytest.approx(np.mean([s["success_auc"] for s in sequences]))
    assert overall["precision_20"] == pytest.approx(np.mean([s["precision_20"] for s in sequences]))
    assert overall["norm_precision_20"] == pytest.approx(np.mean([s["norm_precision_20"] for s in sequences]))
    np.testing.assert_allclose(overall["success_curve"], np.mean([s["success_curve"] for s in sequences], axis=0))


def test_mean_center_location_error_by_hand():
    """CLE: per sequence the mean finite centre error (NaN frames left out), overall the mean over sequences."""
    gt = np.array([GT, GT, GT, GT])
    # frame 0 becomes the ground truth (error 0); offsets (3, 4) -> 5 px and (6, 8) -> 10 px; a NaN prediction
    pred = np.array([[50, 50, 10, 10], [3, 4, 10, 10], [6, 8, 10, 10], [np.nan] * 4])
    first = ope.ope_scores(pred, gt)
    assert first["center_error_mean"] == pytest.approx((0 + 5 + 10) / 3)
    second = ope.ope_scores(np.array([GT, [2, 0, 10, 10]]), np.array([GT, GT]))
    assert second["center_error_mean"] == pytest.approx(1.0)  # (0 + 2) / 2
    overall = ope.average_ope_scores([first, second])
    assert overall["center_error_mean"] == pytest.approx(((0 + 5 + 10) / 3 + 1.0) / 2)
    # a sequence without any defined error is skipped by the overall mean
    undefined = ope.ope_scores(np.array([GT, [np.nan] * 4]), np.array([[np.nan] * 4, GT]))
    assert np.isnan(undefined["center_error_mean"])
    assert ope.average_ope_scores([second, undefined])["center_error_mean"] == pytest.approx(1.0)
    # LaSOT: over present frames with a valid ground truth (absent frame 2 and the 0,0,0,0 row 3 left out)
    box = [10.0, 10.0, 20.0, 20.0]
    lasot_scores = lasot.lasot_sequence_scores(
        np.array([box, [13, 14, 20, 20], [90, 90, 20, 20], [0, 0, 5, 5]]),
        np.array([box, box, box, [0, 0, 0, 0]]), np.array([0, 0, 1, 0]))
    assert lasot_scores["center_error_mean"] == pytest.approx((0 + 5) / 2)


def test_ope_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="3 boxes but gt has 2"):
        ope.ope_scores(np.zeros((3, 4)), np.ones((2, 4)))


# --- GOT-10k --------------------------------------------------------------------------------------

def test_got10k_ious_drop_first_frame_and_covered_frames():
    gt = np.array([GT, GT, GT, GT])
    pred = np.array([[90, 90, 1, 1], THIRD, GT, [90, 90, 1, 1]])
    ious = got10k_metrics.sequence_ious(pred, gt, cover=[8, 3, 0, 8])
    np.testing.assert_allclose(ious, [1 / 3, 0.0])  # frame 0 dropped, frame 2 has cover 0


def test_got10k_scores_pool_frames_not_sequences():
    overall = got10k_metrics.pooled_got10k_scores({"a": [1.0, 1.0, 0.8], "b": [0.0]})
    assert overall["ao"] == pytest.approx(0.7)  # (1 + 1 + 0.8 + 0) / 4, not (0.933 + 0) / 2
    assert overall["sr50"] == pytest.approx(0.75)
    assert overall["sr75"] == pytest.approx(0.75)
    assert len(overall["success_curve"]) == 101 and overall["success_curve"][80] == pytest.approx(0.5)


# --- VOT ------------------------------------------------------------------------------------------

def test_poly_iou_by_hand_with_image_bound():
    square = [0, 0, 10, 0, 10, 10, 0, 10]
    assert vot.poly_iou([square], [THIRD])[0] == pytest.approx(1 / 3)
    diamond = [5, 0, 10, 5, 5, 10, 0, 5]  # area 50, inside the square
    assert vot.poly_iou([diamond], [square])[0] == pytest.approx(0.5)
    # half of the region lies left of the image: clipped away with the bound
    assert vot.poly_iou([[-10, 0, 20, 10]], [square])[0] == pytest.approx(0.5)
    assert vot.poly_iou([[-10, 0, 20, 10]], [square], bound=(10, 10))[0] == pytest.approx(1.0)
    # boxes and polygons mix; a region with NaN does not overlap (GEOS cannot take it); THIRD clipped to
    # x in [5, 10] covers half the square
    np.testing.assert_allclose(vot.poly_iou([square, [np.nan] * 4, THIRD], [THIRD, square, square], (10, 10)),
                               [0.5, 0.0, 0.5])


def test_record_parsing_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bag_001.txt"
    path.write_text("1\n1,2,3,4\n1,2,3\n")
    with pytest.raises(DataError, match=r"bag_001.txt, line 3: expected a code, 4 or 8 values, got 3"):
        vot.read_record(path)
    path.write_text("1\n3\n")
    with pytest.raises(DataError, match="line 2: unknown code"):
        vot.read_record(path)
    path.write_text("1\nx,y,1,1\n")
    with pytest.raises(DataError, match="line 2: not a list of numbers"):
        vot.read_record(path)
    record = vot.parse_record(["1", "0,0,10,10", "2", "0"])
    assert [len(e) for e in record] == [1, 4, 1, 1]
    np.testing.assert_array_equal(vot.failure_frames(record), [2])
    np.testing.assert_array_equal(vot.init_frames(record), [0])


def _record(*entries):
    codes = {"g": GT, "h": THIRD}
    return [np.array(codes[e] if isinstance(e, str) else [e], dtype=float) for e in entries]


def _sequence(name, records, tags=None):
    length = len(records[0])
    return vot.VOTSequenceRuns(name, np.array([GT] * length), (100, 100), records, tags or {})


def test_frame_overlaps_and_burnin():
    record = _record(1, "g", "h", 2, 0, 0, 0, 0, 1, "g", "g", "g")
    overlaps = vot.frame_overlaps(record, [GT] * 12, (100, 100))
    expected = [np.nan, 1, 1 / 3, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 1, 1, 1]
    np.testing.assert_allclose(overlaps, expected)
    masked = vot.without_burnin(overlaps, record, burnin=2)
    np.testing.assert_allclose(masked, [np.nan, np.nan, 1 / 3] + [np.nan] * 7 + [1, 1])


def test_accuracy_robustness_by_hand():
    # a: failure at 4, re-init at 9; with burn-in 2 the scored frames are 2 (IoU 1) and 3 (IoU 1/3)
    a = _sequence("a", [_record(1, "g", "g", "h", 2, 0, 0, 0, 0, 1)],
                  tags={"occlusion": np.array([0, 0, 1, 1, 0, 0, 0, 0, 0, 0], bool)})
    # b: two runs; frame 2 averages (1 + 1/3) / 2, frame 3 averages (1 + 1) / 2
    b = _sequence("b", [_record(1, "g", "g", "g"), _record(1, "g", "h", "g")])
    scores = vot.accuracy_robustness([a, b], burnin=2)
    assert scores["accuracy"] == pytest.approx((1 + 1 / 3 + 2 / 3 + 1) / 4)
    assert scores["failures"] == 1
    assert scores["robustness"] == pytest.approx(100 / 14)
    assert scores["per_sequence"]["a"]["accuracy"] == pytest.approx(2 / 3)
    assert scores["per_sequence"]["b"]["failures"] == 0
    # got10k: occlusion frames (a2, a3): accuracy 2/3, 0 failures; "empty" (12 frames): b2, b3 -> 5/6, 1 failure
    assert scores["tag_weighted_accuracy"] == pytest.approx(2 / 14 * 2 / 3 + 12 / 14 * 5 / 6)
    assert scores["tag_weighted_robustness"] == pytest.approx(12 / 14)
    assert scores["per_tag"]["occlusion"] == {"accuracy": pytest.approx(2 / 3), "failures": 0, "num_frames": 2}


def test_no_reset_average_overlap_by_hand():
    """AO: per sequence the mean IoU after the first frame (a missing box counts 0), then the mean of sequences."""
    polygon = [0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0]  # the 10 x 10 square GT as a polygon
    first = (np.array([GT, GT, THIRD, [np.nan] * 4]), np.array([polygon] * 4), (100, 100))  # 1, 1/3, 0
    second = (np.array([GT, [0, 0, 10, 20]]), np.array([GT, GT]), (100, 100))  # IoU 1/2
    assert vot.no_reset_average_overlap([first]) == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert vot.no_reset_average_overlap([first, second]) == pytest.approx(((1 + 1 / 3) / 3 + 0.5) / 2)
    # the image bound clips both regions: a box half outside a 5-pixel-wide image
    clipped = (np.array([GT, [0, 0, 10, 10]]), np.array([GT, [0, 0, 5, 10]]), (5, 100))
    assert vot.no_reset_average_overlap([clipped]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="boxes for"):
        vot.no_reset_average_overlap([(np.zeros((2, 4)), np.zeros((3, 4)), (10, 10))])


def test_vot_constants():
    assert vot.SKIP_AFTER_FAILURE == 5 and vot.BURNIN == 10
    assert vot.EAO_INTERVALS["VOT2018"] == (100, 356)


RUN_A = np.array([np.nan, .8, .6, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, .9, .7, .5])  # fails at 3
RUN_B = np.array([np.nan, 1, 1, .5, .5, 1])  # no failure


def test_run_fragments_cut_at_reinitialisations():
    fragments = vot.run_fragments(RUN_A, [3], max_length=6)
    # frames 0..8 (the next start included), unknown overlaps 0, then zeros: the tracker failed
    np.testing.assert_allclose(fragments[0], [0, .8, .6, 0, 0, 0])
    # the last fragment (frames 8..11) ends with the sequence: undefined beyond
    np.testing.assert_allclose(fragments[1], [0, .9, .7, .5, np.nan, np.nan])
    # a failure whose restart falls outside the sequence stays in the last fragment (VOT toolkit)
    fragments = vot.run_fragments(RUN_B[:5], [3], max_length=7)
    assert len(fragments) == 1
    np.testing.assert_allclose(fragments[0], [0, 1, 1, .5, .5, np.nan, np.nan])


def test_eao_two_sequences_one_failure_by_hand():
    result = vot.eao_from_runs([("a", RUN_A, [3]), ("b", RUN_B, [])], interval=(2, 5))
    phi = [1.0,
           (.8 + .9 + 1) / 3,  # Ns = 2: frame 2 of each fragment
           ((.8 + .6) / 2 + (.9 + .7) / 2 + (1 + 1) / 2) / 3,
           ((.8 + .6 + 0) / 3 + (.9 + .7 + .5) / 3 + (1 + 1 + .5) / 3) / 3,
           ((.8 + .6 + 0 + 0) / 4 + (1 + 1 + .5 + .5) / 4) / 2]  # Ns = 5: a's last fragment is too short
    np.testing.assert_allclose(result["curve"], phi)
    assert result["eao"] == pytest.approx(np.mean(phi[1:5]))
    assert result["eao"] == pytest.approx(0.7375)
    assert result["interval"] == (2, 5)


def test_eao_weights_runs_of_a_sequence_by_their_count():
    second_b = np.array([np.nan, .5, .5, .5, .5, .5])
    result = vot.eao_from_runs([("a", RUN_A, [3]), ("b", RUN_B, []), ("b", second_b, [])], interval=(2, 2))
    assert result["eao"] == pytest.approx((.8 + .9 + 0.5 * 1 + 0.5 * .5) / 3)


def test_eao_lengths_without_usable_fragments_are_skipped():
    result = vot.eao_from_runs([("b", RUN_B, [])], interval=(5, 8))
    assert np.isnan(result["curve"][6:]).all()
    assert result["eao"] == pytest.approx(np.mean([(1 + 1 + .5 + .5) / 4, (1 + 1 + .5 + .5 + 1) / 5]))


def test_eao_from_records_matches_overlaps():
    record = _record(1, "g", "h", 2, 0, 0, 0, 0, 1, "g", "g", "h")
    overlaps = np.array([np.nan, 1, 1 / 3, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 1, 1, 1 / 3])
    from_records = vot.expected_average_overlap([_sequence("a", [record])], interval=(2, 4))
    from_overlaps = vot.eao_from_runs([("a", overlaps, [3])], interval=(2, 4))
    assert from_records["eao"] == pytest.approx(from_overlaps["eao"])
    scores = vot.vot_scores([_sequence("a", [record])], interval=(2, 4), burnin=2)
    assert scores["eao"] == pytest.approx(from_overlaps["eao"]) and scores["failures"] == 1


# --- LaSOT ----------------------------------------------------------------------------------------

BOX = [1.0, 1.0, 10.0, 10.0]  # LaSOT only scores ground truth whose x, y, w, h are all > 0


def test_lasot_absent_frames_stay_in_the_denominator():
    gt = np.array([BOX, BOX, [0, 0, 0, 0], BOX])
    absent = np.array([False, False, True, False])
    pred = np.array([[50, 50, 5, 5], BOX, BOX, [np.nan] * 4])  # frame 3 invalid -> repaired from frame 2
    scores = lasot.lasot_sequence_scores(pred, gt, absent)
    # present frames 0, 1, 3 all overlap fully; the absent frame is a failure: 3 / 4
    assert scores["success_rate_50"] == pytest.approx(0.75)
    assert scores["precision_20"] == pytest.approx(0.75)
    assert scores["norm_precision_20"] == pytest.approx(0.75)


def test_lasot_invalid_ground_truth_and_repair():
    gt = np.array([BOX, [0, 5, 10, 10], BOX])  # x = 0 on a present frame: overlap -1, center error -1
    pred = np.array([BOX, [40, 40, 10, 10], [40, 40, 10, -1]])  # frame 2 (h < 0) repaired with frame 1
    scores = lasot.lasot_sequence_scores(pred, gt)
    assert scores["success_rate_50"] == pytest.approx(1 / 3)  # frame 0 only
    assert scores["precision_20"] == pytest.approx(2 / 3)  # frame 0 and the quirky -1 of frame 1
    np.testing.assert_allclose(lasot.repair_predictions(pred, gt)[2], [40, 40, 10, 10])
    # the toolkit's overlap ((min right - max left + 1) with right = x + w - 1) is the continuous IoU
    third = lasot.lasot_sequence_scores(np.array([BOX, [6, 1, 10, 10]]), np.array([BOX, BOX]))
    assert third["success_curve"][6] == pytest.approx(1.0) and third["success_curve"][7] == pytest.approx(0.5)


def test_lasot_average_leaves_out_all_zero_curves():
    good = lasot.lasot_sequence_scores(np.array([BOX, BOX]), np.array([BOX, BOX]))
    lost = lasot.lasot_sequence_scores(np.array([BOX, [90, 90, 5, 5]]), np.array([[0, 0, 0, 0], BOX]))
    assert lost["success_curve"].sum() == 0 and lost["precision_curve"].sum() > 0
    overall = lasot.average_lasot_scores([good, lost])
    np.testing.assert_allclose(overall["success_curve"], good["success_curve"])  # lost left out
    np.testing.assert_allclose(overall["precision_curve"], (good["precision_curve"] + lost["precision_curve"]) / 2)
    kept = lasot.average_lasot_scores([good, lost], drop_all_zero_curves=False)
    assert kept["success_auc"] == pytest.approx(good["success_auc"] / 2)


# --- attributes -----------------------------------------------------------------------------------

def test_attribute_scores_average_member_sequences():
    per_sequence = {"a": {"success_auc": 0.2, "curve": np.array([1.0, 0.0])},
                    "b": {"success_auc": 0.6, "curve": np.array([0.0, 1.0])},
                    "c": {"success_auc": 0.9, "curve": np.array([1.0, 1.0])}}
    attributes = {"a": ["OCC", "SV"], "b": ["OCC"], "c": [], "missing": ["OCC"]}
    table = attribute_scores(per_sequence, attributes)
    assert list(table) == ["OCC", "SV"]
    assert table["OCC"]["success_auc"] == pytest.approx(0.4) and table["OCC"]["num_sequences"] == 2
    np.testing.assert_allclose(table["OCC"]["curve"], [0.5, 0.5])
    assert table["SV"] == {"success_auc": 0.2, "curve": pytest.approx([1.0, 0.0]), "num_sequences": 1}


def test_tag_means_pool_frames():
    values = {"a": np.array([1.0, 0.5, np.nan]), "b": np.array([0.0, 1.0])}
    tags = {"a": {"occlusion": np.array([1, 1, 1], bool)}, "b": {"occlusion": np.array([1, 0], bool)}}
    table = tag_means(values, tags)
    assert table["occlusion"]["mean"] == pytest.approx(0.5) and table["occlusion"]["num_frames"] == 4


# --- torchmetrics ---------------------------------------------------------------------------------

def _sequences(seed, count=5):
    rng = np.random.default_rng(seed)
    sequences = []
    for index in range(count):
        gt = rng.uniform(20, 80, (12 + 7 * index, 4))
        pred = gt + rng.normal(0, 5, gt.shape)
        pred[2] = np.nan
        sequences.append((torch.tensor(pred), torch.tensor(gt)))
    return sequences


def _metrics():
    return {"success_auc": SuccessAUC(), "precision_20": PrecisionAt20(), "success_rate_50": SuccessRate(0.5),
            "norm_precision_auc": NormalizedPrecision("auc"), "norm_precision_20": NormalizedPrecision("at_0.2")}


def test_torchmetrics_equal_offline_scores():
    sequences = _sequences(0)
    expected = ope.average_ope_scores([ope.ope_scores(p.numpy(), g.numpy()) for p, g in sequences])
    for key, metric in _metrics().items():
        for pred, gt in sequences:
            metric.update(pred, gt)
        assert metric.compute().item() == pytest.approx(expected[key], abs=1e-12), key


def test_torchmetrics_split_over_instances_merge_to_the_single_instance_value():
    sequences = _sequences(1)
    for key, single in _metrics().items():
        first, second = type(single)(**_kwargs(single)), type(single)(**_kwargs(single))
        for index, (pred, gt) in enumerate(sequences):
            single.update(pred, gt)
            (first if index in (0, 3) else second).update(pred, gt)
        first.merge_state(second)
        assert first.compute().item() == pytest.approx(single.compute().item(), abs=1e-12), key


def _kwargs(metric):
    if isinstance(metric, NormalizedPrecision):
        return {"definition": metric.definition}
    if isinstance(metric, SuccessRate):
        return {"threshold": metric.threshold}
    return {}


def test_torchmetrics_distributed_sync_gathers_every_rank():
    """Emulate a 2-rank all-gather: rank 0's state after sync holds both ranks' sequences."""
    sequences = _sequences(2, count=4)
    rank0, rank1, single = SuccessAUC(), SuccessAUC(), SuccessAUC()
    for index, (pred, gt) in enumerate(sequences):
        single.update(pred, gt)
        (rank0 if index < 1 else rank1).update(pred, gt)
    peer = torch.cat(rank1.curves)

    def all_gather(tensor, group=None):
        return [tensor, peer]

    rank0.sync(dist_sync_fn=all_gather, distributed_available=lambda: True)
    assert rank0.mean_curve().mean().item() == pytest.approx(single.compute().item(), abs=1e-12)
    rank0.unsync()
    assert rank0.mean_curve().mean().item() == pytest.approx(
        ope.ope_scores(sequences[0][0].numpy(), sequences[0][1].numpy())["success_auc"], abs=1e-12)


def test_average_overlap_pools_frames_across_instances():
    rng = np.random.default_rng(3)
    runs = []
    for length in (10, 25, 7):
        gt = rng.uniform(10, 40, (length, 4))
        runs.append((gt + rng.normal(0, 3, gt.shape), gt, rng.integers(0, 9, length)))
    expected = got10k_metrics.pooled_got10k_scores(
        [got10k_metrics.sequence_ious(p, g, c, (64, 48)) for p, g, c in runs])
    ao_a, ao_b, sr = AverageOverlap(), AverageOverlap(), GOT10kSuccessRate(0.75)
    for index, (pred, gt, cover) in enumerate(runs):
        (ao_a if index == 0 else ao_b).update(torch.tensor(pred), torch.tensor(gt), torch.tensor(cover), (64, 48))
        sr.update(pred, gt, cover, (64, 48))
    ao_a.merge_state(ao_b)
    assert ao_a.compute().item() == pytest.approx(expected["ao"], abs=1e-12)
    assert sr.compute().item() == pytest.approx(expected["sr75"], abs=1e-12)


def test_torchmetrics_reject_bad_shapes():
    with pytest.raises(ValueError, match="one sequence"):
        SuccessAUC().update(torch.zeros(3, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="definition"):
        NormalizedPrecision("area")
