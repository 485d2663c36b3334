"""Track a benchmark with a checkpoint (or a baseline), score it and write the reports: ``make eval-<benchmark>``.

    python -m experiments.evaluate otb --ckpt runs/siamrpn/last.ckpt --data /data/OTB100 --out outputs
    python -m experiments.evaluate vot --ckpt baseline:ncc --data /data/VOT2018 --out outputs --max-sequences 5
    python -m experiments.evaluate otb --ckpt x.ckpt --data ROOT --out outputs --set penalty_k=0.04 --set lr=0.3
    python -m experiments.evaluate otb --ckpt siamfc.ckpt --tracker hierarchical --data ROOT --out outputs

Results go to ``OUT/results/<BENCH>/<NAME>/`` in got10k's layout (an interrupted run resumes where it stopped),
reports to ``OUT/reports/<BENCH>/<NAME>/`` (``performance.json``, success and precision plots), and the score
table is printed. NAME defaults to the checkpoint's stem. VOT runs the supervised (baseline) experiment.
"""
from __future__ import annotations

import argparse

from experiments import cli
from tracking.evaluation.runner import KINDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments.evaluate", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", choices=KINDS, help="benchmark kind")
    parser.add_argument("--ckpt", required=True,
                        help="checkpoint path, or baseline:firstbox / baseline:ncc")
    parser.add_argument("--data", required=True, help="benchmark root")
    parser.add_argument("--out", required=True, help="output directory (results/ and reports/ go under it)")
    parser.add_argument("--tracker", default=None,
                        help="which of the model's trackers (default its main one, e.g. siamrpn); an unknown name "
                             "lists the accepted ones")
    parser.add_argument("--name", default=None, help="tracker name in results/reports (default: checkpoint stem)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="tracker hyper-parameter override, repeatable (e.g. penalty_k=0.04)")
    parser.add_argument("--device", default=None, choices=["cpu", "cuda"],
                        help="device for the model (default: cuda when available)")
    parser.add_argument("--max-sequences", type=int, default=None, help="track only the first N sequences")
    parser.add_argument("--bench-name", default=None,
                        help="result folder name of the benchmark (default: OTB2015/OTB, VOT, GOT-10k, LaSOT, UAV123)")
    parser.add_argument("--subset", default=None, help="GOT-10k / LaSOT subset (default: val / test)")
    parser.add_argument("--version", default=None, help="OTB version filter (2013, 2015, tb50, tb100)")
    parser.add_argument("--repetitions", type=int, default=1, help="VOT: runs per sequence")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete this name's results and reports first (a rerun otherwise resumes them only when "
                             "the same checkpoint contents, tracker and parameters produced them)")
    return parser


def _benchmark_options(args) -> dict:
    options = {}
    if args.benchmark == "otb" and args.version is not None:
        options["version"] = int(args.version) if args.version.isdigit() else args.version
    if args.benchmark in ("got10k", "lasot"):
        options["subset"] = args.subset or ("val" if args.benchmark == "got10k" else "test")
    return options


def main(argv=None):
    args = build_parser().parse_args(argv)

    from lightning_modules.checkpoints import default_tracker_name, load_tracker, parse_overrides
    from tracking.benchmarks import open_benchmark
    from tracking.evaluation.identity import checkpoint_run_name, run_identity
    from tracking.evaluation.runner import evaluate_tracker

    device = cli.resolve_device(args.device)
    overrides = parse_overrides(args.overrides)
    benchmark = open_benchmark(args.benchmark, args.data, **_benchmark_options(args))
    tracker = load_tracker(args.ckpt, overrides, device, tracker=args.tracker, benchmark=args.benchmark)
    name = args.name or checkpoint_run_name(args.ckpt) or default_tracker_name(args.ckpt)  # <run>-epoch<E>
    evaluation = evaluate_tracker(args.benchmark, tracker, benchmark, args.out, name, bench_name=args.bench_name,
                                  progress=not args.no_progress, max_sequences=args.max_sequences,
                                  repetitions=args.repetitions, identity=run_identity(tracker, args.ckpt, overrides),
                                  overwrite=args.overwrite)
    run = evaluation.run
    print(f"{name} on {evaluation.bench_name}: tracked {len(run.tracked)} sequence(s)"
          + (f", {len(run.skipped)} already done (resumed)" if run.skipped else "")
          + (f", {run.fps:.1f} fps" if run.frames else ""))
    if evaluation.report.missing:
        print(f"missing results for: {', '.join(evaluation.report.missing)}")
    print(evaluation.table)
    print(f"results: {run.result_dir}")
    print(f"reports: {evaluation.report_dir}")
    return evaluation


if __name__ == "__main__":
    cli.run(main)
