"""``compile`` (``tracking.models.inference.FrozenCompiled``): the trackers' backbones compiled with frozen weights
compute the same function as the eager ones and track the same boxes; the module's network is left as it was."""
import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

from tracking.models.inference import FrozenCompiled
from tracking.models.siamfc import SiamFC, SiamFCNetwork
from tracking.trackers.online import OnlineSiamFCTracker
from tracking.trackers.siamfc import SiamFCTracker
from tracking.trackers.siamrpn import SiamRPNTracker

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # inductor's note that no CUDA runtime exists


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
    compiled = SiamRPNTracker(tiny_siamrpn, {"compile": True})
    assert isinstance(compiled.model.backbone, FrozenCompiled)
    assert not isinstance(tiny_siamrpn.backbone, FrozenCompiled)  # the tracker's copy, not the caller's network
    expected_boxes, expected = tracked(eager, video)
    graphs = counters["stats"]["unique_graphs"]
    boxes, got = tracked(compiled, video)
    assert counters["stats"]["unique_graphs"] - graphs == 2  # the backbone on the template, on the search crop
    assert_same_function(expected, got)
    np.testing.assert_allclose(boxes, expected_boxes, atol=1e-2)


def test_compiled_siamfc_trackers_equal_eager(video):
    torch.manual_seed(0)
    network = SiamFC(SiamFCNetwork(backbone_options={"width_mult": 0.25})).eval()
    unfolded = SiamFCTracker(network, {"compile": True, "fold_batchnorm": False})
    assert isinstance(unfolded.model.backbone, FrozenCompiled) and unfolded.model is not network
    expected_boxes, expected = tracked(SiamFCTracker(network), video)
    boxes, got = tracked(SiamFCTracker(network, {"compile": True}), video)
    assert_same_function(expected, got)
    np.testing.assert_allclose(boxes, expected_boxes, atol=1e-2)
    # the online tracker tracks with the compiled copy of the source until a training; its learner stays eager
    online = OnlineSiamFCTracker(network, {"compile": True, "learning_rate": 0.0})
    assert isinstance(online.source_tracking.backbone, FrozenCompiled)
    assert not isinstance(online.learner.backbone, FrozenCompiled)
    online_boxes, online_outputs = tracked(online, video)
    assert_same_function(expected, online_outputs)
    np.testing.assert_allclose(online_boxes, expected_boxes, atol=1e-2)  # lr 0: the network never changes
