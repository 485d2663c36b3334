"""YouTube-VOS: the synthetic writer against the reader, boxes from hand-made id masks (several objects, absent
frames), corrupt / missing / wrong-mode masks and missing frames counted, clear errors, and
``make prepare-data DATASET=ytvos``."""
import json
import shutil
import warnings

import cv2
import numpy as np
import pytest
from PIL import Image

from datamodules.pairs import PairConfig, PairDataset, SourceSpec
from datamodules.sources import DATASET_KINDS, open_source
from datamodules.tracks import BoxFilter
from datamodules.youtube_vos import YouTubeVOSReader, mask_boxes
from experiments import prepare_data
from tracking.errors import DataError
from tracking.metrics.ope import iou
from tracking.synthetic.training_formats import TRAINING_WRITERS, YTVOS_PALETTE, write_ytvos
from tracking.synthetic.video import generate_videos

KEEP_ALL = BoxFilter(min_size=0.0, max_area_fraction=1.0)


@pytest.fixture(scope="module")
def videos():
    videos = generate_videos(5, 3, num_frames=20, size=(120, 160), difficulty="hard")
    assert any(np.isnan(v.boxes[:, 0]).any() for v in videos), "the data must contain absent frames"
    return videos


@pytest.fixture(scope="module")
def written(videos, tmp_path_factory):
    root = tmp_path_factory.mktemp("ytvos")
    write_ytvos(videos, root)
    return root


def save_mask(path, mask, mode="P"):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(mask.astype(np.uint8), mode="L")
    if mode == "P":
        image = image.convert("P")
        image.putpalette(YTVOS_PALETTE)
    elif mode == "RGB":
        image = image.convert("RGB")
    image.save(path)


def test_writer_is_registered_and_reader_round_trip(videos, written):
    assert TRAINING_WRITERS["ytvos"] is write_ytvos and "ytvos" in DATASET_KINDS
    meta = json.loads((written / "train" / "meta.json").read_text())
    assert sorted(meta["videos"]) == sorted(f"syn{v.name}" for v in videos)
    mask_path = next((written / "train" / "Annotations").rglob("00005.png"))
    assert Image.open(mask_path).mode == "P"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = open_source("ytvos", written, box_filter=KEEP_ALL)
    assert source.name == "ytvos" and len(source) == 3 and source.default_frame_range == 20
    absent = 0
    for track in range(len(source)):
        video = next(v for v in videos if f"syn{v.name}/" in source.track_name(track))
        info = source.get_sequence_info(track)
        present = np.isfinite(video.boxes).all(axis=1)
        np.testing.assert_array_equal(info["valid"], present)
        # the rasterised rotated rectangle's pixel extent is within a pixel of the exact extent of a wholly visible
        # target (partly hidden ones keep their full annotated extent in the video, not in the mask)
        whole = present & (video.visible_ratio > 0.999)
        corners = np.concatenate([info["bbox"][:, :2], info["bbox"][:, :2] + info["bbox"][:, 2:]], axis=1)
        exact = np.concatenate([video.boxes[:, :2], video.boxes[:, :2] + video.boxes[:, 2:]], axis=1)
        np.testing.assert_allclose(corners[whole], exact[whole], atol=1.02)
        assert iou(info["bbox"][present], video.boxes[present]).min() > 0.8
        np.testing.assert_array_equal(source.table.frame_id[source.table.frames_of(track)], np.arange(20) * 5)
        absent += int((~present).sum())
        frames, boxes = source.get_frames(track, [int(np.flatnonzero(present)[0])])
        assert frames[0].shape == (120, 160, 3) and frames[0].dtype == np.uint8
    assert source.summary.counts().get("absent", 0) == absent > 0


def test_boxes_from_id_masks_of_several_objects_and_bad_masks(tmp_path):
    root = tmp_path / "ytvos"
    video = root / "train" / "Annotations" / "v1"
    first = np.zeros((30, 40), dtype=np.uint8)
    first[5:10, 2:8] = 1                    # object 1: columns 2..7, rows 5..9
    first[20:29, 30:33] = 3                 # object 3: columns 30..32, rows 20..28
    second = np.zeros((30, 40), dtype=np.uint8)
    second[0:2, 0:1] = 1                    # object 3 is absent here
    save_mask(video / "00000.png", first)
    save_mask(video / "00005.png", second, mode="L")  # gray masks carry ids too
    save_mask(video / "00010.png", first, mode="RGB")  # an RGB PNG has lost the ids
    (video / "00015.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")  # does not decode
    # 00020 is listed by meta.json but has no mask at all
    (root / "train" / "JPEGImages" / "v1").mkdir(parents=True)
    for stem in ("00000", "00005", "00010", "00015"):
        cv2.imwrite(str(root / "train" / "JPEGImages" / "v1" / f"{stem}.jpg"), np.zeros((30, 40, 3), np.uint8))
    meta = {"videos": {"v1": {"objects": {"1": {"category": "cat", "frames": ["00000", "00005", "00020"]},
                                          "3": {"category": "dog", "frames": ["00000"]}}},
                       "v2": {"objects": {"1": {"category": "cat"}}},        # no frame list: malformed
                       "v3": {"objects": {"2": {"category": "cow", "frames": ["00000"]}}}}}  # no masks
    (root / "train" / "meta.json").write_text(json.dumps(meta))
    with pytest.warns(Warning):
        source = open_source("ytvos", root, box_filter=KEEP_ALL)
    assert len(source) == 2
    names = [source.track_name(i) for i in range(2)]
    assert names == ["train/v1/1", "train/v1/3"]
    one, three = (source.get_sequence_info(i) for i in range(2))
    np.testing.assert_array_equal(one["bbox"][:2], [[2, 5, 6, 5], [0, 0, 1, 2]])
    np.testing.assert_array_equal(one["valid"], [True, True, False, False, False])
    np.testing.assert_array_equal(three["bbox"][0], [30, 20, 3, 9])
    np.testing.assert_array_equal(three["valid"], [True, False, False, False, False])
    counts = source.summary.counts()
    # 3 bad masks of v1 (RGB, undecodable, missing) + v2's entry + v3's missing annotation folder
    assert counts["malformed_annotation"] == 5
    assert "missing_frame" not in counts  # the JPEGs of annotated frames exist
    assert counts["absent"] == 3 + 4  # object 1 in 3 frames, object 3 in 4
    examples = " ".join(source.summary.examples["malformed_annotation"])
    assert "00010.png" in examples and "PNG mode RGB" in examples and "00015.png" in examples
    np.testing.assert_array_equal(mask_boxes(first, [1, 2, 3])[1], [np.nan] * 4)


def test_missing_frames_are_counted_and_errors_name_the_file(written, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(written, root)
    jpeg = sorted((root / "train" / "JPEGImages").rglob("00005.jpg"))[0]
    jpeg.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = open_source("ytvos", root, box_filter=KEEP_ALL)
    assert source.summary.counts()["missing_frame"] >= 1
    with pytest.raises(DataError, match="no YouTube-VOS meta.json"):
        YouTubeVOSReader(tmp_path)
    (root / "train" / "meta.json").write_text("{not json")
    with pytest.raises(DataError, match=r"meta\.json: invalid JSON"):
        YouTubeVOSReader(root)
    (root / "train" / "meta.json").write_text(json.dumps({"vids": {}}))
    with pytest.raises(DataError, match="not a YouTube-VOS meta.json"):
        YouTubeVOSReader(root)


def test_prepare_data_and_pairs(written, tmp_path, capsys):
    out = tmp_path / "prepared"
    meta = prepare_data.main(["--dataset", "ytvos", "--root", str(written), "--out", str(out), "--workers", "1"])
    assert meta["complete"] and meta["tracks"] == 3 and meta["dataset"] == "ytvos"
    assert "absent" in capsys.readouterr().out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = open_source("ytvos", written)
    prepared = open_source("ytvos", out)  # a prepared root opens as its index
    for track in range(3):
        a, b = raw.get_sequence_info(track), prepared.get_sequence_info(track)
        np.testing.assert_array_equal(a["valid"], b["valid"])
        np.testing.assert_array_equal(a["bbox"][a["valid"]], b["bbox"][b["valid"]])
    assert len(list((out / "crops").rglob("*.x.jpg"))) == meta["usable_boxes"]
    dataset = PairDataset([SourceSpec(prepared)], PairConfig(negative=0.0), videos_per_epoch=4, seed=0)
    sample = dataset.sample(0)
    assert sample.template.shape == (3, 127, 127) and sample.search.shape == (3, 255, 255)
