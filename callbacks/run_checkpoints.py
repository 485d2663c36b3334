"""A run folder's checkpoints: ``epoch_EE.ckpt`` at every epoch end and one ``last.ckpt``, always the newest state.

``last.ckpt`` is replaced (atomically, by the trainer's ``AtomicCheckpointIO``) at every epoch end and every
``every_n_steps`` optimizer steps, so a killed run loses at most that many steps. One callback writes it: two
Lightning ``ModelCheckpoint`` callbacks that both keep a "last" name their files ``last.ckpt`` and
``last-v1.ckpt``, and a folder copied or moved elsewhere would collect ``last-vN.ckpt`` files while the stale
``last.ckpt`` stayed the one a relaunch resumes. Here file names are fixed (no version counter), and the paths a
checkpoint records are read relative to the folder it now lies in.
"""
from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

LAST = "last.ckpt"


class RunCheckpoints(ModelCheckpoint):
    """``epoch_EE.ckpt`` every epoch (all kept) and ``last.ckpt`` every epoch and every ``every_n_steps`` steps
    (0: at epoch ends only), in ``dirpath``."""

    def __init__(self, dirpath, every_n_steps: int = 1000):
        super().__init__(dirpath=dirpath, filename="epoch_{epoch:02d}", auto_insert_metric_name=False,
                         save_top_k=-1, every_n_epochs=1, save_last=True, save_on_train_epoch_end=True,
                         enable_version_counter=False)
        if every_n_steps < 0:
            raise ValueError(f"every_n_steps must be >= 0, got {every_n_steps}")
        self.every_n_steps = int(every_n_steps)

    @property
    def last_path(self) -> Path:
        return Path(self.dirpath) / LAST

    def on_train_batch_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule", outputs, batch,
                           batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if trainer.sanity_checking or trainer.fast_dev_run or _epoch_complete(trainer):
            # an epoch's last batch: its end writes last.ckpt next. A checkpoint of the last batch itself would
            # resume past the epoch's end: Lightning then skips its end hooks (epoch checkpoint, evaluation)
            return
        due = self.every_n_steps and trainer.global_step % self.every_n_steps == 0
        stopping = trainer.should_stop or 0 <= trainer.max_steps <= trainer.global_step
        if due or stopping:
            # written directly (not through _save_last_checkpoint): ModelCheckpoint would then count this step as
            # saved and skip a later checkpoint of the same step
            self.last_model_path = str(self.last_path)
            trainer.save_checkpoint(self.last_model_path)

    def on_train_epoch_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        # Lightning ends the epoch early when the run stops (max_steps, a stop request): that is no epoch end, and
        # a checkpoint of it would resume with the next epoch; last.ckpt holds the stopping step's state instead
        if _epoch_complete(trainer):
            super().on_train_epoch_end(trainer, pl_module)

    def load_state_dict(self, state_dict: dict) -> None:
        """A checkpoint of a folder since copied or moved: its recorded paths are taken to the folder it is in."""
        recorded = state_dict.get("dirpath")
        if recorded and self.dirpath and recorded != self.dirpath:
            state_dict = {key: _relocated(value, recorded, self.dirpath) for key, value in state_dict.items()}
        super().load_state_dict(state_dict)


def _relocated(value, old: str, new: str):
    if isinstance(value, str) and value.startswith(old):
        return new + value[len(old):]
    if isinstance(value, dict):
        return {_relocated(key, old, new): item for key, item in value.items()}
    return value


def _epoch_complete(trainer: "pl.Trainer") -> bool:
    return trainer.fit_loop.epoch_loop.batch_progress.current.processed >= trainer.num_training_batches

