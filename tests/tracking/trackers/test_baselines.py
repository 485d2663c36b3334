"""The baseline trackers: FirstBox stays put, NCC follows a target and beats FirstBox on generated sequences."""
import cv2
import numpy as np
import pytest

from tracking.metrics.ope import iou
from tracking.tracker import Tracker, track_frames
from tracking.trackers.baselines import FirstBoxTracker, NCCTracker


def _translating_target(num_frames=12, size=(96, 128), box=(40.0, 30.0, 20.0, 16.0), step=(2.5, 1.5), seed=0):
    """A smooth textured background with a distinct textured rectangle moving by ``step`` px per frame."""
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(rng.uniform(0, 255, (size[0], size[1], 3)).astype(np.float32), (0, 0), 3)
    target = cv2.resize(rng.uniform(0, 255, (4, 5, 3)).astype(np.float32), (int(box[2]), int(box[3])),
                        interpolation=cv2.INTER_NEAREST)
    frames, boxes = [], []
    for index in range(num_frames):
        x = int(round(box[0] + step[0] * index))
        y = int(round(box[1] + step[1] * index))
        frame = background.copy()
        visible = frame[y:y + target.shape[0], x:x + target.shape[1]]  # cut by the image border
        visible[...] = target[:visible.shape[0], :visible.shape[1]]
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
        boxes.append([x, y, box[2], box[3]])
    return frames, np.asarray(boxes, dtype=np.float64)


def test_both_follow_the_tracker_protocol():
    assert isinstance(FirstBoxTracker(), Tracker) and FirstBoxTracker.name == "FirstBox"
    assert isinstance(NCCTracker(), Tracker) and NCCTracker.name == "NCC"


def test_first_box_tracker_returns_the_first_box_every_frame():
    frames, gt = _translating_target(num_frames=5)
    boxes, times = track_frames(FirstBoxTracker(), frames, gt[0])
    np.testing.assert_array_equal(boxes, np.repeat(gt[:1], 5, axis=0))
    assert times.shape == (5,)


def test_first_box_tracker_returns_a_copy():
    tracker = FirstBoxTracker()
    tracker.init(np.zeros((8, 8, 3), np.uint8), np.array([1.0, 2.0, 3.0, 4.0]))
    tracker.update(None)[0] = 99
    np.testing.assert_array_equal(tracker.update(None), [1.0, 2.0, 3.0, 4.0])


@pytest.mark.parametrize("tracker_class", [FirstBoxTracker, NCCTracker])
@pytest.mark.parametrize("bad_box", [[1, 2, 0, 4], [1, 2, 3, np.nan], [1, 2, -3, 4]])
def test_invalid_initial_box_is_rejected(tracker_class, bad_box):
    with pytest.raises(ValueError, match="initial box"):
        tracker_class().init(np.zeros((32, 32, 3), np.uint8), np.asarray(bad_box, dtype=float))


def test_update_before_init_raises():
    with pytest.raises(RuntimeError, match="before init"):
        NCCTracker().update(np.zeros((32, 32, 3), np.uint8))


def test_ncc_follows_a_translating_target_to_a_pixel():
    frames, gt = _translating_target()
    boxes, _ = track_frames(NCCTracker(), frames, gt[0])
    centers = boxes[:, :2] + boxes[:, 2:] / 2
    true_centers = gt[:, :2] + gt[:, 2:] / 2
    assert np.abs(centers - true_centers).max() < 1.5
    # the size must not drift on a target of constant size
    np.testing.assert_allclose(boxes[:, 2:], gt[:, 2:], rtol=0.1)


def test_ncc_box_stays_inside_the_image_when_the_target_leaves():
    frames, gt = _translating_target(num_frames=30, step=(4.0, 0.0))  # leaves to the right
    boxes, _ = track_frames(NCCTracker(), frames, gt[0])
    centers = boxes[:, :2] + (boxes[:, 2:] - 1) / 2
    assert np.all(np.isfinite(boxes))
    assert np.all((centers[:, 0] >= 0) & (centers[:, 0] <= 128) & (centers[:, 1] >= 0) & (centers[:, 1] <= 96))
    assert np.all(boxes[:, 2:] >= 4.0)


def test_ncc_is_deterministic():
    frames, gt = _translating_target(num_frames=6)
    first, _ = track_frames(NCCTracker(), frames, gt[0])
    second, _ = track_frames(NCCTracker(), frames, gt[0])
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("seed", [1, 6, 9])
def test_ncc_beats_first_box_on_generated_sequences(seed):
    from tracking.synthetic.video import generate_video

    video = generate_video(seed, num_frames=30, size=(64, 80), difficulty="easy")
    visible = np.isfinite(video.boxes).all(axis=1)
    ious = {}
    for tracker in (NCCTracker(), FirstBoxTracker()):
        boxes, _ = track_frames(tracker, video.frames, video.boxes[0])
        ious[tracker.name] = float(iou(boxes[visible], video.boxes[visible]).mean())
    assert ious["NCC"] > 0.75
    assert ious["NCC"] > ious["FirstBox"] + 0.3
