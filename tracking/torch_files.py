"""What a file handed over as a PyTorch checkpoint is, before unpickling it: ``torch_load_options``."""
from __future__ import annotations

import zipfile
from pathlib import Path

from tracking.errors import DataError


def torch_load_options(path, what: str = "checkpoint") -> dict:
    """The ``torch.load`` options for ``path`` (``mmap`` for the zip archive ``torch.save`` writes since PyTorch
    1.6, none for the legacy pickle); ``DataError`` naming the file when it is missing, a truncated archive or not
    a ``torch.save`` file at all (random bytes, an image, a text file)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, f"{what} file does not exist" if not path.exists() else f"{what} is not a file")
    with open(path, "rb") as handle:
        head = handle.read(4)
    if zipfile.is_zipfile(path):
        return {"mmap": True}  # tensors are read when used, not all at once
    if head.startswith(b"PK"):
        raise DataError(path, f"cannot read {what}: a truncated or corrupt PyTorch archive (a zip file whose "
                              "directory is missing; was it copied or saved completely?)")
    if head[:1] == b"\x80":
        return {}  # legacy torch.save format: mmap is not possible
    raise DataError(path, f"cannot read {what}: the file is not a checkpoint (neither the zip archive nor the legacy "
                          f"pickle that torch.save writes; it starts with {head!r})")
