"""Score existing result files: ``python -m experiments.score {otb,vot,lasot,got10k,uav123} --results DIR
--data ROOT --out DIR [--name NAME]``.

``--results`` is one tracker's result folder in got10k's layout (OTB/UAV123/LaSOT: ``<Seq>.txt`` files; VOT: the
folder holding ``baseline/``; GOT-10k: ``<seq>/<seq>_001.txt``). ``--data`` is the benchmark root (for OTB the
ground-truth files alone are enough). Prints the scores, the per-attribute table and the sequences without
results, and writes ``<out>/reports/<BENCH>/<NAME>/performance.json`` with the plots beside it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tracking.errors import DataError
from tracking.evaluation.report import format_table, plot_curves, write_performance_json
from tracking.evaluation.scoring import SCORERS, Report, open_for_scoring
from tracking.metrics.vot import EAO_INTERVALS

BENCH_NAMES = {"otb": "OTB", "vot": "VOT", "lasot": "LaSOT", "got10k": "GOT-10k", "uav123": "UAV123"}
OVERALL_COLUMNS = {
    "ope": ("success_auc", "precision_20", "success_rate_50", "norm_precision_auc", "norm_precision_20",
            "speed_fps", "num_sequences"),
    "uav123": ("success_auc", "precision_20", "success_rate_50", "norm_precision_auc", "norm_precision_20",
               "speed_fps", "num_sequences"),
    "lasot": ("success_auc", "precision_20", "success_rate_50", "norm_precision_auc", "norm_precision_20",
              "speed_fps", "num_sequences"),
    "vot": ("eao", "accuracy", "robustness", "failures", "tag_weighted_accuracy", "tag_weighted_robustness",
            "speed_fps", "num_sequences"),
    "got10k": ("ao", "sr50", "sr75", "speed_fps", "num_sequences"),
}
ATTRIBUTE_COLUMNS = ("success_auc", "precision_20", "norm_precision_auc", "norm_precision_20")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m experiments.score", description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmark", choices=sorted(SCORERS), help="benchmark kind")
    parser.add_argument("--results", required=True, type=Path, help="one tracker's result folder")
    parser.add_argument("--data", required=True, type=Path, help="benchmark root")
    parser.add_argument("--out", required=True, type=Path, help="output folder (reports go to <out>/reports)")
    parser.add_argument("--name", default=None, help="tracker name in the report (default: the results folder name)")
    parser.add_argument("--bench-name", default=None, help="benchmark folder name under reports/ (default: OTB, ...)")
    parser.add_argument("--version", default=None, help="OTB version filter (2013, 2015, tb50, tb100)")
    parser.add_argument("--subset", default=None, help="GOT-10k subset (default val) / LaSOT subset (test, train)")
    parser.add_argument("--eao-interval", nargs=2, type=int, default=list(EAO_INTERVALS["VOT2018"]),
                        metavar=("LOW", "HIGH"), help="VOT EAO sequence-length interval (default VOT2018 100 356)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def _reader_options(args) -> dict:
    if args.benchmark == "otb" and args.version is not None:
        return {"version": int(args.version) if args.version.isdigit() else args.version}
    if args.benchmark == "got10k":
        return {"subset": args.subset or "val"}
    if args.benchmark == "lasot" and args.subset is not None:
        return {"subset": args.subset}
    return {}


def score(args) -> tuple[Report, Path]:
    benchmark = open_for_scoring(args.benchmark, args.data, **_reader_options(args))
    scorer = SCORERS[args.benchmark]
    options = {"tracker_name": args.name, "progress": not args.no_progress}
    if args.benchmark == "vot":
        options["interval"] = tuple(args.eao_interval)
    report = scorer(benchmark, args.results, **options)
    bench = args.bench_name or BENCH_NAMES[args.benchmark]
    extra = {"protocol": report.protocol, "missing": report.missing}
    if report.per_attribute:
        extra["per_attribute"] = report.per_attribute
    if report.per_tag:
        extra["per_tag"] = report.per_tag
    path = write_performance_json(args.out / "reports", report.tracker_name, report.overall, report.per_sequence,
                                  bench, extra=extra)
    if "success_curve" in report.overall:
        plot_curves({report.tracker_name: report.overall}, path.parent, title_suffix=f"on {bench}")
    return report, path


def print_report(report: Report, path: Path, out=None) -> None:
    out = out or sys.stdout
    columns = OVERALL_COLUMNS[report.protocol]
    print(f"\n{report.tracker_name} on {report.benchmark} ({report.protocol} protocol)", file=out)
    print(format_table([{"tracker": report.tracker_name, **{c: report.overall[c] for c in columns}}]), file=out)
    if report.per_attribute:
        rows = [{"attribute": name, "sequences": values["num_sequences"],
                 **{c: values[c] for c in ATTRIBUTE_COLUMNS if c in values}}
                for name, values in report.per_attribute.items()]
        print("\nPer attribute:", file=out)
        print(format_table(rows), file=out)
    if report.per_tag:
        rows = [{"tag": tag, **values} for tag, values in report.per_tag.items()]
        print("\nPer tag (got10k weighting):", file=out)
        print(format_table(rows), file=out)
    if report.missing:
        print(f"\nMissing results for {len(report.missing)} sequence(s): {', '.join(report.missing)}", file=out)
    nan_counts = {name: int(scores["nan_result_lines"]) for name, scores in report.per_sequence.items()
                  if scores.get("nan_result_lines")}
    if nan_counts:
        print(f"\nResult lines with NaN (scored as failed frames) in {len(nan_counts)} sequence(s): "
              + ", ".join(f"{name} ({count})" for name, count in nan_counts.items()), file=out)
    print(f"\nReport: {path}", file=out)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report, path = score(args)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_report(report, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
