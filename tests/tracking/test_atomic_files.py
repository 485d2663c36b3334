"""The atomic writer: file modes as a plain open() gives them, and a full disk leaves nothing half-written."""
from __future__ import annotations

import errno
import json
import os
import stat

import numpy as np
import pytest

from tracking import atomic_files
from tracking.atomic_files import atomic_write_bytes, atomic_write_text
from tracking.evaluation.report import plot_curves, write_performance_json
from tracking.metrics.ope import ope_scores


@pytest.fixture()
def umask():
    """Set the process umask for one test, restored afterwards."""
    previous = os.umask(0o022)
    try:
        yield lambda value: os.umask(value)
    finally:
        os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_files_get_the_mode_open_gives_them(tmp_path, umask):
    umask(0o022)
    atomic_write_text(tmp_path / "a.txt", "x")
    assert _mode(tmp_path / "a.txt") == 0o644  # readable by others, as results and reports should be
    umask(0o077)
    atomic_write_bytes(tmp_path / "b.bin", b"x")
    assert _mode(tmp_path / "b.bin") == 0o600
    umask(0o002)
    atomic_write_text(tmp_path / "c.txt", "x")
    assert _mode(tmp_path / "c.txt") == 0o664
    reference = tmp_path / "plain.txt"
    with open(reference, "w") as handle:
        handle.write("x")
    assert _mode(tmp_path / "c.txt") == _mode(reference)


def test_replacing_a_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "kept.txt"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and _mode(path) == 0o640


def _disk_full_after(monkeypatch, allowed_bytes: int):
    """os.write as on a disk with ``allowed_bytes`` left: writes up to that, then raises ENOSPC."""
    real_write = os.write
    left = {"bytes": allowed_bytes}

    def write(descriptor, data):
        if left["bytes"] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        count = real_write(descriptor, bytes(data[:left["bytes"]]))
        left["bytes"] -= count
        return count

    monkeypatch.setattr(atomic_files.os, "write", write)


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_full_disk_names_the_file_and_keeps_the_old_content(tmp_path, monkeypatch):
    path = tmp_path / "reports" / "performance.json"
    atomic_write_text(path, "old content\n")
    _disk_full_after(monkeypatch, 5)
    with pytest.raises(OSError) as error:
        atomic_write_text(path, "new content that does not fit\n")
    assert error.value.errno == errno.ENOSPC
    assert str(path) in str(error.value)
    assert path.read_text() == "old content\n"
    assert _leftovers(tmp_path) == ["performance.json"]  # no temporary file left behind


def test_full_disk_leaves_no_plot_and_no_report(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    gt = np.tile([10.0, 10.0, 20.0, 20.0], (30, 1))
    scores = ope_scores(gt + rng.normal(0, 3, gt.shape), gt)
    folder = tmp_path / "reports" / "OTB" / "T"
    _disk_full_after(monkeypatch, 0)
    with pytest.raises(OSError, match=r"success_plot\.png") as error:
        plot_curves({"T": scores}, folder)
    assert error.value.errno == errno.ENOSPC
    with pytest.raises(OSError, match=r"performance\.json"):
        write_performance_json(tmp_path / "reports", "T", scores, {"s": scores}, "OTB")
    assert _leftovers(tmp_path) == []  # no 0-byte success_plot.png a rerun could trust

    monkeypatch.undo()
    written = plot_curves({"T": scores}, folder)
    assert [p.name for p in written] == ["success_plot.png", "precision_plot.png", "norm_precision_plot.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)
    path = write_performance_json(tmp_path / "reports", "T", scores, {"s": scores}, "OTB")
    assert json.loads(path.read_text())["T"]["overall"]["success_score"] == pytest.approx(scores["success_auc"])


def test_a_failure_while_writing_removes_the_temporary_file(tmp_path, monkeypatch):
    def interrupted(descriptor):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_files.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(tmp_path / "r.txt", "data")
    assert _leftovers(tmp_path) == []
