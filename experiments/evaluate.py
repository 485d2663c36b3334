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
from pathlib import Path

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
    parser.add_argument("--batch", type=int, default=1,
                        help="sequences tracked in lockstep, one network call per frame step (trackers with a "
                             "batched step; the same boxes as one at a time)")
    parser.add_argument("--gpus", type=int, default=1,
                        help="devices to shard the sequences over, one process each (results identical to one "
                             "device); with --device cpu, that many CPU processes")
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


def _shard_worker(index: int, args, name: str, identity: dict, device: str, parent: int) -> None:
    """One device's share of the sequences (every ``gpus``-th one), in its own process, which ends with the
    evaluation that started it (``parent``: after its ``kill -9`` no shard goes on writing)."""
    from tracking.processes import exit_when_gone

    exit_when_gone(parent)  # first: a parent killed while this process imports torch ends it too

    from lightning_modules.checkpoints import load_tracker, parse_overrides
    from tracking.benchmarks import open_benchmark
    from tracking.evaluation.runner import (normalized_kind, selected_names, default_bench_name, run_ope,
                                            run_vot_supervised)

    if device == "cuda":
        import torch

        torch.cuda.set_device(index)
        device = f"cuda:{index}"
    benchmark = open_benchmark(args.benchmark, args.data, **_benchmark_options(args))
    tracker = load_tracker(args.ckpt, parse_overrides(args.overrides), device, tracker=args.tracker,
                           benchmark=args.benchmark)
    kind = normalized_kind(args.benchmark)
    bench_name = args.bench_name or default_bench_name(kind, benchmark)
    names = selected_names(benchmark, args.max_sequences)[index::args.gpus]
    results_root = f"{args.out}/results"
    if kind == "vot":
        run_vot_supervised(tracker, benchmark, results_root, name, bench_name, repetitions=args.repetitions,
                           progress=False, identity=identity, batch=args.batch, names=names, claimed=True)
    else:
        run_ope(tracker, benchmark, results_root, name, bench_name, progress=False, identity=identity,
                batch=args.batch, names=names, claimed=True)


def track_shards(args, benchmark, name: str, identity: dict, device: str) -> list[str]:
    """Track the benchmark on ``args.gpus`` devices (one spawned process each, every ``gpus``-th sequence);
    the names of the sequences they tracked (those without results before)."""
    import os

    import torch
    import torch.multiprocessing as mp

    from tracking.evaluation.identity import claim_result_folder
    from tracking.evaluation.runner import normalized_kind, selected_names, default_bench_name

    if device == "cuda" and args.gpus > torch.cuda.device_count():
        raise SystemExit(f"--gpus {args.gpus}: only {torch.cuda.device_count()} CUDA device(s) here")
    kind = normalized_kind(args.benchmark)
    bench_name = args.bench_name or default_bench_name(kind, benchmark)
    # claimed once, before the processes start (they find the same identity); this process holds the folder's
    # lock for them until it exits
    folder = Path(args.out) / "results" / bench_name / name
    claim_result_folder(folder, identity, overwrite=args.overwrite)
    names = selected_names(benchmark, args.max_sequences)
    done_before = {sequence for sequence in names if _has_result(folder, kind, sequence)}
    print(f"{name}: {len(names) - len(done_before)} sequence(s) to track over {args.gpus} {device} process(es)")
    mp.start_processes(_shard_worker, args=(args, name, identity, device, os.getpid()), nprocs=args.gpus,
                       join=True, start_method="spawn")
    return [sequence for sequence in names if sequence not in done_before and _has_result(folder, kind, sequence)]


def _has_result(folder: Path, kind: str, sequence: str) -> bool:
    from tracking.evaluation.runner import VOT_EXPERIMENT, ope_result_files, vot_result_files

    if kind == "vot":
        return vot_result_files(folder / VOT_EXPERIMENT, sequence)[0].is_file()
    return any(ope_result_files(folder, sequence, layout)[0].is_file() for layout in ("otb", "got10k"))


def main(argv=None):
    args = build_parser().parse_args(argv)

    from lightning_modules.checkpoints import default_tracker_name, load_tracker, parse_overrides
    from tracking.benchmarks import open_benchmark
    from tracking.evaluation.identity import checkpoint_run_name, run_identity
    from tracking.evaluation.runner import evaluate_tracker

    device = cli.resolve_device(args.device)
    overrides = parse_overrides(args.overrides)
    benchmark = open_benchmark(args.benchmark, args.data, **_benchmark_options(args))
    if args.batch < 1 or args.gpus < 1:
        raise ValueError("--batch and --gpus must be at least 1")
    # on the shards' kind of device even with --gpus > 1 (where it only names and scores the run): its parameters,
    # the run identity, are those the shards track with (precision=auto resolves per device)
    tracker = load_tracker(args.ckpt, overrides, device, tracker=args.tracker, benchmark=args.benchmark)
    name = args.name or checkpoint_run_name(args.ckpt) or default_tracker_name(args.ckpt)  # <run>-epoch<E>
    identity = run_identity(tracker, args.ckpt, overrides)
    sharded = None
    if args.gpus > 1:
        # each device tracks its shard into the same result folder; the scoring below then finds them all
        sharded = track_shards(args, benchmark, name, identity, device)
    evaluation = evaluate_tracker(args.benchmark, tracker, benchmark, args.out, name, bench_name=args.bench_name,
                                  progress=not args.no_progress, max_sequences=args.max_sequences,
                                  repetitions=args.repetitions, identity=identity, overwrite=args.overwrite and
                                  args.gpus == 1, batch=args.batch)
    run = evaluation.run
    tracked = run.tracked if sharded is None else sharded
    resumed = [sequence for sequence in run.skipped if sequence not in tracked]
    print(f"{name} on {evaluation.bench_name}: tracked {len(tracked)} sequence(s)"
          + (f" over {args.gpus} processes" if sharded is not None else "")
          + (f", {len(resumed)} already done (resumed)" if resumed else "")
          + (f", {run.fps:.1f} fps" if run.frames else ""))
    if evaluation.report.missing:
        print(f"missing results for: {', '.join(evaluation.report.missing)}")
    from tracking.evaluation.runner import selected_names, sequence_info_totals

    totals = sequence_info_totals(run.result_dir, selected_names(benchmark, args.max_sequences))
    if totals:  # e.g. the online tracker: did online training happen at all?
        print(f"per-sequence info ({int(totals.pop('sequences'))} sequences, {run.result_dir / 'info'}): "
              + ", ".join(f"{key} {value:g}" for key, value in sorted(totals.items())))
    print(evaluation.table)
    print(f"results: {run.result_dir}")
    print(f"reports: {evaluation.report_dir}")
    return evaluation


if __name__ == "__main__":
    cli.run(main)
