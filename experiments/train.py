"""Train any paper's model: ``python -m experiments.train --config PAPER/VARIANT --gpus N --data_root ROOT --out DIR``.

``make train CONFIG=siamrpnpp/r50_l234_dwxcorr GPUS=8 DATA=/datasets`` (or ``make train-siamrpnpp``) runs it.
It is Lightning's ``LightningCLI``: the config chooses ``model`` and ``data`` by ``class_path`` + ``init_args``
(and callbacks under ``trainer.callbacks``); values are typed and checked against the classes' signatures, so an
unknown key or a wrong type is an error naming the config file and the key. Any value can be changed on the
command line (``--model.init_args.optim.base_lr=5e-3``, ``--data.init_args.batch_size=16``,
``--trainer.max_steps=10``); ``--print_config`` prints the resolved config.

- ``--config``: a packaged config (``experiments/configs/<paper>/<variant>.yaml``; ``--list_configs`` prints them)
  or a YAML path. A config may start from another with ``base: <name or relative path>``: the chain is read
  base first, each file's values winning over its base's.
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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from jsonargparse import ArgumentError
from pytorch_lightning.cli import LightningCLI

from experiments import cli
from tracking.atomic_files import atomic_write_text
from tracking.errors import DataError

CONFIG_PACKAGE = "experiments.configs"
RUN_FILE = "run.json"
WANDB_ID_FILE = "wandb_run_id.txt"
CROP_KEYS = ("template_size", "search_size", "context_amount", "image_format")
# Sections a config file may have (jsonargparse lets an unknown mapping through silently at the top level)
CONFIG_SECTIONS = {"base", "description", "seed_everything", "model", "data", "trainer", "optimizer",
                   "lr_scheduler", "eval", "logging", "data_root", "out", "gpus", "num_nodes", "resume",
                   "checkpoint_every_n_steps"}


# ---------------------------------------------------------------------------------------------------- configs
def config_root():
    return resources.files(CONFIG_PACKAGE)


def config_names() -> list[str]:
    """Packaged configs as ``paper/variant`` (``experiments/configs/<paper>/<variant>.yaml``)."""
    names = []
    for paper in config_root().iterdir():
        if paper.is_dir() and not paper.name.startswith(("_", ".")):
            names += [f"{paper.name}/{entry.name[:-5]}" for entry in paper.iterdir()
                      if entry.name.endswith(".yaml") and not entry.name.startswith("_")]
    return sorted(names)


def locate_config(name_or_path, relative_to: Path | None = None) -> tuple[str, Path]:
    """(config name, file) of a packaged config name (``siamrpnpp/demo``) or a YAML path."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")):
        path = Path(text).expanduser()
        if not path.is_absolute() and relative_to is not None and (relative_to / path).is_file():
            path = relative_to / path
        if not path.is_file():
            raise DataError(path, "config file not found")
        packaged = Path(str(config_root())).resolve()
        try:
            name = str(path.resolve().relative_to(packaged).with_suffix(""))
        except ValueError:
            name = path.stem
        return name, path
    entry = config_root().joinpath(*f"{text}.yaml".split("/"))
    if not entry.is_file():
        raise DataError(f"experiments/configs/{text}.yaml",
                        f"no packaged config named {text!r}; available: {', '.join(config_names())}")
    return text, Path(str(entry))


def config_chain(name_or_path) -> tuple[str, list[Path]]:
    """The config's name and its files, base first (``base:`` keys followed)."""
    name, path = locate_config(name_or_path)
    chain: list[Path] = []
    while path is not None:
        if path.resolve() in [p.resolve() for p in chain]:
            raise DataError(path, f"circular 'base' chain: {' -> '.join(str(p) for p in reversed(chain + [path]))}")
        chain.append(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            raise DataError(path, f"not valid YAML: {getattr(error, 'problem', error)}",
                            line=None if mark is None else mark.line + 1) from None
        if not isinstance(data, dict):
            raise DataError(path, f"a config is a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - CONFIG_SECTIONS)
        if unknown:
            raise DataError(path, f"unknown section(s) {unknown}; a config has {sorted(CONFIG_SECTIONS)}")
        base = data.get("base")
        path = locate_config(base, relative_to=path.parent)[1] if base else None
    return name, list(reversed(chain))


# ---------------------------------------------------------------------------------------------------- settings
@dataclass
class EvaluationSettings:
    """Benchmark evaluation during training (``callbacks.evaluation.BenchmarkEvaluation``); off without a root.

    ``tracker``: which of the model's trackers (default its main one); ``tracker_params``: its parameters."""

    benchmark: str = "otb"
    root: str | None = None
    every_n_epochs: int = 1
    max_sequences: int | None = None
    tracker: str | None = None
    tracker_params: dict | None = None
    batch: int = 1


@dataclass
class LoggingSettings:
    """Loggers of the run: Weights & Biases (offline unless configured) and a CSV file per launch."""

    wandb: bool = True
    csv: bool = True
    project: str = "siamese-tracking"
    name: str | None = None
    tags: list[str] | None = None


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
        if previous != config_name:
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
def _crop_value(key: str):
    def compute(module):
        crops = module.training_crops()
        return crops[key]

    compute.__name__ = f"training_crops_{key}"
    return compute


def _data_seed(seed):
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else 0


class SuiteCLI(LightningCLI):
    """``LightningCLI`` with the suite's run folder, resume, loggers, hardware choice and evaluation callback."""

    def __init__(self, config_name: str, args, parse_only: bool = False, model_only: bool = False, **kwargs):
        self.config_name = config_name
        self.parse_only = parse_only
        self.model_only = model_only
        from datamodules.pair_datamodule import PairDataModule  # noqa: F401 - registers the data classes
        from lightning_modules.base import SiameseModule

        import pytorch_lightning as pl

        super().__init__(SiameseModule, pl.LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                         save_config_callback=None, args=args, run=False, seed_everything_default=0,
                         parser_kwargs={"exit_on_error": False}, **kwargs)

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--base", type=str | None, default=None, help="(config files) the config this one starts from")
        parser.add_argument("--description", type=str | None, default=None, help="(config files) what it is")
        parser.add_argument("--data_root", type=str | None, default=None,
                            help="folder with one folder per training dataset (vid, ytbb, coco, det, got10k, lasot)")
        parser.add_argument("--out", type=str | None, default=None, help="the run folder")
        parser.add_argument("--gpus", type=int, default=1, help="devices per node")
        parser.add_argument("--num_nodes", type=int | None, default=None, help="default: from the launcher")
        parser.add_argument("--resume", type=str | None, default=None,
                            help="a checkpoint, or 'last' (required); default: OUT/checkpoints/last.ckpt if any")
        parser.add_argument("--checkpoint_every_n_steps", type=int, default=1000,
                            help="also refresh last.ckpt every N optimizer steps, so a kill loses at most N steps "
                                 "(0: at epoch ends only)")
        parser.add_argument("--eval", type=EvaluationSettings, default=EvaluationSettings())
        parser.add_argument("--logging", type=LoggingSettings, default=LoggingSettings())
        parser.link_arguments("data_root", "data.init_args.data_root")
        parser.link_arguments("seed_everything", "data.init_args.seed", compute_fn=_data_seed)
        for key in CROP_KEYS:
            parser.link_arguments("model", f"data.init_args.{key}", compute_fn=_crop_value(key),
                                  apply_on="instantiate")

    def _set_seed(self) -> None:
        if not self.parse_only:  # parsing alone seeds nothing
            super()._set_seed()

    def before_instantiate_classes(self) -> None:
        if self.parse_only:
            raise _ParsedOnly(self.config)

    def instantiate_classes(self) -> None:
        if not self.model_only:
            super().instantiate_classes()
            self._check_linked_values()
            return None
        # the network alone (bench, demo, sweeps): no data module, no trainer
        config = self.config.clone()
        config.data = None
        self.config_init = self.parser.instantiate_classes(config)
        self.model = self.config_init.model
        self.datamodule = None
        self.trainer = None

    def _check_linked_values(self) -> None:
        """A data value the model decides (crop sizes, layout, context) given differently in a config is an
        error, not silently replaced by the link."""
        import inspect

        given = self.config.data.init_args
        defaults = inspect.signature(type(self.datamodule).__init__).parameters
        for key, value in self.model.training_crops().items():
            stated = given.get(key)
            default = defaults[key].default if key in defaults else None
            if stated is not None and stated != value and stated != default:
                raise DataError(f"data.init_args.{key}", f"{stated!r} contradicts the model's training crops "
                                                         f"({value!r}); leave it out: it follows the model")

    # ------------------------------------------------------------------------------------------------ trainer
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


def _split_config(argv: list[str]) -> tuple[str | None, list[str]]:
    """The ``--config`` value (one) and the other arguments."""
    rest, name = [], None
    index = 0
    while index < len(argv):
        item = argv[index]
        if item in ("--config", "-c"):
            if index + 1 >= len(argv):
                raise SystemExit("error: --config needs a value")
            if name is not None:
                raise SystemExit("error: give one --config (compose files with 'base:' inside them)")
            name = argv[index + 1]
            index += 2
            continue
        if item.startswith("--config="):
            name = item.split("=", 1)[1]
        else:
            rest.append(item)
        index += 1
    return name, rest


def build_cli(argv: list[str], model_only: bool = False) -> SuiteCLI:
    """Parse and instantiate (nothing is written); errors name the config file or command line at fault.
    ``model_only``: instantiate the LightningModule alone (no data, no trainer)."""
    name, rest = _split_config(list(argv))
    name = name or "siamrpnpp/r50_l234_dwxcorr"
    config_name, files = config_chain(name)
    args = [arg for path in files for arg in ("--config", str(path))] + rest
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter.*")
            return SuiteCLI(config_name, args, model_only=model_only)
    except ArgumentError as error:
        raise DataError(_explain_source(config_name, files), parser_message(error)) from None
    except ValueError as error:  # a class refused its values when built: its own message, not the parser's
        cause = error
        while cause.__cause__ is not None and isinstance(cause.__cause__, Exception):
            cause = cause.__cause__
        if isinstance(cause, DataError):
            raise cause from None
        raise ValueError(f"{config_name}: {cause}") from None


def parser_message(error: Exception) -> str:
    """jsonargparse's message without its listing of the Union it tried (the class's own complaint kept)."""
    lines = str(error).strip().splitlines()
    for index, line in enumerate(lines):
        if "Problem with given class_path" in line:
            kept = [lines[0].strip()] + [entry.strip() for entry in lines[index:]
                                         if "NoneType" not in entry and not entry.strip().startswith("Given value")]
            return " ".join(kept)
    return " ".join(entry.strip() for entry in lines)


class _ParsedOnly(Exception):
    """Raised by a parse-only ``SuiteCLI`` once its arguments are parsed (carrying the parsed config)."""

    def __init__(self, config):
        super().__init__("parsed")
        self.config = config


def resolved_config(config: str, *overrides: str):
    """The parsed, validated config (a jsonargparse ``Namespace``; nothing instantiated): e.g.
    ``resolved_config("siamrpnpp/alex_dwxcorr").model.init_args.network``."""
    name, rest = _split_config(["--config", config, *overrides])
    config_name, files = config_chain(name)
    args = [arg for path in files for arg in ("--config", str(path))] + rest
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter.*")
            SuiteCLI(config_name, args, parse_only=True)
    except _ParsedOnly as parsed:
        return parsed.config
    except ArgumentError as error:
        raise DataError(_explain_source(config_name, files), parser_message(error)) from None
    raise RuntimeError("parse-only SuiteCLI did not stop after parsing")


def _explain_source(config_name: str, files: list[Path]) -> str:
    """The first config file of the chain whose values the parser refuses, else the command line."""
    for count in range(1, len(files) + 1):
        try:
            SuiteCLI(config_name, [arg for path in files[:count] for arg in ("--config", str(path))], parse_only=True)
        except _ParsedOnly:
            continue
        except ArgumentError:
            return str(files[count - 1])
    return "command line"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--list_configs" in argv:
        print("\n".join(config_names()))
        return None
    return build_cli(argv).fit()


def build_model(config: str, *overrides: str, seed: bool = True):
    """The LightningModule a config describes (``overrides``: CLI flags such as
    ``--model.init_args.optim.epochs=3``), built as a training run builds it: after ``seed_everything`` when
    ``seed``, so it holds the run's initial weights."""
    args = ["--config", config, *overrides]
    if not seed:
        args.append("--seed_everything=false")
    return build_cli(args, model_only=True).model


if __name__ == "__main__":
    cli.run(main)
