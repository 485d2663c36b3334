"""Train any paper's model: ``python -m experiments.train --config PAPER/VARIANT --gpus N --data_root ROOT --out DIR``.

``make train CONFIG=siamrpnpp/r50_l234_dwxcorr GPUS=8 DATA=/datasets`` (or ``make train-siamrpnpp``) runs it.
It is Lightning's ``LightningCLI``: the config chooses ``model`` and ``data`` by ``class_path`` + ``init_args``
(and callbacks under ``trainer.callbacks``); values are typed and checked against the classes' signatures, so an
unknown key or a wrong type is an error naming the config file and the key. Any value can be changed on the
command line (``--model.init_args.optim.base_lr=5e-3``, ``--data.init_args.batch_size=16``,
``--trainer.max_steps=10``); ``--print_config`` prints the resolved config.

- ``--config``: a packaged config (``experiments/configs/<paper>/<variant>.yaml``; ``--list_configs`` prints them)
  or a YAML path. A config may start from another with ``base: <name or relative path>``: the chain is read
  base first, each file's values winning over its base's (``experiments.config_library``: locating, chaining,
  resolving and building configs, and the parser this module extends with the training run).
- ``--data_root ROOT``: a folder holding one folder per training dataset (vid, ytbb, coco, det, got10k, lasot),
  each as distributed or prepared by ``make prepare-data``; the config's ``data.init_args.sources`` names those
  it trains on (missing ones are reported and skipped).
- ``--gpus N``: devices per node. With CUDA: DDP over N GPUs, bf16 autocast (fp16 where the GPU has no bf16;
  ``--trainer.precision=16-mixed`` asks for it). Without a GPU it trains on the CPU in one process
  (``--trainer.accelerator=cpu --gpus N`` runs N CPU processes with gloo). Nodes: from the launcher (SLURM,
  torchrun, ``NUM_NODES``) or ``--num_nodes``.
- ``--out DIR``: the run folder: ``run.json`` (which config it holds), ``config.yaml`` (the resolved config),
  ``checkpoints/epoch_EE.ckpt`` + ``checkpoints/last.ckpt``, ``csv/version_N/metrics.csv`` (one per launch),
  ``wandb/`` (one W&B run per folder, offline unless W&B is configured: ``experiments.wandb_setup``); ``last.ckpt``
  is also refreshed every ``--checkpoint_every_n_steps`` steps (1000), every checkpoint written atomically, and
  a resumed run continues at the exact step with every random state restored (same weights as without the kill);
  ``benchmark_eval/`` when ``--eval.root`` names a benchmark. Started again after a kill it resumes from
  ``last.ckpt`` (falling back to the newest readable checkpoint if that one is damaged); a folder holding a run
  of another config is refused. Nothing is written before every check has passed.
- The crop sizes, input layout and context of the training pairs are the model's (``training_crops()``), linked
  to the data module, never restated; the data seed is ``seed_everything``. ImageNet weights (the model's
  ``pretrained_backbone``: ``imagenet`` in the configs whose paper starts from them, ``none`` in the demos) load
  for new runs only, before anything is written: missing offline, the launch stops naming the file.
"""
from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

from experiments import cli
from experiments.config_library import ConfigCLI, canonical_config_name, config_names, instantiate_cli
from tracking.atomic_files import atomic_write_text
from tracking.errors import DataError

RUN_FILE = "run.json"
WANDB_ID_FILE = "wandb_run_id.txt"


# ---------------------------------------------------------------------------------------------------- environment
def nodes_from_environment(env=None) -> int:
    """Number of nodes the launcher started: SLURM (``SLURM_NNODES``), torchrun (``WORLD_SIZE`` /
    ``LOCAL_WORLD_SIZE``), or ``NUM_NODES`` / ``NNODES``; 1 otherwise."""
    env = os.environ if env is None else env
    if env.get("SLURM_NNODES") and env.get("SLURM_NTASKS"):
        return int(env["SLURM_NNODES"])
    if env.get("WORLD_SIZE") and env.get("LOCAL_WORLD_SIZE"):
        return max(1, int(env["WORLD_SIZE"]) // int(env["LOCAL_WORLD_SIZE"]))
    for key in ("NUM_NODES", "NNODES"):
        if env.get(key):
            return int(env[key])
    return 1


def is_launched_rank() -> bool:
    """True in a process that a launcher (Lightning's DDP, torchrun, SLURM) started as a non-zero rank."""
    return any(os.environ.get(key, "0") not in ("", "0") for key in ("LOCAL_RANK", "SLURM_LOCALID", "RANK",
                                                                      "SLURM_PROCID"))


def hardware(gpus: int, accelerator: str | None, precision: str | None) -> dict:
    """Trainer accelerator/devices/precision for ``--gpus N`` on this machine."""
    import torch

    accelerator = accelerator or "auto"
    cuda = torch.cuda.is_available()
    if accelerator in ("gpu", "cuda") and not cuda:
        raise SystemExit(f"--trainer.accelerator {accelerator}: no CUDA device is available")
    if accelerator in ("gpu", "cuda", "auto") and cuda and gpus > 0:
        if gpus > torch.cuda.device_count():
            raise SystemExit(f"--gpus {gpus}: only {torch.cuda.device_count()} CUDA device(s) here")
        precision = str(precision or "bf16-mixed")
        if precision.startswith("bf16") and not torch.cuda.is_bf16_supported():
            warnings.warn("this GPU has no bf16: training with fp16 autocast (16-mixed) instead")
            precision = "16-mixed"
        return {"accelerator": "gpu", "devices": gpus, "precision": precision}
    if accelerator == "cpu":
        return {"accelerator": "cpu", "devices": max(1, gpus), "precision": "32-true"}
    if gpus > 1:
        print(f"no GPU: training on the CPU in one process (--gpus {gpus} ignored; --trainer.accelerator=cpu runs "
              f"several CPU processes)", file=sys.stderr)
    return {"accelerator": "cpu", "devices": 1, "precision": "32-true"}


# ---------------------------------------------------------------------------------------------------- run folder
def checkpoint_step(path: Path) -> int | None:
    """The ``global_step`` a Lightning checkpoint holds; None for a damaged file (a kill or a full disk during its
    write, random bytes) or one that is not a Lightning checkpoint."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception:  # noqa: BLE001 - truncated zip, random bytes, empty file ...
        return None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        return None
    step = checkpoint.get("global_step", 0)
    return int(step) if isinstance(step, int) else 0


def readable_checkpoint(path: Path) -> bool:
    return checkpoint_step(path) is not None


def checkpoint_to_resume(out_dir: Path, resume: str | None) -> str | None:
    """``--resume``: None (auto: the folder's newest state), "last" (required), or a checkpoint path.

    Auto picks ``last.ckpt`` unless another readable checkpoint of the folder holds a later step (a folder whose
    ``last.ckpt`` went stale, e.g. under an older version of the suite); a damaged ``last.ckpt`` (a kill or a full
    disk during its write) falls back to the newest readable checkpoint, with a warning naming both files."""
    folder = out_dir / "checkpoints"
    last = folder / "last.ckpt"
    if resume not in (None, "last"):
        path = Path(resume)
        if not path.is_file():
            raise DataError(path, "--resume: checkpoint not found")
        if not readable_checkpoint(path):
            raise DataError(path, "--resume: not a readable Lightning checkpoint (truncated or not a checkpoint)")
        return str(path)
    candidates = sorted(folder.glob("*.ckpt")) if folder.is_dir() else []
    if not candidates:
        if resume == "last":
            raise DataError(last, "--resume: no checkpoint in this run folder")
        return None
    steps = {path: checkpoint_step(path) for path in candidates}
    readable = [path for path in candidates if steps[path] is not None]
    if not readable:
        raise DataError(folder, "no readable checkpoint to resume from (every .ckpt is damaged): move them away to "
                                "start afresh")
    # the latest step; last.ckpt first among equals, then the most recently written
    newest = max(readable, key=lambda path: (steps[path], path == last, path.stat().st_mtime))
    if last.exists() and steps.get(last) is None:
        warnings.warn(f"{last} is damaged (truncated or not a checkpoint): resuming from {newest} instead")
    return str(newest)


def check_run_folder(out_dir: Path, config_name: str) -> None:
    run_file = out_dir / RUN_FILE
    if run_file.is_file():
        try:
            recorded = json.loads(run_file.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(run_file, f"damaged ({error}): it should read {{\"config\": \"{config_name}\"}}; write "
                                      f"that if this folder holds a run of {config_name}, else choose another "
                                      f"--out") from None
        previous = recorded.get("config") if isinstance(recorded, dict) else None
        if not isinstance(previous, str) or canonical_config_name(previous) != config_name:  # an alias: the same run
            raise SystemExit(f"error: {out_dir} holds a run of config {previous!r}, not {config_name!r}: choose "
                             f"another --out")


def wandb_run_id(out_dir: Path) -> str:
    """One W&B run per run folder (a resumed run continues it); rank 0 writes it before launching the ranks."""
    path = out_dir / WANDB_ID_FILE
    if path.is_file():
        return path.read_text().strip()
    import uuid

    return uuid.uuid4().hex[:8]


# ---------------------------------------------------------------------------------------------------- the CLI
class SuiteCLI(ConfigCLI):
    """The config's parser (``experiments.config_library.ConfigCLI``) with the suite's training run: run folder,
    resume, loggers, hardware choice and evaluation callback."""

    def instantiate_trainer(self, **kwargs):
        from pytorch_lightning.callbacks import LearningRateMonitor
        from pytorch_lightning.strategies import DDPStrategy

        config = self.config_init
        out_dir = Path(config.out or "outputs/runs/unnamed")
        trainer_config = config.trainer
        setup = hardware(config.gpus, trainer_config.accelerator, trainer_config.precision)
        nodes = config.num_nodes or nodes_from_environment()
        strategy = trainer_config.strategy
        if setup["devices"] * nodes > 1 and strategy in (None, "auto"):
            # static_graph stays off: the graph changes when a backbone starts training (BackboneUnfreeze)
            strategy = DDPStrategy(find_unused_parameters=False)
        callbacks = list(trainer_config.callbacks or [])
        from callbacks.run_checkpoints import RunCheckpoints

        callbacks.append(RunCheckpoints(out_dir / "checkpoints", every_n_steps=config.checkpoint_every_n_steps))
        loggers = self._loggers(out_dir)
        if loggers:
            callbacks.append(LearningRateMonitor(logging_interval="epoch"))
        evaluation = config.eval
        if evaluation.root:
            from callbacks.evaluation import BenchmarkEvaluation

            root = Path(evaluation.root).expanduser()
            if not root.is_dir():
                raise DataError(root, "--eval.root: benchmark root not found")
            callbacks.append(BenchmarkEvaluation(evaluation.benchmark, root, every_n_epochs=evaluation.every_n_epochs,
                                                 max_sequences=evaluation.max_sequences,
                                                 out_dir=out_dir / "benchmark_eval", tracker=evaluation.tracker,
                                                 tracker_overrides=evaluation.tracker_params,
                                                 batch=evaluation.batch))
        max_epochs = trainer_config.max_epochs
        if max_epochs is None:  # the schedule's length
            max_epochs = self.model.optim.epochs
        from lightning_modules.checkpoint_io import AtomicCheckpointIO

        plugins = list(trainer_config.plugins or []) if isinstance(trainer_config.plugins, list) else \
            [trainer_config.plugins] if trainer_config.plugins else []
        if not any(hasattr(plugin, "save_checkpoint") for plugin in plugins):
            plugins.append(AtomicCheckpointIO())  # a kill during a write leaves the previous checkpoint
        return super().instantiate_trainer(
            **{**kwargs, **setup, "strategy": strategy, "num_nodes": nodes, "logger": loggers or False,
               "callbacks": callbacks, "default_root_dir": str(out_dir), "max_epochs": max_epochs,
               "plugins": plugins})

    def _loggers(self, out_dir: Path) -> list:
        from pytorch_lightning.loggers import CSVLogger

        options = self.config_init.logging
        loggers = []
        if options.wandb:
            from pytorch_lightning.loggers import WandbLogger

            from experiments.wandb_setup import configure_wandb_mode

            mode = configure_wandb_mode()
            loggers.append(WandbLogger(project=options.project, name=options.name or self.config_name,
                                       save_dir=str(out_dir), id=wandb_run_id(out_dir), resume="allow",
                                       tags=options.tags, offline=mode == "offline"))
        if options.csv:
            # a new csv/version_N per launch: a resumed run does not overwrite the metrics written before the kill
            loggers.append(CSVLogger(str(out_dir), name="csv"))
        return loggers

    # ------------------------------------------------------------------------------------------------ fit
    def fit(self):
        """Check the run folder, write its files (rank 0), load ImageNet weights for a new run, train."""
        if not self.config.out:
            raise SystemExit("error: --out is required (the run folder)")
        out_dir = Path(self.config.out)
        ckpt_path = checkpoint_to_resume(out_dir, self.config.resume)
        check_run_folder(out_dir, self.config_name)
        if ckpt_path is None:  # before anything is written: missing ImageNet weights stop a launch clean
            self.model.load_pretrained()
        else:
            print(f"resuming from {ckpt_path}", file=sys.stderr)
        if not is_launched_rank():
            # atomic: a full disk or a kill leaves each file whole or absent, never empty
            atomic_write_text(out_dir / RUN_FILE, json.dumps({"config": self.config_name}) + "\n")
            atomic_write_text(out_dir / "config.yaml", self.parser.dump(self.config, skip_none=False,
                                                                        skip_check=True))
            for logger in self.trainer.loggers:
                if type(logger).__name__ == "WandbLogger" and not (out_dir / WANDB_ID_FILE).is_file():
                    atomic_write_text(out_dir / WANDB_ID_FILE, logger.version + "\n")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")  # frozen backbones' BN
            warnings.filterwarnings("ignore", message=".*exists and is not empty.*")  # the run's own checkpoints
            self.trainer.fit(self.model, datamodule=self.datamodule, ckpt_path=ckpt_path)
        checkpoints = self.trainer.checkpoint_callback
        if self.trainer.is_global_zero and checkpoints is not None and checkpoints.last_model_path:
            print(f"final weights: {checkpoints.last_model_path}", file=sys.stderr)
        return self.trainer


def build_cli(argv: list[str]) -> SuiteCLI:
    """A training run's LightningCLI parsed and instantiated (model, data module, trainer; nothing is written);
    errors name the config file or command line at fault."""
    return instantiate_cli(argv, SuiteCLI)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--list_configs" in argv:
        print("\n".join(config_names()))
        return None
    return build_cli(argv).fit()


if __name__ == "__main__":
    cli.run(main)
