"""A training run killed with SIGKILL anywhere (first epoch, later epochs, just before, at and just after an epoch
boundary), with 0, 1 or 2 data workers, resumes to the weights and optimizer state of the run that was never
killed, tensor by tensor; its folder holds one ``last.ckpt``, the newest state, also after being copied."""
from __future__ import annotations

import json
import os
import shutil
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from experiments.train import main

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
STEPS_PER_EPOCH, EPOCHS = 4, 3
# (step, point): inside epoch 0; just before the 0/1 boundary; at it (after the last batch's step checkpoint,
# before the epoch checkpoint); just after it (epoch checkpoint written, epoch 1 not started); inside epoch 1
KILLS = [(2, "batch_start"), (3, "batch_start"), (4, "epoch_end"), (4, "batch_start"), (6, "batch_start")]


@pytest.fixture(scope="module")
def training_root(tmp_path_factory):
    from tracking.synthetic.training_formats import write_vid
    from tracking.synthetic.video import generate_videos

    root = tmp_path_factory.mktemp("training_data")
    write_vid(generate_videos(1, 4, num_frames=10, size=(120, 160)), root / "vid")
    return root


def _arguments(root, out, workers: int, start_method: str = "forkserver") -> list[str]:
    return ["--config", "siamrpnpp/demo", "--gpus", "0", "--data_root", str(root), "--out", str(out),
            f"--model.init_args.optim.epochs={EPOCHS}", "--data.init_args.videos_per_epoch=8",
            "--data.init_args.batch_size=2", f"--data.init_args.num_workers={workers}",
            f"--data.init_args.multiprocessing_context={start_method}",
            "--data.init_args.val_pairs=0", "--data.init_args.progress=false", "--trainer.limit_val_batches=0",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--logging.wandb=false",
            "--logging.csv=false", "--checkpoint_every_n_steps=1"]


class Launcher:
    """``experiments.train`` launches, each a fresh process forked by one helper process (``train_launcher``)
    that paid the imports once."""

    def __init__(self):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HELPERS), os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen([sys.executable, str(HELPERS / "train_launcher.py")], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def __call__(self, arguments: list[str], log: Path, kill: tuple[int, str] | None = None,
                 timeout: float = 240) -> int:
        """The launch's exit code (-9: killed by SIGKILL); its output in ``log``."""
        if kill is not None:
            callback = {"class_path": "kill_at.KillAt", "init_args": {"step": kill[0], "at": kill[1]}}
            arguments = [*arguments, f"--trainer.callbacks+={json.dumps(callback)}"]
        self.process.stdin.write(json.dumps({"arguments": arguments, "log": str(log)}) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise TimeoutError(f"a training launch ran over {timeout} s: {log.read_text()[-3000:]}")
        return json.loads(self.process.stdout.readline())["code"]

    def close(self) -> None:
        for child in _children(self.process.pid):
            os.kill(child, signal.SIGKILL)
        self.process.kill()
        self.process.wait()


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.fixture
def launch():
    launcher = Launcher()
    yield launcher
    launcher.close()


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=False)


def _assert_same_state(final: dict, reference: dict, where) -> None:
    assert final["global_step"] == reference["global_step"], where
    for key, value in reference["state_dict"].items():
        assert torch.equal(value, final["state_dict"][key]), (where, key)
    states = final["optimizer_states"][0]["state"]
    expected = reference["optimizer_states"][0]["state"]
    assert sorted(states) == sorted(expected) and expected, where
    for index, state in expected.items():
        assert torch.equal(state["momentum_buffer"], states[index]["momentum_buffer"]), (where, index)


@pytest.fixture(scope="module")
def uninterrupted(training_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    trainer = main(_arguments(training_root, out, workers=0))
    assert trainer.global_step == STEPS_PER_EPOCH * EPOCHS
    return _load(out / "checkpoints" / "last.ckpt")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("workers, start_method, kills", [(0, "fork", KILLS), (1, "fork", KILLS), (2, "fork", KILLS),
                                                           (1, "forkserver", KILLS[3:4])])
def test_kill_9_anywhere_resumes_to_the_uninterrupted_weights(workers, start_method, kills, training_root,
                                                              uninterrupted, launch, tmp_path):
    """One run killed at each point of ``kills`` in turn (each launch resumes the previous kill's checkpoint and
    is killed at the next point), then run to its end: every resume must be exact for the end to be equal.
    Workers start by fork (a launch then costs its training) and, for the points after an epoch boundary where a
    multi-worker resume went wrong, also as the suite starts them (forkserver: 8 s more per launch); the loader's
    resume does not depend on how they start."""
    out = tmp_path / "run"
    arguments = _arguments(training_root, out, workers, start_method)
    log = tmp_path / "launch.log"
    for kill in kills:
        code = launch(arguments, log, kill)
        assert code == -9, (kill, log.read_text()[-3000:])
        written = _load(out / "checkpoints" / "last.ckpt")
        # an epoch's last batch writes no step checkpoint (the epoch's end does): killed before that, one step
        # is redone
        assert written["global_step"] == kill[0] - (kill[1] == "epoch_end"), kill
    code = launch(arguments, log)
    assert code == 0, log.read_text()[-3000:]
    names = sorted(path.name for path in (out / "checkpoints").iterdir())
    assert names == ["epoch_00.ckpt", "epoch_01.ckpt", "epoch_02.ckpt", "last.ckpt"]
    final = _load(out / "checkpoints" / "last.ckpt")
    _assert_same_state(final, uninterrupted, f"{workers} workers")
    assert f"final weights: {out / 'checkpoints' / 'last.ckpt'}" in log.read_text()


@pytest.mark.timeout(300)
def test_a_copied_run_folder_keeps_one_last_checkpoint(training_root, uninterrupted, tmp_path):
    """``cp -a RUN RUN2`` and training on in RUN2 to a later step: RUN2's ``last.ckpt`` is the newest state (the
    same weights as the run never copied), no ``-vN`` file appears, a relaunch resumes from it, and RUN is
    untouched."""
    first = tmp_path / "run"
    trainer = main([*_arguments(training_root, first, 0), "--trainer.max_steps=6"])
    assert trainer.global_step == 6
    before = {path.name: path.read_bytes() for path in (first / "checkpoints").iterdir()}
    second = tmp_path / "copy"
    shutil.copytree(first, second, symlinks=True)
    trainer = main(_arguments(training_root, second, 0))
    assert trainer.global_step == STEPS_PER_EPOCH * EPOCHS
    names = sorted(path.name for path in (second / "checkpoints").iterdir())
    assert names == ["epoch_00.ckpt", "epoch_01.ckpt", "epoch_02.ckpt", "last.ckpt"]
    _assert_same_state(_load(second / "checkpoints" / "last.ckpt"), uninterrupted, "copied folder")
    assert trainer.checkpoint_callback.last_model_path == str(second / "checkpoints" / "last.ckpt")
    assert {path.name: path.read_bytes() for path in (first / "checkpoints").iterdir()} == before
    # a relaunch finds the run finished at the final step (nothing redone)
    trainer = main(_arguments(training_root, second, 0))
    assert trainer.global_step == STEPS_PER_EPOCH * EPOCHS
