"""What produced a result folder, so that a rerun resumes only its own results and never reports old ones as new.

A result folder ``<out>/results/<BENCH>/<NAME>/`` holds ``identity.json`` beside the result files: the tracker's
``name``, its resolved parameters and, when it came from a checkpoint file, the sha256 of that file's bytes
(computed once per evaluation), and the sha256 of every result file the run wrote (``results``). The runner
writes it before the first result and, on a rerun, resumes the folder only when the new run has the same
identity; otherwise (or when result files exist without an identity, e.g. written by an older version or another
tool) it stops with an error that says what differs and how to choose: another name, or ``overwrite``
(``--overwrite``) to delete the old results. A resumed result file that no longer has its recorded checksum is
named and tracked again.

One writer at a time: the claiming process holds an exclusive lock on ``.<name>.lock`` beside the folder until it
exits (the kernel drops it when the process dies, ``kill -9`` included); a second one stops with a message naming
the folder and the holder. Before each result file is written, the writer checks that the folder still holds its
identity.

The identity is built generically (:func:`run_identity`): the tracker's ``name``, its parameters (a dataclass it
holds as ``params`` or ``config``; otherwise its constructor's defaults updated with the overrides it was built
with) and the checkpoint's hash, so any tracker and any way of building one (a checkpoint, a baseline, a tracker
chosen by name) gets one. Callers that pass none get :func:`default_identity` (name and dataclass parameters).
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import inspect
import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from tracking.atomic_files import atomic_write_text
from tracking.errors import DataError

IDENTITY_FILE = "identity.json"
COMPARED_KEYS = ("tracker", "checkpoint_sha256", "parameters")  # the rest ("checkpoint": its path) is information


def file_sha256(path, chunk_size: int = 1 << 20) -> str:
    """sha256 of a file's bytes (about 1 s per GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def _plain(value):
    """JSON's view of a value (tuples as lists, numpy values as numbers / lists, anything else as its text)."""
    return json.loads(json.dumps(value, default=lambda item: item.tolist() if hasattr(item, "tolist") else str(item)))


def _dataclass_parameters(tracker) -> dict | None:
    for attribute in ("params", "config"):
        value = getattr(tracker, attribute, None)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return _plain(dataclasses.asdict(value))
    return None


def tracker_parameters(tracker, overrides: Mapping | None = None) -> dict:
    """The tracker's resolved parameters: its ``params`` / ``config`` dataclass when it has one (overrides are
    already in it), else its constructor's default arguments updated with ``overrides``."""
    parameters = _dataclass_parameters(tracker)
    if parameters is not None:
        return parameters
    resolved = {}
    try:
        signature = inspect.signature(type(tracker))
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        for name, parameter in signature.parameters.items():
            if parameter.default is not inspect.Parameter.empty:
                resolved[name] = parameter.default
    resolved.update(overrides or {})
    return _plain(resolved)


def run_identity(tracker, checkpoint=None, overrides: Mapping | None = None) -> dict:
    """The identity of one evaluation: ``tracker`` (its name), ``parameters`` (resolved, see
    :func:`tracker_parameters`), ``overrides`` as given, and for a checkpoint file its path and
    ``checkpoint_sha256``; a non-file ``checkpoint`` (``baseline:ncc``) is recorded as given."""
    identity = {"tracker": str(getattr(tracker, "name", type(tracker).__name__)),
                "parameters": tracker_parameters(tracker, overrides),
                "overrides": _plain(dict(overrides or {})),
                "checkpoint_sha256": None}
    if checkpoint is not None:
        path = Path(str(checkpoint))
        if path.is_file():
            identity["checkpoint"] = str(path.resolve())
            identity["checkpoint_sha256"] = file_sha256(path)
        else:
            identity["checkpoint"] = str(checkpoint)
    return identity


def default_identity(tracker) -> dict:
    """The identity of a tracker handed over without one: its name and its dataclass parameters (if any)."""
    return {"tracker": str(getattr(tracker, "name", type(tracker).__name__)),
            "parameters": _dataclass_parameters(tracker) or {}, "checkpoint_sha256": None}


def _compared(identity: Mapping) -> dict:
    return {key: _plain(identity.get(key)) for key in COMPARED_KEYS}


def _same(a, b) -> bool:
    # compared as canonical JSON text, so that NaN equals NaN and key order does not matter
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _short(value) -> str:
    return "none" if value is None else str(value)[:12]


def _differences(recorded: Mapping, current: Mapping) -> list[str]:
    old, new = _compared(recorded), _compared(current)
    lines = []
    if not _same(old["tracker"], new["tracker"]):
        lines.append(f"tracker {old['tracker']!r} there, {new['tracker']!r} now")
    if not _same(old["checkpoint_sha256"], new["checkpoint_sha256"]):
        lines.append(f"checkpoint contents differ (sha256 {_short(old['checkpoint_sha256'])}… there, "
                     f"{_short(new['checkpoint_sha256'])}… now"
                     + (f"; there: {recorded['checkpoint']}" if recorded.get("checkpoint") else "") + ")")
    if not _same(old["parameters"], new["parameters"]):
        before, after = old["parameters"] or {}, new["parameters"] or {}
        if isinstance(before, dict) and isinstance(after, dict):
            keys = sorted(k for k in set(before) | set(after)
                          if not _same(before.get(k, "<unset>"), after.get(k, "<unset>")))
            changed = ", ".join(f"{k}: {before.get(k, '<unset>')!r} there, {after.get(k, '<unset>')!r} now"
                                for k in keys)
        else:
            changed = f"{before!r} there, {after!r} now"
        lines.append(f"tracker parameters differ ({changed})")
    return lines


def _result_files(folder: Path) -> list[Path]:
    """The folder's result files: every file but ``identity.json`` and hidden (dot) files such as locks."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.rglob("*") if path.is_file() and path.name != IDENTITY_FILE
                  and not any(part.startswith(".") for part in path.relative_to(folder).parts))


def _has_results(folder: Path) -> bool:
    return bool(_result_files(folder))


# ------------------------------------------------------------------------------------------------ one writer
_HELD: dict[str, object] = {}  # lock file -> its open handle, for the folders this process writes into


def _lock_file(folder: Path) -> Path:
    # beside the folder, not in it: --overwrite deletes the folder while holding the lock
    return folder.parent / f".{folder.name}.lock"


def hold_result_folder(folder) -> None:
    """Make this process the folder's one writer until it exits (an exclusive ``flock`` on a lock file beside
    the folder, which the kernel releases when the process ends, however it ends). Another process holding it
    raises ``DataError`` naming the folder and that process."""
    lock = _lock_file(Path(folder))
    key = str(lock.resolve())
    if key in _HELD:
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "a process that did not say which"
        handle.close()
        raise DataError(folder, f"another evaluation is writing into this result folder ({holder}); wait for it "
                                "to end, or evaluate under another name (--name NEW_NAME; make: NAME=NEW_NAME)") \
            from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}: {' '.join(sys.argv)}\n")
    handle.flush()
    _HELD[key] = handle


def _read_identity(folder: Path) -> dict | None:
    try:
        recorded = json.loads((folder / IDENTITY_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return recorded if isinstance(recorded, dict) else None


def _stale_results(folder: Path, recorded: Mapping) -> list[Path]:
    """Result files whose bytes are not those the run recorded when it wrote them (edited by hand, written by
    another tool or an older version, or written without their checksum by a run killed in between)."""
    checksums = recorded.get("results") or {}
    return [path for path in _result_files(folder)
            if checksums.get(path.relative_to(folder).as_posix()) != file_sha256(path)]


def claim_result_folder(folder, identity: Mapping, overwrite: bool = False) -> None:
    """Make ``folder`` the result folder of the run ``identity`` before anything is tracked into it.

    The process becomes the folder's one writer (:func:`hold_result_folder`) before anything else, so
    ``overwrite`` (which deletes the folder first) cannot race a run still writing. A folder with result files
    is resumed only when its ``identity.json`` records the same tracker, parameters and checkpoint contents;
    otherwise this raises ``DataError`` saying what differs and how to choose (another name, or overwrite). On a
    resume, result files whose checksum is not the one recorded when they were written are named and deleted, so
    their sequences are tracked again. A folder without result files is (re)claimed whatever it recorded.
    """
    folder = Path(folder)
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.is_dir():
            raise DataError(parent, f"is a file, where the result folder {folder} should be a folder: move it away, "
                                    "or evaluate under another name (--name NEW_NAME) or into another --out")
    hold_result_folder(folder)
    if overwrite and folder.exists():
        shutil.rmtree(folder)
    how = ("Evaluate under another name (--name NEW_NAME; make: NAME=NEW_NAME) to keep both, or pass --overwrite "
           "(make: EXTRA=--overwrite) to delete these results and track again.")
    checksums = {}
    if _has_results(folder):
        recorded = _read_identity(folder)
        if recorded is None:
            raise DataError(folder, f"holds results but no readable {IDENTITY_FILE} saying which checkpoint, tracker "
                                    "and parameters produced them (written by an older version or another tool), so "
                                    f"they are not resumed. {how}")
        differences = _differences(recorded, identity)
        if differences:
            raise DataError(folder, "holds results of another run, so they are not resumed: "
                            + "; ".join(differences) + f". {how}")
        stale = _stale_results(folder, recorded)
        if stale:
            names = ", ".join(path.relative_to(folder).as_posix() for path in stale)
            print(f"{folder}: {len(stale)} result file(s) differ from what this run recorded when writing them "
                  f"(edited, or written by another tool or an interrupted write): {names}; tracking them again",
                  file=sys.stderr)
            for path in stale:
                path.unlink()
        kept = {path.relative_to(folder).as_posix() for path in _result_files(folder)}
        checksums = {name: value for name, value in (recorded.get("results") or {}).items() if name in kept}
    atomic_write_text(folder / IDENTITY_FILE, _identity_text({**identity, "results": checksums}))


def _identity_text(identity: Mapping) -> str:
    return json.dumps(_plain(dict(identity)), indent=2, sort_keys=True) + "\n"


def check_claim(folder, identity: Mapping) -> None:
    """Raise ``DataError`` unless ``folder`` is still claimed for ``identity`` (called before each result file is
    written: a run that took the folder over, ``--overwrite`` with other values, stops this writer)."""
    folder = Path(folder)
    recorded = _read_identity(folder)
    differences = ["no identity.json"] if recorded is None else _differences(recorded, identity)
    if differences:
        raise DataError(folder, "was claimed by another run while this one was writing into it ("
                        + "; ".join(differences) + "): stopping without writing")


def record_results(folder, identity: Mapping, paths) -> None:
    """Record the sha256 of result files just written into ``folder`` in its ``identity.json`` (checked that the
    folder is still this run's). The processes of one run (a sharded evaluation, DDP ranks) record in turn,
    under a short lock."""
    folder = Path(folder)
    with open(folder / ".identity.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        check_claim(folder, identity)
        recorded = _read_identity(folder)
        checksums = dict(recorded.get("results") or {})
        for path in paths:
            checksums[Path(path).relative_to(folder).as_posix()] = file_sha256(path)
        atomic_write_text(folder / IDENTITY_FILE, _identity_text({**recorded, "results": checksums}))


def checkpoint_run_name(checkpoint) -> str | None:
    """A result name that tells training runs apart, for ``<run>/checkpoints/<file>.ckpt``: ``<run>-epoch<E>``
    for ``last.ckpt`` (E: the epoch stored in the checkpoint, e.g. ``r50_l234-epoch19``), ``<run>-<stem>`` for
    the others (their names carry the epoch already). None for anything else (the caller's default applies)."""
    path = Path(str(checkpoint))
    if not path.is_file() or path.parent.name != "checkpoints" or not path.parent.parent.name:
        return None
    run = path.parent.parent.name
    if path.stem != "last":
        return f"{run}-{path.stem}"
    epoch = _stored_epoch(path)
    return f"{run}-epoch{epoch}" if epoch is not None else f"{run}-last"


def _stored_epoch(path: Path) -> int | None:
    import torch

    for options in ({"mmap": True}, {}):  # mmap reads only the pickled dict; legacy files need a full read
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=False, **options)
        except Exception:  # noqa: BLE001 - an unreadable file has no epoch to name
            continue
        epoch = checkpoint.get("epoch") if isinstance(checkpoint, dict) else None
        return int(epoch) if isinstance(epoch, int) else None
    return None
