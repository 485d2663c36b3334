"""Drawing tracking results on frames and writing them as GIF or MP4.

Frames are H x W x 3 uint8 RGB (as everywhere in the suite); boxes are OTB ``x, y, w, h`` or VOT 8-value
polygons; a missing box (``None``, NaN, or a VOT code such as ``[2]``) is simply not drawn.
"""
from __future__ import annotations

import contextlib
import io
import os
import secrets
from pathlib import Path

import cv2
import numpy as np

from tracking.atomic_files import atomic_write_bytes

# ground truth first (white, as got10k shows it), then well-separated colours for the trackers
PALETTE = [(255, 255, 255), (230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128)]


def default_colors(names) -> dict[str, tuple[int, int, int]]:
    """One distinct RGB colour per name, in order (the first is white, meant for the ground truth)."""
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(names)}


def _drawable(box) -> np.ndarray | None:
    if box is None:
        return None
    box = np.asarray(box, dtype=np.float64).reshape(-1)
    if box.shape not in ((4,), (8,)) or not np.all(np.isfinite(box)):
        return None
    if box.shape == (4,) and (box[2] <= 0 or box[3] <= 0):
        return None
    return box


def _text_scale(image: np.ndarray) -> tuple[float, int]:
    scale = max(0.3, min(image.shape[:2]) / 500.0)
    return scale, max(1, int(round(scale * 2)))


def draw_boxes(image: np.ndarray, boxes_by_name: dict, colors: dict | None = None, frame_index: int | None = None,
               thickness: int | None = None, legend: bool = True) -> np.ndarray:
    """A copy of ``image`` with each named box drawn in its colour, a legend and the frame number.

    ``boxes_by_name`` maps a name (e.g. "GroundTruth", a tracker name) to a box (``xywh`` or polygon) or None;
    ``colors`` maps names to RGB tuples (default: :func:`default_colors` in the dict's order).
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 image, got shape {image.shape}")
    canvas = np.ascontiguousarray(image, dtype=np.uint8).copy()
    colors = {**default_colors(boxes_by_name), **(colors or {})}
    line = thickness or max(1, int(round(min(canvas.shape[:2]) / 200)))
    for name, box in boxes_by_name.items():
        box = _drawable(box)
        if box is None:
            continue
        color = tuple(int(c) for c in colors[name])
        if box.shape == (4,):
            x1, y1 = int(round(box[0])), int(round(box[1]))
            x2, y2 = int(round(box[0] + box[2])) - 1, int(round(box[1] + box[3])) - 1
            cv2.rectangle(canvas, (x1, y1), (max(x1, x2), max(y1, y2)), color, line)
        else:
            points = np.round(box.reshape(4, 2)).astype(np.int32)
            cv2.polylines(canvas, [points], isClosed=True, color=color, thickness=line)
    scale, text_thickness = _text_scale(canvas)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (_, text_height), baseline = cv2.getTextSize("Ag", font, scale, text_thickness)
    row = text_height + baseline + 3
    if legend and boxes_by_name:
        # a darkened panel with a colour swatch and the name in white per entry: readable on any background
        widths = [cv2.getTextSize(str(name), font, scale, text_thickness)[0][0] for name in boxes_by_name]
        swatch = text_height
        panel_w = min(canvas.shape[1], 4 + swatch + 4 + max(widths) + 4)
        panel_h = min(canvas.shape[0], 2 + row * len(boxes_by_name) + 1)
        _darken(canvas, 0, 0, panel_w, panel_h)
        for index, name in enumerate(boxes_by_name):
            top = 2 + row * index
            color = tuple(int(c) for c in colors[name])
            cv2.rectangle(canvas, (4, top + 1), (4 + swatch - 1, top + swatch), color, cv2.FILLED)
            cv2.putText(canvas, str(name), (4 + swatch + 4, top + text_height), font, scale, (255, 255, 255),
                        text_thickness, cv2.LINE_AA)
    if frame_index is not None:
        label = f"#{frame_index + 1}"
        (width, _), _ = cv2.getTextSize(label, font, scale, text_thickness)
        left = max(0, canvas.shape[1] - width - 8)
        _darken(canvas, left, 0, canvas.shape[1], min(canvas.shape[0], row + 2))
        cv2.putText(canvas, label, (left + 4, 2 + text_height), font, scale, (255, 255, 255), text_thickness,
                    cv2.LINE_AA)
    return canvas


def _darken(canvas: np.ndarray, x1: int, y1: int, x2: int, y2: int, keep: float = 0.35) -> None:
    region = canvas[y1:y2, x1:x2]
    region[...] = (region.astype(np.float32) * keep).astype(np.uint8)


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad to even width and height (H.264/MPEG-4 encoders need them)."""
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)))
    return frame


def write_video(frames, path, fps: float = 15.0) -> Path:
    """Write RGB frames as an animated GIF (Pillow) or an MP4 (imageio's ffmpeg when installed, else OpenCV's
    ``mp4v`` writer); the format follows ``path``'s suffix. Returns the path."""
    path = Path(path)
    frames = [np.ascontiguousarray(f, dtype=np.uint8) for f in frames]
    if not frames:
        raise ValueError("no frames to write")
    if any(f.shape != frames[0].shape for f in frames):
        raise ValueError("all frames must have the same size")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        _write_gif(frames, path, fps)
        return path
    if suffix == ".mp4":
        frames = [_even(f) for f in frames]
        # the encoders write a file themselves: into a temporary one beside path, renamed when complete
        temporary = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp.mp4")
        try:
            if not _write_mp4_imageio(frames, temporary, fps):
                _write_mp4_opencv(frames, temporary, fps)
            os.replace(temporary, path)
        except BaseException as error:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            if isinstance(error, OSError) and error.errno is not None:
                raise OSError(error.errno, f"cannot write the file ({error.strerror})", str(path)) from error
            raise
        return path
    raise ValueError(f"{path}: unsupported video format {suffix!r}; use .gif or .mp4")


def _write_mp4_opencv(frames, path: Path, fps: float) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot open an mp4v video writer (no FFmpeg backend?)")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def _write_gif(frames, path: Path, fps: float) -> None:
    # Pillow (imageio's GIF backend) with a fast octree palette per frame: its default RGB -> palette conversion
    # takes over a second per 640x360 frame, this a few milliseconds, with no visible difference for box overlays.
    # Encoded in memory and written atomically: a kill or a full disk leaves no partial GIF.
    from PIL import Image

    images = [Image.fromarray(frame).quantize(colors=256, method=Image.Quantize.FASTOCTREE,
                                              dither=Image.Dither.NONE) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=int(round(1000.0 / fps)), loop=0, optimize=False, disposal=1)
    atomic_write_bytes(path, buffer.getvalue())


def _write_mp4_imageio(frames, path: Path, fps: float) -> bool:
    try:
        import imageio_ffmpeg  # noqa: F401  (imageio's ffmpeg plugin needs it)
    except ImportError:
        return False
    import imageio.v2 as imageio

    with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1) as writer:
        for frame in frames:
            writer.append_data(frame)
    return True
