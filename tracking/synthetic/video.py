"""Synthetic single-object tracking videos, deterministic from a seed.

A video is a textured background seen through a (possibly moving) camera window, a textured rectangular
target with a distinctive two-colour pattern, look-alike distractors (same pattern family, shifted hue and
phase), and scheduled events: fast-motion bursts, scale change, in-plane rotation, illumination change,
motion blur, an occluder passing over the target (partial or full) and the target leaving the frame.

Coordinates are continuous pixels with pixel ``i`` spanning ``[i, i + 1)`` (0-based): a box ``x, y, w, h``
covers columns ``x .. x + w``. Writers of 1-based benchmark formats shift on writing (see ``writers.py``).

``boxes`` holds the axis-aligned extent of the target inside the image (the rotated rectangle's bounds clipped
to the frame). Partial occlusion does not shrink it, as OTB/VOT annotators keep the full extent of a partly
hidden target; the row is NaN when no target pixel is visible (fully occluded or out of view).
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field

import cv2
import numpy as np


DIFFICULTIES = ("easy", "normal", "hard")

# Per-frame tags: the five VOT2018 tags first, then the LaSOT / GOT-10k style flags.
TAG_NAMES = ("occlusion", "out_of_view", "illum_change", "motion_change", "size_change", "camera_motion",
             "full_occlusion", "cut_by_image", "motion_blur", "absent")


@dataclass
class SyntheticVideo:
    frames: list[np.ndarray]        # H x W x 3 uint8 RGB
    boxes: np.ndarray               # (N, 4) float xywh of the in-frame target extent; NaN row when absent
    polygons: np.ndarray            # (N, 8) rotated-rectangle corners (VOT style), NaN when absent
    visible_ratio: np.ndarray       # (N,) fraction of the target visible (0 = absent)
    tags: dict[str, np.ndarray]     # per-frame bool arrays, keys in TAG_NAMES
    attributes: list[str]           # OTB-style sequence attributes present ("OCC", "OV", "IV", ...)
    name: str
    meta: dict = field(default_factory=dict)  # generation parameters (seed, difficulty, size)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames."""
        return self.frames[0].shape[:2]


@dataclass(frozen=True)
class _Settings:
    """Event probabilities and magnitudes of one difficulty level."""

    occlusion_probability: float
    full_occluder_probability: float   # occluder larger than the target -> full occlusion while it passes
    out_of_view_probability: float
    rotation_degrees: float            # amplitude of in-plane rotation (0 = off)
    rotation_probability: float
    log_scale_amplitude: tuple[float, float]
    burst_probability: float
    burst_speed: tuple[float, float]   # fraction of min(H, W) per frame
    illumination_probability: float
    camera_probability: float
    distractors: tuple[int, int]


_SETTINGS = {
    "easy": _Settings(0.0, 0.0, 0.0, 0.0, 0.0, (0.05, 0.2), 0.3, (0.03, 0.05), 0.3, 0.3, (0, 1)),
    "normal": _Settings(0.5, 0.4, 0.3, 25.0, 0.5, (0.1, 0.35), 0.5, (0.04, 0.08), 0.5, 0.5, (1, 2)),
    "hard": _Settings(1.0, 1.0, 1.0, 60.0, 1.0, (0.25, 0.45), 1.0, (0.07, 0.11), 1.0, 1.0, (2, 3)),
}


def _random_color(rng: np.random.Generator, hue: float, saturation=(0.7, 1.0), value=(0.75, 1.0)) -> np.ndarray:
    rgb = colorsys.hsv_to_rgb(hue % 1.0, rng.uniform(*saturation), rng.uniform(*value))
    return np.asarray(rgb, dtype=np.float32) * 255.0


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int, channels: int = 1) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a coarse random grid upsampled bicubically."""
    cells_y = max(2, int(round(cells * height / max(height, width))))
    cells_x = max(2, int(round(cells * width / max(height, width))))
    coarse = rng.random((cells_y, cells_x, channels)).astype(np.float32)
    fine = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(fine.reshape(height, width, channels), 0.0, 1.0)


def _render_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Muted textured background: two noise octaves, a colour gradient and random shapes, as float32 RGB."""
    base_hue = rng.random()
    palette = np.stack([_random_color(rng, base_hue + rng.normal(0, 0.08), (0.1, 0.45), (0.35, 0.8))
                        for _ in range(3)])
    weights = _smooth_noise(rng, height, width, 6, 3) + 0.05  # > 0: bicubic upsampling can clip all to 0
    weights = weights / weights.sum(axis=2, keepdims=True)
    image = weights @ palette
    image *= 0.75 + 0.5 * _smooth_noise(rng, height, width, 40)
    ramp = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :, None]
    image += 30.0 * rng.uniform(-1, 1) * ramp + 30.0 * rng.uniform(-1, 1) * np.linspace(
        -1.0, 1.0, height, dtype=np.float32)[:, None, None]
    scale = min(height, width)
    for _ in range(int(rng.integers(8, 16))):
        color = tuple(float(c) for c in _random_color(rng, rng.random(), (0.05, 0.5), (0.2, 0.85)))
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        extent = int(rng.uniform(0.03, 0.15) * scale) + 1
        kind = rng.integers(3)
        if kind == 0:
            cv2.circle(image, center, extent, color, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(image, center, (center[0] + extent, center[1] + int(rng.uniform(0.5, 2) * extent)),
                          color, -1)
        else:
            end = (center[0] + int(rng.integers(-3, 4) * extent), center[1] + int(rng.integers(-3, 4) * extent))
            cv2.line(image, center, end, color, max(1, extent // 6), cv2.LINE_AA)
    image = cv2.GaussianBlur(image, (0, 0), 0.8)
    return np.clip(image, 0, 255)


def _render_pattern_texture(rng: np.random.Generator, height: int, width: int, hue: float,
                            pattern: dict) -> np.ndarray:
    """A distinctive target texture: two saturated colours in a stripe/checker/ring pattern plus noise."""
    color_a = _random_color(rng, hue)
    color_b = _random_color(rng, hue + pattern["hue_offset"], (0.6, 1.0), (0.25, 0.6))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs, ys = xs / width - 0.5, ys / height - 0.5
    frequency, phase, theta = pattern["frequency"], pattern["phase"], pattern["orientation"]
    if pattern["kind"] == "stripes":
        wave = np.sin(2 * np.pi * frequency * (xs * np.cos(theta) + ys * np.sin(theta)) + phase)
    elif pattern["kind"] == "checker":
        wave = np.sin(2 * np.pi * frequency * xs + phase) * np.sin(2 * np.pi * frequency * ys + phase)
    else:
        wave = np.sin(2 * np.pi * frequency * np.hypot(xs, ys) + phase)
    mix = (0.5 + 0.5 * np.tanh(3.0 * wave))[..., None]
    texture = color_a * (1 - mix) + color_b * mix
    texture *= 0.8 + 0.4 * _smooth_noise(rng, height, width, 5)
    border = max(1, min(height, width) // 14)
    texture[:border], texture[-border:] = texture[:border] * 0.45, texture[-border:] * 0.45
    texture[:, :border], texture[:, -border:] = texture[:, :border] * 0.45, texture[:, -border:] * 0.45
    return np.clip(texture, 0, 255).astype(np.float32)


def _rotation(angle_degrees: float) -> np.ndarray:
    a = math.radians(angle_degrees)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def _corners(center, width: float, height: float, angle: float) -> np.ndarray:
    """(4, 2) corners of the rotated rectangle, clockwise from the (unrotated) top-left corner."""
    half = np.array([[-width / 2, -height / 2], [width / 2, -height / 2], [width / 2, height / 2],
                     [-width / 2, height / 2]])
    return np.asarray(center, dtype=np.float64) + half @ _rotation(angle).T


def _paste(canvas: np.ndarray, texture: np.ndarray, center, width: float, height: float,
           angle: float, occluder_rect=None) -> tuple[float, float, float]:
    """Alpha-composite ``texture`` warped to a rotated rectangle onto ``canvas`` (in place).

    Only the rectangle's bounding region is warped (fast). Returns the target's total alpha (as if the frame
    were unbounded), its in-frame part, and the in-frame part left uncovered by ``occluder_rect``
    (x0, y0, x1, y1 integers), all in pixels, so that ratios are exactly 1 for a fully visible target.
    """
    frame_h, frame_w = canvas.shape[:2]
    corners = _corners(center, width, height, angle)
    x0, y0 = int(math.floor(corners[:, 0].min())) - 1, int(math.floor(corners[:, 1].min())) - 1
    x1, y1 = int(math.ceil(corners[:, 0].max())) + 1, int(math.ceil(corners[:, 1].max())) + 1
    tex_h, tex_w = texture.shape[:2]
    # Continuous texture point p_t maps to c + R S (p_t - T / 2); cv2 addresses pixel centres (continuous - 0.5).
    linear = _rotation(angle) @ np.diag([width / tex_w, height / tex_h])
    offset = np.asarray(center) - 0.5 + linear @ (0.5 - np.array([tex_w, tex_h]) / 2) - np.array([x0, y0])
    matrix = np.hstack([linear, offset[:, None]]).astype(np.float64)
    size = (x1 - x0, y1 - y0)
    alpha = cv2.warpAffine(np.ones((tex_h, tex_w), np.float32), matrix, size, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT)
    total = float(alpha.sum())
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(frame_w, x1), min(frame_h, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return total, 0.0, 0.0
    warped = cv2.warpAffine(texture, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = alpha[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    warped = warped[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    region = canvas[cy0:cy1, cx0:cx1]
    region += alpha[..., None] * (warped - region)
    in_frame = float(alpha.sum())
    if occluder_rect is None:
        return total, in_frame, in_frame
    ox0, oy0, ox1, oy1 = occluder_rect
    covered = alpha[max(0, oy0 - cy0):max(0, oy1 - cy0), max(0, ox0 - cx0):max(0, ox1 - cx0)]
    return total, in_frame, in_frame - float(covered.sum())


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3 - 2 * u)


def _event_profile(num_frames: int, start: int, ramp: int, hold: int) -> np.ndarray:
    """Per-frame weight 0 -> 1 (over ``ramp`` frames) -> 1 (``hold`` frames) -> 0 (``ramp`` frames)."""
    t = np.arange(num_frames, dtype=np.float64)
    rise = _smoothstep((t - start + 1) / (ramp + 1))
    fall = 1.0 - _smoothstep((t - (start + ramp + hold) + 1) / (ramp + 1))
    return np.minimum(rise, fall)


def _schedule(rng: np.random.Generator, num_frames: int, lengths: list[int]) -> list[int | None]:
    """Random disjoint start frames for events of the given lengths (0 = no event -> None).

    Events go after a clean first stretch (the tracker's initial frames) in random order with random gaps;
    events that do not fit into a short video are dropped (None).
    """
    first = max(2, num_frames // 6)
    wanted = [i for i in rng.permutation(len(lengths)) if lengths[i] > 0]
    while wanted and sum(lengths[i] for i in wanted) > num_frames - first - 1:
        wanted.pop()
    starts: list[int | None] = [None] * len(lengths)
    if not wanted:
        return starts
    slack = num_frames - first - 1 - sum(lengths[i] for i in wanted)
    gaps = rng.multinomial(slack, np.full(len(wanted) + 1, 1.0 / (len(wanted) + 1)))
    position = first
    for gap, index in zip(gaps, wanted):
        position += int(gap)
        starts[int(index)] = position
        position += lengths[index]
    return starts


def _smooth_walk(rng: np.random.Generator, num_frames: int, sigma: float, damping: float = 0.85) -> np.ndarray:
    """A damped random velocity (N, 2): smooth motion."""
    velocity = np.zeros((num_frames, 2))
    for t in range(1, num_frames):
        velocity[t] = damping * velocity[t - 1] + rng.normal(0, sigma, 2)
    return velocity


def _trajectory(num_frames, start, velocity, low, high) -> np.ndarray:
    """Integrate ``velocity`` from ``start``, reflecting off the box [low, high] (per axis)."""
    centers = np.empty((num_frames, 2))
    position = np.asarray(start, dtype=np.float64).copy()
    velocity = velocity.copy()
    for t in range(num_frames):
        if t:
            position = position + velocity[t]
            for axis in range(2):
                if position[axis] < low[axis] or position[axis] > high[axis]:
                    position[axis] = np.clip(position[axis], low[axis], high[axis])
                    velocity[t:, axis] *= -1
        centers[t] = position
    return centers


def _stripe_pattern(rng: np.random.Generator) -> dict:
    return {"kind": ["stripes", "checker", "rings"][int(rng.integers(3))], "frequency": float(rng.uniform(2, 4)),
            "phase": float(rng.uniform(0, 2 * np.pi)), "orientation": float(rng.uniform(0, np.pi)),
            "hue_offset": float(rng.uniform(0.35, 0.65))}


@dataclass
class _Scene:
    """Everything planned for a video: per-frame target geometry, events and pre-rendered textures."""

    height: int
    width: int
    base_w: float
    base_h: float
    scale: np.ndarray          # (N,) target scale
    angle: np.ndarray          # (N,) in-plane rotation, degrees
    centers: np.ndarray        # (N, 2) target centre
    occluder: dict | None      # texture, per-frame offset from the target centre, active frames, size
    gain: np.ndarray           # (N,) illumination gain
    shading: np.ndarray        # H x W map modulating the illumination change
    background: np.ndarray     # padded background, cropped per frame by the camera
    pad: tuple[int, int]
    camera: np.ndarray         # (N, 2) integer camera offset
    target_texture: np.ndarray
    distractors: list


def generate_video(seed: int, num_frames: int = 60, size=(240, 320), name: str | None = None,
                   difficulty: str = "normal") -> SyntheticVideo:
    """Render one synthetic tracking video; the same arguments give identical frames and annotations."""
    if difficulty not in _SETTINGS:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    settings = _SETTINGS[difficulty]
    rng = np.random.default_rng(seed)
    height, width = int(size[0]), int(size[1])
    short = min(height, width)
    n = num_frames

    # --- target geometry: base size, scale, rotation ------------------------------------------------------
    area = rng.uniform(0.03, 0.06) * height * width
    aspect = float(np.exp(rng.uniform(np.log(0.55), np.log(1.8))))
    base_w, base_h = math.sqrt(area * aspect), math.sqrt(area / aspect)
    t = np.arange(n, dtype=np.float64)
    log_amplitude = rng.uniform(*settings.log_scale_amplitude)
    period = rng.uniform(0.6, 1.5) * max(n, 8)
    scale = np.exp(log_amplitude * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)))
    scale = scale / scale[0]
    angle = np.zeros(n)
    if settings.rotation_degrees and rng.random() < settings.rotation_probability:
        amplitude = rng.uniform(0.4, 1.0) * settings.rotation_degrees
        angle = amplitude * np.sin(2 * np.pi * t / (rng.uniform(0.5, 1.2) * max(n, 8)))
    half_extent = 0.5 * math.hypot(base_w, base_h) * scale  # the target's reach from its centre, any angle

    # --- motion: smooth walk, fast bursts, reflection at the borders ------------------------------------
    velocity = _smooth_walk(rng, n, 0.006 * short)
    burst_length = max(2, n // 12)
    want_burst = rng.random() < settings.burst_probability
    occlusion_on = rng.random() < settings.occlusion_probability
    out_of_view_on = rng.random() < settings.out_of_view_probability
    ramp = max(1, n // 20)
    occlusion_hold = max(1, n // 15)
    out_hold = max(1, n // 12)
    starts = _schedule(rng, n, [burst_length if want_burst else 0, 2 * ramp + occlusion_hold + 2 if occlusion_on
                                else 0, 2 * ramp + out_hold + 2 if out_of_view_on else 0])
    burst_start, occlusion_start, out_start = (s if on else None for s, on in zip(
        starts, (want_burst, occlusion_on, out_of_view_on)))
    if burst_start is not None:
        direction = rng.normal(size=2)
        direction /= np.linalg.norm(direction)
        velocity[burst_start:burst_start + burst_length] += direction * rng.uniform(*settings.burst_speed) * short
    margin = half_extent.max() + 1.0
    low = np.array([min(margin, width / 2), min(margin, height / 2)])
    high = np.array([max(width - margin, width / 2), max(height - margin, height / 2)])
    start = rng.uniform(low, high)
    centers = _trajectory(n, start, velocity, low, high)

    if out_start is not None:
        # Leave through the nearest border, stay out for a while, come back to the planned path.
        anchor = centers[out_start]
        distances = [anchor[0], width - anchor[0], anchor[1], height - anchor[1]]
        side = int(np.argmin(distances))
        outside = anchor.copy()
        reach = half_extent.max() + 2.0
        outside[side // 2] = -reach if side % 2 == 0 else (width, height)[side // 2] + reach
        weight = _event_profile(n, out_start + 1, ramp, out_hold)
        centers = centers + weight[:, None] * (outside - centers)

    # --- occluder: a textured bar that passes over the target ---------------------------------------------
    occluder = None
    if occlusion_start is not None:
        full = rng.random() < settings.full_occluder_probability
        cover = rng.uniform(1.15, 1.4) if full else rng.uniform(0.45, 0.8)
        reach = 2 * half_extent.max()
        occ_w = int(math.ceil(reach * cover)) if full else int(math.ceil(reach * cover * 0.6))
        occ_h = int(math.ceil(reach * 1.3))
        horizontal = rng.random() < 0.5
        if not horizontal:
            occ_w, occ_h = occ_h, occ_w
        texture = _render_background(rng, occ_h, occ_w) * 0.6 + 40
        travel = np.zeros((n, 2))
        sweep = 0.5 * (occ_w if horizontal else occ_h) + half_extent.max() + 1.0
        profile_in = _smoothstep((t - occlusion_start) / (ramp + 1))
        profile_out = _smoothstep((t - (occlusion_start + ramp + occlusion_hold + 1)) / (ramp + 1))
        travel[:, 0 if horizontal else 1] = sweep * ((profile_in - 1) + profile_out) * (1 if rng.random() < 0.5
                                                                                         else -1)
        active = (t >= occlusion_start) & (t <= occlusion_start + 2 * ramp + occlusion_hold + 2)
        occluder = {"texture": texture.astype(np.float32), "offset": travel, "active": active,
                    "width": occ_w, "height": occ_h}

    # --- illumination, camera, distractors ----------------------------------------------------------------
    gain = np.ones(n)
    if rng.random() < settings.illumination_probability:
        level = rng.choice([rng.uniform(0.45, 0.7), rng.uniform(1.3, 1.6)])
        illum_start = int(rng.integers(max(1, n // 6), max(2, n - 2)))
        gain = 1 + (level - 1) * _event_profile(n, illum_start, max(1, n // 10), max(1, n // 8))
    shading = (0.6 + 0.8 * _smooth_noise(rng, height, width, 3)[..., 0]).astype(np.float32)

    pad_y, pad_x = int(0.2 * height), int(0.2 * width)
    background = _render_background(rng, height + 2 * pad_y, width + 2 * pad_x).astype(np.float32)
    camera = np.zeros((n, 2))
    if rng.random() < settings.camera_probability:
        camera_velocity = _smooth_walk(rng, n, 0.004 * short, damping=0.9)
        camera_velocity[: max(1, n // 6)] = 0
        camera = np.cumsum(camera_velocity, axis=0)
    camera = np.clip(np.round(camera), [-pad_x, -pad_y], [pad_x, pad_y]).astype(int)

    target_hue = rng.random()
    pattern = _stripe_pattern(rng)
    texture_scale = max(1.0, float(scale.max()))
    tex_w, tex_h = max(4, int(round(base_w * texture_scale))), max(4, int(round(base_h * texture_scale)))
    target_texture = _render_pattern_texture(rng, tex_h, tex_w, target_hue, pattern)

    distractors = []
    for _ in range(int(rng.integers(settings.distractors[0], settings.distractors[1] + 1))):
        look_alike = dict(pattern, phase=pattern["phase"] + rng.uniform(1.0, 2.5),
                          frequency=pattern["frequency"] * rng.uniform(0.7, 1.4))
        hue = target_hue + rng.choice([-1, 1]) * rng.uniform(0.06, 0.15)
        size_factor = rng.uniform(0.7, 1.2)
        d_w, d_h = base_w * size_factor * rng.uniform(0.8, 1.25), base_h * size_factor
        d_texture = _render_pattern_texture(rng, max(4, int(round(d_h))), max(4, int(round(d_w))), hue, look_alike)
        d_centers = _trajectory(n, rng.uniform([0, 0], [width, height]), _smooth_walk(rng, n, 0.008 * short),
                                np.array([0.0, 0.0]), np.array([float(width), float(height)]))
        distractors.append((d_texture, d_centers, d_w, d_h, rng.uniform(-20, 20)))

    scene = _Scene(height=height, width=width, base_w=base_w, base_h=base_h, scale=scale, angle=angle,
                   centers=centers, occluder=occluder, gain=gain, shading=shading, background=background,
                   pad=(pad_y, pad_x), camera=camera, target_texture=target_texture, distractors=distractors)
    frames, measured = _render(scene)
    tags, attributes = _tags_and_attributes(scene, measured)
    return SyntheticVideo(frames=frames, boxes=measured["boxes"], polygons=measured["polygons"],
                          visible_ratio=measured["visible_ratio"], tags=tags, attributes=attributes,
                          name=name if name is not None else f"synthetic{seed}",
                          meta={"seed": seed, "difficulty": difficulty, "size": (height, width)})


def _motion_blur(canvas: np.ndarray, displacement: np.ndarray, speed: float) -> np.ndarray:
    """Linear motion blur along the target's displacement (the camera follows fast motion badly)."""
    length = int(min(15, speed * 0.5)) | 1
    half = length // 2
    direction = displacement / speed
    kernel = np.zeros((length, length), np.float32)
    cv2.line(kernel, (int(round(half - direction[0] * half)), int(round(half - direction[1] * half))),
             (int(round(half + direction[0] * half)), int(round(half + direction[1] * half))), 1.0)
    return cv2.filter2D(canvas, -1, kernel / kernel.sum())


def _render(scene: _Scene) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Draw every frame; measure the target's box, polygon and visible / in-frame ratios while drawing."""
    n, height, width = len(scene.centers), scene.height, scene.width
    pad_y, pad_x = scene.pad
    short = min(height, width)
    speeds = np.linalg.norm(np.diff(scene.centers, axis=0, prepend=scene.centers[:1]), axis=1)
    frames: list[np.ndarray] = []
    measured = {"boxes": np.full((n, 4), np.nan), "polygons": np.full((n, 8), np.nan),
                "visible_ratio": np.zeros(n), "in_frame_ratio": np.zeros(n), "occluded": np.zeros(n, dtype=bool),
                "blurred": np.zeros(n, dtype=bool), "speeds": speeds}
    occluder = scene.occluder
    for i in range(n):
        cam_x, cam_y = scene.camera[i]
        canvas = scene.background[pad_y + cam_y:pad_y + cam_y + height, pad_x + cam_x:pad_x + cam_x + width].copy()
        for d_texture, d_centers, d_w, d_h, d_angle in scene.distractors:
            _paste(canvas, d_texture, d_centers[i], d_w, d_h, d_angle)
        target_w, target_h = scene.base_w * scene.scale[i], scene.base_h * scene.scale[i]
        occluder_rect = None
        if occluder is not None and occluder["active"][i]:
            occ_center = scene.centers[i] + occluder["offset"][i]
            ox0 = int(round(occ_center[0] - occluder["width"] / 2))
            oy0 = int(round(occ_center[1] - occluder["height"] / 2))
            occluder_rect = (ox0, oy0, ox0 + occluder["width"], oy0 + occluder["height"])
        total, in_frame, uncovered = _paste(canvas, scene.target_texture, scene.centers[i], target_w, target_h,
                                            scene.angle[i], occluder_rect)
        if occluder_rect is not None:
            ox0, oy0, ox1, oy1 = occluder_rect
            sx0, sy0, sx1, sy1 = max(ox0, 0), max(oy0, 0), min(ox1, width), min(oy1, height)
            if sx1 > sx0 and sy1 > sy0:
                canvas[sy0:sy1, sx0:sx1] = occluder["texture"][sy0 - oy0:sy1 - oy0, sx0 - ox0:sx1 - ox0]
            measured["occluded"][i] = in_frame - uncovered >= 1.0
        if scene.gain[i] != 1.0:  # a light change, stronger where the (fixed) shading map is bright
            canvas *= (1.0 + (scene.gain[i] - 1.0) * scene.shading)[..., None]
        if speeds[i] > 0.035 * short:
            canvas = _motion_blur(canvas, scene.centers[i] - scene.centers[i - 1], speeds[i])
            measured["blurred"][i] = True
        frames.append(np.clip(canvas + 0.5, 0, 255).astype(np.uint8))

        measured["in_frame_ratio"][i] = min(1.0, in_frame / total)
        visible = min(1.0, uncovered / total) if uncovered >= 0.5 else 0.0
        measured["visible_ratio"][i] = visible
        if visible > 0:
            corners = _corners(scene.centers[i], target_w, target_h, scene.angle[i])
            measured["polygons"][i] = corners.reshape(-1)
            x0, y0 = max(0.0, corners[:, 0].min()), max(0.0, corners[:, 1].min())
            x1, y1 = min(float(width), corners[:, 0].max()), min(float(height), corners[:, 1].max())
            measured["boxes"][i] = [x0, y0, x1 - x0, y1 - y0]
    # Annotations are published with two decimals, so text files round-trip exactly.
    measured["boxes"] = np.round(measured["boxes"], 2)
    measured["polygons"] = np.round(measured["polygons"], 2)
    return frames, measured


def _tags_and_attributes(scene: _Scene, measured: dict) -> tuple[dict[str, np.ndarray], list[str]]:
    """Per-frame tags (VOT / LaSOT / GOT-10k kinds) and OTB sequence attributes from what was rendered."""
    short = min(scene.height, scene.width)
    centers, scale, gain = scene.centers, scene.scale, scene.gain
    visible_ratio, in_frame_ratio = measured["visible_ratio"], measured["in_frame_ratio"]
    occluded, blurred, speeds = measured["occluded"], measured["blurred"], measured["speeds"]
    out_of_view = in_frame_ratio * scene.base_w * scene.base_h < 0.5  # not half a pixel of the target in frame
    acceleration = np.linalg.norm(np.diff(np.diff(centers, axis=0, prepend=centers[:1]), axis=0,
                                          prepend=np.zeros((1, 2))), axis=1)
    log_scale = np.log(scale)
    tags = {
        "occlusion": occluded,
        "out_of_view": out_of_view,
        "illum_change": np.abs(np.diff(gain, prepend=gain[0])) > 0.01,
        "motion_change": acceleration > 0.025 * short,
        "size_change": np.abs(np.diff(log_scale, prepend=log_scale[0])) > 0.015,
        "camera_motion": np.any(np.diff(scene.camera, axis=0, prepend=scene.camera[:1]) != 0, axis=1),
        "full_occlusion": occluded & (visible_ratio == 0) & ~out_of_view,
        "cut_by_image": (in_frame_ratio < 1.0 - 1e-6) & ~out_of_view,
        "motion_blur": blurred,
        "absent": visible_ratio == 0,
    }
    checks = [
        ("IV", np.any(gain != 1.0)),
        ("SV", scale.max() / scale.min() > 1.5),
        ("OCC", occluded.any()),
        ("MB", blurred.any()),
        ("FM", speeds.max() > 20.0 * short / 240.0),  # OTB: over 20 pixels per frame (scaled to the frame size)
        ("IPR", np.abs(scene.angle).max() > 5.0),
        ("OV", (out_of_view | tags["cut_by_image"]).any()),
        ("BC", bool(scene.distractors)),
    ]
    return tags, [abbreviation for abbreviation, present in checks if present]


def derived_seeds(seed: int, count: int) -> list[int]:
    """``count`` distinct, reproducible 31-bit seeds derived from ``seed``."""
    states = np.random.SeedSequence(seed).spawn(count)
    seeds = [int(s.generate_state(1)[0] & 0x7FFFFFFF) for s in states]
    if len(set(seeds)) != count:  # astronomically unlikely; keep the promise anyway
        seeds = [s + i for i, s in enumerate(seeds)]
    return seeds


def generate_videos(seed: int, count: int, **kwargs) -> list[SyntheticVideo]:
    """``count`` videos with distinct seeds derived from ``seed``, named ``synthetic<seed>_<index>``."""
    prefix = kwargs.pop("name", None) or f"synthetic{seed}"
    return [generate_video(s, name=f"{prefix}_{index:03d}", **kwargs)
            for index, s in enumerate(derived_seeds(seed, count))]
