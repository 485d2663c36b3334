"""``compile`` (``tracking.inference.rewrites.compile_declared``): the trackers' backbones (and SiamRPN++'s RPN
head) compiled with frozen weights compute the same function as the eager ones and track the same boxes; the
module's network is left as it was."""
import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

from tracking.models.siamfc import SiamFC, SiamFCNetwork
from tracking.trackers.siamfc_online import OnlineSiamFCTracker
from tracking.trackers.siamfc import SiamFCTracker
from tracking.trackers.siamrpn import SiamRPNTracker

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # inductor's note that no CUDA runtime exists


def compiled(method) -> bool:
    return getattr(method, "frozen_compiled", False)


def tracked(tracker, video) -> tuple[np.ndarray, list]:
    """(boxes, the network outputs of the second frame's search input)."""
    with torch.inference_mode():
        tracker.init(video.frames[0], video.boxes[0])
        search, _ = tracker._search_input(video.frames[1])
        outputs = tracker._network_outputs(tracker._template(), search)
        boxes = [tracker.update(frame) for frame in video.frames[1:]]
    return np.asarray(boxes), [o.clone() for o in outputs]


def assert_same_function(expected: list, got: list) -> None:
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4 * float(e.abs().max()))


@pytest.fixture(scope="module")
def video(lockstep_videos):
    return lockstep_videos[0]


def test_compiled_siamrpn_tracker_equals_eager(tiny_siamrpn, video):
    eager = SiamRPNTracker(tiny_siamrpn, {"compile": False})
    compiled_tracker = SiamRPNTracker(tiny_siamrpn, {"compile": True})
    assert compiled(compiled_tracker.net.module.backbone.forward) and compiled(compiled_tracker.net.module.head.correlate)
    assert not compiled(tiny_siamrpn.backbone.forward)  # the tracker's copy, not the caller's network
    assert not compiled(eager.net.module.backbone.forward)
    expected_boxes, expected = tracked(eager, video)
    graphs = counters["stats"]["unique_graphs"]
    boxes, got = tracked(compiled_tracker, video)
    # the backbone on the template and on the search crop, the head on the search features
    assert counters["stats"]["unique_graphs"] - graphs == 3
    assert_same_function(expected, got)
    np.testing.assert_allclose(boxes, expected_boxes, atol=1e-2)


def test_compiled_siamfc_trackers_equal_eager(video):
    torch.manual_seed(0)
    network = SiamFC(SiamFCNetwork(backbone_options={"width_mult": 0.25})).eval()
    unfolded = SiamFCTracker(network, {"compile": True, "fold_batchnorm": False})
    assert compiled(unfolded.net.module.backbone.forward) and unfolded.net.module is not network
    assert not compiled(network.backbone.forward)
    expected_boxes, expected = tracked(SiamFCTracker(network), video)
    boxes, got = tracked(SiamFCTracker(network, {"compile": True}), video)
    assert_same_function(expected, got)
    np.testing.assert_allclose(boxes, expected_boxes, atol=1e-2)
    # the online tracker tracks with the compiled copy of the source until a training; its learner stays eager
    online = OnlineSiamFCTracker(network, {"compile": True, "learning_rate": 0.0})
    assert compiled(online.source_net.module.backbone.forward) and not compiled(online.learner.backbone.forward)
    online_boxes, online_outputs = tracked(online, video)
    assert_same_function(expected, online_outputs)
    np.testing.assert_allclose(online_boxes, expected_boxes, atol=1e-2)  # lr 0: the network never changes
