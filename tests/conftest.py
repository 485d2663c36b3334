import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one pytest worker per core (pytest-xdist): one thread each (and in the processes the tests
    # start, which inherit the variable, so a run and its restarted copy compute alike), not every core per worker
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session")
def shared_data(pytestconfig) -> Path:
    """``../shared/data`` beside the checkout (or $TRACKING_SHARED_DATA); skips the test when absent."""
    root = Path(os.environ.get("TRACKING_SHARED_DATA", pytestconfig.rootpath.parent / "shared" / "data"))
    if not root.is_dir():
        pytest.skip(f"real sequences not available: {root} does not exist")
    return root


@pytest.fixture(scope="module")
def otb_and_vot(tmp_path_factory):
    """``make(seed, frames=lambda i: ..., size=...)``: five generated sequences of different lengths (every other
    one hard) written in OTB and VOT layouts; returns the two benchmarks."""

    def make(seed: int, frames, size=(64, 80)):
        from tracking.benchmarks import OTB, VOT
        from tracking.synthetic.video import generate_video
        from tracking.synthetic.writers import write_otb, write_vot

        root = tmp_path_factory.mktemp(f"otb_vot_{seed}")
        videos = [generate_video(seed + i, num_frames=frames(i), size=size, name=f"S{i}",
                                 difficulty="hard" if i % 2 else "easy") for i in range(5)]
        write_otb(videos, root / "otb")
        write_vot(videos, root / "vot")
        return {"otb": OTB(root / "otb"), "vot": VOT(root / "vot")}

    return make
