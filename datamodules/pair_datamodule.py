"""``PairDataModule``: template/search pairs from weighted training sources, with a held-out validation set.

Configured by plain arguments (YAML/CLI friendly)::

    PairDataModule(
        sources=[{"kind": "vid", "root": "/data/vid_prepared", "frame_range": 100, "num_use": 100000},
                 {"kind": "coco", "root": "/data/coco", "weight": 0.2},
                 {"kind": "ytbb", "root": "/data/ytbb", "frame_range": 3, "options": {"splits": ["train"]}}],
        videos_per_epoch=600_000, batch_size=28, num_workers=8, seed=0)

    PairDataModule.from_roots({"vid": "/data/vid", "coco": "/data/coco"}, batch_size=8)   # demo / quick start

A source's ``root`` may be the dataset as distributed or the output folder of ``make prepare-data`` (detected
by its ``index.npz``; pre-crops are used when it has them). Batches are dicts: ``template`` (B, 3, T, T) float32,
``search`` (B, 3, S, S) float32, ``search_box`` (B, 4) float32 corners ``x1, y1, x2, y2`` of the target in the
search crop (pixel-index coordinates, an unshifted target centered at ``(S - 1) / 2``), ``negative`` (B,) bool.
Label assignment (anchors, score maps) is the model's job.

Validation holds out whole videos (a fraction ``val_fraction`` of each source's videos, at least one) and
draws ``val_pairs`` fixed pairs from them, the same pairs every epoch.
"""
from __future__ import annotations

import logging
import multiprocessing

import cv2
import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from datamodules.pairs import PairConfig, PairDataset, PairSampler, SourceSpec
from datamodules.sources import DATASET_KINDS, SOURCE_KINDS, open_source
from tracking.errors import DataError
from tracking.processes import exit_when_gone

logger = logging.getLogger(__name__)

SOURCE_KEYS = {"kind", "root", "frame_range", "num_use", "weight", "options"}


class WorkerInit:
    """Data-loader worker setup: one core per worker, so no nested thread pools competing for the cores, and
    the worker ends with the training process.

    ``cv2.setNumThreads`` is only called in workers started fresh (forkserver / spawn): in a *forked* child of a
    process whose OpenCV thread pool exists it deadlocks (measured: almost always), so forked workers keep the
    OpenCV default. A forkserver's workers are its children, not the trainer's, and each holds the forkserver's
    "alive" pipe: after a ``kill -9`` of the trainer, PyTorch's worker watchdog (which watches the parent) and the
    forkserver (which waits for that pipe to close) kept each other alive for minutes with the data in memory.
    Each worker therefore watches the trainer itself (``trainer_pid``) and exits with it; the forkserver and the
    resource tracker then see their last client gone and exit too.
    """

    def __init__(self, limit_opencv_threads: bool, trainer_pid: int | None = None):
        import os

        self.limit_opencv_threads = limit_opencv_threads
        self.trainer_pid = os.getpid() if trainer_pid is None else trainer_pid

    def __call__(self, worker_id: int) -> None:
        if self.limit_opencv_threads:
            cv2.setNumThreads(1)
        torch.set_num_threads(1)
        exit_when_gone(self.trainer_pid)


class ResumableLoader(DataLoader):
    """A ``DataLoader`` Lightning saves and restores with the run (its ``state_dict`` / ``load_state_dict``
    protocol for loaders): the epoch and how many of its batches the training loop has processed, taken from
    the loop's own progress (``progress()``; the loop fetches ahead, so counting fetched batches would be off by
    one). Restored, the sampler skips those samples: a run killed mid-epoch resumes with the next pairs."""

    def __init__(self, *args, progress=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._progress = progress

    def state_dict(self) -> dict:
        epoch, batches = self._progress() if self._progress is not None else (self.sampler.epoch, 0)
        return {"epoch": int(epoch), "consumed_samples": int(batches) * int(self.batch_size)}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.resume_at(state["epoch"], state["consumed_samples"])


def worker_context(name: str | None):
    """The multiprocessing context of the data-loader workers. ``forkserver`` (default) forks workers from a
    clean server process: safe whatever the main process did before (OpenCV or OpenMP thread pools, CUDA), and
    the server imports the data modules once so workers start quickly."""
    if name is None:
        return None
    context = multiprocessing.get_context(name)
    if name == "forkserver":
        context.set_forkserver_preload(["datamodules.pairs"])
    return context


def sources_under_root(wanted: dict, data_root) -> list[dict]:
    """Source entries for ``{dataset folder name: options}`` found under ``data_root`` (one folder per dataset:
    ROOT/vid, ROOT/coco, ...) or given their own ``root``; missing ones are reported and skipped, unused dataset
    folders are pointed out, and an error names the expected folders when none is there."""
    import sys
    from pathlib import Path

    if not wanted:
        raise DataError(data_root, "sources is empty: name the datasets to train on (vid, coco, ...)")
    root = Path(data_root).expanduser() if data_root else None
    if root is not None and not root.is_dir():
        raise DataError(root, "training data root is not a directory (it should hold vid/, coco/, ytbb/, det/, ...)")
    sources, missing = [], []
    for name, options in wanted.items():
        entry = dict(options or {})
        entry.setdefault("kind", name)
        if "root" in entry:
            entry["root"] = str(Path(entry["root"]).expanduser())
        elif root is not None and (root / name).is_dir():
            entry["root"] = str(root / name)
        else:
            missing.append(name)
            continue
        sources.append(entry)
    if missing:
        where = f"under {root}" if root is not None else "(no data root given)"
        print(f"training sources not found {where}: {', '.join(missing)} (skipped)", file=sys.stderr)
    if root is not None:
        unused = [k for k in DATASET_KINDS if (root / k).is_dir() and k not in wanted]
        if unused:
            print(f"{root} also has {', '.join(unused)}, not used by this config (add e.g. "
                  f"--data.init_args.sources.{unused[0]}={{}})", file=sys.stderr)
    if not sources:
        raise DataError(root if root is not None else "sources",
                        f"none of the training sources ({', '.join(wanted)}) is there: expected folders "
                        f"{', '.join(f'<ROOT>/{k}' for k in wanted)}")
    return sources


def split_videos(table, fraction: float, seed: int, minimum: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Train and held-out track indices, holding out whole videos (so no held-out image is trained on)."""
    _, video_of_track = np.unique(table.video, return_inverse=True)
    num_videos = int(video_of_track.max()) + 1 if len(video_of_track) else 0
    if num_videos < 2 or fraction <= 0:
        return np.arange(len(table)), np.zeros(0, dtype=np.int64)
    held = min(num_videos - 1, max(minimum, int(round(num_videos * fraction))))
    held_videos = np.random.default_rng([seed, 7]).choice(num_videos, size=held, replace=False)
    is_held = np.isin(video_of_track, held_videos)
    return np.flatnonzero(~is_held), np.flatnonzero(is_held)


class PairDataModule(pl.LightningDataModule):
    """Pairs for Siamese training from weighted sources; arguments mirror the reference (pysot) config.

    Args:
        sources: ``{dataset folder name: options}`` resolved under ``data_root`` (``{"vid": {"frame_range":
            100}, "coco": {}}``: ROOT/vid, ROOT/coco; a missing one is reported and skipped), or a list of dicts
            with ``kind`` (vid, det, coco, ytbb, got10k, lasot, index), ``root``, optional
            ``frame_range`` (default per dataset: VID 100, YouTube-BB 3, COCO/DET 1, GOT-10k/LaSOT 100),
            ``num_use`` (tracks used per round, -1 all), ``weight`` (share of an epoch; default ``num_use`` or the
            track count), ``options`` (passed to the reader, e.g. ``{"splits": ["train"]}``).
        data_root: the folder holding one folder per dataset (``--data_root`` of ``experiments.train``).
        videos_per_epoch: pairs per epoch over all ranks (600,000 in the paper config).
        negative: probability of a negative pair (0.2 ResNet SiamRPN++, 0.05 AlexNet).
        template_size, search_size: crop sides (127, 255); the template size is the exemplar scale.
        template_shift, template_scale, search_shift, search_scale: jitter (4, 0.05; 64, 0.18). ``search_shift``
            is the spatial-aware sampling range (0, 16, 32, 64 in the paper's center-bias experiment).
        template_blur, search_blur: motion-blur probabilities (0, 0.2); ``blur_kernel`` its size range.
        gray: probability of gray pairs (0 for the ResNet config, up to 0.2); flip: horizontal-flip probability
            of each crop (0); color: probability of PCA color jitter of each crop (1.0).
        image_format: "bgr255" (reference checkpoints), "rgb_normalized" (torchvision backbones) or "rgb255"
            (SiamFC).
        same_scale_xy, integer_shift, interpolation: SiamFC's augmentation (siamfc-pytorch ``transforms.py``):
            one scale factor for both axes (``RandomStretch``), whole-pixel shifts (its random crop), and
            "random" cv2 interpolations instead of "linear" (see ``datamodules.augment``).
        search_after_template: positive pairs' search frame 1..frame_range frames after the template's (MFST's
            released sampler; ``PairConfig``).
        power_of_two_scale: scale factors ``2 ** U(-scale, scale)`` (SNS-CF's 2^{+-1/8} / 2^{+-1/4} with
            ``template_scale`` 0.125, ``search_scale`` 0.25 and ``same_scale_xy``) instead of ``1 + U(-scale, scale)``.
        batch_size: per device. num_workers: data-loader processes per device (persistent).
        seed: everything random derives from it; the same seed gives the same pairs.
        val_pairs: size of the fixed validation set (0 = none); val_fraction: share of videos held out for it.
        multiprocessing_context: how workers start: "forkserver" (default, safe), "spawn" or "fork" (fastest
            start; safe only if the main process has not used OpenCV's thread pool, see ``WorkerInit``).
    """

    def __init__(self, sources: dict[str, dict | None] | list[dict] | None = None, data_root: str | None = None, *,
                 videos_per_epoch: int = 600_000,
                 negative: float = 0.2, template_size: int = 127, search_size: int = 255,
                 context_amount: float = 0.5, template_shift: float = 4.0, template_scale: float = 0.05,
                 search_shift: float = 64.0, search_scale: float = 0.18, template_blur: float = 0.0,
                 search_blur: float = 0.2, blur_kernel: tuple[int, int] = (5, 45), gray: float = 0.0,
                 flip: float = 0.0, color: float = 1.0, image_format: str = "bgr255", same_scale_xy: bool = False,
                 integer_shift: bool = False, interpolation: str = "linear", power_of_two_scale: bool = False,
                 search_after_template: bool = False,
                 batch_size: int = 28,
                 num_workers: int = 4, seed: int = 0, val_pairs: int = 1000, val_fraction: float = 0.02,
                 pin_memory: bool = True, prefetch_factor: int = 4, progress: bool = True,
                 multiprocessing_context: str | None = "forkserver"):
        super().__init__()
        self.save_hyperparameters()
        if isinstance(sources, dict):
            sources = sources_under_root(sources, data_root)
        self.source_configs = [self._check_source(s) for s in (sources or [])]
        if not self.source_configs:
            raise ValueError("PairDataModule needs at least one source (e.g. from_roots({'vid': ROOT}))")
        self.config = PairConfig(
            template_size=template_size, search_size=search_size, context_amount=context_amount,
            template_shift=template_shift, template_scale=template_scale, template_blur=template_blur,
            template_flip=flip, template_color=color, search_shift=search_shift, search_scale=search_scale,
            search_blur=search_blur, search_flip=flip, search_color=color, gray=gray, negative=negative,
            blur_kernel=tuple(blur_kernel), image_format=image_format, same_scale_xy=same_scale_xy,
            integer_shift=integer_shift, interpolation=interpolation, power_of_two_scale=power_of_two_scale,
            search_after_template=search_after_template)
        self.videos_per_epoch = videos_per_epoch
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.val_pairs = val_pairs
        self.val_fraction = val_fraction
        self.pin_memory = pin_memory
        self.prefetch_factor = prefetch_factor
        self.progress = progress
        self.multiprocessing_context = multiprocessing_context
        self.train_dataset: PairDataset | None = None
        self.val_dataset: PairDataset | None = None
        self.opened_sources = []

    @staticmethod
    def _check_source(config) -> dict:
        if not isinstance(config, dict):
            raise ValueError(f"a source is a dict with kind and root, got {config!r}")
        unknown = set(config) - SOURCE_KEYS
        if unknown:
            raise ValueError(f"unknown source key(s) {sorted(unknown)}; allowed: {sorted(SOURCE_KEYS)}")
        if "kind" not in config or "root" not in config:
            raise ValueError(f"a source needs 'kind' and 'root', got {config}")
        if config["kind"].lower() not in SOURCE_KINDS + ("prepared", "youtube_bb"):
            raise ValueError(f"unknown source kind {config['kind']!r}; expected one of {SOURCE_KINDS}")
        return dict(config)

    @classmethod
    def from_roots(cls, roots: dict, **kwargs) -> "PairDataModule":
        """Build from ``{kind: root}`` (or ``{kind: {"root": ..., "frame_range": ..., ...}}``), e.g.
        ``PairDataModule.from_roots({"vid": "data/vid", "coco": "data/coco"}, batch_size=8, num_workers=2)``.
        Every other keyword is a constructor argument."""
        sources = []
        for kind, value in roots.items():
            entry = dict(value) if isinstance(value, dict) else {"root": value}
            entry.setdefault("kind", kind)
            sources.append(entry)
        return cls(sources=sources, **kwargs)

    # --- Lightning hooks ----------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.train_dataset is not None:
            return
        train_specs, val_specs = [], []
        for number, config in enumerate(self.source_configs):
            source = open_source(config["kind"], config["root"], progress=self.progress,
                                 **dict(config.get("options") or {}))
            self.opened_sources.append(source)
            fraction = self.val_fraction if self.val_pairs > 0 else 0.0
            train_tracks, val_tracks = split_videos(source.table, fraction, self.seed + number)
            common = {"frame_range": config.get("frame_range"), "num_use": config.get("num_use", -1),
                      "weight": config.get("weight")}
            train_specs.append(SourceSpec(source, tracks=train_tracks, **common))
            if len(val_tracks):
                val_specs.append(SourceSpec(source, tracks=val_tracks, **common))
            logger.info("%s: %d tracks for training, %d held out", source, len(train_tracks), len(val_tracks))
        self.train_dataset = PairDataset(train_specs, self.config, self.videos_per_epoch, seed=self.seed)
        if self.val_pairs > 0 and val_specs:
            self.val_dataset = PairDataset(val_specs, self.config, self.val_pairs, seed=self.seed + 1_000_003)

    def _replicas(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            return trainer.world_size, trainer.global_rank
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_world_size(), torch.distributed.get_rank()
        return 1, 0

    def _training_progress(self) -> tuple[int, int]:
        """Where the next training batch comes from, for a resumable loader's state: (epoch, batches of it the
        training loop has processed); (next epoch, 0) once the epoch's batches are all processed (a checkpoint
        written at its last batch or at its end resumes with the next epoch's first pairs)."""
        epoch = self.trainer.current_epoch
        processed = self.trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if processed >= self.trainer.num_training_batches:
            return epoch + 1, 0
        return epoch, processed

    def _loader(self, dataset: PairDataset, fixed: bool) -> DataLoader:
        world_size, rank = self._replicas()
        sampler = PairSampler(len(dataset), num_replicas=world_size, rank=rank, fixed=fixed)
        fit_loop = getattr(getattr(self, "trainer", None), "fit_loop", None)
        if not fixed and fit_loop is not None:
            # the epoch Lightning is about to train (a resumed run's included): Lightning creates the first
            # iterator before its set_epoch call, and a multi-worker iterator draws prefetch_factor x workers
            # indices when it is created, which would otherwise come from epoch 0
            sampler.set_epoch(fit_loop.epoch_progress.current.processed)
        workers = self.num_workers
        context = self.multiprocessing_context if workers > 0 else None
        resumable = {} if fixed else {"progress": self._training_progress if self._trainer_attached() else None}
        loader_class = DataLoader if fixed else ResumableLoader
        return loader_class(dataset, batch_size=self.batch_size, sampler=sampler, **resumable,
                          num_workers=workers, pin_memory=self.pin_memory and torch.cuda.is_available(),
                          drop_last=not fixed, persistent_workers=workers > 0,
                          worker_init_fn=WorkerInit(limit_opencv_threads=context not in (None, "fork")),
                          multiprocessing_context=worker_context(context),
                          prefetch_factor=self.prefetch_factor if workers > 0 else None)

    def _trainer_attached(self) -> bool:
        return getattr(self, "trainer", None) is not None

    def train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            self.setup("fit")
        return self._loader(self.train_dataset, fixed=False)

    def val_dataloader(self):
        if self.train_dataset is None:
            self.setup("fit")
        if self.val_dataset is None:
            return []
        return self._loader(self.val_dataset, fixed=True)

    def teardown(self, stage: str) -> None:
        skipped = self.skip_summary()
        if skipped:
            logger.warning("training data skipped (see DataWarning messages for files): %s", skipped)

    def skip_summary(self) -> dict[str, dict[str, int]]:
        """What was skipped so far: per source while reading, and while sampling pairs (all workers)."""
        out = {f"read {source.name}": source.summary.counts() for source in self.opened_sources}
        if self.train_dataset is not None:
            out["train pairs"] = self.train_dataset.summary.counts()
        if self.val_dataset is not None:
            out["val pairs"] = self.val_dataset.summary.counts()
        return {key: value for key, value in out.items() if value}
