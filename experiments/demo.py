"""The suite's main job, ``make demo``: generate data, train a small SiamRPN++ on the CPU, show that training worked.

    python -m experiments.demo --out outputs/demo                      # about 10 minutes on 2 CPU cores
    python -m experiments.demo --out /tmp/demo --quick                 # a miniature of every step, ~1 minute
    python -m experiments.demo --out outputs/demo --shared-data /data  # also OTB / VOT sequences found there

Steps (each resumes when run again with the same ``--out``):

1. Synthetic data (``tracking.synthetic``): training videos written in ImageNet VID format (``data/vid``) and
   COCO format (``data/coco``), and held-out sequences from other seeds in OTB format (``data/otb_heldout``).
2. The ``siamrpnpp/demo`` config (half-width AlexNet SiamRPN++, DW-XCorr head) trained by ``experiments.train``, i.e.
   the same LightningModule, datamodule, callbacks and checkpoints as a real training run (``train/``).
   The untrained model (same architecture, the same initial weights) is saved beside it for comparison:
   ``checkpoints/untrained.ckpt`` and ``checkpoints/trained.ckpt``.
3. Both trackers evaluated one-pass on the held-out sequences, and on ``--shared-data``'s ``otb/`` (OPE) and
   ``vot/`` (VOT supervised) when that folder exists, with the evaluation runner (results/reports in got10k's
   layouts under ``results/`` and ``reports/``).
4. The success/precision table printed and written (``results.md``, ``summary.json``), the success and precision
   plots of both trackers per benchmark (``plots/<benchmark>/``), and a GIF of one held-out sequence with the
   ground truth and both trackers' boxes (``demo_<sequence>.gif``).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from experiments import cli

DEMO_CONFIG = "siamrpnpp/demo"
TRACKERS = ("untrained", "trained")
# Layout under --out (experiments.sweep reads the first two as its defaults).
CHECKPOINT_DIR = Path("checkpoints")
HELDOUT_DIR = Path("data") / "otb_heldout"
TRAIN_DATA_DIR = Path("data")
TRAIN_RUN_DIR = Path("train")
DATA_MARKER = ".demo_data.json"
RUN_MARKER = "demo_run.json"
SYNTHETIC_BENCH = "Synthetic-OTB"
VOT_NAN_NOTE = ("(VOT accuracy is nan when a tracker fails so soon after every re-initialisation that no frame "
                "outside the 10-frame burn-in is left to average)")
EXPECTED_GAIN = 0.15  # success AUC, trained minus untrained, on the held-out synthetic sequences


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the generated data and the training run of one demo flavour."""

    image_size: tuple[int, int] = (240, 320)  # (height, width) of the generated videos
    train_videos: int = 60                    # VID-format training videos ...
    train_frames: int = 50                    # ... of this many frames
    coco_videos: int = 30                     # videos whose every 5th frame becomes a COCO image
    coco_frames: int = 20
    heldout_videos: int = 8                   # OTB-format held-out sequences ...
    heldout_frames: int = 80                  # ... of this many frames
    difficulty: str = "normal"                # tracking.synthetic difficulty of training and held-out videos
    # changes to the demo's training config (experiments.train command-line flags)
    train_args: tuple[str, ...] = ()
    shared_max_sequences: int | None = None   # limit on the shared benchmarks' sequences (None: all)


FULL = DemoSettings()
QUICK = DemoSettings(
    image_size=(96, 128), train_videos=3, train_frames=8, coco_videos=2, coco_frames=5, heldout_videos=1,
    heldout_frames=6,
    train_args=("--model.init_args.optim.epochs=1", "--model.init_args.optim.warmup_epochs=0",
                "--data.init_args.videos_per_epoch=4", "--data.init_args.batch_size=2",
                "--data.init_args.num_workers=0", "--data.init_args.val_pairs=0", "--trainer.log_every_n_steps=1",
                "--trainer.limit_val_batches=0", "--logging.wandb=false", "--logging.csv=true"),
    shared_max_sequences=1)


def _elapsed(start: float) -> str:
    seconds = time.perf_counter() - start
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _stage(number: int, total: int, text: str) -> None:
    print(f"\n[{number}/{total}] {text}", flush=True)


# --- 1. data -------------------------------------------------------------------------------------------------------

def data_seeds(seed: int, settings: DemoSettings) -> dict[str, list[int]]:
    """Per-video seeds of the three data sets, from separate streams: no held-out video shares a training seed."""
    from tracking.synthetic.video import derived_seeds

    streams = {"vid": settings.train_videos, "coco": settings.coco_videos, "heldout": settings.heldout_videos}
    seeds = {name: derived_seeds(seed * 1000 + 1 + index, count)
             for index, (name, count) in enumerate(streams.items())}
    training = set(seeds["vid"]) | set(seeds["coco"])
    if training & set(seeds["heldout"]):  # derived seeds are 31-bit hashes: a clash is astronomically rare
        raise RuntimeError(f"seed {seed}: a held-out video would share a training video's seed; choose another")
    return seeds


def generate_data(out_dir: Path, settings: DemoSettings, seed: int, progress: bool = True) -> dict[str, Path]:
    """Write the training data (VID and COCO formats) and the held-out OTB-format sequences under ``out_dir``.

    A marker file records what was generated; a rerun with the same settings and seed reuses the data.
    """
    from tqdm.auto import tqdm

    from tracking.synthetic.training_formats import write_coco, write_vid
    from tracking.synthetic.video import generate_video
    from tracking.synthetic.writers import write_otb

    data_dir = out_dir / TRAIN_DATA_DIR
    paths = {"vid": data_dir / "vid", "coco": data_dir / "coco", "heldout": out_dir / HELDOUT_DIR}
    recipe = {"seed": seed, "image_size": list(settings.image_size), "difficulty": settings.difficulty,
              "videos": [settings.train_videos, settings.coco_videos, settings.heldout_videos],
              "frames": [settings.train_frames, settings.coco_frames, settings.heldout_frames]}
    marker = data_dir / DATA_MARKER
    if marker.is_file() and json.loads(marker.read_text()) == recipe:
        print(f"reusing the generated data in {data_dir}")
        return paths
    for path in paths.values():
        if path.exists():
            shutil.rmtree(path)
    seeds = data_seeds(seed, settings)

    def videos(kind: str, frames: int, prefix: str):
        bar = tqdm(seeds[kind], desc=f"generating {kind}", unit="video", disable=not progress, dynamic_ncols=True)
        for index, video_seed in enumerate(bar):
            yield generate_video(video_seed, num_frames=frames, size=settings.image_size,
                                 difficulty=settings.difficulty, name=f"{prefix}{index:03d}")

    write_vid(videos("vid", settings.train_frames, "train"), paths["vid"])
    write_coco(videos("coco", settings.coco_frames, "coco"), paths["coco"], frame_step=5)
    write_otb(videos("heldout", settings.heldout_frames, "Heldout"), paths["heldout"])
    marker.write_text(json.dumps(recipe))
    return paths


# --- 2. training ---------------------------------------------------------------------------------------------------

def training_args(config: str, settings: DemoSettings, seed: int, extra_args=()) -> list[str]:
    """The ``experiments.train`` flags of the demo's run (its config, the flavour's and the user's changes)."""
    return ["--config", config, f"--seed_everything={seed}", *settings.train_args, *extra_args]


def save_checkpoint(module, path: Path) -> Path:
    """A Lightning checkpoint of ``module`` as it is (``load_tracker`` reads it like any training checkpoint)."""
    import pytorch_lightning as pl

    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.strategy.connect(module)
    path.parent.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(path)
    return path


def train_demo(args: list[str], out_dir: Path, device: str) -> tuple[Path, Path]:
    """Train (resuming an interrupted run); returns the (untrained, trained) checkpoint paths. The untrained
    one holds the weights training starts from: the model built by the same config after the same seeding."""
    from experiments.train import build_cli, main as train_main

    checkpoints = out_dir / CHECKPOINT_DIR
    untrained = checkpoints / "untrained.ckpt"
    if not untrained.is_file():
        save_checkpoint(build_cli(args, model_only=True).model, untrained)
    hardware = ["--gpus=1", "--trainer.accelerator=gpu"] if device == "cuda" else ["--gpus=1",
                                                                                   "--trainer.accelerator=cpu"]
    train_main([*args, *hardware, "--data_root", str(out_dir / TRAIN_DATA_DIR), "--out",
                str(out_dir / TRAIN_RUN_DIR)])
    last = out_dir / TRAIN_RUN_DIR / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise RuntimeError(f"training wrote no checkpoint ({last} missing)")
    trained = checkpoints / "trained.ckpt"
    shutil.copyfile(last, trained)
    return untrained, trained


# --- 3. evaluation -------------------------------------------------------------------------------------------------

@dataclass
class BenchmarkRun:
    title: str       # shown in the table
    kind: str        # otb or vot
    root: Path
    bench_name: str  # result folder name
    max_sequences: int | None = None


def benchmarks_to_run(out_dir: Path, shared_data: Path | None, settings: DemoSettings) -> list[BenchmarkRun]:
    runs = [BenchmarkRun("synthetic held-out (OTB format)", "otb", out_dir / HELDOUT_DIR, SYNTHETIC_BENCH)]
    if shared_data is None:
        print("shared data: not requested (--no-shared)")
        return runs
    found = []
    for kind, title, bench_name in (("otb", "OTB sequences (shared data)", "OTB"),
                                    ("vot", "VOT sequences (shared data)", "VOT")):
        root = shared_data / kind
        if root.is_dir():
            runs.append(BenchmarkRun(title, kind, root, bench_name, settings.shared_max_sequences))
            found.append(str(root))
    if found:
        print(f"shared data: evaluating on {', '.join(found)}"
              + (f" (first {settings.shared_max_sequences} sequence(s) each)" if settings.shared_max_sequences else ""))
    else:
        print(f"shared data: {shared_data} has no otb/ or vot/ folder: skipping the real sequences "
              "(pass --shared-data DIR to use them)")
    return runs


def evaluate_all(checkpoints: dict[str, Path], runs: list[BenchmarkRun], out_dir: Path, device: str,
                 progress: bool = True) -> dict:
    """``{bench_name: {tracker: Evaluation}}``: each tracker on each benchmark (resumable)."""
    from lightning_modules.checkpoints import load_tracker
    from tracking.benchmarks import open_benchmark
    from tracking.evaluation.identity import run_identity
    from tracking.evaluation.runner import evaluate_tracker

    evaluations: dict[str, dict] = {}
    for run in runs:
        benchmark = open_benchmark(run.kind, run.root)
        evaluations[run.bench_name] = {}
        for name, checkpoint in checkpoints.items():
            tracker = load_tracker(str(checkpoint), device=device, benchmark=run.kind)
            evaluations[run.bench_name][name] = evaluate_tracker(
                run.kind, tracker, benchmark, out_dir, name, bench_name=run.bench_name, progress=progress,
                max_sequences=run.max_sequences, identity=run_identity(tracker, checkpoint))
    return evaluations


# --- 4. report -----------------------------------------------------------------------------------------------------

def table_rows(runs: list[BenchmarkRun], evaluations: dict) -> tuple[list[dict], list[dict]]:
    """(one-pass rows, VOT rows) of the results table."""
    ope_rows, vot_rows = [], []
    for run in runs:
        for name, evaluation in evaluations[run.bench_name].items():
            scores = evaluation.scores
            row = {"Benchmark": run.bench_name, "Tracker": name}
            if run.kind == "vot":
                row.update({"Accuracy": scores["accuracy"], "Robustness": scores["robustness"],
                            "Failures": scores["failures"], "EAO": scores["eao"], "FPS": scores["speed_fps"],
                            "Seqs": int(scores["num_sequences"])})
                vot_rows.append(row)
            else:
                row.update({"Success AUC": scores["success_auc"], "Prec@20": scores["precision_20"],
                            "SR@0.5": scores["success_rate_50"], "Norm Prec@0.2": scores["norm_precision_20"],
                            "FPS": scores["speed_fps"], "Seqs": int(scores["num_sequences"])})
                ope_rows.append(row)
    return ope_rows, vot_rows


def gains(runs: list[BenchmarkRun], evaluations: dict) -> dict[str, float]:
    """Trained minus untrained: success AUC (OPE) or EAO (VOT) per benchmark."""
    out = {}
    for run in runs:
        key = "eao" if run.kind == "vot" else "success_auc"
        pair = evaluations[run.bench_name]
        out[run.bench_name] = pair["trained"].scores[key] - pair["untrained"].scores[key]
    return out


def write_plots(runs: list[BenchmarkRun], evaluations: dict, out_dir: Path) -> list[Path]:
    """Success and precision plots with both trackers, one folder per one-pass benchmark."""
    from tracking.evaluation.report import plot_curves

    written = []
    for run in runs:
        if run.kind == "vot":
            continue
        overall = {name: evaluation.report.overall for name, evaluation in evaluations[run.bench_name].items()}
        written += plot_curves(overall, out_dir / "plots" / run.bench_name, title_suffix=f"on {run.bench_name}")
    return written


def write_video(out_dir: Path, sequence_name: str | None, video_format: str, progress: bool = True) -> Path:
    """A GIF/MP4 of one held-out sequence: ground truth and both trackers' boxes from their result files."""
    from experiments.show import load_result, render
    from tracking.benchmarks import OTB
    from tracking.visualize import write_video as write_frames

    benchmark = OTB(out_dir / HELDOUT_DIR)
    name = sequence_name or benchmark.sequence_names[0]
    if name not in benchmark.sequence_names:
        raise ValueError(f"--video-sequence {name!r}: not a held-out sequence; choose one of "
                         f"{benchmark.sequence_names}")
    sequence = benchmark[name]
    results = {tracker: load_result(out_dir / "results" / SYNTHETIC_BENCH / tracker, sequence)
               for tracker in TRACKERS}
    frames = render(sequence, results, progress=progress)
    return write_frames(frames, out_dir / f"demo_{name}.{video_format}", fps=15)


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return ""
    columns = list(rows[0])

    def cell(value):
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" if c in ("Benchmark", "Tracker") else "---:"
                                                             for c in columns) + "|"]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def check_run_folder(out_dir: Path, recipe: dict) -> None:
    """A rerun resumes only the same demo: refuse an ``--out`` that holds a demo with other settings."""
    marker = out_dir / RUN_MARKER
    recipe = json.loads(json.dumps(recipe))  # as it reads back (tuples become lists)
    if marker.is_file():
        previous = json.loads(marker.read_text())
        if previous != recipe:
            changed = sorted(k for k in set(previous) | set(recipe) if previous.get(k) != recipe.get(k))
            raise SystemExit(f"error: {out_dir} holds a demo run with other settings ({', '.join(changed)} differ); "
                             "choose another --out or delete that folder")
    else:
        marker.write_text(json.dumps(recipe, indent=2))


# --- command line --------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments.demo", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (rerunning with the same folder resumes)")
    parser.add_argument("--quick", action="store_true", help="a miniature run: tiny data, a few training steps")
    parser.add_argument("--shared-data", default="../shared/data",
                        help="folder with real sequences in otb/ and vot/ (default ../shared/data; skipped when absent)")
    parser.add_argument("--no-shared", action="store_true", help="do not evaluate on --shared-data")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, the initial weights and the training")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu",
                        help="where to train and track (default cpu, as the demo is meant to run anywhere)")
    parser.add_argument("--config", default=DEMO_CONFIG, help=f"training config (default {DEMO_CONFIG})")
    parser.add_argument("--video-sequence", default=None, help="held-out sequence to render (default: the first)")
    parser.add_argument("--video-format", choices=("gif", "mp4"), default="gif")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars while tracking")
    return parser


def main(argv=None) -> dict:
    # flags it does not know go to the training command (e.g. --model.init_args.optim.epochs=3)
    args, train_extra = build_parser().parse_known_args(argv)
    start = time.perf_counter()
    settings = QUICK if args.quick else FULL
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress
    check_run_folder(out_dir, {"quick": args.quick, "seed": args.seed, "config": args.config,
                               "train_args": list(train_extra), "settings": asdict(settings)})


    device = cli.resolve_device(args.device)
    from experiments.wandb_setup import configure_wandb_mode

    configure_wandb_mode()  # nothing reaches the network unless the user configured W&B
    timings = {}

    _stage(1, 4, f"generating synthetic data under {out_dir / TRAIN_DATA_DIR}")
    stage_start = time.perf_counter()
    generate_data(out_dir, settings, args.seed, progress)
    timings["data"] = time.perf_counter() - stage_start

    _stage(2, 4, f"training {args.config} on {device} ({out_dir / TRAIN_RUN_DIR})")
    stage_start = time.perf_counter()
    untrained, trained = train_demo(training_args(args.config, settings, args.seed, train_extra), out_dir, device)
    timings["train"] = time.perf_counter() - stage_start
    print(f"trained in {_elapsed(stage_start)}; checkpoints: {untrained}, {trained}")

    _stage(3, 4, "evaluating the untrained and the trained tracker")
    stage_start = time.perf_counter()
    shared = None if args.no_shared else Path(args.shared_data)
    runs = benchmarks_to_run(out_dir, shared, settings)
    evaluations = evaluate_all({"untrained": untrained, "trained": trained}, runs, out_dir, device, progress)
    timings["evaluate"] = time.perf_counter() - stage_start

    _stage(4, 4, "tables, plots and video")
    stage_start = time.perf_counter()
    ope_rows, vot_rows = table_rows(runs, evaluations)
    plots = write_plots(runs, evaluations, out_dir)
    video = write_video(out_dir, args.video_sequence, args.video_format, progress)
    timings["report"] = time.perf_counter() - stage_start
    timings["total"] = time.perf_counter() - start

    from tracking.evaluation.report import format_table

    improvement = gains(runs, evaluations)
    summary = {"settings": {**asdict(settings), "quick": args.quick, "seed": args.seed, "device": device},
               "ope": ope_rows, "vot": vot_rows, "gain": improvement, "seconds": timings,
               "checkpoints": {"untrained": str(untrained), "trained": str(trained)},
               "plots": [str(p) for p in plots], "video": str(video)}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    text = "## One-pass evaluation (OTB protocol)\n\n" + markdown_table(ope_rows)
    if vot_rows:
        text += "\n## VOT supervised (baseline) experiment\n\n" + markdown_table(vot_rows)
    (out_dir / "results.md").write_text(text)

    print("\n" + format_table(ope_rows))
    if vot_rows:
        print("\n" + format_table(vot_rows))
        if any(row["Accuracy"] != row["Accuracy"] for row in vot_rows):
            print(VOT_NAN_NOTE)
            (out_dir / "results.md").write_text(text + "\n" + VOT_NAN_NOTE + "\n")
    print()
    for bench_name, gain in improvement.items():
        metric = "EAO" if bench_name == "VOT" else "success AUC"
        print(f"trained - untrained {metric} on {bench_name}: {gain:+.3f}")
    synthetic_gain = improvement[SYNTHETIC_BENCH]
    if not args.quick and synthetic_gain < EXPECTED_GAIN:
        print(f"warning: the gain on the held-out synthetic sequences ({synthetic_gain:+.3f}) is below the "
              f"expected +{EXPECTED_GAIN:.2f}", file=sys.stderr)
    print(f"\nplots: {out_dir / 'plots'}\nvideo: {video}\ntable: {out_dir / 'results.md'}\n"
          f"demo finished in {_elapsed(start)} (data {timings['data']:.0f} s, training {timings['train']:.0f} s, "
          f"evaluation {timings['evaluate']:.0f} s, report {timings['report']:.0f} s)")
    return summary


if __name__ == "__main__":
    cli.run(main)
