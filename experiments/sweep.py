"""Tracker hyper-parameter sweeps (penalty_k, window_influence, lr, ...) from a W&B sweep YAML: ``make sweep``.

    python -m experiments.sweep --sweep siamrpnpp_hyperparameters --out outputs/sweep \
        --ckpt outputs/demo/checkpoints/trained.ckpt --data outputs/demo/data/otb_heldout

``--sweep`` names a YAML in ``experiments/sweeps/`` (without ``.yaml``) or a file path. It is a W&B sweep config
(``method`` grid / random / bayes, ``metric`` {name, goal}, ``parameters`` with ``value`` / ``values`` /
``min``-``max`` / ``distribution``, optional ``run_cap``). A parameter is a tracker parameter (``penalty_k``: the
tracker ``--tracker``, default the model's main one, is built from ``--ckpt`` with the trial's values, no
retraining) or, when its name has a dot, a key of the training command (``model.init_args.optim.base_lr``: the
trial first trains ``--train-config`` on ``--train-data`` with that value into ``OUT/runs/<trial>``, then tracks
with the resulting checkpoint). Each trial is run one-pass on the benchmark at ``--data`` and scored. Offline with
``--batch N`` > 1, trials that only set tracker parameters are tracked together: the (trial, sequence) pairs of all
of them in lockstep, one network call per frame step for up to N pairs (each decoded by its own trial's tracker),
the same result files and scores as one trial after another (trials whose search crops differ in shape, e.g. a
swept ``instance_size``, or trackers without a batched step run one after another, with a note).

- W&B configured (``WANDB_API_KEY`` or a ``wandb login`` netrc entry, and ``WANDB_MODE`` not offline/disabled):
  ``wandb.sweep`` registers the YAML and ``wandb.agent`` runs the trials the server proposes.
- Otherwise: the YAML's grid (every combination, in YAML order, the last parameter varying fastest) or random
  search (``--count`` or ``run_cap`` trials, seeded by ``--seed``) runs locally; each trial is an offline W&B run
  (upload later with ``wandb sync``). ``bayes`` needs the server, so offline it falls back to random search.

Either way ``OUT`` gets ``trials.csv``, ``trials.md`` (markdown table, best first), ``sweep_scores.png`` (the score
against each parameter) and, per trial, got10k-layout results/reports (a rerun skips sequences already tracked).
Without ``--ckpt`` / ``--data`` the demo's outputs (``make demo``) are used when present.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from experiments import cli
from experiments.demo import CHECKPOINT_DIR, HELDOUT_DIR
from tracking.errors import DataError

# Keys of a W&B sweep configuration (https://docs.wandb.ai/guides/sweeps/define-sweep-configuration).
SWEEP_KEYS = {"program", "method", "metric", "parameters", "early_terminate", "name", "description", "project",
              "entity", "command", "run_cap"}
METHODS = ("grid", "random", "bayes")
PARAMETER_KEYS = {"value", "values", "probabilities", "distribution", "min", "max", "mu", "sigma", "q"}
DISTRIBUTIONS = ("constant", "categorical", "int_uniform", "uniform", "q_uniform", "log_uniform",
                 "log_uniform_values", "inv_log_uniform_values", "normal", "q_normal", "log_normal")
GRID_DISTRIBUTIONS = ("constant", "categorical", "int_uniform", "q_uniform")
DEFAULT_RANDOM_COUNT = 10
DEFAULT_SWEEP = "siamrpnpp_hyperparameters"
DEFAULT_DEMO_DIR = "outputs/demo"
# Where `make demo` leaves its trained checkpoint and held-out OTB-format sequences (relative to its --out).
DEMO_CHECKPOINT = CHECKPOINT_DIR / "trained.ckpt"
DEMO_HELDOUT = HELDOUT_DIR


@dataclass
class SweepSpec:
    """A parsed, validated sweep YAML."""

    name: str
    method: str
    metric: str
    goal: str  # "maximize" or "minimize"
    parameters: dict[str, dict]
    run_cap: int | None
    config: dict  # the YAML as read (what wandb.sweep receives)
    source: str

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` beats ``b`` under the metric's goal (NaN never wins)."""
        if not math.isfinite(a):
            return False
        if not math.isfinite(b):
            return True
        return a > b if self.goal == "maximize" else a < b


@dataclass
class Trial:
    index: int
    name: str
    parameters: dict
    scores: dict = field(default_factory=dict)

    def score(self, metric: str) -> float:
        return float(self.scores.get(metric, float("nan")))


# --- the sweep YAML ---------------------------------------------------------------------------------------------

def sweep_path(name_or_path) -> tuple[str, str]:
    """(YAML text, source description) of a bundled sweep name or a file path."""
    candidate = Path(str(name_or_path))
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise DataError(candidate, "sweep file does not exist")
        return candidate.read_text(), str(candidate)
    bundled = resources.files("experiments") / "sweeps" / f"{name_or_path}.yaml"
    if not bundled.is_file():
        available = sorted(p.name[:-5] for p in (resources.files("experiments") / "sweeps").iterdir()
                           if p.name.endswith(".yaml"))
        raise ValueError(f"unknown sweep {name_or_path!r}: neither a YAML file nor one of the bundled sweeps "
                         f"{available}")
    return bundled.read_text(), f"experiments/sweeps/{name_or_path}.yaml"


def _check_parameter(name: str, spec, source: str) -> dict:
    if not isinstance(spec, dict):
        raise DataError(source, f"parameter {name!r} must be a mapping (value / values / min, max / distribution), "
                                f"got {spec!r}")
    unknown = sorted(set(spec) - PARAMETER_KEYS)
    if unknown:
        raise DataError(source, f"parameter {name!r}: unknown key(s) {unknown}; allowed {sorted(PARAMETER_KEYS)}")
    distribution = parameter_distribution(name, spec, source)
    if distribution not in DISTRIBUTIONS:
        raise DataError(source, f"parameter {name!r}: distribution {distribution!r} is not supported; use one of "
                                f"{list(DISTRIBUTIONS)}")
    needs = {"constant": ("value",), "categorical": ("values",), "normal": ("mu", "sigma"),
             "q_normal": ("mu", "sigma"), "log_normal": ("mu", "sigma")}.get(distribution, ("min", "max"))
    missing = [key for key in needs if key not in spec]
    if missing:
        raise DataError(source, f"parameter {name!r}: distribution {distribution} needs {missing}")
    if distribution == "categorical":
        values = spec["values"]
        if not isinstance(values, list) or not values:
            raise DataError(source, f"parameter {name!r}: 'values' must be a non-empty list")
        if "probabilities" in spec:
            probabilities = spec["probabilities"]
            if (not isinstance(probabilities, list) or len(probabilities) != len(values)
                    or any(p < 0 for p in probabilities) or not math.isclose(sum(probabilities), 1.0, abs_tol=1e-6)):
                raise DataError(source, f"parameter {name!r}: 'probabilities' must be {len(values)} non-negative "
                                        "numbers summing to 1")
    if "min" in needs and not spec["min"] <= spec["max"]:
        raise DataError(source, f"parameter {name!r}: min {spec['min']} > max {spec['max']}")
    if distribution in ("log_uniform_values", "inv_log_uniform_values") and spec["min"] <= 0:
        raise DataError(source, f"parameter {name!r}: {distribution} needs min > 0")
    return dict(spec)


def parameter_distribution(name: str, spec: dict, source: str = "") -> str:
    """W&B's inference: explicit ``distribution``; else ``value`` -> constant, ``values`` -> categorical,
    ``min``/``max`` both integers -> int_uniform, otherwise uniform."""
    if "distribution" in spec:
        return str(spec["distribution"])
    if "value" in spec:
        return "constant"
    if "values" in spec:
        return "categorical"
    if "min" in spec and "max" in spec:
        integers = all(isinstance(spec[k], int) and not isinstance(spec[k], bool) for k in ("min", "max"))
        return "int_uniform" if integers else "uniform"
    raise DataError(source, f"parameter {name!r} needs value, values, min/max or a distribution")


def parse_sweep(config: dict, source: str = "<sweep>") -> SweepSpec:
    """Validate a sweep config dict (W&B's schema); errors name ``source`` and the offending key."""
    if not isinstance(config, dict):
        raise DataError(source, "a sweep YAML must be a mapping")
    unknown = sorted(set(config) - SWEEP_KEYS)
    if unknown:
        raise DataError(source, f"unknown sweep key(s) {unknown}; W&B sweep keys are {sorted(SWEEP_KEYS)}")
    method = config.get("method")
    if method not in METHODS:
        raise DataError(source, f"'method' must be one of {list(METHODS)}, got {method!r}")
    metric = config.get("metric") or {}
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
        raise DataError(source, "'metric' must be a mapping with a 'name' (e.g. {name: success_auc, goal: maximize})")
    goal = metric.get("goal", "minimize")  # W&B's default
    if goal not in ("maximize", "minimize"):
        raise DataError(source, f"metric goal must be maximize or minimize, got {goal!r}")
    parameters = config.get("parameters")
    if not isinstance(parameters, dict) or not parameters:
        raise DataError(source, "'parameters' must be a non-empty mapping of parameter name -> search space")
    checked = {str(name): _check_parameter(str(name), spec, source) for name, spec in parameters.items()}
    if method == "grid":
        for name, spec in checked.items():
            if parameter_distribution(name, spec) not in GRID_DISTRIBUTIONS:
                raise DataError(source, f"grid search: parameter {name!r} needs a finite set (value, values, "
                                        "int_uniform or q_uniform), not a continuous distribution")
    run_cap = config.get("run_cap")
    if run_cap is not None and (not isinstance(run_cap, int) or run_cap < 1):
        raise DataError(source, f"run_cap must be a positive integer, got {run_cap!r}")
    name = str(config.get("name") or Path(source).stem)
    return SweepSpec(name, method, metric["name"], goal, checked, run_cap, config, source)


def load_sweep(name_or_path) -> SweepSpec:
    """Read and validate a bundled sweep (by name) or a sweep YAML file."""
    text, source = sweep_path(name_or_path)
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise DataError(source, f"invalid YAML: {getattr(error, 'problem', error)}",
                        line=mark.line + 1 if mark is not None else None) from None
    return parse_sweep(config, source)


# --- local search -----------------------------------------------------------------------------------------------

def _python_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def grid_values(name: str, spec: dict) -> list:
    """The finite list a grid search enumerates for one parameter."""
    distribution = parameter_distribution(name, spec)
    if distribution == "constant":
        return [spec["value"]]
    if distribution == "categorical":
        return list(spec["values"])
    if distribution == "int_uniform":
        return list(range(int(spec["min"]), int(spec["max"]) + 1))
    if distribution == "q_uniform":
        q = float(spec.get("q", 1.0))
        steps = int(math.floor((spec["max"] - spec["min"]) / q + 1e-9))
        return [round(spec["min"] + i * q, 10) for i in range(steps + 1)]
    raise ValueError(f"parameter {name!r}: {distribution} has no finite grid")


def grid_trials(spec: SweepSpec) -> list[dict]:
    """Every combination of the parameters' grid values (YAML order; the last parameter varies fastest)."""
    names = list(spec.parameters)
    grids = [grid_values(name, spec.parameters[name]) for name in names]
    return [dict(zip(names, combination)) for combination in itertools.product(*grids)]


def sample_parameter(name: str, spec: dict, rng: np.random.Generator):
    """One draw of a W&B search-space entry."""
    distribution = parameter_distribution(name, spec)
    low, high = spec.get("min"), spec.get("max")
    q = float(spec.get("q", 1.0))
    if distribution == "constant":
        return spec["value"]
    if distribution == "categorical":
        index = rng.choice(len(spec["values"]), p=spec.get("probabilities"))
        return spec["values"][int(index)]
    if distribution == "int_uniform":
        return int(rng.integers(int(low), int(high) + 1))
    if distribution == "uniform":
        return float(rng.uniform(low, high))
    if distribution == "q_uniform":
        return float(np.round(rng.uniform(low, high) / q) * q)
    if distribution == "log_uniform":  # W&B: min/max are natural-log exponents
        return float(np.exp(rng.uniform(low, high)))
    if distribution == "log_uniform_values":
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))
    if distribution == "inv_log_uniform_values":
        return float(1.0 / np.exp(rng.uniform(np.log(1.0 / high), np.log(1.0 / low))))
    if distribution == "normal":
        return float(rng.normal(spec["mu"], spec["sigma"]))
    if distribution == "q_normal":
        return float(np.round(rng.normal(spec["mu"], spec["sigma"]) / q) * q)
    if distribution == "log_normal":
        return float(np.exp(rng.normal(spec["mu"], spec["sigma"])))
    raise ValueError(f"parameter {name!r}: unsupported distribution {distribution!r}")


def random_trials(spec: SweepSpec, count: int, seed: int = 0) -> list[dict]:
    """``count`` independent draws of every parameter, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [{name: _python_scalar(sample_parameter(name, p, rng)) for name, p in spec.parameters.items()}
            for _ in range(count)]


def local_trials(spec: SweepSpec, count: int | None = None, seed: int = 0) -> list[dict]:
    """The trials an offline sweep runs: the grid (first ``count``), or ``count`` / ``run_cap`` random draws."""
    if spec.method == "grid":
        trials = grid_trials(spec)
        limit = count or spec.run_cap
        return trials[:limit] if limit else trials
    return random_trials(spec, count or spec.run_cap or DEFAULT_RANDOM_COUNT, seed)


def _format_value(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def trial_name(index: int, parameters: dict) -> str:
    """``trial003_penalty_k=0.16_window_influence=0.4``: unique per parameter set, so a rerun resumes safely."""
    text = "_".join(f"{key}={_format_value(value)}" for key, value in parameters.items())
    safe = "".join(c if c.isalnum() or c in "=._-" else "-" for c in text)
    return f"trial{index:03d}_{safe}"


# --- evaluation -------------------------------------------------------------------------------------------------

def split_parameters(parameters: dict) -> tuple[dict, list[str]]:
    """(tracker parameters, training flags): a name with a dot is a key of the training command
    (``model.init_args.optim.base_lr`` -> ``--model.init_args.optim.base_lr=VALUE``), any other a parameter of
    the tracker (``penalty_k``)."""
    tracker = {k: v for k, v in parameters.items() if "." not in k}
    flags = [f"--{k.lstrip('-')}={v}" for k, v in parameters.items() if "." in k]
    return tracker, flags


class TrialTrackers:
    """The tracker of each trial: built from ``ckpt`` with the trial's tracker parameters, or, when the trial
    sets training keys, from a run of ``train_config`` trained for it into ``OUT/runs/<trial>`` first (resumed
    when the sweep runs again).

    ``tracker`` names one of the model's trackers (default its main one); ``benchmark`` selects the config's
    values for that benchmark before the trial's own.
    """

    def __init__(self, ckpt: str | None, device: str, tracker: str | None = None, benchmark: str | None = None,
                 train_config: str | None = None, train_data: str | None = None, train_args=(), out_dir=None):
        from lightning_modules.checkpoints import build_baseline, is_baseline, load_module

        self.device, self.tracker, self.benchmark = device, tracker, benchmark
        self.train_config, self.train_data, self.train_args = train_config, train_data, list(train_args)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.baseline = ckpt if ckpt is not None and is_baseline(ckpt) else None
        self._build_baseline = build_baseline
        self.checkpoint = ckpt
        self.module = load_module(ckpt, device) if ckpt is not None and self.baseline is None else None

    def build(self, trial: "Trial"):
        """(tracker, the checkpoint it comes from or the baseline's name) for ``trial``."""
        from lightning_modules.checkpoints import load_module

        parameters, flags = split_parameters(trial.parameters)
        if flags:
            checkpoint = self._train(trial, flags)
            module = load_module(checkpoint, self.device)
        elif self.baseline is not None:
            return self._build_baseline(self.baseline, parameters), self.baseline
        elif self.module is None:
            raise ValueError("no --ckpt to evaluate (and no training key among the sweep's parameters)")
        else:
            module, checkpoint = self.module, self.checkpoint
        return module.build_tracker(self.tracker, benchmark=self.benchmark, **parameters), checkpoint

    def _train(self, trial: "Trial", flags: list[str]) -> Path:
        from experiments.train import main as train_main

        if not self.train_config or not self.train_data:
            raise ValueError(f"trial {trial.name} sets training keys ({', '.join(flags)}): pass --train-config and "
                             "--train-data (the training data root)")
        run_dir = self.out_dir / "runs" / trial.name
        train_main(["--config", self.train_config, "--data_root", str(self.train_data), "--out", str(run_dir),
                    *self.train_args, *flags])
        return run_dir / "checkpoints" / "last.ckpt"


def run_trial(trial: Trial, make_tracker, benchmark, kind: str, out_dir: Path, bench_name: str | None,
              progress: bool, batch: int = 1) -> Trial:
    """Track and score one trial (results and reports under ``out_dir``); fills ``trial.scores``."""
    return run_trials([trial], make_tracker, benchmark, kind, out_dir, bench_name, progress, batch)[0]


def run_trials(trials: list[Trial], make_tracker, benchmark, kind: str, out_dir: Path, bench_name: str | None,
               progress: bool, batch: int = 1) -> list[Trial]:
    """Track and score trials, each with its own tracker (results and reports under ``out_dir``, as each alone);
    fills their ``scores``. ``batch`` > 1: the (trial, sequence) pairs of all of them in lockstep, one network
    call per frame step, when their trackers allow it (``tracking.evaluation.runner.track_runs``)."""
    from tracking.evaluation.identity import run_identity
    from tracking.evaluation.runner import evaluate_trackers

    trackers = []
    for trial in trials:
        tracker, checkpoint = make_tracker.build(trial)
        # resumed only for the same checkpoint contents, tracker and parameters
        trackers.append((tracker, trial.name, run_identity(tracker, checkpoint, split_parameters(trial.parameters)[0])))
    evaluations = evaluate_trackers(kind, trackers, benchmark, out_dir, bench_name=bench_name, progress=progress,
                                    batch=batch)
    for trial, evaluation in zip(trials, evaluations):
        trial.scores = evaluation.scores
    return trials


def check_metric(spec: SweepSpec, trial: Trial, kind: str) -> None:
    """Fail after the first trial (not after the whole sweep) when the metric is not a score of this benchmark."""
    if spec.metric not in trial.scores:
        raise ValueError(f"{spec.source}: metric {spec.metric!r} is not a score of the {kind} evaluation; "
                         f"available: {sorted(trial.scores)}")


def _log_run(spec: SweepSpec, trial: Trial, out_dir: Path, project: str, mode: str) -> None:
    """One W&B run per trial (``mode`` "offline" unless the user configured W&B): parameters and scores."""
    import wandb

    run = wandb.init(project=project, dir=str(out_dir), group=spec.name, job_type="sweep-trial", name=trial.name,
                     config=dict(trial.parameters), mode=mode, reinit="finish_previous",
                     settings=wandb.Settings(silent=True))  # one summary line at the end instead of one per run
    try:
        run.log(trial.scores)
        run.summary[spec.metric] = trial.score(spec.metric)
    finally:
        run.finish()


# --- outputs ----------------------------------------------------------------------------------------------------

SCORE_COLUMNS = ("success_auc", "precision_20", "success_rate_50", "norm_precision_20", "eao", "accuracy",
                 "robustness", "ao", "speed_fps")


def _score_columns(spec: SweepSpec, trials: list[Trial]) -> list[str]:
    present = {key for trial in trials for key in trial.scores}
    columns = [spec.metric] + [c for c in SCORE_COLUMNS if c in present and c != spec.metric]
    return columns


def best_trial(spec: SweepSpec, trials: list[Trial]) -> Trial | None:
    best = None
    for trial in trials:
        if best is None or spec.better(trial.score(spec.metric), best.score(spec.metric)):
            best = trial
    return best


def ranked(spec: SweepSpec, trials: list[Trial]) -> list[Trial]:
    """Trials best first (NaN scores last)."""
    sign = -1.0 if spec.goal == "maximize" else 1.0

    def key(trial):
        value = trial.score(spec.metric)
        return (not math.isfinite(value), sign * value if math.isfinite(value) else 0.0, trial.index)

    return sorted(trials, key=key)


def write_trials_csv(spec: SweepSpec, trials: list[Trial], path: Path) -> Path:
    parameters = list(spec.parameters)
    columns = _score_columns(spec, trials)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["trial", "name", *parameters, *columns])
        for trial in trials:
            writer.writerow([trial.index, trial.name, *(trial.parameters.get(p) for p in parameters),
                             *(f"{trial.score(c):.6f}" for c in columns)])
    return path


def markdown_table(spec: SweepSpec, trials: list[Trial]) -> str:
    """Markdown table of the trials, best first, the best row in bold."""
    parameters = list(spec.parameters)
    columns = _score_columns(spec, trials)
    best = best_trial(spec, trials)
    lines = ["| rank | trial | " + " | ".join(parameters + columns) + " |",
             "|" + "---:|" * (2 + len(parameters) + len(columns))]
    for rank, trial in enumerate(ranked(spec, trials), start=1):
        cells = [str(rank), str(trial.index)] + [_format_value(trial.parameters.get(p)) for p in parameters]
        cells += [f"{trial.score(c):.3f}" for c in columns]
        if trial is best:
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_scores(spec: SweepSpec, trials: list[Trial], path: Path) -> Path:
    """One panel per parameter: the metric of every trial against that parameter's value, the best starred."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(spec.parameters)
    figure = Figure(figsize=(4.2 * len(names), 3.6))
    FigureCanvasAgg(figure)
    best = best_trial(spec, trials)
    scores = np.array([trial.score(spec.metric) for trial in trials])
    for column, name in enumerate(names, start=1):
        axes = figure.add_subplot(1, len(names), column)
        values = [trial.parameters.get(name) for trial in trials]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric:
            positions = np.asarray(values, dtype=float)
        else:  # categorical values: one slot each, labelled
            categories = list(dict.fromkeys(str(v) for v in values))
            positions = np.array([categories.index(str(v)) for v in values], dtype=float)
            axes.set_xticks(range(len(categories)), categories)
        axes.scatter(positions, scores, s=24, alpha=0.7)
        if best is not None:
            axes.scatter([positions[trials.index(best)]], [best.score(spec.metric)], marker="*", s=180,
                         color="tab:red", label="best", zorder=3)
            axes.legend(loc="best", fontsize=8)
        axes.set(xlabel=name, ylabel=spec.metric if column == 1 else None)
        axes.grid(True, alpha=0.4)
    figure.suptitle(f"sweep {spec.name}: {spec.metric} ({spec.goal}) per parameter")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def write_outputs(spec: SweepSpec, trials: list[Trial], out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    table = out_dir / "trials.md"
    table.write_text(f"# Sweep {spec.name} ({spec.method}, {len(trials)} trials, metric {spec.metric}, "
                     f"{spec.goal})\n\n" + markdown_table(spec, trials))
    return {"csv": write_trials_csv(spec, trials, out_dir / "trials.csv"), "markdown": table,
            "plot": plot_scores(spec, trials, out_dir / "sweep_scores.png")}


# --- the two drivers --------------------------------------------------------------------------------------------

def run_local(spec: SweepSpec, make_tracker, benchmark, kind: str, out_dir: Path, count: int | None = None,
              seed: int = 0, bench_name: str | None = None, wandb_mode: str | None = "offline",
              project: str = "siamese-tracking-sweeps", progress: bool = True, batch: int = 1) -> list[Trial]:
    """Run the YAML's grid / random search here; each trial logged as a W&B run in ``wandb_mode`` (None: no run).

    ``batch`` > 1 and trials that only set tracker parameters (no training key): the (trial, sequence) pairs of
    all trials are tracked together in lockstep, ``batch`` at a time, one network call per frame step for pairs of
    different trials (each decoding with its own trial's tracker); the result files and scores are those of the
    trials run one after another."""
    from tqdm.auto import tqdm

    if spec.method == "bayes":
        print(f"{spec.source}: method 'bayes' needs the W&B server; running random search offline instead")
    pending = [Trial(index, trial_name(index, parameters), parameters)
               for index, parameters in enumerate(local_trials(spec, count, seed))]
    together = batch > 1 and not any(split_parameters(trial.parameters)[1] for trial in pending)
    trials = []
    bar = tqdm(total=len(pending), desc=f"sweep {spec.name}", unit="trial", disable=not progress, dynamic_ncols=True)
    for group in [pending] if together else [[trial] for trial in pending]:
        if len(group) == 1:
            bar.set_postfix_str(", ".join(f"{k}={_format_value(v)}" for k, v in group[0].parameters.items()))
        run_trials(group, make_tracker, benchmark, kind, out_dir, bench_name, progress=False, batch=batch)
        for trial in group:
            check_metric(spec, trial, kind)
            if wandb_mode is not None:
                _log_run(spec, trial, out_dir, project, wandb_mode)
            trials.append(trial)
            bar.update()
            bar.write(f"{trial.name}: {spec.metric} = {trial.score(spec.metric):.4f}")
    bar.close()
    return trials


def run_wandb(spec: SweepSpec, make_tracker, benchmark, kind: str, out_dir: Path, count: int | None = None,
              bench_name: str | None = None, project: str = "siamese-tracking-sweeps", batch: int = 1,
              sweep_id: str | None = None) -> list[Trial]:
    """``wandb.sweep`` + ``wandb.agent``: the W&B server proposes each trial's parameters. With ``sweep_id`` this
    process joins an existing sweep (another machine's ``make sweep`` printed its id): several agents, on several
    machines, share one sweep's trials."""
    import wandb

    trials: list[Trial] = []

    def one_trial():
        run = wandb.init(dir=str(out_dir), job_type="sweep-trial")
        try:
            parameters = {name: run.config[name] for name in spec.parameters if name in run.config}
            index = len(trials)
            trial = Trial(index, trial_name(index, parameters), parameters)
            run_trial(trial, make_tracker, benchmark, kind, out_dir, bench_name, progress=True, batch=batch)
            check_metric(spec, trial, kind)
            run.log(trial.scores)
            trials.append(trial)
            print(f"{trial.name}: {spec.metric} = {trial.score(spec.metric):.4f}")
        finally:
            run.finish()

    if sweep_id is None:
        sweep_id = wandb.sweep(dict(spec.config), project=spec.config.get("project", project))
        print(f"W&B sweep {sweep_id}: more agents join it with --sweep-id {sweep_id} (make sweep EXTRA=...)")
    wandb.agent(sweep_id, function=one_trial, count=count or spec.run_cap,
                project=spec.config.get("project", project))
    return trials


# --- command line -----------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments.sweep", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default=DEFAULT_SWEEP,
                        help=f"bundled sweep name (experiments/sweeps/NAME.yaml) or a YAML path "
                             f"(default {DEFAULT_SWEEP})")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--ckpt", default=None, help="checkpoint (or baseline:ncc); default: the demo's trained model")
    parser.add_argument("--tracker", default=None, help="which of the model's trackers (default its main one)")
    parser.add_argument("--train-config", default=None,
                        help="training config for sweep parameters that are training keys (model.init_args...)")
    parser.add_argument("--train-data", default=None, help="training data root for such trials")
    parser.add_argument("--train-arg", dest="train_args", action="append", default=[],
                        help="extra flag of experiments.train for such trials (repeatable, e.g. --trainer.max_steps=50)")
    parser.add_argument("--data", default=None, help="benchmark root; default: the demo's held-out OTB sequences")
    parser.add_argument("--benchmark", default="otb", choices=("otb", "uav123", "lasot", "got10k", "vot"),
                        help="benchmark kind of --data (default otb)")
    parser.add_argument("--demo-dir", default=None,
                        help="where `make demo` wrote its outputs, for the defaults (default: the folder 'demo' "
                             f"beside --out, as `make demo` / `make sweep` lay them out, else {DEFAULT_DEMO_DIR})")
    parser.add_argument("--count", type=int, default=None,
                        help="number of trials (random: default run_cap or 10; grid: default all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the offline random search")
    parser.add_argument("--device", default=None, choices=("cpu", "cuda"), help="default: cuda when available")
    parser.add_argument("--project", default="siamese-tracking-sweeps", help="W&B project")
    parser.add_argument("--local", action="store_true", help="run the search locally even when W&B is configured")
    parser.add_argument("--no-wandb", action="store_true", help="offline: do not log the trials as W&B runs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--sweep-id", default=None,
                        help="join this existing W&B sweep as one more agent instead of registering a new one")
    parser.add_argument("--batch", type=int, default=1,
                        help="sequences tracked in lockstep (trackers with a batched step); offline, the trials "
                             "that only set tracker parameters share the lockstep batch")
    return parser


def resolve_inputs(args, needs_checkpoint: bool = True) -> tuple[str | None, Path]:
    """The checkpoint and data root: as given, else the demo's outputs, else an error saying what to pass.
    A sweep whose trials train their own runs (``needs_checkpoint`` False) needs no checkpoint."""
    if args.demo_dir is not None:
        demo = Path(args.demo_dir)
    else:  # make demo writes OUT/demo and make sweep OUT/sweep
        beside = Path(args.out).parent / "demo"
        demo = beside if (beside / DEMO_CHECKPOINT).is_file() else Path(DEFAULT_DEMO_DIR)
    ckpt = args.ckpt or (str(demo / DEMO_CHECKPOINT) if (demo / DEMO_CHECKPOINT).is_file() else None)
    data = args.data or (str(demo / DEMO_HELDOUT) if (demo / DEMO_HELDOUT).is_dir() else None)
    if (ckpt is None and needs_checkpoint) or data is None:
        missing = [flag for flag, value in (("--ckpt", ckpt), ("--data", data)) if value is None]
        raise SystemExit(
            f"error: {' and '.join(missing)} not given and no demo outputs under {demo} "
            f"({demo / DEMO_CHECKPOINT}, {demo / DEMO_HELDOUT}). Run `make demo` first, or pass e.g. "
            "--ckpt runs/siamrpn/last.ckpt (or baseline:ncc) --data /data/OTB100 "
            "(make sweep CKPT=... DATA=...).")
    if not args.ckpt or not args.data:
        print(f"using the demo's outputs: --ckpt {ckpt} --data {data}")
    return ckpt, Path(data)


def main(argv=None) -> list[Trial]:
    args = build_parser().parse_args(argv)
    spec = load_sweep(args.sweep)
    trains = any("." in name for name in spec.parameters)
    ckpt, data = resolve_inputs(args, needs_checkpoint=not trains)


    from tracking.benchmarks import open_benchmark

    device = cli.resolve_device(args.device)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    benchmark = open_benchmark(args.benchmark, data)
    make_tracker = TrialTrackers(None if trains and not args.ckpt else ckpt, device, args.tracker, args.benchmark,
                                 args.train_config, args.train_data, args.train_args, out_dir)
    from experiments.wandb_setup import configure_wandb_mode

    mode = configure_wandb_mode()  # "offline" unless the user configured W&B
    configured = mode not in ("offline", "disabled", "dryrun")
    online = configured and not args.local
    # a local search logs each trial as a W&B run: online when configured (--local), else offline; none if disabled
    if args.no_wandb or mode == "disabled":
        trial_mode = None
    else:
        trial_mode = "online" if configured else "offline"
    print(f"sweep {spec.name} ({spec.source}): {spec.method} over {', '.join(spec.parameters)}; metric "
          f"{spec.metric} ({spec.goal}); {len(benchmark)} sequence(s) of {data}; "
          + ("W&B sweep (wandb.sweep + wandb.agent)" if online else
             f"local search, trials logged as {trial_mode} W&B runs" if trial_mode else "local search"))
    if online:
        trials = run_wandb(spec, make_tracker, benchmark, args.benchmark, out_dir, args.count, project=args.project,
                           batch=args.batch, sweep_id=args.sweep_id)
    else:
        trials = run_local(spec, make_tracker, benchmark, args.benchmark, out_dir, args.count, args.seed,
                           wandb_mode=trial_mode, project=args.project, progress=not args.no_progress,
                           batch=args.batch)
    if not trials:
        raise SystemExit("no trial ran")
    files = write_outputs(spec, trials, out_dir)
    print(markdown_table(spec, trials))
    best = best_trial(spec, trials)
    print(f"best: {best.name}: {spec.metric} = {best.score(spec.metric):.4f} with "
          + ", ".join(f"{k}={_format_value(v)}" for k, v in best.parameters.items()))
    print(f"wrote {files['csv']}, {files['markdown']}, {files['plot']}")
    if trial_mode == "offline":
        print(f"each trial is an offline W&B run under {out_dir / 'wandb'} (upload with `wandb sync "
              f"{out_dir / 'wandb'}/offline-run-*`)")
    return trials


if __name__ == "__main__":
    cli.run(main)
