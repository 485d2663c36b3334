"""Lockstep tracking (``tracker.batched``) against one sequence at a time, shared by the trackers' tests."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tracking.evaluation.runner import drive_batched, ope_steps
from tracking.tracker import track_frames

TINY_SIAMRPN = dict(backbone="alexnet_legacy", backbone_width_mult=0.25, used_layers=(5,), neck_channels=None,
                    head_hidden=32, weighted=False, image_format="rgb_normalized", base_size=0)
SIZES = [(96, 128), (120, 96), (80, 112), (128, 160), (100, 100)]


@pytest.fixture(scope="session")
def tiny_siamrpn():
    """A narrow one-level SiamRPN (AlexNet) with random weights, its predictions scaled down: moderate scores and
    offsets (no overflowing sizes)."""
    from tracking.models.config import SiamRPNNetwork
    from tracking.models.siamrpn import SiamRPN

    torch.manual_seed(0)
    model = SiamRPN(SiamRPNNetwork(**TINY_SIAMRPN)).eval()
    with torch.no_grad():
        for level in model.head.levels:
            for branch in (level.cls, level.loc):
                branch.predict.weight.mul_(0.05)
    return model


@pytest.fixture(scope="session")
def lockstep_videos():
    """Five generated videos of different lengths (4 to 12 frames) and frame sizes."""
    from tracking.synthetic.video import generate_video

    return [generate_video(40 + i, num_frames=4 + 2 * i, size=size, name=f"V{i}",
                           difficulty="hard" if i % 2 else "easy") for i, size in enumerate(SIZES)]


@pytest.fixture
def lockstep_difference(lockstep_videos):
    """``difference(tracker, capacity=3) -> float``: tracks ``lockstep_videos`` one at a time and in lockstep
    (``drive_batched`` on ``tracker.batched(capacity)``, fewer slots than videos: slots are reused) and returns the
    largest absolute difference of their boxes (pixels). Checks that every lockstep step makes one network call
    for all its slots and that the boxes move (not a comparison of constant boxes)."""

    def difference(tracker, capacity: int = 3) -> float:
        single = [track_frames(tracker, video.frames, video.boxes[0])[0] for video in lockstep_videos]
        batched = tracker.batched(capacity)
        assert batched is not None and batched.capacity == capacity
        steps, calls, results = [], [], {}
        update_slots, network_outputs = batched.update_slots, type(tracker)._network_outputs
        jobs = ((index, ope_steps(SimpleNamespace(images=lambda video=video: iter(video.frames)), video.boxes[0]))
                for index, video in enumerate(lockstep_videos))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(batched, "update_slots", lambda slots, images: steps.append(len(slots)) or
                          update_slots(slots, images))
            patch.setattr(type(tracker), "_network_outputs", lambda self, template, search: calls.append(
                search.shape[0]) or network_outputs(self, template, search))
            drive_batched(jobs, batched, lambda key, result: results.__setitem__(key, result[0]))
        assert len(calls) == len(steps) and max(steps) == capacity  # one network call per step, all slots
        assert calls == [count * calls[0] // steps[0] for count in steps]  # each slot's crops, in one batch
        assert sorted(results) == list(range(len(lockstep_videos)))
        for index, boxes in enumerate(single):
            assert results[index].shape == boxes.shape
        assert max(np.ptp(boxes[1:, 0]) for boxes in single) > 1
        return max(float(np.abs(results[index] - boxes).max()) for index, boxes in enumerate(single))

    return difference


def _numbers(folder):
    """Result file -> its lines as number lists (VOT records mix codes and boxes)."""
    return {path.relative_to(folder).as_posix(): [[float(v) for v in line.split(",")]
                                                 for line in path.read_text().split()]
            for path in sorted(folder.rglob("*.txt")) if "time" not in path.name}


@pytest.fixture
def results_difference():
    """``difference(one, batched, files) -> float``: two result folders (got10k layouts) hold the same ``files``
    result files with the same records (VOT's codes at the same frames); returns the largest absolute difference
    of their boxes. Checks that the boxes move."""

    def difference(one, batched, files: int) -> float:
        single, lockstep = _numbers(one), _numbers(batched)
        assert single.keys() == lockstep.keys() and len(single) == files
        worst = 0.0
        for name, lines in single.items():
            assert [len(line) for line in lines] == [len(line) for line in lockstep[name]], name  # same codes
            for ours, theirs in zip(lines, lockstep[name]):
                worst = max(worst, float(np.abs(np.subtract(theirs, ours)).max()))
        moved = [line[0] for lines in single.values() for line in lines[1:] if len(line) == 4]
        assert np.ptp(moved) > 1  # the boxes move: the comparison is not between constant boxes
        return worst

    return difference
