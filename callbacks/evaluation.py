"""Track a benchmark during training and log its scores: ``BenchmarkEvaluation``.

Every ``every_n_epochs`` epochs, global rank 0 asks the LightningModule for its tracker
(``pl_module.build_tracker(name, benchmark=kind, **overrides)``), runs the benchmark with :func:`tracking.evaluation.runner.evaluate_tracker` into a
fresh folder for that epoch, and logs the scalar scores as ``eval/<benchmark>/<score>`` (e.g.
``eval/otb/success_auc``) and the success plot (``WandbLogger.log_image``; TensorBoard ``add_image``; other loggers:
the PNG copied into their log dir). The scores are broadcast so every rank logs the same values (a
``ModelCheckpoint(monitor="eval/otb/success_auc")`` works under DDP); meanwhile the other ranks wait.

Under DDP the waiting ranks sit in a collective for the whole evaluation: keep it shorter than the process
group's timeout (``DDPStrategy(timeout=...)``, 30 min by default) with ``max_sequences``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch
from pytorch_lightning import Callback

from tracking.evaluation.runner import default_bench_name, evaluate_tracker


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
    """

    def __init__(self, benchmark: str, root, every_n_epochs: int = 1, max_sequences: int | None = None,
                 out_dir=None, benchmark_options: dict | None = None, tracker: str | None = None,
                 tracker_overrides: dict | None = None, log_plot: bool = True, progress: bool = True):
        from tracking.evaluation.runner import _normalized_kind

        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.kind = _normalized_kind(benchmark)
        self.root = Path(root)
        self.every_n_epochs = int(every_n_epochs)
        self.max_sequences = max_sequences
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.benchmark_options = dict(benchmark_options or {})
        self.tracker = tracker
        self.tracker_overrides = dict(tracker_overrides or {})
        self.log_plot = log_plot
        self.progress = progress
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
        payload = None
        if trainer.is_global_zero:
            payload = self._run(trainer, pl_module)
        # the broadcast is also the barrier: other ranks wait here for rank 0's scores
        payload = trainer.strategy.broadcast(payload, src=0)
        for key, value in payload["scores"].items():
            pl_module.log(f"eval/{self.kind}/{key}", value, on_step=False, on_epoch=True, sync_dist=False)
        if trainer.is_global_zero and self.log_plot and payload.get("success_plot"):
            self._log_plot(trainer, Path(payload["success_plot"]))

    def _run(self, trainer, pl_module) -> dict:
        modes = {name: module.training for name, module in pl_module.named_modules()}
        folder = self._output_root(trainer) / f"epoch={trainer.current_epoch:03d}-step={trainer.global_step}"
        if folder.exists():  # left by an earlier run of this epoch: results must come from these weights
            shutil.rmtree(folder)
        try:
            with torch.no_grad():
                tracker = pl_module.build_tracker(self.tracker, benchmark=self.kind, **self.tracker_overrides)
                name = getattr(tracker, "name", type(pl_module).__name__)
                evaluation = evaluate_tracker(self.kind, tracker, self.benchmark(), folder, name,
                                              bench_name=default_bench_name(self.kind, self.benchmark()),
                                              progress=self.progress, max_sequences=self.max_sequences)
        finally:
            for module_name, module in pl_module.named_modules():
                module.train(modes.get(module_name, module.training))
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
