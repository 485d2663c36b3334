"""MFST's Tables I and II in the paper's layout: ``make ablation PAPER=mfst DATA=/data/OTB100``.

Each row is a config (``experiments/configs/mfst/tables/<row>.yaml``) whose tracker values are that row's (levels
kept by one-hot hard weights, the fusion strategy, SE on or off, the branch weights); they differ from their
training config only there, so a row is tracked with the weights of that training run (``weights``:
``<runs>/<config>/checkpoints/last.ckpt`` as ``make train CONFIG=<config>`` leaves it, or ``--ckpt CONFIG=PATH``):

- Table I, branch A: ``mfst/alexnet_se`` (``make train CONFIG=mfst/alexnet_se``); branch S: ``mfst/siamfc_se``;
- Table II: ``mfst/mfst`` (both branches; ``make train-mfst``, or the two runs above assembled by
  ``make import-mfst``).

Every row's tracker runs one-pass over the sequences under the root (results resume as ``make eval-otb`` does);
the same result files are scored on OTB-2013 (51 sequences), OTB-50 (TB-50) and OTB-100 (TB-100): success AUC and
precision at 20 px, as the paper reports them, beside the paper's numbers. A subset with none of its sequences
under the root is nan; one with only some is scored on those (the count is printed).

Table II's fourth row ("S conv5") is printed in the paper with 0.661 / 0.854, 0.581 / 0.764, 0.647 / 0.831, nearly
the final MFST's and unlike Table I's S conv5 row (0.600 / 0.791, ...): kept as printed.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

SUBSETS = (("OTB-2013", 2013), ("OTB-50", "tb50"), ("OTB-100", "tb100"))
HEADERS = {1: ("Model", "Conv3", "Conv4", "Conv5", "Fusion", "SE"), 2: ("A", "S", "Fusion", "SE")}
WEIGHTS = {"a": "mfst/alexnet_se", "s": "mfst/siamfc_se", "both": "mfst/mfst"}


@dataclass(frozen=True)
class TableRow:
    """A row: its ``table`` (1 or 2), the paper's ``cells`` left of the numbers (``HEADERS``), its ``config``, the
    training config whose checkpoint it tracks with (``weights``) and the paper's six numbers (OTB-2013 AUC,
    precision, OTB-50 AUC, precision, OTB-100 AUC, precision)."""

    table: int
    cells: tuple[str, ...]
    config: str
    weights: str
    paper: tuple[float, ...]

    @property
    def label(self) -> str:
        return self.config.rsplit("/", 1)[-1]


def _table1(branch: str, numbers) -> list[TableRow]:
    """A branch's twelve rows in the paper's order: each single layer without and with SE, then the three fusions
    of conv3-conv5 without SE, then with SE."""
    singles = [(f"conv{n}", tuple("x" if m == n else "" for m in (3, 4, 5)), "") for n in (3, 4, 5)]
    fusions = [(key, ("x", "x", "x"), name) for key, name in (("hw", "HW"), ("sm", "SM"), ("sw", "SW"))]
    order = [(v, se) for v in singles for se in (False, True)] + [(v, se) for se in (False, True) for v in fusions]
    return [TableRow(1, (branch.upper(), *marks, fusion, "x" if se else ""),
                     f"mfst/tables/table1_{branch}_{key}{'_se' if se else ''}", WEIGHTS[branch], paper)
            for ((key, marks, fusion), se), paper in zip(order, numbers)]


# Table I (OTB-2013 AUC, precision, OTB-50 AUC, precision, OTB-100 AUC, precision), the paper's row order
_TABLE1_A = ((0.587, 0.740, 0.474, 0.618, 0.559, 0.712), (0.603, 0.755, 0.504, 0.642, 0.587, 0.747),
             (0.632, 0.789, 0.536, 0.692, 0.614, 0.778), (0.637, 0.801, 0.544, 0.707, 0.623, 0.795),
             (0.582, 0.763, 0.496, 0.665, 0.557, 0.735), (0.573, 0.762, 0.507, 0.696, 0.575, 0.769),
             (0.623, 0.774, 0.515, 0.657, 0.605, 0.763), (0.633, 0.797, 0.542, 0.705, 0.616, 0.784),
             (0.630, 0.795, 0.538, 0.699, 0.616, 0.786), (0.627, 0.798, 0.537, 0.700, 0.617, 0.790),
             (0.631, 0.799, 0.542, 0.706, 0.621, 0.792), (0.635, 0.811, 0.545, 0.716, 0.627, 0.803))
_TABLE1_S = ((0.510, 0.661, 0.439, 0.574, 0.512, 0.656), (0.545, 0.709, 0.465, 0.608, 0.532, 0.687),
             (0.584, 0.757, 0.507, 0.666, 0.570, 0.742), (0.592, 0.772, 0.518, 0.686, 0.581, 0.758),
             (0.600, 0.791, 0.519, 0.698, 0.586, 0.766), (0.606, 0.801, 0.535, 0.722, 0.588, 0.777),
             (0.614, 0.794, 0.532, 0.692, 0.602, 0.776), (0.612, 0.787, 0.539, 0.697, 0.607, 0.777),
             (0.615, 0.808, 0.534, 0.705, 0.600, 0.780), (0.627, 0.823, 0.542, 0.716, 0.606, 0.787),
             (0.591, 0.761, 0.501, 0.649, 0.575, 0.736), (0.603, 0.780, 0.518, 0.673, 0.590, 0.759))
_TABLE2 = (
    (("Aconv5", "", "", ""), "table2_aconv5", (0.582, 0.763, 0.496, 0.665, 0.557, 0.735)),
    (("Acom", "", "", ""), "table2_acom", (0.630, 0.795, 0.538, 0.699, 0.616, 0.786)),
    (("Acom", "", "", "x"), "table2_acom_se", (0.635, 0.811, 0.545, 0.716, 0.627, 0.803)),
    (("", "Sconv5", "", ""), "table2_sconv5", (0.661, 0.854, 0.581, 0.764, 0.647, 0.831)),  # as printed
    (("", "Scom", "", ""), "table2_scom", (0.614, 0.794, 0.532, 0.692, 0.602, 0.776)),
    (("", "Scom", "", "x"), "table2_scom_se", (0.627, 0.823, 0.542, 0.716, 0.606, 0.787)),
    (("Acom", "Scom", "HW", ""), "table2_hw", (0.637, 0.815, 0.555, 0.720, 0.625, 0.801)),
    (("Acom", "Scom", "SM", ""), "table2_sm", (0.647, 0.819, 0.560, 0.728, 0.638, 0.816)),
    (("Acom", "Scom", "SW", ""), "table2_sw", (0.647, 0.818, 0.564, 0.734, 0.637, 0.813)),
    (("Acom", "Scom", "HW", "x"), "table2_hw_se", (0.667, 0.852, 0.583, 0.761, 0.644, 0.824)),
    (("Acom", "Scom", "SM", "x"), "table2_sm_se", (0.640, 0.810, 0.557, 0.718, 0.632, 0.804)),
    (("Acom", "Scom", "SW", "x"), "table2_sw_se", (0.667, 0.854, 0.581, 0.764, 0.647, 0.831)),
)
ROWS = tuple(_table1("a", _TABLE1_A) + _table1("s", _TABLE1_S) +
             [TableRow(2, cells, f"mfst/tables/{name}", WEIGHTS["both"], paper) for cells, name, paper in _TABLE2])


def row_tracker_values(config: str) -> dict:
    """The ``mfst`` tracker values and the network branches of a row config."""
    from experiments.config_library import resolved_config

    init = resolved_config(config).model.init_args
    tracker = init.tracker.as_dict() if hasattr(init.tracker, "as_dict") else dict(vars(init.tracker))
    return {"tracker": {k: list(v) if isinstance(v, tuple) else v for k, v in tracker.items()},
            "branches": tuple(init.network.branches)}


def score_subsets(benchmark, evaluated, result_dir: Path, label: str, root) -> dict[str, dict[str, float]]:
    """Success AUC and precision@20 of one row's result files on OTB-2013 / OTB-50 / OTB-100, each over its
    sequences among ``evaluated`` (nan when there is none)."""
    from tracking.benchmarks import OTB
    from tracking.errors import DataError
    from tracking.evaluation.runner import score_run

    scores = {}
    for title, version in SUBSETS:
        try:
            names = [n for n in OTB(root, version=version, images=False).sequence_names if n in evaluated]
        except DataError:
            names = []
        if not names:
            scores[title] = {"auc": math.nan, "precision": math.nan, "sequences": 0}
            continue
        report = score_run("otb", [benchmark[n] for n in names], result_dir, label)
        scores[title] = {"auc": float(report.overall["success_auc"]),
                         "precision": float(report.overall["precision_20"]), "sequences": len(names)}
    return scores


def layout(rows, numbers: dict[str, tuple[float, ...]]) -> str:
    """The paper's layout: its cells, then AUC and precision per subset, one table per paper table."""
    from tracking.evaluation.report import format_table

    parts = []
    for table in sorted({row.table for row in rows}):
        lines = []
        for row in (r for r in rows if r.table == table):
            line = dict(zip(HEADERS[table], row.cells))
            values = numbers.get(row.label, (math.nan,) * 6)
            for (title, _), auc, precision in zip(SUBSETS, values[0::2], values[1::2]):
                line[f"{title} AUC"], line[f"{title} Prec."] = float(auc), float(precision)
            line["config"] = row.label
            lines.append(line)
        parts.append(f"Table {'I' if table == 1 else 'II'}\n\n{format_table(lines)}")
    return "\n\n".join(parts)


@dataclass(frozen=True)
class MFSTTables:
    """The ablation plan of ``make ablation PAPER=mfst``: it runs itself (``experiments.ablation`` hands it the
    command line's values) since its layout is the paper's rows x (subset, metric)."""

    title: str
    rows: tuple[TableRow, ...]

    def checkpoints(self, runs: Path, given: dict[str, str]) -> dict[str, Path]:
        weights = sorted({row.weights for row in self.rows})
        unknown = sorted(set(given) - set(weights))
        if unknown:
            raise ValueError(f"--ckpt for unknown training config(s) {unknown}; MFST's rows use {weights}")
        paths = {w: Path(given.get(w, runs / w / "checkpoints" / "last.ckpt")) for w in weights}
        missing = [f"{w}: {p} (make train CONFIG={w}, or --ckpt \"{w}=PATH\")" for w, p in paths.items()
                   if not p.is_file()]
        if missing:
            raise FileNotFoundError("checkpoint(s) missing:\n  " + "\n  ".join(missing))
        return paths

    def run_ablation(self, kind: str, data, out_dir, runs, given: dict[str, str] | None = None, device: str = "cpu",
                     max_sequences: int | None = None, progress: bool = True) -> dict:
        from lightning_modules.checkpoints import load_tracker
        from tracking.benchmarks import OTB
        from tracking.evaluation.identity import run_identity
        from tracking.evaluation.runner import evaluate_tracker

        if kind.lower() != "otb":
            raise ValueError(f"benchmark {kind!r}: MFST's tables are on OTB (OTB-2013, OTB-50, OTB-100)")
        paths = self.checkpoints(Path(runs), dict(given or {}))
        benchmark = OTB(data)
        evaluated = set(benchmark.sequence_names[:max_sequences])
        out_dir = Path(out_dir)
        measured, counts = {}, {}
        for row in self.rows:
            values = row_tracker_values(row.config)
            tracker = load_tracker(str(paths[row.weights]), values["tracker"], device=device, tracker="mfst",
                                   benchmark="otb")
            if tuple(tracker.network.branches) != values["branches"]:
                raise ValueError(f"{row.config} is a row for branches {list(values['branches'])}; the checkpoint "
                                 f"{paths[row.weights]} has {list(tracker.network.branches)}")
            print(f"{row.label}: {row.config} on {row.weights}'s weights ({paths[row.weights]})", flush=True)
            evaluation = evaluate_tracker("otb", tracker, benchmark, out_dir, row.label, bench_name="OTB",
                                          progress=progress, max_sequences=max_sequences,
                                          identity=run_identity(tracker, paths[row.weights], values["tracker"]))
            subsets = score_subsets(benchmark, evaluated, evaluation.run.result_dir, row.label, data)
            measured[row.label] = tuple(v for title, _ in SUBSETS for v in (subsets[title]["auc"],
                                                                             subsets[title]["precision"]))
            counts = {title: subsets[title]["sequences"] for title, _ in SUBSETS}
        paper = {row.label: row.paper for row in self.rows}
        found = ", ".join(f"{title} {count}" for title, count in counts.items())
        text = (f"{self.title}: measured on the OTB sequences under {data} (sequences per subset: {found})\n\n"
                f"{layout(self.rows, measured)}\n\nreported by the paper\n\n{layout(self.rows, paper)}\n\n"
                f"{__doc__.split(chr(10) + chr(10))[-1].strip()}\n")
        print("\n" + text)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "ablation_otb.md").write_text(text)
        summary = {"title": self.title, "benchmark": "otb", "sequences": counts,
                   "checkpoints": {w: str(p) for w, p in paths.items()},
                   "columns": [f"{t} {m}" for t, _ in SUBSETS for m in ("AUC", "Prec.")],
                   "measured": {k: list(v) for k, v in measured.items()},
                   "paper": {k: list(v) for k, v in paper.items()}}
        (out_dir / "ablation_otb.json").write_text(json.dumps(summary, indent=2))
        return summary


PLAN = MFSTTables(title="MFST, Tables I and II", rows=ROWS)
