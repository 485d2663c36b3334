"""A paper's ablation side by side on a benchmark: ``make ablation PAPER=snscf DATA=/data/OTB100 [BENCH=vot]``.

    python -m experiments.ablation --paper snscf --data /data/OTB100 --runs outputs/runs
    python -m experiments.ablation --paper snscf --benchmark vot --data /data/VOT2018 --ckpt "SNS-CF=snscf.ckpt"
    python -m experiments.ablation --paper hsiamfc --data /data/OTB --ckpt "hsiamfc/vgg19=vgg19.ckpt" ...

A paper's plan (``experiments/ablations/<paper>.py``: ``PLAN = AblationPlan(...)``) names its columns: a label, the
training config whose checkpoint is evaluated (by default ``<runs>/<config>/checkpoints/last.ckpt``, where
``make train CONFIG=<config>`` leaves it; ``--ckpt LABEL=PATH`` gives another file) and the numbers the paper
reports for it. Each column's main tracker, with the config's values for the benchmark, is evaluated by the suite's
runner into ``--out`` (results resume as ``make eval-*`` does). One-pass benchmarks (OTB, UAV123, LaSOT): distance
precision at 20 px (DP, %), overlap success rate at 0.5 (OS, %), mean centre location error (CLE, px) and FPS;
VOT: EAO, accuracy and robustness of the supervised experiment, and the no-reset average overlap (AO) and FPS of a
one-pass run over the same sequences. The measured table is printed beside the paper's, and written to
``--out``/``ablation_<benchmark>.md`` and ``.json``. A plan with a layout of its own has a ``run_ablation`` method
taking the command line's values and runs itself (MFST's Tables I and II: ``experiments/ablations/mfst.py``).
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

from experiments import cli

ONE_PASS_KINDS = ("otb", "uav123", "lasot")
METRICS = {  # benchmark protocol -> (row title, key)
    "ope": (("DP@20 (%)", "dp"), ("OS@0.5 (%)", "os"), ("CLE (px)", "cle"), ("FPS", "fps")),
    "ope_scores": (("Success AUC", "success"), ("Precision@20", "precision"), ("FPS", "fps")),
    "vot": (("EAO", "eao"), ("Accuracy", "accuracy"), ("Robustness", "robustness"), ("AO", "ao"), ("FPS", "fps")),
}


@dataclass(frozen=True)
class AblationColumn:
    """One variant: ``label`` in the table, the training ``config`` whose checkpoint it evaluates, the paper's
    numbers for it (``paper``: metric key -> value, keys of :data:`METRICS`) and which of the checkpoint's trackers
    runs (``tracker``; None: its main one), so columns may share a checkpoint (a paper's per-layer baselines)."""

    label: str
    config: str
    paper: tuple[tuple[str, float], ...] = ()
    tracker: str | None = None


@dataclass(frozen=True)
class AblationPlan:
    """A paper's ablation: ``title``, its ``columns``, a ``note`` printed under the paper's numbers, the rows of
    one-pass benchmarks (``one_pass_metrics``: a key of :data:`METRICS`) and reader options of the benchmark
    (``benchmark_options``, e.g. ``(("version", 2013),)`` for OTB-2013)."""

    title: str
    columns: tuple[AblationColumn, ...]
    note: str = ""
    one_pass_metrics: str = "ope"
    benchmark_options: tuple[tuple[str, object], ...] = ()


def load_plan(paper: str) -> AblationPlan:
    """The plan of ``experiments/ablations/<paper>.py``; an unknown paper lists the available ones."""
    import importlib
    from importlib import resources

    from experiments.config_library import canonical_paper_name

    available = sorted(entry.name[:-3] for entry in resources.files("experiments.ablations").iterdir()
                       if entry.name.endswith(".py") and not entry.name.startswith("_"))
    paper = canonical_paper_name(paper)  # make ablation PAPER=siamfc-online: the module siamfc_online
    if paper not in available:
        raise ValueError(f"no ablation for paper {paper!r}; available: {', '.join(available) or 'none'}")
    return importlib.import_module(f"experiments.ablations.{paper}").PLAN


def checkpoints(plan: AblationPlan, runs: Path, given: dict[str, str]) -> dict[str, Path]:
    """Each column's checkpoint: ``given[label]``, ``given[config]`` (every column of that config) or the config's
    run folder; a missing one stops the ablation, saying how to make it."""
    known = {column.label for column in plan.columns} | {column.config for column in plan.columns}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"--ckpt for unknown column(s) {unknown}; the columns: "
                         f"{', '.join(column.label for column in plan.columns)} (or their configs)")
    paths, missing = {}, []
    for column in plan.columns:
        default = given.get(column.config, runs / column.config / "checkpoints" / "last.ckpt")
        path = Path(given.get(column.label, default))
        if not path.is_file():
            missing.append(f"{column.label}: {path} (make train CONFIG={column.config}, or "
                           f"--ckpt \"{column.label}=PATH\")")
        paths[column.label] = path
    if missing:
        raise FileNotFoundError("checkpoint(s) missing:\n  " + "\n  ".join(missing))
    return paths


def one_pass_overlap(tracker, benchmark, names, progress: bool = False) -> tuple[float, float]:
    """(AO, FPS) of a one-pass run without re-initialisation over the VOT sequences ``names``."""
    import numpy as np
    from tqdm.auto import tqdm

    from tracking.boxes import polygon_to_xywh
    from tracking.metrics.vot import no_reset_average_overlap
    from tracking.tracker import track_frames

    runs, seconds, frames = [], 0.0, 0
    for name in tqdm(names, desc="VOT no-reset run", disable=not progress):
        sequence = benchmark[name]
        ground_truth = np.asarray(sequence.ground_truth, dtype=np.float64)
        first = ground_truth[0]
        init_box = polygon_to_xywh(first) if len(first) == 8 else first
        height, width = sequence.image(0).shape[:2]
        boxes, times = track_frames(tracker, sequence.images(), init_box)
        runs.append((boxes, ground_truth, (width, height)))
        seconds, frames = seconds + float(np.nansum(times[1:])), frames + len(times) - 1
    return no_reset_average_overlap(runs), frames / seconds if seconds > 0 else float("nan")


def measure(kind: str, tracker, benchmark, out_dir: Path, label: str, identity: dict,
            max_sequences: int | None = None, progress: bool = False) -> dict[str, float]:
    """The ablation's metrics (keys of :data:`METRICS`) of one tracker on one benchmark."""
    from tracking.evaluation.runner import evaluate_tracker

    scores = evaluate_tracker(kind, tracker, benchmark, out_dir, label, progress=progress,
                              max_sequences=max_sequences, identity=identity).scores
    if kind == "vot":
        names = list(benchmark.sequence_names)[:max_sequences]
        ao, fps = one_pass_overlap(tracker, benchmark, names, progress)
        return {"eao": scores["eao"], "accuracy": scores["accuracy"], "robustness": scores["robustness"],
                "ao": ao, "fps": fps}
    return {"dp": 100 * scores["precision_20"], "os": 100 * scores["success_rate_50"],
            "cle": scores["center_error_mean"], "fps": scores["speed_fps"], "success": scores["success_auc"],
            "precision": scores["precision_20"]}


def side_by_side(plan: AblationPlan, protocol: str, values: dict[str, dict[str, float]]) -> str:
    """Rows = metrics, columns = the plan's variants (``values``: label -> metric -> value; NaN shows as nan)."""
    from tracking.evaluation.report import format_table

    rows = []
    for title, key in METRICS[protocol]:
        rows.append({"Metric": title, **{column.label: float(values.get(column.label, {}).get(key, math.nan))
                                         for column in plan.columns}})
    return format_table(rows)


def run_ablation(plan: AblationPlan, kind: str, data, out_dir, runs, given: dict[str, str] | None = None,
                 device: str = "cpu", max_sequences: int | None = None, progress: bool = True) -> dict:
    """Evaluate every column of ``plan`` on benchmark ``kind`` at ``data``; returns and writes the tables."""
    from lightning_modules.checkpoints import load_tracker
    from tracking.benchmarks import open_benchmark
    from tracking.evaluation.identity import run_identity

    kind = kind.lower()
    if kind not in ONE_PASS_KINDS + ("vot",):
        raise ValueError(f"benchmark {kind!r}: the ablation runs on {', '.join(ONE_PASS_KINDS + ('vot',))}")
    protocol = "vot" if kind == "vot" else plan.one_pass_metrics
    paths = checkpoints(plan, Path(runs), dict(given or {}))
    benchmark = open_benchmark(kind, data, **(dict(plan.benchmark_options) if kind == "otb" else {}))
    out_dir = Path(out_dir)
    measured = {}
    for column in plan.columns:
        tracker = load_tracker(str(paths[column.label]), device=device, benchmark=kind, tracker=column.tracker)
        print(f"{column.label}: {column.config}{f' ({column.tracker})' if column.tracker else ''} "
              f"({paths[column.label]})", flush=True)
        measured[column.label] = measure(kind, tracker, benchmark, out_dir, column.label,
                                         run_identity(tracker, paths[column.label]), max_sequences, progress)
    paper = {column.label: dict(column.paper) for column in plan.columns}
    sequences = len(benchmark.sequence_names) if max_sequences is None else min(max_sequences,
                                                                                len(benchmark.sequence_names))
    measured_table = side_by_side(plan, protocol, measured)
    paper_table = side_by_side(plan, protocol, paper)
    text = (f"{plan.title}: measured on {kind.upper()} ({sequences} sequences)\n\n{measured_table}\n\n"
            f"reported by the paper\n\n{paper_table}\n" + (f"\n{plan.note}\n" if plan.note else ""))
    print("\n" + text)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"ablation_{kind}.md").write_text(text)
    summary = {"title": plan.title, "benchmark": kind, "sequences": sequences,
               "checkpoints": {label: str(path) for label, path in paths.items()},
               "measured": measured, "paper": paper}
    (out_dir / f"ablation_{kind}.json").write_text(json.dumps(summary, indent=2))
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments.ablation", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper", required=True, help="whose ablation (experiments/ablations/<paper>.py)")
    parser.add_argument("--benchmark", default="otb", choices=ONE_PASS_KINDS + ("vot",))
    parser.add_argument("--data", required=True, help="benchmark root")
    parser.add_argument("--runs", default="outputs/runs", help="run folders of make train (default outputs/runs)")
    parser.add_argument("--ckpt", action="append", default=[], metavar="LABEL=PATH",
                        help="a column's checkpoint instead of its run folder's last.ckpt (repeatable)")
    parser.add_argument("--out", default=None, help="output folder (default outputs/ablation-<paper>)")
    parser.add_argument("--device", default=None, choices=["cpu", "cuda"], help="default: cuda when available")
    parser.add_argument("--max-sequences", type=int, default=None, help="only the first N sequences")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    given = {}
    for item in args.ckpt:
        label, separator, path = item.partition("=")
        if not separator or not label.strip() or not path.strip():
            raise SystemExit(f"error: --ckpt {item!r} is not LABEL=PATH")
        given[label.strip()] = path.strip()
    plan = load_plan(args.paper)
    # a plan with a table layout of its own (MFST's Tables I and II: rows x subsets) runs itself
    run = plan.run_ablation if hasattr(plan, "run_ablation") else lambda *values: run_ablation(plan, *values)
    return run(args.benchmark, args.data, args.out or f"outputs/ablation-{args.paper}", args.runs, given,
               cli.resolve_device(args.device), args.max_sequences, not args.no_progress)


if __name__ == "__main__":
    cli.run(main)
