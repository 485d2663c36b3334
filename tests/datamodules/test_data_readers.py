"""Readers of every training format on generated data in the real on-disk layouts, and bad input handling."""
import json
import shutil
import warnings

import numpy as np
import pytest
from torch.utils.data import DataLoader

from datamodules.pairs import PairConfig, PairDataset, PairSampler, SourceSpec
from datamodules.sources import open_source
from datamodules.tracks import BoxFilter, DataWarning
from tracking.errors import DataError
from tracking.synthetic import training_formats as formats
from tracking.synthetic.video import generate_videos

KEEP_ALL = BoxFilter(min_size=0.0, max_area_fraction=1.0)


@pytest.fixture(scope="module")
def videos():
    videos = generate_videos(0, 3, num_frames=24, difficulty="hard")
    assert all(np.isnan(v.boxes[:, 0]).any() for v in videos), "the data must contain absent frames"
    return videos


@pytest.fixture(scope="module")
def written(videos, tmp_path_factory):
    root = tmp_path_factory.mktemp("training_formats")
    for kind, writer in formats.TRAINING_WRITERS.items():
        writer(videos, root / kind)
    return root


def present(boxes):
    return np.isfinite(boxes).all(axis=1)


def test_vid_reader_round_trip(videos, written):
    source = open_source("vid", written / "vid", box_filter=KEEP_ALL)
    assert source.name == "vid" and len(source) == 3
    for track, video in enumerate(videos):
        info = source.get_sequence_info(track)
        assert info["bbox"].shape == (24, 4) and info["valid"].dtype == bool
        np.testing.assert_array_equal(info["valid"], present(video.boxes))
        x1, y1 = np.round(video.boxes[:, 0]), np.round(video.boxes[:, 1])
        x2, y2 = np.round(video.boxes[:, 0] + video.boxes[:, 2]), np.round(video.boxes[:, 1] + video.boxes[:, 3])
        expected = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)
        np.testing.assert_array_equal(info["bbox"][info["valid"]], expected[info["valid"]])
        assert np.isnan(info["bbox"][~info["valid"]]).all()
        np.testing.assert_array_equal(info["visible"], info["valid"] & ~video.tags["occlusion"])
        position = int(np.flatnonzero(info["valid"])[0])
        images, boxes = source.get_frames(track, [position, position + 1])
        assert len(images) == 2 and images[0].shape == (240, 320, 3) and images[0].dtype == np.uint8
        assert np.abs(images[0].astype(float) - video.frames[position]).mean() < 3  # RGB, JPEG-close
        np.testing.assert_array_equal(boxes[0], expected[position])


def test_det_reader_one_frame_tracks_and_negative_images(videos, written):
    with pytest.warns(DataWarning, match="no objects"):
        source = open_source("det", written / "det", box_filter=KEEP_ALL)
    sampled = [v.boxes[i] for v in videos for i in range(0, 24, 5)]
    with_target = [b for b in sampled if np.isfinite(b).all()]
    assert len(source) == len(with_target)
    assert source.summary.counts()["no_objects"] == len(sampled) - len(with_target)
    first = source.get_sequence_info(0)
    assert first["bbox"].shape == (1, 4) and first["valid"].all()
    box = with_target[0]
    x1, y1, x2, y2 = np.round([box[0], box[1], box[0] + box[2], box[1] + box[3]])
    np.testing.assert_array_equal(first["bbox"][0], [x1, y1, x2 - x1, y2 - y1])


def test_coco_reader_skips_crowd_boxes(videos, written, tmp_path):
    root = tmp_path / "coco"
    shutil.copytree(written / "coco", root)
    path = root / "annotations" / "instances_train2017.json"
    data = json.loads(path.read_text())
    crowd = dict(data["annotations"][0], id=10_000, iscrowd=1)
    data["annotations"].append(crowd)
    path.write_text(json.dumps(data))
    with pytest.warns(DataWarning):
        source = open_source("coco", root, box_filter=KEEP_ALL)
    counts = source.summary.counts()
    assert counts["crowd_box"] == 1
    sampled = [v.boxes[i] for v in videos for i in range(0, 24, 5)]
    with_target = [b for b in sampled if np.isfinite(b).all()]
    assert len(source) == len(with_target) and counts["no_objects"] == len(sampled) - len(with_target)
    boxes = np.array([source.get_sequence_info(i)["bbox"][0] for i in range(len(source))])
    np.testing.assert_allclose(boxes, np.round(with_target, 2), atol=1e-3)


def test_youtube_bb_reader_fractions_and_absent_rows(videos, written):
    source = open_source("ytbb", written / "ytbb", box_filter=KEEP_ALL)
    assert source.name == "ytbb" and len(source) == 3
    names = sorted(source.track_name(i) for i in range(3))
    assert names[0].startswith("yt_bb_detection_train/0/synsynthetic")
    for track in range(3):
        video = next(v for v in videos if f"syn{v.name}/" in source.track_name(track) + "/")
        info = source.get_sequence_info(track)
        np.testing.assert_array_equal(info["valid"], present(video.boxes))
        np.testing.assert_allclose(info["bbox"][info["valid"]], video.boxes[present(video.boxes)], atol=2e-3)
        np.testing.assert_array_equal(source.table.frame_id[source.table.frames_of(track)], np.arange(24) * 1000)


def test_got10k_and_lasot_train_readers(videos, written):
    got10k = open_source("got10k", written / "got10k", box_filter=KEEP_ALL)
    lasot = open_source("lasot", written / "lasot", box_filter=KEEP_ALL)
    assert len(got10k) == len(lasot) == 3
    for source in (got10k, lasot):
        for track, video in enumerate(videos):
            info = source.get_sequence_info(track)
            np.testing.assert_array_equal(info["valid"], present(video.boxes))
            np.testing.assert_allclose(info["bbox"][info["valid"]], video.boxes[present(video.boxes)], atol=1e-3)
    assert (written / "lasot" / "training_set.txt").read_text().split() == ["synthetic-1", "synthetic-2",
                                                                            "synthetic-3"]


def test_lasot_test_sequences_are_not_training_data(videos, tmp_path):
    from tracking.synthetic.writers import write_lasot

    write_lasot(videos[:2], tmp_path)  # lists them in testing_set.txt
    formats.write_lasot_train(videos[2:], tmp_path, category="other")
    source = open_source("lasot", tmp_path)
    assert [source.track_name(i) for i in range(len(source))] == ["other/other-1/00"]


def _snippet(root, number=0):
    return root / "Annotations" / "VID" / "train" / "ILSVRC2015_VID_train_0000" / f"ILSVRC2015_train_{number:08d}"


def test_vid_multiple_objects_and_a_malformed_frame(written, tmp_path):
    root = tmp_path / "vid"
    shutil.copytree(written / "vid", root)
    annotations = _snippet(root)
    text = (annotations / "000001.xml").read_text()
    second = ("\t<object>\n\t\t<trackid>3</trackid>\n\t\t<name>n00000002</name>\n\t\t<bndbox>\n"
              "\t\t\t<xmax>60</xmax>\n\t\t\t<xmin>10</xmin>\n\t\t\t<ymax>90</ymax>\n\t\t\t<ymin>20</ymin>\n"
              "\t\t</bndbox>\n\t\t<occluded>1</occluded>\n\t</object>\n")
    (annotations / "000001.xml").write_text(text.replace("</annotation>", second + "</annotation>"))
    (annotations / "000002.xml").write_text("<annotation><object>")  # truncated file
    with pytest.warns(DataWarning, match="000002.xml"):
        source = open_source("vid", root, box_filter=KEEP_ALL)
    assert len(source) == 4 and source.summary.counts()["malformed_annotation"] == 1
    names = [source.track_name(i) for i in range(4)]
    added = names.index("train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000/03")
    info = source.get_sequence_info(added)
    assert info["valid"].sum() == 1 and info["valid"][1] and not info["visible"][1]
    np.testing.assert_array_equal(info["bbox"][1], [10, 20, 50, 70])
    assert not source.get_sequence_info(names.index(names[added][:-2] + "00"))["valid"][2]


def test_bad_input_is_skipped_counted_and_named(written, tmp_path):
    """An XML without objects, a box outside the image, an empty track, a missing frame: skipped, counted."""
    root = tmp_path / "vid"
    shutil.copytree(written / "vid", root)
    # snippet 1: every XML loses its objects -> a video without objects
    for path in _snippet(root, 1).glob("*.xml"):
        text = path.read_text()
        path.write_text(text[:text.index("\t<object>")] + "</annotation>\n" if "<object>" in text else text)
    # snippet 2: one box moved outside the image, one frame deleted, the rest of the boxes made tiny except 2
    snippet = _snippet(root, 2)
    xml_files = sorted(snippet.glob("*.xml"))
    annotated = [p for p in xml_files if "<object>" in p.read_text()]
    outside, deleted, kept = annotated[0], annotated[1], annotated[2]
    text = outside.read_text()
    start, end = text.index("<bndbox>"), text.index("</bndbox>")
    outside.write_text(text[:start] + "<bndbox><xmax>900</xmax><xmin>800</xmin><ymax>60</ymax><ymin>10</ymin>"
                       + text[end:])
    frame = root / "Data" / "VID" / "train" / snippet.relative_to(root / "Annotations" / "VID" / "train")
    (frame / deleted.name.replace(".xml", ".JPEG")).unlink()
    for path in annotated[3:]:
        text = path.read_text()
        start, end = text.index("<bndbox>"), text.index("</bndbox>")
        path.write_text(text[:start] + "<bndbox><xmax>12</xmax><xmin>10</xmin><ymax>12</ymax><ymin>10</ymin>"
                        + text[end:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = open_source("vid", root)
    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    counts = source.summary.counts()
    assert counts["no_objects"] == 1 and any("ILSVRC2015_train_00000001" in m and "no objects" in m
                                             for m in messages)
    assert counts["outside_image"] == 1 and any(outside.stem in m and "outside image" in m for m in messages)
    assert counts["missing_frame"] == 1 and any(deleted.name.replace(".xml", ".JPEG") in m for m in messages)
    assert counts["too_small"] == len(annotated) - 3
    info = source.get_sequence_info(len(source) - 1)
    assert info["valid"].sum() == 1 and info["valid"][xml_files.index(kept)]
    # the same snippet with the last usable box also gone: an empty track, dropped
    text = kept.read_text()
    start, end = text.index("<bndbox>"), text.index("</bndbox>")
    kept.write_text(text[:start] + "<bndbox><xmax>2</xmax><xmin>1</xmin><ymax>2</ymax><ymin>1</ymin>" + text[end:])
    with pytest.warns(DataWarning, match="empty track"):
        source = open_source("vid", root)
    assert source.summary.counts()["empty_track"] == 1 and len(source) == 1


def test_corrupt_and_missing_images_never_crash_a_worker(written, tmp_path):
    root = tmp_path / "vid"
    shutil.copytree(written / "vid", root)
    source = open_source("vid", root)
    # all frames of the first snippet corrupt, one frame of the second deleted after indexing
    first = root / "Data" / "VID" / "train" / "ILSVRC2015_VID_train_0000" / "ILSVRC2015_train_00000000"
    for path in first.glob("*.JPEG"):
        path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match="cannot decode"):
        source.get_frames(0, [0])
    second_track = 1
    valid = np.flatnonzero(source.get_sequence_info(second_track)["valid"])
    for position in valid:
        source.frame_path(second_track, int(position)).unlink()
    dataset = PairDataset([SourceSpec(source)], PairConfig(negative=0.2), videos_per_epoch=24, seed=0)
    loader = DataLoader(dataset, batch_size=4, sampler=PairSampler(24), num_workers=2,
                        multiprocessing_context="fork")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        batches = list(loader)
    assert len(batches) == 6 and all(b["search"].shape == (4, 3, 255, 255) for b in batches)
    counts = dataset.summary.counts()  # counted in the workers, read in the main process
    assert counts["unreadable_image"] >= 3 and counts["missing_frame"] >= 3
    with warnings.catch_warnings(record=True) as caught:  # in the main process the warnings name the files
        warnings.simplefilter("always")
        for index in range(12):
            dataset.sample(100 + index)
    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert any("ILSVRC2015_train_00000000" in m and "unreadable image" in m for m in messages)


def test_open_source_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="not a directory"):
        open_source("vid", tmp_path / "nope")
    with pytest.raises(DataError, match="Annotations/VID"):
        open_source("vid", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset kind"):
        open_source("imagenet", tmp_path)
    with pytest.raises(DataError, match="instances"):
        open_source("coco", tmp_path)
