"""Benchmark readers: round trips through the synthetic writers, the real shared sequences, OTB/UAV123 special
cases on tiny fake folders, and one test per kind of bad input."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tracking.benchmarks import (GOT10k, OTB, UAV123, VOT, LaSOT, open_benchmark, read_box_file, read_image,
                                 read_label_file)
from tracking.boxes import polygon_to_xywh
from tracking.errors import DataError
from tracking.synthetic import generate_videos, write_got10k, write_lasot, write_otb, write_uav123, write_vot
from tracking.synthetic.writers import PIXEL_OFFSET, got10k_cover_level

SIZE = (64, 80)


def _fill_absent(rows):
    rows = np.array(rows)
    for i in range(1, len(rows)):
        if np.isnan(rows[i]).all():
            rows[i] = rows[i - 1]
    return rows


def _shift(rows, offset):
    """What a writer publishes: x, y (every polygon coordinate) moved by the format's offset, two decimals."""
    rows = np.array(rows, dtype=np.float64)
    if rows.shape[-1] == 8:
        rows += offset
    else:
        rows[..., :2] += offset
    return np.round(rows, 2)


@pytest.fixture(scope="module")
def videos():
    # "hard" videos: every kind of absence, occlusion and truncation appears.
    return generate_videos(21, 2, num_frames=16, size=SIZE, difficulty="hard")


@pytest.fixture(scope="module")
def written(videos, tmp_path_factory):
    root = tmp_path_factory.mktemp("benchmarks")
    names = {
        "otb": write_otb(videos, root / "otb"),
        "vot": write_vot(videos, root / "vot"),
        "got10k": write_got10k(videos, root / "got10k", subset="val"),
        "got10k_test": write_got10k(videos, root / "got10k", subset="test"),
        "lasot": write_lasot(videos, root / "lasot"),
        "uav123": write_uav123(videos, root / "uav123"),
    }
    return root, names


def _touch_images(folder: Path, numbers, digits=4, ext="jpg"):
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        (folder / f"{n:0{digits}d}.{ext}").touch()


def _box_lines(count, start=1):
    return "".join(f"{10 + i},{20 + i},30,40\n" for i in range(start, start + count))


# --- round trips through the writers -------------------------------------------------------------------------

def test_videos_have_absent_frames(videos):
    assert any((v.visible_ratio == 0).any() for v in videos)  # otherwise the absence round trips test nothing


def test_otb_round_trip(videos, written):
    root, names = written
    benchmark = OTB(root / "otb")
    assert benchmark.sequence_names == names["otb"] == [v.name for v in videos]
    for video in videos:
        sequence = benchmark[video.name]
        assert len(sequence) == len(video) and sequence.frames[0].name == "0001.jpg"
        # Absent frames keep the last visible box, as OTB's annotators did; 1-based as published.
        np.testing.assert_array_equal(sequence.ground_truth, _shift(_fill_absent(video.boxes), PIXEL_OFFSET["otb"]))
        assert sequence.attributes == video.attributes
        image = sequence.image(3)
        assert image.shape == (*SIZE, 3) and np.abs(image.astype(int) - video.frames[3]).mean() < 6  # JPEG only


def test_vot_round_trip(videos, written):
    root, names = written
    benchmark = VOT(root / "vot")
    assert benchmark.sequence_names == names["vot"]
    for video in videos:
        sequence = benchmark[video.name]
        np.testing.assert_array_equal(sequence.ground_truth, _shift(_fill_absent(video.polygons), 0.0))
        for tag in ("camera_motion", "illum_change", "motion_change", "occlusion", "size_change"):
            np.testing.assert_array_equal(sequence.tags[tag], video.tags[tag])
        assert sequence.meta["image_size"] == SIZE
        rect = VOT(root / "vot", anno_type="rect")[video.name]
        np.testing.assert_allclose(rect.ground_truth, polygon_to_xywh(sequence.ground_truth))
        np.testing.assert_allclose(sequence.init_box, rect.ground_truth[0])


def test_got10k_round_trip(videos, written):
    root, names = written
    benchmark = GOT10k(root / "got10k", subset="val")
    assert benchmark.sequence_names == names["got10k"]
    for video in videos:
        sequence = benchmark[video.name]
        absent = video.visible_ratio == 0
        np.testing.assert_array_equal(sequence.tags["absent"], absent)
        np.testing.assert_array_equal(sequence.ground_truth[~absent], _shift(video.boxes[~absent], 0.0))
        assert np.isnan(sequence.ground_truth[absent]).all()
        np.testing.assert_array_equal(sequence.meta["cover"], got10k_cover_level(video.visible_ratio))
        np.testing.assert_array_equal(sequence.tags["cut_by_image"], video.tags["cut_by_image"])
        assert sequence.meta["meta_info"]["resolution"] == f"({SIZE[1]}, {SIZE[0]})"
        assert sequence.meta["zero_size_boxes"] == 0


def test_got10k_test_subset_has_only_the_first_box(videos, written):
    root, _ = written
    sequence = GOT10k(root / "got10k", subset="test")[videos[0].name]
    assert sequence.meta["first_frame_only"] and len(sequence) == len(videos[0])
    np.testing.assert_array_equal(sequence.ground_truth[0], _shift(videos[0].boxes[0], 0.0))
    assert np.isnan(sequence.ground_truth[1:]).all()
    assert (root / "got10k" / "test" / videos[0].name / "groundtruth.txt").read_text().count("\n") == 1


def test_lasot_round_trip(videos, written):
    root, names = written
    assert names["lasot"] == ["synthetic-1", "synthetic-2"]
    for subset in (None, "test"):
        benchmark = LaSOT(root / "lasot", subset=subset)
        assert benchmark.sequence_names == names["lasot"]
    for name, video in zip(names["lasot"], videos):
        sequence = benchmark[name]
        absent = video.visible_ratio == 0
        assert (root / "lasot" / "synthetic" / name / "groundtruth.txt").read_text().count("0,0,0,0\n") >= absent.sum()
        np.testing.assert_array_equal(sequence.tags["absent"], absent)
        np.testing.assert_array_equal(sequence.ground_truth[~absent], _shift(video.boxes[~absent], 1.0))
        assert np.isnan(sequence.ground_truth[absent]).all()
        np.testing.assert_array_equal(sequence.tags["full_occlusion"], video.tags["full_occlusion"])
        np.testing.assert_array_equal(sequence.tags["out_of_view"], video.tags["out_of_view"])
        assert sequence.meta["category"] == "synthetic" and video.name in sequence.meta["nlp"]
    with pytest.raises(DataError, match="training_set.txt"):
        LaSOT(root / "lasot", subset="train")


def test_uav123_round_trip(videos, written):
    root, names = written
    benchmark = UAV123(root / "uav123")
    assert benchmark.sequence_names == sorted(names["uav123"])
    for video in videos:
        sequence = benchmark[video.name]
        np.testing.assert_array_equal(sequence.ground_truth, _shift(video.boxes, 1.0))  # NaN rows included
        np.testing.assert_array_equal(sequence.tags["absent"], video.visible_ratio == 0)
        assert sequence.frames[0].name == "000001.jpg"


def test_open_benchmark(written):
    root, _ = written
    assert isinstance(open_benchmark("otb", root / "otb"), OTB)
    assert isinstance(open_benchmark("GOT-10k", root / "got10k", subset="val"), GOT10k)
    assert open_benchmark("lasot", root / "lasot").name == "lasot"
    with pytest.raises(ValueError, match="unknown benchmark"):
        open_benchmark("trackingnet", root)
    with pytest.raises(DataError, match="not a directory"):
        open_benchmark("otb", root / "nowhere")


# --- real sequences --------------------------------------------------------------------------------------------

def test_shared_otb_sequences(shared_data):
    benchmark = OTB(shared_data / "otb")
    lengths = {s.name: (len(s), len(s.ground_truth)) for s in benchmark}
    assert lengths == {"Crossing": (120, 120), "Couple": (140, 140), "Football1": (74, 74), "DragonBaby": (113, 113)}
    crossing = benchmark["Crossing"]
    np.testing.assert_array_equal(crossing.ground_truth[0], [205, 151, 17, 50])
    assert crossing.attributes == ["SV", "DEF", "BC"]
    assert {"OCC", "OV", "MB"} <= set(benchmark["DragonBaby"].attributes)
    assert crossing.image(0).shape[2] == 3
    assert OTB(shared_data / "otb", version="tb100").sequence_names == ["Couple", "Crossing", "DragonBaby",
                                                                       "Football1"]
    assert OTB(shared_data / "otb", version=2013).sequence_names == ["Couple", "Crossing", "Football1"]


def test_shared_vot_bag(shared_data):
    benchmark = VOT(shared_data / "vot")
    assert benchmark.sequence_names == ["bag"]
    bag = benchmark["bag"]
    assert len(bag) == 196 and bag.ground_truth.shape == (196, 8)
    np.testing.assert_allclose(bag.ground_truth[0], [334.02, 128.36, 438.19, 188.78, 396.39, 260.83, 292.23, 200.41])
    np.testing.assert_allclose(bag.init_box, polygon_to_xywh(bag.ground_truth[0]))
    assert bag.meta["image_size"] == (360, 480)
    assert all(not flags.any() and len(flags) == 196 for flags in bag.tags.values())  # no tag files -> all False
    rect = VOT(shared_data / "vot", anno_type="rect")["bag"]
    assert rect.ground_truth.shape == (196, 4) and np.all(rect.ground_truth[:, 2:] > 0)


# --- OTB and UAV123 special cases --------------------------------------------------------------------------------

def test_otb_two_targets_become_two_sequences(tmp_path):
    _touch_images(tmp_path / "Jogging" / "img", range(1, 4))
    (tmp_path / "Jogging" / "groundtruth_rect.1.txt").write_text("1\t2\t3\t4\n5\t6\t7\t8\n9\t10\t11\t12\n")
    (tmp_path / "Jogging" / "groundtruth_rect.2.txt").write_text("1 2 3 4\n5 6 7 8\n9 10 11 13\n")
    _touch_images(tmp_path / "Human4" / "img", range(1, 3))
    (tmp_path / "Human4" / "groundtruth_rect.1.txt").write_text("")
    (tmp_path / "Human4" / "groundtruth_rect.2.txt").write_text("1,2,3,4\n5,6,7,8\n")
    benchmark = OTB(tmp_path)
    assert benchmark.sequence_names == ["Human4", "Jogging.1", "Jogging.2"]
    np.testing.assert_array_equal(benchmark["Jogging.2"].ground_truth[2], [9, 10, 11, 13])
    np.testing.assert_array_equal(benchmark["Jogging.1"].ground_truth[0], [1, 2, 3, 4])
    assert len(benchmark["Human4"]) == 2


def test_otb_frame_ranges(tmp_path):
    _touch_images(tmp_path / "David" / "img", range(1, 800))
    (tmp_path / "David" / "groundtruth_rect.txt").write_text(_box_lines(471))
    _touch_images(tmp_path / "Tiger1" / "img", range(1, 355))
    (tmp_path / "Tiger1" / "groundtruth_rect.txt").write_text(_box_lines(354))
    _touch_images(tmp_path / "BlurCar3" / "img", range(1, 360))
    (tmp_path / "BlurCar3" / "groundtruth_rect.txt").write_text(_box_lines(357))
    _touch_images(tmp_path / "Board" / "img", range(1, 6), digits=5)
    (tmp_path / "Board" / "groundtruth_rect.txt").write_text(_box_lines(5))
    benchmark = OTB(tmp_path)
    david = benchmark["David"]
    assert len(david) == 471 and david.frames[0].name == "0300.jpg" and david.frames[-1].name == "0770.jpg"
    tiger = benchmark["Tiger1"]  # the benchmark omits Tiger1's first 5 frames and their boxes
    assert len(tiger) == 349 and tiger.frames[0].name == "0006.jpg"
    np.testing.assert_array_equal(tiger.ground_truth[0], [16, 26, 30, 40])
    assert benchmark["BlurCar3"].frames[0].name == "0003.jpg" and len(benchmark["BlurCar3"]) == 357
    assert benchmark["Board"].frames[0].name == "00001.jpg"


def test_otb_attribute_flags_file(tmp_path):
    _touch_images(tmp_path / "Crossing" / "img", range(1, 3))
    (tmp_path / "Crossing" / "groundtruth_rect.txt").write_text(_box_lines(2))
    (tmp_path / "anno" / "att").mkdir(parents=True)
    (tmp_path / "anno" / "att" / "Crossing.txt").write_text("0,1,0,1,0,0,0,0,0,1,0\n")
    assert OTB(tmp_path)["Crossing"].attributes == ["SV", "DEF", "BC"]


def test_uav123_sub_sequence_range(tmp_path):
    _touch_images(tmp_path / "data_seq" / "UAV123" / "bird1", range(1, 2438), digits=6)
    (tmp_path / "anno" / "UAV123").mkdir(parents=True)
    (tmp_path / "anno" / "UAV123" / "bird1_2.txt").write_text(_box_lines(702) + "NaN,NaN,NaN,NaN\n")
    sequence = UAV123(tmp_path)["bird1_2"]
    assert len(sequence) == 703 and sequence.frames[0].name == "000775.jpg" and sequence.frames[-1].name == "001477.jpg"
    assert sequence.tags["absent"].sum() == 1 and np.isnan(sequence.ground_truth[-1]).all()
    (tmp_path / "anno" / "UAV20L").mkdir()
    (tmp_path / "anno" / "UAV20L" / "bird1.txt").write_text(_box_lines(2437))
    assert len(UAV123(tmp_path, variant="UAV20L")["bird1"]) == 2437


# --- bad input: each names the file (and line) ----------------------------------------------------------------

def _otb_sequence(root: Path, lines: str, images: int = 3) -> Path:
    _touch_images(root / "Seq" / "img", range(1, images + 1))
    (root / "Seq" / "groundtruth_rect.txt").write_text(lines)
    return root / "Seq" / "groundtruth_rect.txt"


def test_missing_ground_truth(tmp_path):
    _touch_images(tmp_path / "Seq" / "img", range(1, 3))
    with pytest.raises(DataError, match="no sequence folder with a groundtruth"):
        OTB(tmp_path)
    (tmp_path / "list.txt").write_text("Seq\n")
    _touch_images(tmp_path / "Seq", range(1, 3), digits=8)
    with pytest.raises(DataError, match=r"Seq/groundtruth.txt: file does not exist"):
        VOT(tmp_path)["Seq"]
    with pytest.raises(DataError, match="missing.txt: file does not exist"):
        read_box_file(tmp_path / "missing.txt")


def test_wrong_column_count(tmp_path):
    path = _otb_sequence(tmp_path, "1,2,3,4\n1,2,3\n1,2,3,4\n")
    with pytest.raises(DataError, match=r"groundtruth_rect.txt, line 2: expected 4 values, got 3"):
        OTB(tmp_path)["Seq"]
    (tmp_path / "gt8.txt").write_text("1,2,3,4,5,6,7,8\n1,2,3,4\n")
    with pytest.raises(DataError, match=r"gt8.txt, line 2: expected 8 values, got 4"):
        read_box_file(tmp_path / "gt8.txt", columns=(8, 4))
    assert path.exists()


def test_non_numeric_value(tmp_path):
    _otb_sequence(tmp_path, "1,2,3,4\n1,2,x,4\n1,2,3,4\n")
    with pytest.raises(DataError, match=r"line 2: non-numeric value 'x'"):
        OTB(tmp_path)["Seq"]


# --- degenerate rows of the real benchmarks are kept as the toolkits read them ------------------------------------

def test_otb_keeps_zero_and_nan_rows_with_and_without_images(tmp_path):
    """OTB-100's Board and Twinnings end with / hold 0,0,0,0 rows: got10k scores them, so the reader keeps them."""
    lines = "1,2,3,4\n1,2,0,4\n0,0,0,0\nNaN,NaN,NaN,NaN\n1,NaN,3,4\n"
    _otb_sequence(tmp_path, lines, images=5)
    expected = np.array([[1, 2, 3, 4], [1, 2, 0, 4], [0, 0, 0, 0], [np.nan] * 4, [1, np.nan, 3, 4]])
    for images in (True, False):
        sequence = OTB(tmp_path, images=images)["Seq"]
        np.testing.assert_array_equal(sequence.ground_truth, expected)
        assert sequence.meta["invalid_boxes"] == 4
        np.testing.assert_array_equal(sequence.init_box, [1, 2, 3, 4])


def test_uav123_keeps_zero_size_and_partly_nan_rows(tmp_path):
    (tmp_path / "anno" / "UAV123").mkdir(parents=True)
    _touch_images(tmp_path / "data_seq" / "UAV123" / "u", range(1, 5), digits=6)
    (tmp_path / "anno" / "UAV123" / "u.txt").write_text("1,2,3,4\n1,NaN,3,4\n5,5,0,0\nNaN,NaN,NaN,NaN\n")
    sequence = UAV123(tmp_path)["u"]
    np.testing.assert_array_equal(sequence.ground_truth[2], [5, 5, 0, 0])
    assert np.isnan(sequence.ground_truth[1, 1]) and sequence.ground_truth[1, 0] == 1
    np.testing.assert_array_equal(sequence.tags["absent"], [False, False, False, True])
    assert sequence.meta["invalid_boxes"] == 3


def test_lasot_keeps_nan_and_degenerate_rows(tmp_path):
    folder = tmp_path / "cat" / "cat-1"
    _touch_images(folder / "img", range(1, 5), digits=8)
    (folder / "groundtruth.txt").write_text("1,2,3,4\nNaN,NaN,NaN,NaN\n0,0,0,0\n7,8,0,5\n")
    (folder / "full_occlusion.txt").write_text("0,0,1,0")
    sequence = LaSOT(tmp_path)["cat-1"]
    np.testing.assert_array_equal(sequence.tags["absent"], [False, True, True, False])
    assert np.isnan(sequence.ground_truth[1:3]).all()
    np.testing.assert_array_equal(sequence.ground_truth[3], [7, 8, 0, 5])
    assert sequence.meta["flag_files"] == ["full_occlusion"] and sequence.meta["invalid_boxes"] == 3
    np.testing.assert_array_equal(sequence.tags["out_of_view"], [False] * 4)  # no file: no flag


def test_got10k_keeps_nan_rows_as_absent(tmp_path):
    folder = tmp_path / "val" / "GOT-10k_Val_000001"
    _touch_images(folder, range(1, 5), digits=8)
    (tmp_path / "val" / "list.txt").write_text("GOT-10k_Val_000001\n")
    (folder / "groundtruth.txt").write_text("1,2,3,4\nnan,nan,nan,nan\n1,2,0,4\n1,2,3,4\n")
    (folder / "absence.label").write_text("0\n1\n0\n0\n")
    sequence = GOT10k(tmp_path, "val")["GOT-10k_Val_000001"]
    np.testing.assert_array_equal(sequence.tags["absent"], [False, True, True, False])
    assert sequence.meta["zero_size_boxes"] == 1  # frame 3: not flagged absent, but no usable box
    (tmp_path / "test" / "GOT-10k_Test_000001").mkdir(parents=True)
    (tmp_path / "test" / "list.txt").write_text("GOT-10k_Test_000001\n")
    _touch_images(tmp_path / "test" / "GOT-10k_Test_000001", range(1, 3), digits=8)
    (tmp_path / "test" / "GOT-10k_Test_000001" / "groundtruth.txt").write_text("0,0,0,0\n")
    sequence = GOT10k(tmp_path, "test")["GOT-10k_Test_000001"]  # read; tracking it fails in the runner
    np.testing.assert_array_equal(sequence.ground_truth[0], [0, 0, 0, 0])


def test_fewer_ground_truth_lines_than_images(tmp_path):
    _otb_sequence(tmp_path, "1,2,3,4\n1,2,3,4\n", images=3)
    with pytest.raises(DataError, match=r"groundtruth_rect.txt: 2 ground-truth lines for 3 images \(fewer"):
        OTB(tmp_path)["Seq"]


def test_no_images(tmp_path):
    (tmp_path / "Seq" / "img").mkdir(parents=True)
    (tmp_path / "Seq" / "groundtruth_rect.txt").write_text("1,2,3,4\n")
    with pytest.raises(DataError, match=r"Seq/img: no images"):
        OTB(tmp_path)["Seq"]


def test_unreadable_image(tmp_path):
    corrupt = tmp_path / "0001.jpg"
    corrupt.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(DataError, match=r"0001.jpg: cannot decode image"):
        read_image(corrupt)
    with pytest.raises(DataError, match=r"0002.jpg: file does not exist"):
        read_image(tmp_path / "0002.jpg")
    good = tmp_path / "0003.png"
    cv2.imwrite(str(good), np.array([[[0, 0, 255]]], np.uint8))  # BGR red
    np.testing.assert_array_equal(read_image(good)[0, 0], [255, 0, 0])  # read back as RGB


def test_bad_label_files(tmp_path):
    (tmp_path / "occlusion.tag").write_text("0\n1\n")
    np.testing.assert_array_equal(read_label_file(tmp_path / "occlusion.tag", length=4, pad=True), [0, 1, 0, 0])
    with pytest.raises(DataError, match=r"occlusion.tag: 2 labels for 1 frames"):
        read_label_file(tmp_path / "occlusion.tag", length=1, pad=True)
    (tmp_path / "cover.label").write_text("8\n0.5\n")
    with pytest.raises(DataError, match=r"cover.label, line 2: expected an integer label"):
        read_label_file(tmp_path / "cover.label")
    (tmp_path / "out_of_view.txt").write_text("0,1,0\n")
    with pytest.raises(DataError, match=r"out_of_view.txt: 3 labels for 4 frames"):
        read_label_file(tmp_path / "out_of_view.txt", length=4, one_line=True)


def test_bad_lists_and_blank_lines(tmp_path):
    (tmp_path / "list.txt").write_text("present\nabsent\n")
    (tmp_path / "present").mkdir()
    with pytest.raises(DataError, match=r"list.txt, line 2: sequence folder .*absent does not exist"):
        VOT(tmp_path)
    (tmp_path / "gt.txt").write_text("1,2,3,4\n\n1,2,3,4\n\n\n")
    with pytest.raises(DataError, match=r"gt.txt, line 2: empty line"):
        read_box_file(tmp_path / "gt.txt")
    (tmp_path / "gt.txt").write_text("1,2,3,4\n1;2;3;4\n\n")  # trailing blank lines are fine
    assert read_box_file(tmp_path / "gt.txt").shape == (2, 4)
