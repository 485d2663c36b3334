"""Parsing of the text and image files the benchmark readers share, with file- and line-precise errors."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tracking.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
_SEPARATORS = re.compile(r"[,;\s]+")


def _parse_lines(path: Path) -> list[tuple[int, list[str]]]:
    """Non-empty lines as (1-based line number, fields); blank lines are allowed only at the end."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file does not exist")
    try:
        text = path.read_text()
    except UnicodeDecodeError as error:
        raise DataError(path, f"not a text file ({error.reason})") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    parsed = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            raise DataError(path, "empty line inside the file (every line must hold one frame)", line=number)
        parsed.append((number, [f for f in _SEPARATORS.split(stripped) if f]))
    return parsed


def _to_float(field: str, path: Path, line: int) -> float:
    try:
        return float(field)
    except ValueError:
        raise DataError(path, f"non-numeric value {field!r}", line=line) from None


def read_box_file(path, columns: int | tuple[int, ...] = 4) -> np.ndarray:
    """Read a box/polygon text file: one row per line, values separated by commas, tabs or spaces.

    ``columns`` is the number of values per line (or a tuple of accepted numbers; every line must have the
    same). ``NaN`` values are parsed (validation is up to the caller). Returns an (N, C) float64 array;
    an empty file gives (0, C). Raises ``DataError`` naming the file and line for a missing file, a wrong
    number of values or a non-numeric value.
    """
    path = Path(path)
    accepted = (columns,) if isinstance(columns, int) else tuple(columns)
    rows: list[list[float]] = []
    width = None
    for number, fields in _parse_lines(path):
        if len(fields) not in accepted or (width is not None and len(fields) != width):
            expected = width if width is not None else " or ".join(str(c) for c in accepted)
            raise DataError(path, f"expected {expected} values, got {len(fields)}", line=number)
        width = len(fields)
        rows.append([_to_float(f, path, number) for f in fields])
    if not rows:
        return np.zeros((0, accepted[0]))
    return np.asarray(rows, dtype=np.float64)


def read_label_file(path, length: int | None = None, one_line: bool = False, pad: bool = False) -> np.ndarray:
    """Integer per-frame labels: one per line (VOT tags, GOT-10k labels) or comma-separated on one line (LaSOT).

    With ``length`` the label count must match it; ``pad`` allows fewer values (VOT omits trailing zeros),
    padded with 0. Returns an int64 array.
    """
    path = Path(path)
    values: list[int] = []
    lines = _parse_lines(path)
    if one_line and len(lines) > 1:
        raise DataError(path, f"expected all flags on one line, found {len(lines)} lines", line=lines[1][0])
    for number, fields in lines:
        if not one_line and len(fields) != 1:
            raise DataError(path, f"expected one value per line, got {len(fields)}", line=number)
        for field in fields:
            value = _to_float(field, path, number)
            if not np.isfinite(value) or value != int(value):
                raise DataError(path, f"expected an integer label, got {field!r}", line=number)
            values.append(int(value))
    labels = np.asarray(values, dtype=np.int64)
    if length is not None:
        if len(labels) > length or (len(labels) < length and not pad):
            raise DataError(path, f"{len(labels)} labels for {length} frames")
        labels = np.concatenate([labels, np.zeros(length - len(labels), dtype=np.int64)])
    return labels


def invalid_box_rows(boxes: np.ndarray) -> np.ndarray:
    """Rows that are not a usable box: a NaN or infinite value, or a width or height <= 0 (e.g. OTB's
    ``0,0,0,0`` rows). Readers keep such rows as the files have them (the toolkits score them); only the box a
    tracker starts from must be valid, which the evaluation runner checks."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return ~(np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0))


def check_polygons(polygons: np.ndarray, path) -> None:
    """Raise ``DataError`` at the first polygon with a NaN/infinite value or zero width/height bounds."""
    polygons = np.asarray(polygons, dtype=np.float64)
    finite = np.isfinite(polygons).all(axis=1)
    if not finite.all():
        raise DataError(path, "NaN or infinite value in a polygon", line=1 + int(np.argmin(finite)))
    xs, ys = polygons[:, 0::2], polygons[:, 1::2]
    flat = (xs.max(axis=1) - xs.min(axis=1) <= 0) | (ys.max(axis=1) - ys.min(axis=1) <= 0)
    if flat.any():
        raise DataError(path, "zero-size polygon", line=1 + int(np.argmax(flat)))


def frame_number(path: Path) -> int | None:
    """The frame index in a file name like ``0042.jpg`` (None when the stem is not a number)."""
    stem = Path(path).stem
    return int(stem) if stem.isdigit() else None


def list_images(folder) -> list[Path]:
    """Image files of a folder in frame order (numeric names by number, others by name)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "image folder does not exist")
    images = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    if not images:
        raise DataError(folder, "no images in the sequence folder")
    return sorted(images, key=lambda p: (frame_number(p) is None, frame_number(p) or 0, p.name))


def check_frame_count(annotation_path, rows: int, frames: int, what: str = "ground-truth lines") -> None:
    if rows != frames:
        relation = "fewer" if rows < frames else "more"
        raise DataError(annotation_path, f"{rows} {what} for {frames} images ({relation} lines than frames)")


def natural_key(name: str):
    """Sort key that orders ``seq-2`` before ``seq-10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
