"""The config library: the suite's training configs, found by name, chained, checked, listed, resolved and built.

- Packaged configs are ``experiments/configs/<paper>/<variant>.yaml`` (:func:`config_names` lists them; nested
  folders such as ``mfst/tables/<row>`` are found by name too); any YAML path works as well. :func:`locate_config`
  finds one, :func:`config_chain` follows its ``base: <name or relative path>`` keys (the chain is read base
  first, each file's values winning over its base's) and refuses unknown sections, circular chains and bad YAML.
- A config is a ``LightningCLI`` config: ``model`` and ``data`` by ``class_path`` + ``init_args`` (and callbacks
  under ``trainer.callbacks``), values typed and checked against the classes' signatures, so an unknown key or a
  wrong type is an error naming the config file and the key. :class:`ConfigCLI` is that parser (with the suite's
  own sections: ``data_root``, ``out``, ``gpus``, ``eval``, ``logging``, ... and the crop values the data module
  takes from the model); ``experiments.train`` extends it with the training run (trainer, run folder, resume).
- :func:`resolved_config` parses and validates a config (nothing instantiated); :func:`build_model` /
  :func:`build_model_cli` build the LightningModule it describes (no data, no trainer), as a training run
  builds it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from jsonargparse import ArgumentError
from pytorch_lightning.cli import LightningCLI

from tracking.errors import DataError

CONFIG_PACKAGE = "experiments.configs"
CROP_KEYS = ("template_size", "search_size", "context_amount", "image_format")
# Sections a config file may have (jsonargparse lets an unknown mapping through silently at the top level)
CONFIG_SECTIONS = {"base", "description", "seed_everything", "model", "data", "trainer", "optimizer",
                   "lr_scheduler", "eval", "logging", "data_root", "out", "gpus", "num_nodes", "resume",
                   "checkpoint_every_n_steps"}
# Other names of configs, accepted wherever a config is named (command lines, ``base:``, a run folder's
# run.json): alias -> config name (SiamFC online training's configs also go by siamfc/<variant>_online).
CONFIG_ALIASES = {
    "siamfc/imagenet_alexnet_online": "siamfc_online/imagenet_alexnet",
    "siamfc/imagenet_inception_v3_online": "siamfc_online/imagenet_inception_v3",
    "siamfc/imagenet_resnet34_online": "siamfc_online/imagenet_resnet34",
    "siamfc/imagenet_vgg19_online": "siamfc_online/imagenet_vgg19",
    "siamfc/demo_online": "siamfc_online/demo",
}
# A paper is named as its config folder (``experiments/configs/<paper>/``, ``experiments/demos/<paper>.py``,
# ``experiments/ablations/<paper>.py``); other spellings users type (``make demo PAPER=...``): -> the name.
PAPER_ALIASES = {"siamfc-online": "siamfc_online"}


# ---------------------------------------------------------------------------------------------------- configs
def config_root():
    return resources.files(CONFIG_PACKAGE)


def canonical_config_name(name: str) -> str:
    """The current name of a config named by an alias (``CONFIG_ALIASES``); any other name as it is."""
    return CONFIG_ALIASES.get(name, name)


def canonical_paper_name(paper: str) -> str:
    """The paper's name (its config folder's) for another spelling (``PAPER_ALIASES``); any other as it is."""
    return PAPER_ALIASES.get(paper, paper)


def config_names() -> list[str]:
    """Packaged configs as ``paper/variant`` (``experiments/configs/<paper>/<variant>.yaml``; not the aliases)."""
    names = []
    for paper in config_root().iterdir():
        if paper.is_dir() and not paper.name.startswith(("_", ".")):
            names += [f"{paper.name}/{entry.name[:-5]}" for entry in paper.iterdir()
                      if entry.name.endswith(".yaml") and not entry.name.startswith("_")]
    return sorted(names)


def locate_config(name_or_path, relative_to: Path | None = None) -> tuple[str, Path]:
    """(config name, file) of a packaged config name (``siamrpnpp/demo``; an alias in ``CONFIG_ALIASES`` gives
    the current name and file) or a YAML path."""
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
    text = canonical_config_name(text)
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


# ---------------------------------------------------------------------------------------------------- the parser
def _crop_value(key: str):
    def compute(module):
        crops = module.training_crops()
        return crops[key]

    compute.__name__ = f"training_crops_{key}"
    return compute


def _data_seed(seed):
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else 0


class ConfigCLI(LightningCLI):
    """The parser of a config: ``LightningCLI`` with the suite's sections and links, that can stop after parsing
    (``parse_only``: :func:`resolved_config`) or instantiate the LightningModule alone (``model_only``: no data
    module, no trainer). ``experiments.train.SuiteCLI`` adds the training run (trainer, run folder, resume)."""

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


class _ParsedOnly(Exception):
    """Raised by a parse-only ``ConfigCLI`` once its arguments are parsed (carrying the parsed config)."""

    def __init__(self, config):
        super().__init__("parsed")
        self.config = config


# ---------------------------------------------------------------------------------------------------- building
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


DEFAULT_CONFIG = "siamrpnpp/r50_l234_dwxcorr"  # a command line without --config


def instantiate_cli(argv: list[str], cli_class: type[ConfigCLI] = ConfigCLI, **options) -> ConfigCLI:
    """``cli_class`` (``ConfigCLI`` or a subclass) parsed from a command line (``--config NAME`` and overrides) and
    instantiated with ``options`` (e.g. ``model_only=True``); nothing is written. Errors name the config file or
    the command line at fault."""
    name, rest = _split_config(list(argv))
    config_name, files = config_chain(name or DEFAULT_CONFIG)
    args = [arg for path in files for arg in ("--config", str(path))] + rest
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter.*")
            return cli_class(config_name, args, **options)
    except ArgumentError as error:
        raise DataError(_explain_source(config_name, files), parser_message(error)) from None
    except ValueError as error:  # a class refused its values when built: its own message, not the parser's
        cause = error
        while cause.__cause__ is not None and isinstance(cause.__cause__, Exception):
            cause = cause.__cause__
        if isinstance(cause, DataError):
            raise cause from None
        raise ValueError(f"{config_name}: {cause}") from None


def build_model_cli(argv: list[str]) -> ConfigCLI:
    """The LightningModule of a command line (``--config NAME`` and overrides) alone, no data module and no
    trainer: ``.model``, and the instantiated config as ``.config_init`` (e.g. ``trainer.callbacks``)."""
    return instantiate_cli(argv, model_only=True)


def build_model(config: str, *overrides: str, seed: bool = True):
    """The LightningModule a config describes (``overrides``: CLI flags such as
    ``--model.init_args.optim.epochs=3``), built as a training run builds it: after ``seed_everything`` when
    ``seed``, so it holds the run's initial weights."""
    args = ["--config", config, *overrides]
    if not seed:
        args.append("--seed_everything=false")
    return build_model_cli(args).model


def parser_message(error: Exception) -> str:
    """jsonargparse's message without its listing of the Union it tried (the class's own complaint kept)."""
    lines = str(error).strip().splitlines()
    for index, line in enumerate(lines):
        if "Problem with given class_path" in line:
            kept = [lines[0].strip()] + [entry.strip() for entry in lines[index:]
                                         if "NoneType" not in entry and not entry.strip().startswith("Given value")]
            return " ".join(kept)
    return " ".join(entry.strip() for entry in lines)


def resolved_config(config: str, *overrides: str):
    """The parsed, validated config (a jsonargparse ``Namespace``; nothing instantiated): e.g.
    ``resolved_config("siamrpnpp/alex_dwxcorr").model.init_args.network``."""
    name, rest = _split_config(["--config", config, *overrides])
    config_name, files = config_chain(name)
    args = [arg for path in files for arg in ("--config", str(path))] + rest
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter.*")
            ConfigCLI(config_name, args, parse_only=True)
    except _ParsedOnly as parsed:
        return parsed.config
    except ArgumentError as error:
        raise DataError(_explain_source(config_name, files), parser_message(error)) from None
    raise RuntimeError("parse-only ConfigCLI did not stop after parsing")


def _explain_source(config_name: str, files: list[Path]) -> str:
    """The first config file of the chain whose values the parser refuses, else the command line."""
    for count in range(1, len(files) + 1):
        try:
            ConfigCLI(config_name, [arg for path in files[:count] for arg in ("--config", str(path))], parse_only=True)
        except _ParsedOnly:
            continue
        except ArgumentError:
            return str(files[count - 1])
    return "command line"
