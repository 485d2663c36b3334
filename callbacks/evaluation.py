"""Track a benchmark during training and log its scores: ``BenchmarkEvaluation``.

Every ``every_n_epochs`` epochs each rank asks the LightningModule for its tracker
(``pl_module.build_tracker(name, benchmark=kind, **overrides)``) and tracks its shard of the sequences (every
``world_size``-th one, ``batch`` of them in lockstep) into a fresh folder for that epoch, so the ranks share the
work. The one-pass scores of OTB-style benchmarks are merged across ranks with the suite's ``torchmetrics``
metrics (each rank adds its sequences; the metrics' DDP sync gathers every curve); rank 0 then scores the whole
folder as ``make score-*`` does (``performance.json``, plots; the other benchmarks' scores), broadcast so every rank
logs the same values as ``eval/<benchmark>/<score>`` (``ModelCheckpoint(monitor="eval/otb/success_auc")`` works
under DDP), and logs the success plot (``WandbLogger.log_image``; TensorBoard ``add_image``; other loggers: the
PNG copied into their log dir).

Keep an evaluation shorter than the process group's timeout (``DDPStrategy(timeout=...)``, 30 min by default) with
``max_sequences``: a rank that finishes its shard early waits in a collective for the others.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
from pytorch_lightning import Callback

from tracking.evaluation.runner import (selected_names, default_bench_name, evaluate_tracker, run_ope,
                                        run_vot_supervised)

from tracking.evaluation.identity import claim_result_folder, default_identity

MERGED_KINDS = ("otb", "uav123")  # scored exactly by the torchmetrics metrics from predictions and ground truth


class _NoTracking:
    """Stands for the tracker when every sequence is already tracked (the runner then only resumes and scores)."""

    def __init__(self, name: str):
        self.name = name

    def init(self, image, box):
        raise RuntimeError("every sequence should have been tracked by the ranks")

    update = init


class BenchmarkEvaluation(Callback):
    """Benchmark evaluation of the module's tracker every N epochs.

    Args:
        benchmark: benchmark kind: otb, vot, uav123, lasot or got10k.
        root: the benchmark's root folder.
        every_n_epochs: evaluate after epochs N, 2N, ... (counted from 1).
        max_sequences: track only the first N sequences (None: all).
        out_dir: where results/reports go, one ``epoch=EEE-step=S`` folder per evaluation
            (default: ``<trainer.log_dir or default_root_dir>/benchmark_eval/<benchmark>``).
        benchmark_options: keyword arguments of the benchmark reader (e.g. ``{"subset": "val"}``).
        tracker: which of the module's trackers (default its main one, e.g. ``siamrpn``).
        tracker_overrides: tracker parameters (on top of the module's values for this benchmark).
        log_plot: log the success plot.
        progress: show the runner's progress bars.
        batch: sequences tracked in lockstep by each rank (trackers with a batched step).
    """

    def __init__(self, benchmark: str, root, every_n_epochs: int = 1, max_sequences: int | None = None,
                 out_dir=None, benchmark_options: dict | None = None, tracker: str | None = None,
                 tracker_overrides: dict | None = None, log_plot: bool = True, progress: bool = True,
                 batch: int = 1):
        from tracking.evaluation.runner import normalized_kind

        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.kind = normalized_kind(benchmark)
        self.root = Path(root)
        self.every_n_epochs = int(every_n_epochs)
        self.max_sequences = max_sequences
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.benchmark_options = dict(benchmark_options or {})
        self.tracker = tracker
        self.tracker_overrides = dict(tracker_overrides or {})
        self.log_plot = log_plot
        self.progress = progress
        self.batch = int(batch)
        self.history: list[dict] = []  # one entry per evaluation: epoch, step, scores, folder
        self._benchmark = None
        self._evaluated_epoch = -1

    # --- when ------------------------------------------------------------------------------------------------------
    def _due(self, trainer) -> bool:
        if trainer.sanity_checking or self._evaluated_epoch == trainer.current_epoch:
            return False
        return (trainer.current_epoch + 1) % self.every_n_epochs == 0

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        # inside validation when there is one, so checkpoint callbacks can monitor the scores
        if self._due(trainer):
            self._evaluate(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # epochs without a validation loop
        if self._due(trainer):
            self._evaluate(trainer, pl_module)

    # --- what ------------------------------------------------------------------------------------------------------
    def _output_root(self, trainer) -> Path:
        if self.out_dir is not None:
            return self.out_dir
        base = trainer.log_dir or trainer.default_root_dir
        return Path(base) / "benchmark_eval" / self.kind

    def benchmark(self):
        if self._benchmark is None:
            from tracking.benchmarks import open_benchmark

            self._benchmark = open_benchmark(self.kind, self.root, **self.benchmark_options)
        return self._benchmark

    def _evaluate(self, trainer, pl_module) -> None:
        self._evaluated_epoch = trainer.current_epoch
        folder = self._output_root(trainer) / f"epoch={trainer.current_epoch:03d}-step={trainer.global_step}"
        if trainer.is_global_zero and folder.exists():  # left by an earlier run of this epoch: not these weights
            shutil.rmtree(folder)
        tracker = self._build_tracker(pl_module)
        bench_name = default_bench_name(self.kind, self.benchmark())
        if trainer.is_global_zero:  # claimed once, before any rank writes a result into it
            claim_result_folder(folder / "results" / bench_name / self._name, self._identity)
        trainer.strategy.barrier()
        merged = self._track_shard(trainer, pl_module, tracker, folder)
        trainer.strategy.barrier()  # every shard's results are written
        payload = self._score(trainer, folder) if trainer.is_global_zero else None
        payload = trainer.strategy.broadcast(payload, src=0)
        scores = {**payload["scores"], **merged}
        for key, value in scores.items():
            pl_module.log(f"eval/{self.kind}/{key}", value, on_step=False, on_epoch=True, sync_dist=False)
        if trainer.is_global_zero and self.log_plot and payload.get("success_plot"):
            self._log_plot(trainer, Path(payload["success_plot"]))

    def _build_tracker(self, pl_module):
        modes = {name: module.training for name, module in pl_module.named_modules()}
        try:
            with torch.no_grad():
                tracker = pl_module.build_tracker(self.tracker, benchmark=self.kind, **self.tracker_overrides)
        finally:  # a tracker built on the training network must leave its modes as they were
            for module_name, module in pl_module.named_modules():
                module.train(modes.get(module_name, module.training))
        self._name = getattr(tracker, "name", type(pl_module).__name__)
        self._identity = default_identity(tracker)
        return tracker

    def _track_shard(self, trainer, pl_module, tracker, folder: Path) -> dict:
        """Track this rank's sequences into ``folder``; returns the scores merged across ranks (OTB-style)."""
        modes = {name: module.training for name, module in pl_module.named_modules()}
        benchmark = self.benchmark()
        names = selected_names(benchmark, self.max_sequences)[trainer.global_rank::trainer.world_size]
        bench_name = default_bench_name(self.kind, benchmark)
        try:
            with torch.no_grad():
                runner = run_vot_supervised if self.kind == "vot" else run_ope
                run = runner(tracker, benchmark, folder / "results", self._name, bench_name, progress=self.progress,
                             batch=self.batch, names=names, identity=self._identity, claimed=True)
        finally:
            for module_name, module in pl_module.named_modules():
                module.train(modes.get(module_name, module.training))
        if self.kind not in MERGED_KINDS:
            return {}
        return self._merged_scores(pl_module, benchmark, run.result_dir, names)

    def _merged_scores(self, pl_module, benchmark, result_dir: Path, names: list[str]) -> dict:
        from tracking.evaluation.scoring import read_result_boxes
        from tracking.metrics.torchmetrics_wrappers import NormalizedPrecision, PrecisionAt20, SuccessAUC, SuccessRate

        metrics = {"success_auc": SuccessAUC(), "precision_20": PrecisionAt20(), "success_rate_50": SuccessRate(0.5),
                   "norm_precision_auc": NormalizedPrecision("auc"), "norm_precision_20": NormalizedPrecision("at_0.2")}
        for metric in metrics.values():
            metric.to(pl_module.device)  # synced over the strategy's backend (NCCL needs CUDA tensors)
        for name in names:
            sequence = benchmark[name]
            ground_truth = np.asarray(sequence.ground_truth, dtype=np.float64)
            boxes = read_result_boxes(result_dir / f"{name}.txt", len(ground_truth))
            for metric in metrics.values():
                metric.update(boxes, ground_truth)
        return {key: float(metric.compute()) for key, metric in metrics.items()}  # every rank's sequences

    def _score(self, trainer, folder: Path) -> dict:
        """Rank 0: the whole folder scored, reported and plotted as ``make score-*`` does."""
        benchmark = self.benchmark()
        evaluation = evaluate_tracker(self.kind, _NoTracking(self._name), benchmark, folder, self._name,
                                      bench_name=default_bench_name(self.kind, benchmark), progress=False,
                                      max_sequences=self.max_sequences, identity=self._identity)
        plot = evaluation.report_dir / "success_plot.png"
        entry = {"epoch": trainer.current_epoch, "step": trainer.global_step, "scores": evaluation.scores,
                 "folder": str(folder), "success_plot": str(plot) if plot.is_file() else None}
        self.history.append(entry)
        return entry

    def _log_plot(self, trainer, plot: Path) -> None:
        key = f"eval/{self.kind}/success_plot"
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):  # WandbLogger
                logger.log_image(key=key, images=[str(plot)], step=trainer.global_step)
                continue
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_image"):  # TensorBoard
                import imageio.v3 as iio

                image = iio.imread(plot)[..., :3]
                experiment.add_image(key, image, global_step=trainer.global_step, dataformats="HWC")
                continue
            log_dir = getattr(logger, "log_dir", None)
            if log_dir is not None:
                target = Path(log_dir) / "eval_plots" / f"{self.kind}_epoch={trainer.current_epoch:03d}_success.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(plot, target)
