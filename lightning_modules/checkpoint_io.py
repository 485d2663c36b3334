"""Checkpoints written whole or not at all: ``AtomicCheckpointIO``.

Lightning's ``TorchCheckpointIO`` serialises into memory and then writes into the final path, so a kill or a full
disk during the write leaves a truncated ``last.ckpt`` that the next launch would try to resume from. This writes
into a temporary file beside it and renames it over the old one (atomic on POSIX): the folder always holds the
previous checkpoint or the new one. A failed write names the file and leaves no temporary file behind.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from tracking.errors import DataError


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            torch.save(checkpoint, partial)
            os.replace(partial, target)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise DataError(target, f"cannot write the checkpoint ({error.strerror or error})") from error
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
