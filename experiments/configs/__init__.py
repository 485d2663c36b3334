"""Training configs: one YAML per paper variant, composed of ``model / data / optim / trainer / tracker / eval /
logger`` sections, read with importlib.resources (or from any path).

A file may start from another with ``base: NAME`` (a config name, or a path relative to the file); sections are
merged key by key, the file's own values winning. Every key is checked against what it configures:

- ``model``: ``tracking.models.config.SiamRPNConfig`` fields (``preset: NAME`` starts from a preset);
- ``tracker``: the tracker hyper-parameters of ``tracking.trackers.siamrpn.TRACKER_KEYS``, merged into the model
  config (so checkpoints carry them);
- ``optim``: the arguments of ``lightning_modules.siamrpnpp.SiamRPNppModule`` (schedule, SGD) plus ``grad_clip``
  and ``reset_optimizer_state`` (of the unfreeze callback);
- ``data``: the arguments of ``datamodules.pair_datamodule.PairDataModule``; ``sources`` maps a dataset folder name
  under ``--data ROOT`` (vid, coco, ytbb, det, got10k, lasot) to its options (``frame_range``, ``num_use``,
  ``weight``, ``options``, and optionally ``kind`` / ``root``);
- ``trainer``: ``TRAINER_KEYS``; ``eval``: ``EVAL_KEYS``; ``logger``: ``LOGGER_KEYS``.

An unknown key raises ``DataError`` naming the file (or ``--set``) and the key.
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
from importlib import resources
from pathlib import Path

import yaml

from tracking.errors import DataError

SECTIONS = ("model", "data", "optim", "trainer", "tracker", "eval", "logger")
TRAINER_KEYS = {
    "max_epochs": "epochs to train (default: optim.epochs)",
    "max_steps": "stop after this many optimizer steps (-1: no limit)",
    "precision": "on GPU: bf16-mixed (default), 16-mixed, 32-true; CPU runs 32-true",
    "accumulate_grad_batches": "batches per optimizer step",
    "log_every_n_steps": "logging interval",
    "limit_train_batches": "batches per training epoch (int) or fraction",
    "limit_val_batches": "validation batches (int) or fraction; 0 disables validation",
    "val_check_interval": "validation interval within an epoch",
    "check_val_every_n_epoch": "validation every N epochs",
    "num_sanity_val_steps": "validation batches run before training",
    "deterministic": "deterministic algorithms",
    "benchmark": "cuDNN benchmark mode",
    "sync_batchnorm": "synchronise BatchNorm statistics across processes",
    "enable_progress_bar": "show the progress bar",
    "seed": "seed of everything (pl.seed_everything; also the data seed unless data.seed is set)",
    "find_unused_parameters": "DDP find_unused_parameters",
}
EVAL_KEYS = {"benchmark": "otb, vot, uav123, lasot or got10k", "root": "benchmark root (null: no evaluation)",
             "every_n_epochs": "evaluate every N epochs", "max_sequences": "only the first N sequences",
             "options": "benchmark reader options", "tracker": "tracker overrides for the evaluation"}
LOGGER_KEYS = {"wandb": "log to Weights & Biases (offline unless configured)", "csv": "also write metrics.csv",
               "project": "W&B project", "name": "run name (default: the config name)", "tags": "W&B tags"}
OPTIM_EXTRA_KEYS = {"grad_clip": "gradient clipping (L2 norm over all parameters)",
                    "reset_optimizer_state": "clear SGD momentum when the backbone starts training (pysot)"}
SOURCE_ENTRY_KEYS = {"kind", "root", "frame_range", "num_use", "weight", "options"}


def config_dir():
    return resources.files(__name__)


def config_names() -> list[str]:
    """Names of the packaged configs (``experiments/configs/*.yaml``)."""
    return sorted(entry.name[:-5] for entry in config_dir().iterdir() if entry.name.endswith(".yaml"))


def _model_keys() -> set[str]:
    from tracking.models.config import SiamRPNConfig

    return {f.name for f in dataclasses.fields(SiamRPNConfig)} | {"preset"}


def _tracker_keys() -> set[str]:
    from tracking.trackers.siamrpn import TRACKER_KEYS

    return set(TRACKER_KEYS)


def _optim_keys() -> set[str]:
    from lightning_modules.siamrpnpp import SiamRPNppModule

    return (set(inspect.signature(SiamRPNppModule.__init__).parameters) - {"self", "model"}) | set(OPTIM_EXTRA_KEYS)


def _data_keys() -> set[str]:
    from datamodules.pair_datamodule import PairDataModule

    return set(inspect.signature(PairDataModule.__init__).parameters) - {"self"}


def section_keys(section: str) -> set[str]:
    return {"model": _model_keys, "tracker": _tracker_keys, "optim": _optim_keys, "data": _data_keys,
            "trainer": lambda: set(TRAINER_KEYS), "eval": lambda: set(EVAL_KEYS),
            "logger": lambda: set(LOGGER_KEYS)}[section]()


def validate(config: dict, where) -> None:
    """Check sections and keys; ``where`` (a path or e.g. "--set") is named in the error."""
    if not isinstance(config, dict):
        raise DataError(where, f"a config is a mapping of sections, got {type(config).__name__}")
    for section, values in config.items():
        if section in ("base", "name", "description"):
            continue
        if section not in SECTIONS:
            raise DataError(where, f"unknown section {section!r}; sections are {list(SECTIONS)}")
        if values is None:
            continue
        if not isinstance(values, dict):
            raise DataError(where, f"section {section!r} must be a mapping, got {type(values).__name__}")
        known = section_keys(section)
        for key in values:
            if key not in known:
                raise DataError(where, f"unknown key '{section}.{key}'; known keys of {section!r}: {sorted(known)}")
        if section == "data" and values.get("sources") is not None:
            sources = values["sources"]
            if not isinstance(sources, dict):
                raise DataError(where, "data.sources maps a dataset folder name (vid, coco, ...) to its options")
            for name, entry in sources.items():
                if entry is None:
                    continue
                if not isinstance(entry, dict):
                    raise DataError(where, f"data.sources.{name} must be a mapping of options, got {entry!r}")
                for key in entry:
                    if key not in SOURCE_ENTRY_KEYS:
                        raise DataError(where, f"unknown key 'data.sources.{name}.{key}'; known: "
                                               f"{sorted(SOURCE_ENTRY_KEYS)}")


def merge(base: dict, update: dict) -> dict:
    """Recursive dict merge; ``update`` wins; ``None`` in ``update`` for a mapping removes nothing (keeps base)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_yaml(path, text: str) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        line = getattr(getattr(error, "problem_mark", None), "line", None)
        raise DataError(path, f"not valid YAML: {error}", line=None if line is None else line + 1) from error
    return data or {}


def _locate(name_or_path, relative_to: Path | None = None) -> tuple[str, str]:
    """(display path, text) of a packaged config name or a YAML file."""
    text_name = str(name_or_path)
    if text_name.endswith((".yaml", ".yml")) or "/" in text_name or Path(text_name).is_file():
        path = Path(text_name)
        if not path.is_absolute() and relative_to is not None and (relative_to / path).is_file():
            path = relative_to / path
        if not path.is_file():
            raise DataError(path, "config file not found")
        return str(path), path.read_text()
    entry = config_dir() / f"{text_name}.yaml"
    if not entry.is_file():
        raise DataError(f"experiments/configs/{text_name}.yaml",
                        f"no packaged config named {text_name!r}; available: {config_names()}")
    return f"experiments/configs/{text_name}.yaml", entry.read_text()


def load_config(name_or_path, overrides=None, _seen: tuple = ()) -> dict:
    """A config by packaged name or path, with its ``base`` chain merged and ``overrides`` applied.

    ``overrides``: ``["optim.base_lr=0.01", "data.sources.vid.frame_range=50", ...]`` (values read as YAML) or a
    nested dict. The result has every section (missing ones empty) and ``name`` (the file's name unless given).
    """
    where, text = _locate(name_or_path)
    if where in _seen:
        raise DataError(where, f"circular 'base' chain: {' -> '.join(_seen + (where,))}")
    raw = _read_yaml(where, text)
    validate(raw, where)
    config: dict = {}
    base = raw.get("base")
    if base:
        config = load_config(_resolve_base(base, Path(where).parent), None, _seen + (where,))
    config = merge(config, {k: v for k, v in raw.items() if k != "base"})
    config["name"] = raw.get("name") or Path(where).stem
    if overrides:
        update = parse_overrides(overrides) if not isinstance(overrides, dict) else overrides
        validate(update, "--set")
        config = merge(config, update)
    for section in SECTIONS:
        config[section] = dict(config.get(section) or {})
    return config


def _resolve_base(base, parent: Path):
    candidate = parent / str(base)
    if str(base).endswith((".yaml", ".yml")) and candidate.is_file():
        return str(candidate)
    return base


def parse_overrides(items) -> dict:
    """``["optim.base_lr=0.01", "model.backbone=resnet18"]`` -> nested dict (values parsed as YAML scalars)."""
    out: dict = {}
    for item in items:
        key, separator, value = str(item).partition("=")
        key = key.strip()
        if not separator or not key or "." not in key:
            raise DataError("--set", f"{item!r} is not of the form section.key=value (e.g. optim.base_lr=0.01)")
        try:
            parsed = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError as error:
            raise DataError("--set", f"cannot read the value of {item!r}: {error}") from error
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise DataError("--set", f"{item!r} conflicts with another --set of {part!r}")
        node[parts[-1]] = parsed
    return out


def model_config(config: dict):
    """The ``SiamRPNConfig`` of a loaded config (model section plus tracker hyper-parameters)."""
    from tracking.models.config import config_from_dict

    values = {**config["model"], **config["tracker"]}
    try:
        return config_from_dict(values, source=config.get("name"))
    except (ValueError, TypeError) as error:
        raise DataError(config.get("name"), f"model section: {error}") from error
