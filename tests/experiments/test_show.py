"""Drawing boxes, writing GIF/MP4, and the `make show` command on generated sequences."""
from pathlib import Path

import cv2
import imageio.v3 as iio
import numpy as np
import pytest

from experiments import show
from tracking.errors import DataError
from tracking.evaluation.runner import run_ope, run_vot_supervised
from tracking.synthetic.video import generate_video
from tracking.synthetic.writers import write_otb, write_vot
from tracking.trackers.baselines import FirstBoxTracker, NCCTracker
from tracking.visualize import default_colors, draw_boxes, write_video

RED, GREEN = (255, 0, 0), (0, 255, 0)


def test_draw_boxes_draws_each_box_in_its_colour_and_leaves_the_input_alone():
    image = np.zeros((120, 160, 3), np.uint8)
    boxes = {"GroundTruth": [40, 50, 30, 20], "A": np.array([100, 60, 20, 40]), "lost": [np.nan] * 4,
             "code": [2], "none": None}
    colors = {"GroundTruth": RED, "A": GREEN, "lost": (0, 0, 255), "code": (0, 0, 255), "none": (0, 0, 255)}
    out = draw_boxes(image, boxes, colors, thickness=1, legend=False)
    assert image.max() == 0 and out.shape == image.shape and out.dtype == np.uint8
    # edges of x, y, w, h boxes: columns x .. x + w - 1, rows y .. y + h - 1
    assert tuple(out[60, 40]) == RED and tuple(out[60, 69]) == RED and tuple(out[50, 55]) == RED
    assert tuple(out[69, 55]) == RED
    assert tuple(out[80, 100]) == GREEN and tuple(out[99, 110]) == GREEN
    assert out[60, 55].max() == 0 and out[80, 110].max() == 0  # insides untouched
    assert not np.any(np.all(out == (0, 0, 255), axis=-1))  # NaN, code and None boxes not drawn


def test_draw_boxes_polygon_legend_and_frame_number():
    image = np.full((120, 160, 3), 128, np.uint8)
    polygon = [60, 60, 100, 70, 90, 110, 50, 100]
    out = draw_boxes(image, {"GroundTruth": polygon, "T": [10, 80, 20, 20]}, {"GroundTruth": RED, "T": GREEN},
                     frame_index=4, thickness=1)
    assert tuple(out[60, 60]) == RED and tuple(out[100, 50]) == RED
    legend = out[:30, :80]
    assert np.all(legend == RED, axis=-1).sum() > 10 and np.all(legend == GREEN, axis=-1).sum() > 10
    without_number = draw_boxes(image, {"GroundTruth": polygon}, {"GroundTruth": RED}, thickness=1)
    assert np.any(out[:15, 130:] != without_number[:15, 130:])


def test_default_colors_are_distinct():
    colors = default_colors([f"t{i}" for i in range(12)])
    assert len(set(colors.values())) == 12


def _frames(count=5, size=(64, 80)):
    frames = []
    for index in range(count):
        frame = np.zeros((*size, 3), np.uint8)
        frame[:, : 10 + 10 * index] = (200, 40, 40)
        frames.append(frame)
    return frames


def test_write_gif_round_trip(tmp_path):
    frames = _frames()
    path = write_video(frames, tmp_path / "v.gif", fps=10)
    back = iio.imread(path)
    assert back.shape == (5, 64, 80, 3)
    assert np.abs(back.astype(int) - np.stack(frames)).max() <= 8  # palette quantization only


def test_write_mp4_round_trip_with_odd_size(tmp_path):
    frames = _frames(size=(63, 81))
    path = write_video(frames, tmp_path / "v.mp4", fps=10)
    capture = cv2.VideoCapture(str(path))
    read = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        read.append(frame)
    capture.release()
    assert len(read) == 5 and read[0].shape == (64, 82, 3)  # padded to even size
    # lossy codec: the red band's width still grows frame to frame
    red_columns = [int((f[32, :, 2] > 120).sum()) for f in read]
    assert red_columns == sorted(red_columns) and red_columns[-1] - red_columns[0] > 30


def test_write_video_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="unsupported video format"):
        write_video(_frames(), tmp_path / "v.avi")
    with pytest.raises(ValueError, match="no frames"):
        write_video([], tmp_path / "v.gif")
    with pytest.raises(ValueError, match="same size"):
        write_video([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8)], tmp_path / "v.gif")


def test_a_full_disk_leaves_no_partial_video(tmp_path, monkeypatch):
    import errno
    import os

    from tracking import atomic_files, visualize

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic_files.os, "write", disk_full)
    with pytest.raises(OSError, match=r"v\.gif") as error:
        write_video(_frames(), tmp_path / "v.gif", fps=10)
    assert error.value.errno == errno.ENOSPC

    def encoder_fails(frames, path, fps):
        Path(path).write_bytes(b"half an mp4")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(visualize, "_write_mp4_imageio", encoder_fails)
    with pytest.raises(OSError, match=r"v\.mp4"):
        write_video(_frames(), tmp_path / "v.mp4", fps=10)
    assert list(tmp_path.iterdir()) == []  # neither a partial video nor a temporary file


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """A tiny OTB root and a VOT root with FirstBox / NCC results."""
    from tracking.benchmarks import open_benchmark

    base = tmp_path_factory.mktemp("show")
    videos = [generate_video(3 + i, num_frames=6, size=(64, 80), name=f"Clip{i}", difficulty="easy")
              for i in range(2)]
    write_otb(videos, base / "otb")
    write_vot(videos[:1], base / "vot")
    otb = open_benchmark("otb", base / "otb")
    for tracker in (FirstBoxTracker(), NCCTracker()):
        run_ope(tracker, otb, base / "results", tracker.name, "OTB", progress=False)
    run_vot_supervised(NCCTracker(), open_benchmark("vot", base / "vot"), base / "results", "NCC", "VOT",
                       progress=False)
    return base


def test_show_command_writes_a_gif_with_every_frame(tracked, tmp_path, capsys):
    out = show.main(["--seq", str(tracked / "otb" / "Clip1"), "--results", str(tracked / "results/OTB/FirstBox"),
                     str(tracked / "results/OTB/NCC"), "--out", str(tmp_path / "clip.gif"), "--no-progress"])
    frames = iio.imread(out)
    assert frames.shape == (6, 240, 300, 3)  # small frames enlarged to a 240 px short side
    assert "FirstBox, NCC" in capsys.readouterr().out
    # the ground truth (white) is drawn on the first frame
    assert np.all(frames[0] >= 250, axis=-1).sum() > 50


def test_show_command_benchmark_spec_vot_record_and_mp4(tracked, tmp_path):
    out = show.main(["--seq", f"vot:{tracked / 'vot'}:Clip0", "--results", str(tracked / "results/VOT/NCC"),
                     "--out", str(tmp_path / "clip.mp4"), "--scale", "1", "--max-frames", "4", "--no-progress"])
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    assert int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 80
    capture.release()
    # the VOT record's first line is the code 1: no box on that frame, boxes afterwards
    sequence = show.load_sequence(f"vot:{tracked / 'vot'}:Clip0")
    boxes = show.load_result(tracked / "results/VOT/NCC/baseline", sequence)
    assert boxes[0] is None and boxes[1] is not None and len(boxes) == 6
    assert show.tracker_label(tracked / "results/VOT/NCC/baseline") == "NCC"


def test_show_errors_name_the_file(tracked, tmp_path):
    sequence = show.load_sequence(str(tracked / "otb" / "Clip0"))
    broken = tmp_path / "Broken"
    broken.mkdir()
    (broken / "Clip0.txt").write_text("1,2,3,4\n")
    with pytest.raises(DataError, match=r"Clip0\.txt: 1 result lines for 6 frames"):
        show.load_result(broken, sequence)
    with pytest.raises(DataError, match="no result file for sequence 'Clip0'"):
        show.load_result(tmp_path, sequence)
    with pytest.raises(DataError, match="sequence folder does not exist"):
        show.load_sequence(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match=".gif or .mp4"):
        show.main(["--seq", str(tracked / "otb" / "Clip0"), "--results", str(tmp_path), "--out", "x.avi"])


def test_show_out_folder_gets_the_sequence_name(tracked, tmp_path):
    out = show.main(["--seq", str(tracked / "otb" / "Clip0"), "--results", str(tracked / "results/OTB/NCC"),
                     "--out", str(tmp_path / "outputs"), "--no-progress", "--scale", "1"])
    assert out == tmp_path / "outputs" / "Clip0.gif" and iio.imread(out).shape == (6, 64, 80, 3)
