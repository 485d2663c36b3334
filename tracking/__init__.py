"""Framework-free tracking core: box geometry, crops, the tracker protocol, benchmark readers, metrics.

Nothing in this package imports Lightning; trackers and metrics run on plain numpy/torch.
"""
import os as _os

# albumentations checks PyPI for a newer version at import time; this suite runs offline by default.
_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
