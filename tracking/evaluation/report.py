"""Reports: got10k-layout ``performance.json``, success / precision plots, plain-text tables."""
from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tracking.atomic_files import atomic_write_bytes, atomic_write_text
from tracking.metrics.ope import NORM_PRECISION_THRESHOLDS, PRECISION_THRESHOLDS

# got10k's OTB performance.json keys and where they come from in our score dicts
GOT10K_OTB_KEYS = {"success_score": "success_auc", "precision_score": "precision_20",
                   "success_rate": "success_rate_50"}


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None  # JSON has no NaN / inf
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _with_got10k_keys(scores: Mapping) -> dict:
    """OPE scores plus got10k's key names (``success_score``, ``precision_score``, ``success_rate``)."""
    entry = dict(scores)
    for got10k_key, ours in GOT10K_OTB_KEYS.items():
        if ours in entry and got10k_key not in entry:
            entry[got10k_key] = entry[ours]
    return entry


def write_performance_json(report_dir, tracker_name: str, overall: Mapping, per_sequence: Mapping, bench: str,
                           extra: Mapping | None = None) -> Path:
    """Write ``<report_dir>/<bench>/<tracker_name>/performance.json`` in got10k's layout; returns its path.

    ``{tracker_name: {"overall": {...}, "seq_wise": {seq: {...}}, ...extra}}``. For OPE scores the got10k
    keys (``success_curve, precision_curve, success_score, precision_score, success_rate, speed_fps``) are
    written next to ours (``success_auc, precision_20, success_rate_50, norm_precision_auc,
    norm_precision_20, norm_precision_curve``). NaN / inf become ``null``.
    """
    folder = Path(report_dir) / bench / tracker_name
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"overall": _with_got10k_keys(overall),
             "seq_wise": {name: _with_got10k_keys(scores) for name, scores in per_sequence.items()}}
    entry.update(extra or {})
    path = folder / "performance.json"
    atomic_write_text(path, json.dumps(_jsonable({tracker_name: entry}), indent=4))
    return path


def _score(overall: Mapping, *keys):
    for key in keys:
        if key in overall and overall[key] is not None:
            return float(overall[key])
    return float("nan")


def _plot(curves: list[tuple[str, np.ndarray, float]], thresholds_for, path: Path, xlabel: str, ylabel: str,
          title: str, xlim) -> Path:
    # a bare Agg figure: no pyplot, so no global backend switch and nothing left open
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    styles = ["-", "--", "-."]
    for index, (label, curve, score) in enumerate(sorted(curves, key=lambda c: -np.nan_to_num(c[2], nan=-1))):
        axes.plot(thresholds_for(len(curve)), curve, styles[(index // 10) % 3], label=f"{label}: [{score:.3f}]")
    axes.set(xlabel=xlabel, ylabel=ylabel, title=title, xlim=xlim, ylim=(0, 1))
    axes.grid(True)
    axes.legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize=8)
    # rendered in memory, then written atomically: a full disk or a kill never leaves a partial PNG behind
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", dpi=120)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def plot_curves(reports: Mapping[str, Mapping], out_dir, title_suffix: str = "") -> list[Path]:
    """Success and precision plots (got10k style: one line per tracker, legend with AUC / P@20).

    ``reports`` maps a tracker name to its overall scores (needs ``success_curve``; ``precision_curve`` and
    ``norm_precision_curve`` are plotted when present). Writes ``success_plot.png``, ``precision_plot.png``
    (and ``norm_precision_plot.png``) into ``out_dir``; returns the written paths.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = f" {title_suffix}" if title_suffix else ""
    written = []
    success = [(name, np.asarray(r["success_curve"], float), _score(r, "success_auc", "success_score", "ao"))
               for name, r in reports.items() if r.get("success_curve") is not None]
    if success:
        written.append(_plot(success, lambda n: np.linspace(0, 1, n), out_dir / "success_plot.png",
                             "Overlap threshold", "Success rate", f"Success plots of OPE{suffix}", (0, 1)))
    precision = [(name, np.asarray(r["precision_curve"], float), _score(r, "precision_20", "precision_score"))
                 for name, r in reports.items() if r.get("precision_curve") is not None]
    if precision:
        written.append(_plot(precision, lambda n: PRECISION_THRESHOLDS[:n], out_dir / "precision_plot.png",
                             "Location error threshold (px)", "Precision", f"Precision plots of OPE{suffix}",
                             (0, PRECISION_THRESHOLDS[-1])))
    normalized = [(name, np.asarray(r["norm_precision_curve"], float), _score(r, "norm_precision_auc"))
                  for name, r in reports.items() if r.get("norm_precision_curve") is not None]
    if normalized:
        written.append(_plot(normalized, lambda n: NORM_PRECISION_THRESHOLDS[:n], out_dir / "norm_precision_plot.png",
                             "Normalized location error threshold", "Normalized precision",
                             f"Normalized precision plots of OPE{suffix}", (0, NORM_PRECISION_THRESHOLDS[-1])))
    return written


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        return "nan" if not math.isfinite(float(value)) else f"{float(value):.3f}"
    return str(value)


def format_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """A plain-text table: one row per mapping, columns = the first row's keys (or ``columns``);
    floats with 3 decimals, numbers right-aligned, text left-aligned."""
    rows = list(rows)
    if not rows:
        return ""
    columns = list(columns) if columns is not None else list(rows[0].keys())
    cells = [[_cell(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(str(column)), *(len(r[i]) for r in cells)) for i, column in enumerate(columns)]
    numeric = [all(isinstance(row.get(c), (int, float, np.number)) and not isinstance(row.get(c), bool)
                   for row in rows) for c in columns]

    def line(values):
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

    separator = "  ".join("-" * w for w in widths)
    return "\n".join([line([str(c) for c in columns]), separator] + [line(r) for r in cells])
