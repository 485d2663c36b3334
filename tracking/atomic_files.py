"""Writing a file so that a kill or a full disk leaves either its old content or the whole new one, never a
partial file.

The new content goes to a temporary file beside the target (created like ``open(path, "w")`` creates a file:
mode ``0o666`` less the umask, or the target's mode when it exists), is flushed to disk and renamed over the
target (``os.replace`` is atomic). Any failure (``ENOSPC``, a kill, an exception while rendering) removes the
temporary file; an ``OSError`` is raised again naming the target file, with its ``errno`` kept.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` so that ``path`` holds either its old content or all of ``text``, never part."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either its old content or all of ``data``, never part."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = _create_temporary(path)
    except OSError as error:
        raise _naming(error, path) from error
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(descriptor, view)
                view = view[written:]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise _naming(error, path) from error
        raise
    _fsync_directory(path.parent)


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new file ``.<name>.<random>.tmp`` beside ``path``, opened for writing, with the mode a plain
    ``open(path, "w")`` would give ``path``: the existing file's mode, else ``0o666`` less the umask."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temporary = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            descriptor = os.open(temporary, flags, 0o666)  # the kernel applies the umask, as for open()
        except FileExistsError:
            continue
        if mode is not None:
            try:
                os.chmod(temporary, mode)
            except BaseException:
                os.close(descriptor)
                os.unlink(temporary)
                raise
        return descriptor, temporary
    raise FileExistsError(f"no free temporary file name beside {path}")


def _naming(error: OSError, path: Path) -> OSError:
    """``error`` as an OSError of the same errno (and class) whose message names the target ``path``."""
    if error.errno is None:
        return OSError(f"cannot write {path}: {error}")
    return OSError(error.errno, f"cannot write the file ({error.strerror})", str(path))


def _fsync_directory(directory: Path) -> None:
    # makes the rename itself durable; not possible on every platform/file system
    with contextlib.suppress(OSError, AttributeError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
