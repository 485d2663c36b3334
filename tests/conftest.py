import os
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def shared_data(pytestconfig) -> Path:
    """``../shared/data`` beside the checkout (or $TRACKING_SHARED_DATA); skips the test when absent."""
    root = Path(os.environ.get("TRACKING_SHARED_DATA", pytestconfig.rootpath.parent / "shared" / "data"))
    if not root.is_dir():
        pytest.skip(f"real sequences not available: {root} does not exist")
    return root
