"""Two evaluation commands never mix results in one folder, and a killed sharded evaluation leaves no writer:
real ``python -m experiments.evaluate`` processes, paused (SIGSTOP) or killed (SIGKILL) where it matters."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracking.evaluation.identity import IDENTITY_FILE, file_sha256
from tracking.synthetic.video import generate_video
from tracking.synthetic.writers import write_otb


@pytest.fixture(scope="module")
def otb_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("otb")
    write_otb([generate_video(i, num_frames=40, size=(120, 160), name=f"Seq{i}", difficulty="easy")
               for i in range(4)], root)
    return root


def _command(root, out, *extra) -> list[str]:
    return [sys.executable, "-m", "experiments.evaluate", "otb", "--ckpt", "baseline:ncc", "--data", str(root),
            "--out", str(out), "--name", "NCC", "--no-progress", *extra]


def _wait_for(condition, seconds: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _success_auc(out) -> float:
    return json.loads((Path(out) / "reports" / "OTB" / "NCC" / "performance.json").read_text())["NCC"]["overall"][
        "success_score"]


@pytest.mark.timeout(180)
def test_a_second_writer_stops_and_names_the_folder_and_the_first(otb_root, tmp_path):
    out = tmp_path / "out"
    lock = out / "results" / "OTB" / ".NCC.lock"
    first = subprocess.Popen(_command(otb_root, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: lock.is_file() and f"pid {first.pid}" in lock.read_text(), what="first run's lock")
        os.kill(first.pid, signal.SIGSTOP)  # the first run holds the folder, mid-run
        second = subprocess.run(_command(otb_root, out, "--set", "window_influence=0.9"), capture_output=True,
                                text=True, timeout=120)
        assert second.returncode != 0
        assert str(out / "results" / "OTB" / "NCC") in second.stderr
        assert f"another evaluation is writing into this result folder (pid {first.pid}" in second.stderr
        # --overwrite cannot take the folder from a writer that is still running either
        third = subprocess.run(_command(otb_root, out, "--overwrite", "--set", "window_influence=0.9"),
                               capture_output=True, text=True, timeout=120)
        assert third.returncode != 0 and f"pid {first.pid}" in third.stderr
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, errors = first.communicate(timeout=120)
    assert first.returncode == 0, errors
    identity = json.loads((out / "results" / "OTB" / "NCC" / IDENTITY_FILE).read_text())
    assert identity["overrides"] == {}
    assert sorted(identity["results"]) == sorted(
        [f"Seq{i}.txt" for i in range(4)] + [f"times/Seq{i}_time.txt" for i in range(4)])
    for name, checksum in identity["results"].items():
        assert file_sha256(out / "results" / "OTB" / "NCC" / name) == checksum
    # alone, the other values' run scores what it scores in a folder of its own
    alone = subprocess.run(_command(otb_root, tmp_path / "alone", "--set", "window_influence=0.9"),
                           capture_output=True, text=True, timeout=120)
    assert alone.returncode == 0, alone.stderr
    after = subprocess.run(_command(otb_root, out, "--overwrite", "--set", "window_influence=0.9"),
                           capture_output=True, text=True, timeout=120)
    assert after.returncode == 0, after.stderr
    assert _success_auc(out) == _success_auc(tmp_path / "alone")


@pytest.mark.timeout(240)
def test_a_killed_sharded_evaluation_leaves_no_writer(otb_root, tmp_path):
    """``kill -9`` of a ``--gpus 2`` evaluation (CPU shards): its shard processes end with it, and a rerun with
    ``--overwrite`` and other values reports what that run scores alone."""
    out = tmp_path / "out"
    parent = subprocess.Popen(_command(otb_root, out, "--device", "cpu", "--gpus", "2"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: len(_children(parent.pid)) >= 2, what="shard processes")
        shards = _children(parent.pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        _wait_for(lambda: not any(_alive(pid) for pid in shards), seconds=10, what="shards outliving their parent")
    finally:
        if parent.poll() is None:
            parent.kill()
    rerun = subprocess.run(_command(otb_root, out, "--device", "cpu", "--gpus", "2", "--overwrite", "--set",
                                    "window_influence=0.9"), capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    assert "NCC on OTB: tracked 4 sequence(s) over 2 processes" in rerun.stdout
    alone = subprocess.run(_command(otb_root, tmp_path / "alone", "--set", "window_influence=0.9"),
                           capture_output=True, text=True, timeout=120)
    assert alone.returncode == 0, alone.stderr
    assert _success_auc(out) == _success_auc(tmp_path / "alone")
