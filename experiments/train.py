"""Train SiamRPN++: ``python -m experiments.train --config NAME_OR_YAML --gpus N --data ROOT --out DIR``.

``make train-siamrpnpp GPUS=8 DATA=/datasets CONFIG=siamrpn_r50_l234_dwxcorr OUT=runs/r50`` runs it.

- ``--config``: a packaged config (``experiments/configs/<name>.yaml``; ``--list-configs`` prints them) or a YAML
  path. ``--set section.key=value`` changes any value (``--set optim.base_lr=0.01 --set data.batch_size=16``).
- ``--data ROOT``: a folder holding one folder per training dataset, named by kind::

      ROOT/vid     ImageNet VID (ILSVRC2015: Data/VID/train/..., Annotations/VID/train/...)
      ROOT/ytbb    YouTube-BB (detection CSV + decoded frames)
      ROOT/coco    COCO (annotations/instances_train2017.json + train2017/)
      ROOT/det     ImageNet DET (ILSVRC2014 DET: Data/DET/train/..., Annotations/DET/train/...)
      ROOT/got10k  GOT-10k (train/...)
      ROOT/lasot   LaSOT (<category>/<category>-<n>/...)

  each either as distributed or the output of ``make prepare-data`` (an ``index.npz``, with optional pre-crops).
  The config's ``data.sources`` names the datasets it trains on (the paper's: vid, ytbb, coco, det) with their
  options; those under ROOT are used, missing ones are reported and skipped (add one with
  ``--set data.sources.got10k={}``). A source entry may give its own ``root``.
- ``--gpus N``: devices per node. With CUDA: DDP over N GPUs, bf16 autocast (``--set trainer.precision=16-mixed``
  for fp16). Without a GPU it trains on the CPU (one process; ``--accelerator cpu --gpus N`` runs N CPU processes
  with gloo). Several nodes when the launcher says so (SLURM, torchrun, or ``NUM_NODES``), or ``--num-nodes``.
- ``--out DIR``: the run's folder: ``config.yaml`` (the resolved config), ``checkpoints/epoch_EE.ckpt`` (every
  epoch) and ``checkpoints/last.ckpt``, ``csv/version_N/metrics.csv`` (one per launch), ``wandb/`` (offline unless W&B is configured, see
  ``experiments.wandb_setup``), ``benchmark_eval/`` when the config's ``eval.root`` names a benchmark.
  Started again after a kill, it resumes from ``last.ckpt`` (``--resume PATH`` resumes from another checkpoint).
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import yaml

from experiments import cli
from experiments.configs import config_names, load_config, model_config
from tracking.errors import DataError

DATASET_KINDS = ("vid", "ytbb", "coco", "det", "got10k", "lasot")
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


def _is_launched_rank() -> bool:
    """True in a process that a launcher (Lightning's DDP, torchrun, SLURM) started as a non-zero rank."""
    for key in ("LOCAL_RANK", "SLURM_LOCALID", "RANK", "SLURM_PROCID"):
        if os.environ.get(key, "0") not in ("", "0"):
            return True
    return False


def hardware(gpus: int, accelerator: str, precision: str | None) -> dict:
    """Trainer accelerator/devices/precision for ``--gpus N`` on this machine."""
    import torch

    cuda = torch.cuda.is_available()
    if accelerator == "gpu" and not cuda:
        raise SystemExit("--accelerator gpu: no CUDA device is available")
    if accelerator in ("gpu", "auto") and cuda and gpus > 0:
        if gpus > torch.cuda.device_count():
            raise SystemExit(f"--gpus {gpus}: only {torch.cuda.device_count()} CUDA device(s) here")
        precision = precision or "bf16-mixed"
        if precision.startswith("bf16") and not torch.cuda.is_bf16_supported():
            warnings.warn("this GPU has no bf16: training with fp16 autocast (16-mixed) instead")
            precision = "16-mixed"
        return {"accelerator": "gpu", "devices": gpus, "precision": precision}
    if accelerator == "cpu":
        return {"accelerator": "cpu", "devices": max(1, gpus), "precision": "32-true"}
    if gpus > 1:
        print(f"no GPU: training on the CPU in one process (--gpus {gpus} ignored; --accelerator cpu runs "
              f"several CPU processes)", file=sys.stderr)
    return {"accelerator": "cpu", "devices": 1, "precision": "32-true"}


# ---------------------------------------------------------------------------------------------------- data
def data_sources(config: dict, data_root) -> list[dict]:
    """The ``PairDataModule`` sources of the config found under ``data_root`` (or given with their own root)."""
    wanted = config["data"].get("sources") or {}
    if not wanted:
        raise DataError(config["name"], "data.sources is empty: name the datasets to train on (vid, coco, ...)")
    root = Path(data_root) if data_root else None
    if root is not None and not root.is_dir():
        raise DataError(root, "--data: not a directory (it should hold vid/, coco/, ytbb/, det/, ... folders)")
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
        where = f"under {root}" if root is not None else "(no --data given)"
        print(f"training sources not found {where}: {', '.join(missing)} (skipped)", file=sys.stderr)
    if root is not None:
        unused = [k for k in DATASET_KINDS if (root / k).is_dir() and k not in wanted]
        if unused:
            print(f"{root} also has {', '.join(unused)}, not used by config {config['name']!r} (add with "
                  f"--set data.sources.{unused[0]}={{}})", file=sys.stderr)
    if not sources:
        raise DataError(root if root is not None else config["name"],
                        f"none of the config's training sources ({', '.join(wanted)}) is there: expected folders "
                        f"{', '.join(f'<ROOT>/{k}' for k in wanted)}")
    return sources


def build_datamodule(config: dict, data_root, model_cfg):
    """``PairDataModule`` from the data section; crop sizes and input format follow the model config."""
    from datamodules.pair_datamodule import PairDataModule

    data = {k: v for k, v in config["data"].items() if k != "sources"}
    implied = {"template_size": model_cfg.exemplar_size, "search_size": model_cfg.train_search_size,
               "image_format": model_cfg.image_format, "context_amount": model_cfg.context_amount}
    for key, value in implied.items():
        if key in data and data[key] != value:
            raise DataError(config["name"], f"data.{key} = {data[key]!r} contradicts the model "
                                            f"({key} {value!r}); leave it out, it follows the model config")
        data[key] = value
    data.setdefault("seed", config["trainer"].get("seed", 0) or 0)
    return PairDataModule(sources=data_sources(config, data_root), **data)


# ---------------------------------------------------------------------------------------------------- run folder
def checkpoint_to_resume(out_dir: Path, resume) -> str | None:
    """``--resume``: None (auto: ``last.ckpt`` when it exists), "last" (required), or a checkpoint path."""
    last = out_dir / "checkpoints" / "last.ckpt"
    if resume is None:
        return str(last) if last.is_file() else None
    if resume == "last":
        if not last.is_file():
            raise DataError(last, "--resume: no last checkpoint in this run folder")
        return str(last)
    path = Path(resume)
    if not path.is_file():
        raise DataError(path, "--resume: checkpoint not found")
    return str(path)


def check_run_folder(out_dir: Path, config: dict, resuming: bool) -> None:
    saved = out_dir / "config.yaml"
    if resuming and saved.is_file():
        previous = yaml.safe_load(saved.read_text()) or {}
        if previous.get("name") != config["name"]:
            raise DataError(out_dir, f"holds a run of config {previous.get('name')!r}, not {config['name']!r}: "
                                     f"choose another --out")


def wandb_run_id(out_dir: Path) -> str:
    """One W&B run per run folder (a resumed run continues it); rank 0 creates the id before launching ranks."""
    path = out_dir / WANDB_ID_FILE
    if path.is_file():
        return path.read_text().strip()
    import uuid

    run_id = uuid.uuid4().hex[:8]
    if not _is_launched_rank():
        path.write_text(run_id + "\n")
    return run_id


def build_loggers(config: dict, out_dir: Path) -> list:
    from pytorch_lightning.loggers import CSVLogger

    options = config["logger"]
    loggers = []
    if options.get("wandb", True):
        from experiments.wandb_setup import configure_wandb_mode
        from pytorch_lightning.loggers import WandbLogger

        mode = configure_wandb_mode()
        loggers.append(WandbLogger(project=options.get("project") or "siamese-tracking",
                                   name=options.get("name") or config["name"], save_dir=str(out_dir),
                                   id=wandb_run_id(out_dir), resume="allow", tags=options.get("tags"),
                                   offline=mode == "offline"))
    if options.get("csv", True):
        # a new csv/version_N per launch: a resumed run does not overwrite the metrics written before the kill
        loggers.append(CSVLogger(str(out_dir), name="csv"))
    return loggers


def build_callbacks(config: dict, out_dir: Path, model_cfg) -> list:
    from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint

    from callbacks.backbone_unfreeze import BackboneUnfreeze

    callbacks = [
        BackboneUnfreeze.from_config(model_cfg,
                                     reset_optimizer_state=config["optim"].get("reset_optimizer_state", True)),
        ModelCheckpoint(dirpath=out_dir / "checkpoints", filename="epoch_{epoch:02d}", auto_insert_metric_name=False,
                        save_top_k=-1, every_n_epochs=1, save_last=True, save_on_train_epoch_end=True),
    ]
    if config["logger"].get("wandb", True) or config["logger"].get("csv", True):
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    evaluation = config["eval"]
    if evaluation.get("root"):
        from callbacks.evaluation import BenchmarkEvaluation

        root = Path(evaluation["root"]).expanduser()
        if not root.is_dir():
            raise DataError(root, "eval.root: benchmark root not found")
        callbacks.append(BenchmarkEvaluation(evaluation.get("benchmark", "otb"), root,
                                             every_n_epochs=evaluation.get("every_n_epochs", 1),
                                             max_sequences=evaluation.get("max_sequences"),
                                             out_dir=out_dir / "benchmark_eval",
                                             benchmark_options=evaluation.get("options"),
                                             tracker_overrides=evaluation.get("tracker")))
    return callbacks


def build_module(config: dict, model_cfg):
    from lightning_modules.siamrpnpp import SiamRPNppModule
    from experiments.configs import OPTIM_EXTRA_KEYS

    optim = {k: v for k, v in config["optim"].items() if k not in OPTIM_EXTRA_KEYS}
    return SiamRPNppModule(model_cfg, **optim)


def load_pretrained(module, model_cfg) -> None:
    """ImageNet initialisation of the backbone (new runs only: a resumed run has its weights)."""
    if not model_cfg.pretrained_backbone:
        if model_cfg.backbone.startswith(("resnet", "mobilenet")):
            print(f"note: {model_cfg.backbone} backbone starts from random weights (no model.pretrained_backbone); "
                  f"the paper starts from ImageNet weights: --set model.pretrained_backbone=PATH", file=sys.stderr)
        return
    try:
        module.model.load_pretrained_backbone()
    except DataError:
        raise
    except Exception as error:  # e.g. torchvision's download without network
        raise DataError(model_cfg.pretrained_backbone,
                        f"cannot load the pretrained backbone ({type(error).__name__}: {error}); pass a local "
                        f"file with --set model.pretrained_backbone=PATH") from error


# ---------------------------------------------------------------------------------------------------- main
def train(config: dict, data_root, out_dir, gpus: int = 1, accelerator: str = "auto", num_nodes: int | None = None,
          resume=None, datamodule=None):
    """Train ``config`` (a dict from ``load_config``); returns the Trainer (its ``checkpoint_callback`` knows
    the checkpoints). ``datamodule`` replaces the one the config describes (tests, demo)."""
    import pytorch_lightning as pl
    from pytorch_lightning.strategies import DDPStrategy

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_cfg = model_config(config)
    ckpt_path = checkpoint_to_resume(out_dir, resume)
    check_run_folder(out_dir, config, ckpt_path is not None)
    if not _is_launched_rank():
        (out_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    trainer_cfg = dict(config["trainer"])
    seed = trainer_cfg.pop("seed", None)
    if seed is not None:
        pl.seed_everything(seed, workers=True)
    find_unused = trainer_cfg.pop("find_unused_parameters", False)
    setup = hardware(gpus, accelerator, trainer_cfg.pop("precision", None))
    nodes = num_nodes or nodes_from_environment()
    strategy = "auto"
    if setup["devices"] * nodes > 1:
        # static_graph stays off: the graph changes when the backbone starts training (see BackboneUnfreeze)
        strategy = DDPStrategy(find_unused_parameters=find_unused)
    trainer_cfg.setdefault("max_epochs", config["optim"].get("epochs", 20))
    trainer_cfg.setdefault("gradient_clip_val", config["optim"].get("grad_clip", 10.0))
    trainer_cfg.setdefault("gradient_clip_algorithm", "norm")

    module = build_module(config, model_cfg)
    if ckpt_path is None:
        load_pretrained(module, model_cfg)
    if datamodule is None:
        datamodule = build_datamodule(config, data_root, model_cfg)
    loggers = build_loggers(config, out_dir)
    trainer = pl.Trainer(default_root_dir=str(out_dir), num_nodes=nodes, strategy=strategy,
                         logger=loggers or False, callbacks=build_callbacks(config, out_dir, model_cfg),
                         **setup, **trainer_cfg)
    if ckpt_path:
        print(f"resuming from {ckpt_path}", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")  # the frozen backbone's BN
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    if trainer.is_global_zero and trainer.checkpoint_callback is not None:
        print(f"checkpoints: {out_dir / 'checkpoints'} (last: {trainer.checkpoint_callback.last_model_path})",
              file=sys.stderr)
    return trainer


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m experiments.train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="siamrpn_r50_l234_dwxcorr", help="packaged config name or YAML path")
    parser.add_argument("--gpus", type=int, default=1, help="devices per node (0: CPU)")
    parser.add_argument("--data", help="folder of dataset roots: ROOT/vid, ROOT/coco, ROOT/ytbb, ROOT/det, ...")
    parser.add_argument("--out", help="run folder (checkpoints, logs, resolved config)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="change a config value (repeatable), e.g. --set optim.base_lr=0.01")
    parser.add_argument("--resume", nargs="?", const="last", default=None, metavar="CKPT",
                        help="resume from CKPT, or (no value) from OUT/checkpoints/last.ckpt; by default a run "
                             "folder holding last.ckpt resumes from it")
    parser.add_argument("--accelerator", choices=("auto", "gpu", "cpu"), default="auto")
    parser.add_argument("--num-nodes", type=int, default=None, help="default: from the launcher's environment")
    parser.add_argument("--list-configs", action="store_true", help="print the packaged configs and exit")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    args = parser.parse_args(argv)
    if not (args.list_configs or args.print_config) and not args.out:
        parser.error("--out is required")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.list_configs:
        print("\n".join(config_names()))
        return None
    try:
        config = load_config(args.config, args.overrides)
        if args.print_config:
            model_config(config)  # validates the model section too
            print(yaml.safe_dump(config, sort_keys=False), end="")
            return None
        return train(config, args.data, args.out, gpus=args.gpus, accelerator=args.accelerator,
                     num_nodes=args.num_nodes, resume=args.resume)
    except DataError as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    cli.run(main)
