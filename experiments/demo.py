"""The suite's main job, ``make demo``: generate data, train a small SiamRPN++ on the CPU, show that training worked.

    python -m experiments.demo --out outputs/demo                      # about 6 minutes on 2 CPU cores
    python -m experiments.demo --out /tmp/demo --quick                 # a miniature of every step, ~1 minute
    python -m experiments.demo --out outputs/demo --shared-data /data  # also OTB / VOT sequences found there
    python -m experiments.demo --paper siamfc --out outputs/demo-siamfc  # another paper's demo plan

What is trained and compared is the paper's plan (``experiments/demos/<paper>.py``: its runs, the trackers in the
table and the comparisons printed at the end); the steps are the same for every paper. The SiamRPN++ plan:

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

DEFAULT_PAPER = "siamrpnpp"
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
IMAGE_FORMATS = ("coco", "det")  # training formats made of single images (the others are videos)


@dataclass(frozen=True)
class DemoRun:
    """One training run of a demo: ``config`` trained on the generated data (``train_args``: extra flags)."""

    name: str
    config: str
    train_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class DemoTracker:
    """One row of the table: run ``run``'s ``weights`` ("trained" or "untrained", the exact starting weights)
    with the module's tracker ``tracker`` (None: its main one) and ``params``."""

    label: str
    run: str
    weights: str = "trained"
    tracker: str | None = None
    params: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class DemoPlan:
    """What a paper's demo trains (``runs``), tracks (``trackers``) and compares (``comparisons``: (a, b) prints
    ``a - b <success AUC | EAO> on <benchmark>``); ``training_formats`` are the generated training datasets;
    ``expected_gain``: the first comparison's least gain on the held-out synthetic sequences (a warning below)."""

    title: str
    runs: tuple[DemoRun, ...]
    trackers: tuple[DemoTracker, ...]
    comparisons: tuple[tuple[str, str], ...]
    training_formats: tuple[str, ...] = ("vid", "coco")
    expected_gain: float | None = None

    def run(self, name: str) -> DemoRun:
        return next(run for run in self.runs if run.name == name)


def load_plan(paper: str) -> DemoPlan:
    """The plan of ``experiments/demos/<paper>.py`` (another spelling of the paper's name, e.g. ``siamfc-online``,
    gives its plan); an unknown paper lists the available ones."""
    import importlib
    from importlib import resources

    from experiments.config_library import canonical_paper_name

    paper = canonical_paper_name(paper)
    available = sorted(entry.name[:-3] for entry in resources.files("experiments.demos").iterdir()
                       if entry.name.endswith(".py") and not entry.name.startswith("_"))
    if paper not in available:
        raise ValueError(f"no demo for paper {paper!r}; available: {', '.join(available)}")
    return importlib.import_module(f"experiments.demos.{paper}").PLAN


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

def data_seeds(seed: int, settings: DemoSettings, formats=("vid", "coco")) -> dict[str, list[int]]:
    """Per-video seeds of the training sets and the held-out set, from separate streams: no held-out video shares
    a training video's seed. The VID, COCO and held-out streams keep their numbers whatever the formats."""
    from tracking.synthetic.video import derived_seeds

    numbers = {"vid": 0, "coco": 1, "heldout": 2}
    extra = [name for name in formats if name not in numbers]
    numbers.update({name: 3 + index for index, name in enumerate(extra)})
    counts = {name: settings.coco_videos if name in IMAGE_FORMATS else settings.train_videos for name in formats}
    counts["heldout"] = settings.heldout_videos
    seeds = {name: derived_seeds(seed * 1000 + 1 + numbers[name], count) for name, count in counts.items()}
    training = set().union(*(seeds[name] for name in formats))
    if training & set(seeds["heldout"]):  # derived seeds are 31-bit hashes: a clash is astronomically rare
        raise RuntimeError(f"seed {seed}: a held-out video would share a training video's seed; choose another")
    return seeds


def generate_data(out_dir: Path, settings: DemoSettings, seed: int, progress: bool = True,
                  formats=("vid", "coco")) -> dict[str, Path]:
    """Write the training data (``formats``, e.g. VID and COCO) and the held-out OTB-format sequences.

    A marker file records what was generated; a rerun with the same settings and seed reuses the data.
    """
    from tqdm.auto import tqdm

    from tracking.synthetic.training_formats import TRAINING_WRITERS
    from tracking.synthetic.video import generate_video
    from tracking.synthetic.writers import write_otb

    unknown = [name for name in formats if name not in TRAINING_WRITERS]
    if unknown:
        raise ValueError(f"no synthetic writer for training format(s) {unknown}; known: {sorted(TRAINING_WRITERS)}")
    data_dir = out_dir / TRAIN_DATA_DIR
    paths = {name: data_dir / name for name in formats}
    paths["heldout"] = out_dir / HELDOUT_DIR
    recipe = {"seed": seed, "image_size": list(settings.image_size), "difficulty": settings.difficulty,
              "videos": [settings.train_videos, settings.coco_videos, settings.heldout_videos],
              "frames": [settings.train_frames, settings.coco_frames, settings.heldout_frames]}
    if tuple(formats) != ("vid", "coco"):
        recipe["formats"] = list(formats)
    marker = data_dir / DATA_MARKER
    if marker.is_file() and json.loads(marker.read_text()) == recipe:
        print(f"reusing the generated data in {data_dir}")
        return paths
    for path in paths.values():
        if path.exists():
            shutil.rmtree(path)
    seeds = data_seeds(seed, settings, formats)

    def videos(kind: str, frames: int, prefix: str):
        bar = tqdm(seeds[kind], desc=f"generating {kind}", unit="video", disable=not progress, dynamic_ncols=True)
        for index, video_seed in enumerate(bar):
            yield generate_video(video_seed, num_frames=frames, size=settings.image_size,
                                 difficulty=settings.difficulty, name=f"{prefix}{index:03d}")

    for name in formats:
        if name in IMAGE_FORMATS:  # every 5th frame of short videos becomes an image
            TRAINING_WRITERS[name](videos(name, settings.coco_frames, name), paths[name], frame_step=5)
        else:
            TRAINING_WRITERS[name](videos(name, settings.train_frames, "train" if name == "vid" else name),
                                   paths[name])
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


def run_paths(plan: DemoPlan, run: DemoRun, out_dir: Path) -> dict[str, Path]:
    """Where a run trains and keeps its checkpoints: ``train/`` and ``checkpoints/{untrained,trained}.ckpt`` for
    a one-run plan (where ``make sweep`` looks), ``train/<run>/`` and ``checkpoints/<run>-<weights>.ckpt`` else."""
    if len(plan.runs) == 1:
        return {"train": out_dir / TRAIN_RUN_DIR, "untrained": out_dir / CHECKPOINT_DIR / "untrained.ckpt",
                "trained": out_dir / CHECKPOINT_DIR / "trained.ckpt"}
    return {"train": out_dir / TRAIN_RUN_DIR / run.name,
            "untrained": out_dir / CHECKPOINT_DIR / f"{run.name}-untrained.ckpt",
            "trained": out_dir / CHECKPOINT_DIR / f"{run.name}-trained.ckpt"}


def train_demo(args: list[str], out_dir: Path, device: str, paths: dict[str, Path] | None = None) -> tuple[Path, Path]:
    """Train (resuming an interrupted run); returns the (untrained, trained) checkpoint paths. The untrained
    one holds the weights training starts from: the model built by the same config after the same seeding."""
    from experiments.config_library import build_model_cli
    from experiments.train import main as train_main

    paths = paths or {"train": out_dir / TRAIN_RUN_DIR, "untrained": out_dir / CHECKPOINT_DIR / "untrained.ckpt",
                      "trained": out_dir / CHECKPOINT_DIR / "trained.ckpt"}
    if not paths["untrained"].is_file():
        save_checkpoint(build_model_cli(args).model, paths["untrained"])
    hardware = ["--gpus=1", "--trainer.accelerator=gpu"] if device == "cuda" else ["--gpus=1",
                                                                                   "--trainer.accelerator=cpu"]
    train_main([*args, *hardware, "--data_root", str(out_dir / TRAIN_DATA_DIR), "--out", str(paths["train"])])
    last = paths["train"] / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise RuntimeError(f"training wrote no checkpoint ({last} missing)")
    shutil.copyfile(last, paths["trained"])
    return paths["untrained"], paths["trained"]


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


def evaluate_all(entries: dict[str, tuple], runs: list[BenchmarkRun], out_dir: Path, device: str,
                 progress: bool = True) -> dict:
    """``{bench_name: {label: Evaluation}}``: each tracker on each benchmark (resumable). ``entries``: label ->
    (checkpoint, tracker name or None, parameters)."""
    from lightning_modules.checkpoints import load_tracker
    from tracking.benchmarks import open_benchmark
    from tracking.evaluation.identity import run_identity
    from tracking.evaluation.runner import evaluate_tracker

    evaluations: dict[str, dict] = {}
    for run in runs:
        benchmark = open_benchmark(run.kind, run.root)
        evaluations[run.bench_name] = {}
        for label, (checkpoint, tracker_name, params) in entries.items():
            tracker = load_tracker(str(checkpoint), dict(params), device=device, tracker=tracker_name,
                                   benchmark=run.kind)
            evaluations[run.bench_name][label] = evaluate_tracker(
                run.kind, tracker, benchmark, out_dir, label, bench_name=run.bench_name, progress=progress,
                max_sequences=run.max_sequences, identity=run_identity(tracker, checkpoint, dict(params)))
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


def gains(runs: list[BenchmarkRun], evaluations: dict, comparisons) -> dict[tuple[str, str], dict[str, float]]:
    """``{(a, b): {benchmark: a - b}}``: success AUC (one-pass) or EAO (VOT) differences."""
    out = {}
    for a, b in comparisons:
        out[(a, b)] = {}
        for run in runs:
            key = "eao" if run.kind == "vot" else "success_auc"
            pair = evaluations[run.bench_name]
            out[(a, b)][run.bench_name] = pair[a].scores[key] - pair[b].scores[key]
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


def write_video(out_dir: Path, sequence_name: str | None, video_format: str, progress: bool = True,
                labels=("untrained", "trained")) -> Path:
    """A GIF/MP4 of one held-out sequence: ground truth and each tracker's boxes from its result file."""
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
               for tracker in labels}
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
        if isinstance(previous, dict) and isinstance(previous.get("paper"), str):
            from experiments.config_library import canonical_paper_name

            previous["paper"] = canonical_paper_name(previous["paper"])  # another spelling: the same demo
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
    parser.add_argument("--paper", default=DEFAULT_PAPER,
                        help=f"whose demo plan (experiments/demos/<paper>.py; default {DEFAULT_PAPER})")
    parser.add_argument("--video-sequence", default=None, help="held-out sequence to render (default: the first)")
    parser.add_argument("--video-format", choices=("gif", "mp4"), default="gif")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars while tracking")
    return parser


def main(argv=None) -> dict:
    # flags it does not know go to the training command (e.g. --model.init_args.optim.epochs=3)
    args, train_extra = build_parser().parse_known_args(argv)
    from experiments.config_library import canonical_paper_name

    args.paper = canonical_paper_name(args.paper)  # siamfc-online: siamfc_online
    start = time.perf_counter()
    plan = load_plan(args.paper)
    settings = QUICK if args.quick else FULL
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress
    recipe = {"quick": args.quick, "seed": args.seed, "train_args": list(train_extra), "settings": asdict(settings)}
    if args.paper != DEFAULT_PAPER:
        recipe["paper"] = args.paper
    check_run_folder(out_dir, recipe)

    device = cli.resolve_device(args.device)
    from experiments.wandb_setup import configure_wandb_mode

    configure_wandb_mode()  # nothing reaches the network unless the user configured W&B
    timings = {}

    _stage(1, 4, f"generating synthetic data under {out_dir / TRAIN_DATA_DIR}")
    stage_start = time.perf_counter()
    generate_data(out_dir, settings, args.seed, progress, plan.training_formats)
    timings["data"] = time.perf_counter() - stage_start

    checkpoints = {}
    for run in plan.runs:
        paths = run_paths(plan, run, out_dir)
        _stage(2, 4, f"training {run.config} on {device} ({paths['train']})")
        stage_start = time.perf_counter()
        untrained, trained = train_demo(training_args(run.config, settings, args.seed, (*run.train_args,
                                                                                         *train_extra)),
                                        out_dir, device, paths)
        checkpoints[run.name] = {"untrained": untrained, "trained": trained}
        print(f"trained in {_elapsed(stage_start)}; checkpoints: {untrained}, {trained}")
    timings["train"] = time.perf_counter() - start - timings["data"]

    labels = [tracker.label for tracker in plan.trackers]
    _stage(3, 4, f"evaluating {', '.join(labels)}")
    stage_start = time.perf_counter()
    shared = None if args.no_shared else Path(args.shared_data)
    runs = benchmarks_to_run(out_dir, shared, settings)
    entries = {t.label: (checkpoints[t.run][t.weights], t.tracker, dict(t.params)) for t in plan.trackers}
    evaluations = evaluate_all(entries, runs, out_dir, device, progress)
    timings["evaluate"] = time.perf_counter() - stage_start

    _stage(4, 4, "tables, plots and video")
    stage_start = time.perf_counter()
    ope_rows, vot_rows = table_rows(runs, evaluations)
    plots = write_plots(runs, evaluations, out_dir)
    video = write_video(out_dir, args.video_sequence, args.video_format, progress, labels)
    timings["report"] = time.perf_counter() - stage_start
    timings["total"] = time.perf_counter() - start

    from tracking.evaluation.report import format_table

    differences = gains(runs, evaluations, plan.comparisons)
    first = differences[plan.comparisons[0]]
    summary = {"settings": {**asdict(settings), "quick": args.quick, "seed": args.seed, "device": device,
                            "paper": args.paper},
               "ope": ope_rows, "vot": vot_rows, "gain": first,
               "comparisons": [{"a": a, "b": b, "gain": gain} for (a, b), gain in differences.items()],
               "seconds": timings,
               "checkpoints": ({name: str(path) for name, path in checkpoints[plan.runs[0].name].items()}
                               if len(plan.runs) == 1 else
                               {f"{run}-{weights}": str(path) for run, paths in checkpoints.items()
                                for weights, path in paths.items()}),
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
    for (a, b), per_benchmark in differences.items():
        for bench_name, gain in per_benchmark.items():
            metric = "EAO" if bench_name == "VOT" else "success AUC"
            print(f"{a} - {b} {metric} on {bench_name}: {gain:+.3f}")
    if not args.quick and plan.expected_gain is not None and first[SYNTHETIC_BENCH] < plan.expected_gain:
        a, b = plan.comparisons[0]
        print(f"warning: {a} - {b} on the held-out synthetic sequences ({first[SYNTHETIC_BENCH]:+.3f}) is below the "
              f"expected +{plan.expected_gain:.2f}", file=sys.stderr)
    print(f"\nplots: {out_dir / 'plots'}\nvideo: {video}\ntable: {out_dir / 'results.md'}\n"
          f"demo finished in {_elapsed(start)} (data {timings['data']:.0f} s, training {timings['train']:.0f} s, "
          f"evaluation {timings['evaluate']:.0f} s, report {timings['report']:.0f} s)")
    return summary


if __name__ == "__main__":
    cli.run(main)
