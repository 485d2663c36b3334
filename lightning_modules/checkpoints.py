"""From a checkpoint (or a baseline's name) to a ready tracker.

Contract with every suite LightningModule (``lightning_modules.base.SiameseModule``): ``on_save_checkpoint``
writes ``checkpoint["suite"] = {"module": "<dotted.path.ClassName>"}`` and the class implements
``build_tracker(name=None, benchmark=None, **params) -> Tracker`` (raising on unknown names or parameters). :func:`load_tracker` imports that class, restores it with Lightning's
``load_from_checkpoint`` and asks it for its tracker, so evaluation never needs to know which model it runs.

``baseline:firstbox`` and ``baseline:ncc`` name the baseline trackers of ``tracking.trackers.baselines`` instead of a
file (overrides go to their constructors).

Checkpoints are pickles: load only files you trust (as with ``torch.load`` / Lightning).
"""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import torch
import yaml

from tracking.errors import DataError
from tracking.torch_files import torch_load_options
from tracking.tracker import Tracker

BASELINE_PREFIX = "baseline:"


def _baselines() -> dict:
    from tracking.trackers.baselines import FirstBoxTracker, NCCTracker

    return {"firstbox": FirstBoxTracker, "ncc": NCCTracker}


def parse_overrides(items) -> dict:
    """``["penalty_k=0.04", "lr=0.3"]`` -> ``{"penalty_k": 0.04, "lr": 0.3}`` (numbers, else YAML scalars)."""
    overrides = {}
    for item in items or []:
        key, separator, value = str(item).partition("=")
        key = key.strip()
        if not separator or not key:
            raise ValueError(f"override {item!r} is not of the form key=value")
        overrides[key] = _parse_value(value.strip())
    return overrides


def _parse_value(text: str):
    # numbers first: YAML 1.1 reads "3e-1" as a string
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return yaml.safe_load(text) if text else ""


def is_baseline(checkpoint) -> bool:
    return isinstance(checkpoint, str) and checkpoint.lower().startswith(BASELINE_PREFIX)


def build_baseline(spec: str, overrides: dict | None = None) -> Tracker:
    """``baseline:firstbox`` / ``baseline:ncc`` with constructor ``overrides``; unknown names or keys raise."""
    name = spec[len(BASELINE_PREFIX):].strip().lower() if is_baseline(spec) else spec.strip().lower()
    baselines = _baselines()
    if name not in baselines:
        raise ValueError(f"unknown baseline {spec!r}; use one of "
                         f"{', '.join(BASELINE_PREFIX + key for key in sorted(baselines))}")
    tracker_class = baselines[name]
    accepted = [p for p in inspect.signature(tracker_class).parameters if p != "self"]
    unknown = sorted(set(overrides or {}) - set(accepted))
    if unknown:
        raise ValueError(f"unknown override(s) {', '.join(unknown)} for {tracker_class.__name__}; "
                         f"accepted: {', '.join(accepted) or 'none'}")
    return tracker_class(**(overrides or {}))


def checkpoint_module_path(checkpoint_path) -> str:
    """The dotted class path a suite checkpoint names in its ``"suite"`` entry (clear errors otherwise)."""
    return read_suite_checkpoint(checkpoint_path)[0]


def read_suite_checkpoint(checkpoint_path) -> tuple[str, dict]:
    """(the dotted class path the checkpoint's ``"suite"`` entry names, its hyper-parameters), with clear errors."""
    path = Path(checkpoint_path)
    options = torch_load_options(path)  # the tensors are not read, only the small pickled dict around them
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False, **options)
    except Exception as error:  # noqa: BLE001 - torch raises many types for a bad file
        raise DataError(path, f"cannot read checkpoint: corrupt PyTorch checkpoint ({type(error).__name__}: "
                              f"{error})") from None
    if not isinstance(checkpoint, dict):
        raise DataError(path, f"checkpoint holds a {type(checkpoint).__name__}, not a Lightning checkpoint dict")
    suite = checkpoint.get("suite")
    if not isinstance(suite, dict) or not isinstance(suite.get("module"), str):
        raise DataError(path, 'checkpoint has no "suite" entry naming its LightningModule: it was not written by '
                              "a suite module (convert reference pysot weights with `make import-pysot`)")
    return suite["module"], dict(checkpoint.get("hyper_parameters") or {})


def import_module_class(dotted: str, checkpoint_path=None):
    module_name, _, class_name = dotted.rpartition(".")
    try:
        module_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise DataError(checkpoint_path, f'"suite" entry names {dotted!r}, which cannot be imported ({error})') \
            from None
    if not hasattr(module_class, "load_from_checkpoint") or not hasattr(module_class, "build_tracker"):
        raise DataError(checkpoint_path, f"{dotted} is not a suite LightningModule (needs load_from_checkpoint "
                                         "and build_tracker)")
    return module_class


def load_module(checkpoint_path, device: str | torch.device = "cpu"):
    """The suite LightningModule restored from a checkpoint, in eval mode on ``device``."""
    dotted, hyperparameters = read_suite_checkpoint(checkpoint_path)
    module_class = import_module_class(dotted, checkpoint_path)
    device = torch.device(device)
    # suite checkpoints carry their config in hyper_parameters (plain pickled objects): not weights-only
    upgrade = getattr(module_class, "upgraded_hyperparameters", None)
    module = module_class.load_from_checkpoint(str(checkpoint_path), map_location=device, weights_only=False,
                                               **(upgrade(hyperparameters) if upgrade else {}))
    return module.to(device).eval()


def load_tracker(ckpt, overrides: dict | None = None, device: str | torch.device = "cpu", tracker: str | None = None,
                 benchmark: str | None = None) -> Tracker:
    """A tracker from a suite checkpoint path, or ``baseline:firstbox`` / ``baseline:ncc``.

    ``tracker`` names one of the module's trackers (default its main one); ``benchmark`` (otb, vot, ...) selects
    the values the config gives for it; ``overrides`` are tracker parameters on top. Unknown tracker names or
    parameters raise ``ValueError`` listing the accepted ones.
    """
    overrides = dict(overrides or {})
    if is_baseline(ckpt):
        if tracker is not None:
            raise ValueError(f"{ckpt} is a baseline tracker: --tracker does not apply to it")
        return build_baseline(ckpt, overrides)
    module = load_module(ckpt, device)
    return module.build_tracker(tracker, benchmark=benchmark, **overrides)


def default_tracker_name(ckpt) -> str:
    """The checkpoint file's stem (``epoch=19.ckpt`` -> ``epoch=19``), or the baseline's name (``NCC``)."""
    if is_baseline(ckpt):
        return build_baseline(ckpt).name
    return Path(ckpt).stem
