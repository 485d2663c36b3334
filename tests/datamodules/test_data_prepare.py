"""``make prepare-data``: curated index, 511 pre-crops checked pixel by pixel, resume after an interruption,
the report of what was dropped, and pairs from pre-crops equal to pairs cropped from full frames."""
import json

import cv2
import numpy as np
import pytest

from datamodules.pairs import PairConfig, PairDataset, SourceSpec
from datamodules.prepare import format_summary, prepare_dataset
from datamodules.sources import PreparedSource, box_in_precrop, open_source
from experiments import prepare_data
from tracking.synthetic.training_formats import write_vid
from tracking.synthetic.video import SyntheticVideo, generate_videos


def rectangle_video(boxes, size=(300, 400), name="rect") -> SyntheticVideo:
    """Gray-blue frames with a white rectangle at integer boxes (x, y, w, h), in SyntheticVideo form."""
    frames = []
    for x, y, w, h in boxes:
        frame = np.empty((*size, 3), dtype=np.uint8)
        frame[...] = (40, 60, 90)
        frame[y:y + h, x:x + w] = 255
        frames.append(frame)
    boxes = np.array(boxes, dtype=np.float64)
    n = len(boxes)
    return SyntheticVideo(frames=frames, boxes=boxes, polygons=np.full((n, 8), np.nan), visible_ratio=np.ones(n),
                          tags={"occlusion": np.zeros(n, dtype=bool)}, attributes=[], name=name)


@pytest.fixture(scope="module")
def vid_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("vid")
    write_vid(generate_videos(3, 3, num_frames=16, difficulty="hard"), root)
    # a rectangle snippet whose last box sits at the frame corner (the crop extends past the image)
    write_vid([rectangle_video([(150, 100, 80, 60), (160, 110, 40, 90), (5, 4, 50, 40)])], root, start=3)
    return root


@pytest.fixture(scope="module")
def prepared(vid_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    meta = prepare_dataset("vid", vid_root, out, workers=2, progress=False, start_method="fork")
    return out, meta


def test_index_and_meta(prepared, vid_root):
    out, meta = prepared
    raw = open_source("vid", vid_root)
    assert meta["complete"] and meta["tracks"] == len(raw) == 4 and meta["videos"] == 4
    assert meta["crop_size"] == 511 and meta["exemplar_size"] == 127
    source = open_source("vid", out)  # a prepared root is detected whatever kind is named
    assert isinstance(source, PreparedSource) and source.use_crops
    for track in range(len(raw)):
        a, b = raw.get_sequence_info(track), source.get_sequence_info(track)
        np.testing.assert_array_equal(a["valid"], b["valid"])
        np.testing.assert_array_equal(a["bbox"][a["valid"]], b["bbox"][b["valid"]])
    assert not (out / "parts").exists()
    assert json.loads((out / "meta.json").read_text())["usable_boxes"] == meta["usable_boxes"]


def test_precrops_put_the_target_at_the_exemplar_scale(prepared):
    out, _ = prepared
    source = PreparedSource(out)
    track = next(i for i in range(len(source)) if "ILSVRC2015_train_00000003" in source.track_name(i))
    frame_boxes = source.get_sequence_info(track)["bbox"]
    crops, boxes = source.get_frames(track, [0, 1, 2])
    for crop, box, frame_box in zip(crops, boxes, frame_boxes):
        assert crop.shape == (511, 511, 3)
        x, y, w, h = frame_box
        scale = 127 / np.sqrt((w + (w + h) / 2) * (h + (w + h) / 2))
        np.testing.assert_allclose(box, box_in_precrop(frame_box), atol=1e-9)
        np.testing.assert_allclose([box[0] + (box[2] - 1) / 2, box[1] + (box[3] - 1) / 2], [255, 255], atol=1e-9)
        np.testing.assert_allclose(box[2:], [w * scale, h * scale], rtol=1e-6)
        bright = crop.mean(axis=2) > 150
        columns, rows = np.flatnonzero(bright[255]), np.flatnonzero(bright[:, 255])
        measured = [columns.min() - 0.5, rows.min() - 0.5, columns.max() + 0.5, rows.max() + 0.5]
        expected = [box[0] - 0.5, box[1] - 0.5, box[0] + box[2] - 0.5, box[1] + box[3] - 0.5]
        np.testing.assert_allclose(measured, expected, atol=1.0)
    # the corner target: outside the frame the crop holds the frame's mean color
    frame = cv2.cvtColor(cv2.imread(str(source.frame_path(track, 2))), cv2.COLOR_BGR2RGB)
    mean = frame.reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(crops[2][5, 5], mean, atol=4)
    assert np.abs(crops[2][300, 300].astype(float) - (40, 60, 90)).max() < 6  # inside: the background


def test_pairs_from_precrops_match_pairs_from_full_frames(prepared, vid_root):
    out, _ = prepared
    config = PairConfig(negative=0.2)
    from_crops = PairDataset([SourceSpec(PreparedSource(out))], config, videos_per_epoch=16, seed=5)
    from_frames = PairDataset([SourceSpec(PreparedSource(out, use_crops=False))], config, videos_per_epoch=16,
                              seed=5)
    differences = []
    for index in range(16):
        a, b = from_crops.sample(index), from_frames.sample(index)
        assert a.search_ref == b.search_ref and a.negative == b.negative
        np.testing.assert_allclose(a.search_box, b.search_box, atol=1e-6)
        np.testing.assert_allclose(a.template_box, b.template_box, atol=1e-6)
        differences.append(np.abs(a.search - b.search).mean())
    assert np.mean(differences) < 8  # the same image content, resampled twice (and JPEG) for the pre-crop


def test_resume_after_interruption_gives_the_same_index(vid_root, prepared, tmp_path):
    out = tmp_path / "resumed"
    partial = prepare_dataset("vid", vid_root, out, workers=1, chunk_size=1, max_chunks=2, progress=False)
    assert partial == {"complete": False, "chunks_done": 2, "chunks": 4}
    assert len(list((out / "parts").glob("chunk_*.npz"))) == 2 and not (out / "index.npz").exists()
    assert "run again to resume" in format_summary(partial)
    meta = prepare_dataset("vid", vid_root, out, workers=2, chunk_size=1, progress=False, start_method="fork")
    assert meta["complete"] and meta["resumed_chunks"] == 2
    fresh = np.load(prepared[0] / "index.npz")
    resumed = np.load(out / "index.npz")
    for name in fresh.files:
        np.testing.assert_array_equal(fresh[name], resumed[name], err_msg=name)
    with pytest.raises(ValueError, match="other settings"):
        prepare_dataset("vid", vid_root, tmp_path / "other", chunk_size=1, max_chunks=1, progress=False)
        prepare_dataset("vid", vid_root, tmp_path / "other", chunk_size=1, crop_size=255, progress=False)


def test_report_of_dropped_input_and_cli(vid_root, tmp_path, capsys):
    import shutil

    root = tmp_path / "vid"
    shutil.copytree(vid_root, root)
    snippet = root / "Data" / "VID" / "train" / "ILSVRC2015_VID_train_0000" / "ILSVRC2015_train_00000000"
    corrupt = sorted(snippet.glob("*.JPEG"))[3]
    corrupt.write_bytes(corrupt.read_bytes()[:200])  # a truncated JPEG
    out = tmp_path / "out"
    meta = prepare_data.main(["--dataset", "vid", "--root", str(root), "--out", str(out), "--workers", "2",
                              "--min-size", "30"])
    printed = capsys.readouterr().out
    assert meta["dropped"]["unreadable_image"] >= 1 and meta["dropped"]["too_small"] >= 1
    assert "unreadable image" in printed and "too small" in printed and corrupt.name in printed
    source = open_source("index", out)
    track = next(i for i in range(len(source)) if "ILSVRC2015_train_00000000" in source.track_name(i))
    frame_ids = source.table.frame_id[source.table.frames_of(track)]
    assert not source.get_sequence_info(track)["valid"][list(frame_ids).index(int(corrupt.stem))]
    again = prepare_data.main(["--dataset", "vid", "--root", str(root), "--out", str(out)])
    assert again.get("already_prepared") and "already prepared" in capsys.readouterr().out
    no_crops = prepare_dataset("vid", root, tmp_path / "index_only", crops=False, workers=1, progress=False)
    assert no_crops["crop_size"] is None and not (tmp_path / "index_only" / "crops").exists()
    assert not PreparedSource(tmp_path / "index_only").use_crops


def test_crops_made_by_the_reference_scripts_are_read_exactly(tmp_path):
    """crop511 folders + train.json as pysot's par_crop.py/gen_json.py write them: the box matches the pixels."""
    from datamodules.sources import PysotCropSource

    boxes = [(150, 100, 80, 60), (160, 110, 40, 90), (120, 60, 120, 100)]  # x, y, w, h (integer pixels)
    video = rectangle_video(boxes)
    annotation = {"ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000007": {"00": {}}}
    folder = tmp_path / "crop511" / "ILSVRC2015_VID_train_0000" / "ILSVRC2015_train_00000007"
    folder.mkdir(parents=True)
    for frame_number, (frame, (x, y, w, h)) in enumerate(zip(video.frames, boxes)):
        # the reference's crop: box corners as annotated, window [c - s/2, c + s/2] onto [0, 510]
        x1, y1, x2, y2 = x - 0.5, y - 0.5, x + w - 0.5, y + h - 0.5  # the painted pixels' extent
        center = ((x1 + x2) / 2, (y1 + y2) / 2)
        s_z = np.sqrt((w + (w + h) / 2) * (h + (w + h) / 2))
        s_x = s_z + 2 * ((511 - 127) / 2) / (127 / s_z)
        a = 510 / s_x
        mapping = np.array([[a, 0, -a * (center[0] - s_x / 2)], [0, a, -a * (center[1] - s_x / 2)]])
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        crop = cv2.warpAffine(bgr, mapping, (511, 511), borderMode=cv2.BORDER_CONSTANT,
                              borderValue=bgr.reshape(-1, 3).mean(axis=0).tolist())
        cv2.imwrite(str(folder / f"{frame_number:06d}.00.x.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
        annotation["ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000007"]["00"][f"{frame_number:06d}"] = \
            [x1, y1, x2, y2]
    (tmp_path / "train.json").write_text(json.dumps(annotation))
    source = open_source("pysot", tmp_path / "crop511", anno=tmp_path / "train.json", name="vid")
    assert isinstance(source, PysotCropSource) and len(source) == 1 and source.default_frame_range == 100
    crops, crop_boxes = source.get_frames(0, [0, 1, 2])
    for crop, box in zip(crops, crop_boxes):
        bright = crop.mean(axis=2) > 150
        columns, rows = np.flatnonzero(bright[255]), np.flatnonzero(bright[:, 255])
        measured = [columns.min() - 0.5, rows.min() - 0.5, columns.max() + 0.5, rows.max() + 0.5]
        expected = [box[0] - 0.5, box[1] - 0.5, box[0] + box[2] - 0.5, box[1] + box[3] - 0.5]
        np.testing.assert_allclose(measured, expected, atol=0.75)
    pairs = PairDataset([SourceSpec(source)], PairConfig(negative=0), videos_per_epoch=4, seed=0)
    assert pairs[3]["search"].shape == (3, 255, 255)
