"""A callback that ends its own training process with SIGKILL (``kill -9``: no clean-up, no Python handlers) at a
chosen point, for the resume tests: ``--trainer.callbacks+={"class_path": "kill_at.KillAt", ...}`` with this
folder on ``PYTHONPATH``."""
from __future__ import annotations

import os
import signal

from pytorch_lightning.callbacks import Callback


class KillAt(Callback):
    """``at="batch_start"``: when a batch starts with ``global_step == step`` (every checkpoint of that step
    written, the next batch not started); ``at="epoch_end"``: in ``on_train_epoch_end`` with ``global_step ==
    step`` (the last batch's step checkpoint written, the epoch's checkpoints not yet: Lightning runs checkpoint
    callbacks after the others)."""

    def __init__(self, step: int, at: str = "batch_start"):
        if at not in ("batch_start", "epoch_end"):
            raise ValueError(f"at: batch_start or epoch_end, got {at!r}")
        self.step, self.at = int(step), at

    def _kill_if(self, trainer, point: str) -> None:
        if self.at == point and trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._kill_if(trainer, "batch_start")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._kill_if(trainer, "epoch_end")
