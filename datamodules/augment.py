"""Template and search crops with jitter, their exact box bookkeeping, and the image-side augmentations.

Geometry is one affine warp per crop, so the box follows it exactly. Coordinates: a frame box ``x, y, w, h``
spans ``[x, x + w)`` with pixel ``i`` covering ``[i, i + 1)``; in pixel-index coordinates (pixel ``i`` centered at
``i``, as ``cv2.warpAffine`` samples) its center is ``x + (w - 1) / 2`` and its extent ``[x - 1/2, x + w - 1/2]``.
Crop boxes are returned as corners ``x1, y1, x2, y2`` in the crop's pixel-index coordinates, so an unshifted
target is centered at ``(size - 1) / 2`` (127 in a 255 search crop), the convention of the reference
implementation's anchor targets.

The crop is the SiamFC/SiamRPN window: side ``s_z`` (``tracking.crops.context_size``) maps onto
``exemplar_size`` pixels and the search crop covers ``s_z * search_size / exemplar_size``. Jitter as in SiamRPN++
training: the window is scaled by independent factors ``1 + U(-scale, scale)`` in x and y (so the target appears
``1 / factor`` as large) and the target is placed at ``U(-shift, shift)`` pixels from the crop center on each
axis (SiamRPN++'s spatial-aware sampling; the reference code draws the shift before its scale jitter, in
pre-crop pixels, so there the output offset is ``shift / factor``; here the offset in the crop is exactly
uniform over ``±shift``). The window is warped with bilinear interpolation and what falls outside the image is
filled with the image's per-channel mean (as the tracker pads). We warp with an exact affine map rather than the
tracker's integer-aligned ``crop_and_resize`` because that rounds the window to whole pixels, which would move
the target by up to half a source pixel without the box knowing.

SiamFC's augmentation (siamfc-pytorch ``transforms.py:25-117``: a 255 crop, ``RandomStretch(0.05)``, centre crop
247, random crop 239, centre crop 127 for the exemplar) is the same warp with three options of ``CropJitter``:
``same_scale`` (one stretch factor for both axes), ``integer_shift`` (whole-pixel offsets in ``-shift..shift``,
the 239 random crop's ``randint(0, 9)`` start giving offsets -4..4) and ``random_interpolation`` (one of cv2's
linear, cubic, area, nearest, Lanczos-4 per crop, as the reference draws for each resize; ``cv2.warpAffine`` runs
area as linear).

SNS-CF's augmentation ("randomly translated up to +-8 pixels and re-scaled 2^{+-1/8} and 2^{+-1/4} for exemplar and
search images") is ``shift`` 8 with ``power_of_two_scale``: one factor ``2 ** U(-scale, scale)`` (with
``same_scale``) and ``scale`` 1/8 and 1/4.

Image-side augmentations (after the crop; gray and blur commute with it), in the reference's order:
gray (albumentations ``ToGray``), the reference's PCA color jitter (subtracting ``RGB_VAR @ N(0, 1)``, the fixed
ImageNet eigenbasis pysot uses; albumentations' ``FancyPCA`` computes a per-image basis instead, so it is not
used), then the reference's motion blur: an odd kernel size in ``blur_kernel`` (5..45) and a weight ``w ~ U(0, 1)``
give a centered cross of a vertical line (weight ``w``) and a horizontal line (``1 - w``). That kernel is the sum of
two box filters, so it runs as two ``cv2.blur`` calls (~0.3 ms on a 255 crop) where a 2-D ``filter2D`` of the same
kernel, or albumentations' ``MotionBlur`` (a line at a random angle), takes 15-30 ms per crop on a CPU core. The
kernel is symmetric about its center, so blurring does not move the target.
"""
from __future__ import annotations

from dataclasses import dataclass

import albumentations as A
import cv2
import numpy as np

from tracking.crops import context_size

# The reference implementation's color jitter basis (pysot's Augmentation.rgbVar), rows in RGB order.
RGB_VAR = np.array([[-0.55919361, 0.98062831, -0.41940627],
                    [1.72091413, 0.19879334, -1.82968581],
                    [4.64467907, 4.73710203, 4.88324118]], dtype=np.float32)



@dataclass(frozen=True)
class CropJitter:
    """Augmentation of one branch (template or search)."""

    size: int                 # output side in pixels (127 template, 255 search)
    shift: float = 0.0        # target center offset from the crop center, uniform in +-shift output pixels
    scale: float = 0.0        # window scale factors 1 + U(-scale, scale), x and y independently
    blur: float = 0.0         # probability of motion blur
    flip: float = 0.0         # probability of a horizontal flip
    color: float = 0.0        # probability of PCA color jitter
    same_scale: bool = False  # one scale factor for x and y (SiamFC's RandomStretch)
    power_of_two_scale: bool = False  # factors 2 ** U(-scale, scale) (SNS-CF's 2^{+-1/8}), else 1 + U(-scale, scale)
    integer_shift: bool = False  # offsets in whole pixels, uniform over -shift..shift (SiamFC's RandomCrop)
    random_interpolation: bool = False  # a random cv2 interpolation per crop (SiamFC), else bilinear


# siamfc-pytorch's choices for every resize (transforms.py:28-33, 131-136)
RANDOM_INTERPOLATIONS = (cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_AREA, cv2.INTER_NEAREST, cv2.INTER_LANCZOS4)
# source pixels an interpolation reads beyond the sampled point (the rest of the kernel's support)
_KERNEL_REACH = {cv2.INTER_NEAREST: 0, cv2.INTER_LINEAR: 0, cv2.INTER_AREA: 0, cv2.INTER_CUBIC: 1,
                 cv2.INTER_LANCZOS4: 3}


@dataclass(frozen=True)
class CropDraw:
    """The random choices of one crop (drawn first, so that geometry can be tested without images)."""

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float
    flip: bool
    blur: bool
    color: np.ndarray | None  # (3,) RGB offset to subtract, or None
    interpolation: int = cv2.INTER_LINEAR


def draw_crop(jitter: CropJitter, rng: np.random.Generator) -> CropDraw:
    """Draw the random parameters of one crop: scale (x, y), offset (x, y), flip, blur, color, interpolation
    (the options off draw exactly the same numbers as before they existed)."""
    u = rng.uniform(-1.0, 1.0, size=4)
    flip = bool(jitter.flip and rng.random() < jitter.flip)
    blur = bool(jitter.blur and rng.random() < jitter.blur)
    color = (RGB_VAR @ rng.standard_normal(3).astype(np.float32)) if jitter.color and rng.random() < jitter.color \
        else None
    interpolation = RANDOM_INTERPOLATIONS[rng.integers(len(RANDOM_INTERPOLATIONS))] \
        if jitter.random_interpolation else cv2.INTER_LINEAR

    def factor(v: float) -> float:
        return 2.0 ** (v * jitter.scale) if jitter.power_of_two_scale else 1.0 + v * jitter.scale

    scale_x = factor(u[0])
    scale_y = scale_x if jitter.same_scale else factor(u[1])
    if jitter.integer_shift:  # u uniform on [-1, 1): each of the 2 * shift + 1 whole offsets equally likely
        steps = 2 * int(jitter.shift) + 1
        offset_x, offset_y = (float(min(np.floor((v + 1) / 2 * steps), steps - 1) - int(jitter.shift))
                              for v in u[2:])
    else:
        offset_x, offset_y = u[2] * jitter.shift, u[3] * jitter.shift
    return CropDraw(scale_x=scale_x, scale_y=scale_y, offset_x=offset_x, offset_y=offset_y, flip=flip, blur=blur,
                    color=color, interpolation=int(interpolation))


def crop_transform(box, size: int, draw: CropDraw, exemplar_size: int = 127,
                   context_amount: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Affine map (2 x 3, source pixel-index -> crop pixel-index coordinates) and the target's crop corners."""
    x, y, w, h = (float(v) for v in box)
    center_x, center_y = x + (w - 1) / 2, y + (h - 1) / 2
    base = exemplar_size / context_size(w, h, context_amount)
    ax, ay = base / draw.scale_x, base / draw.scale_y
    middle = (size - 1) / 2
    tx = middle + draw.offset_x - ax * center_x
    ty = middle + draw.offset_y - ay * center_y
    x1, x2 = middle + draw.offset_x - ax * w / 2, middle + draw.offset_x + ax * w / 2
    y1, y2 = middle + draw.offset_y - ay * h / 2, middle + draw.offset_y + ay * h / 2
    if draw.flip:
        matrix = np.array([[-ax, 0.0, size - 1 - tx], [0.0, ay, ty]])
        x1, x2 = size - 1 - x2, size - 1 - x1
    else:
        matrix = np.array([[ax, 0.0, tx], [0.0, ay, ty]])
    return matrix, np.array([x1, y1, x2, y2], dtype=np.float64)


def warp_crop(image: np.ndarray, matrix: np.ndarray, size: int, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Warp ``image`` by ``matrix`` into a ``size x size`` crop, filling outside the image with its mean."""
    height, width = image.shape[:2]
    ax, tx, ay, ty = matrix[0, 0], matrix[0, 2], matrix[1, 1], matrix[1, 2]
    # source extent sampled by the crop's pixel centers 0 .. size - 1 (plus the interpolation's neighbours)
    xs = sorted(((0 - tx) / ax, (size - 1 - tx) / ax))
    ys = sorted(((0 - ty) / ay, (size - 1 - ty) / ay))
    reach = _KERNEL_REACH.get(interpolation, 3)
    inside = xs[0] >= reach and ys[0] >= reach and xs[1] <= width - 1 - reach and ys[1] <= height - 1 - reach
    fill = (0.0, 0.0, 0.0) if inside else cv2.mean(image)[:3]
    return cv2.warpAffine(image, matrix, (size, size), flags=interpolation, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=fill)


def reference_motion_blur(image: np.ndarray, size: int, vertical_weight: float) -> np.ndarray:
    """The reference's blur kernel (centered vertical line of weight ``w`` + horizontal line of ``1 - w``, each
    ``size`` long, normalized), computed as two box filters."""
    horizontal = cv2.blur(image, (size, 1))
    vertical = cv2.blur(image, (1, size))
    return cv2.addWeighted(vertical, vertical_weight, horizontal, 1.0 - vertical_weight, 0.0)


class ImageAugmenter:
    """Gray, PCA color jitter and motion blur, deterministic given the sample's random generator."""

    def __init__(self, blur_kernel=(5, 45)):
        low, high = (int(v) for v in blur_kernel)
        self.blur_sizes = np.arange(low | 1, high + 1, 2)  # odd sizes, as the reference draws them
        if not len(self.blur_sizes):
            raise ValueError(f"blur_kernel {blur_kernel} contains no odd size")
        self.to_gray = A.ToGray(num_output_channels=3, method="weighted_average", p=1.0)

    def __call__(self, crop: np.ndarray, draw: CropDraw, gray: bool, rng: np.random.Generator) -> np.ndarray:
        """uint8 RGB crop -> float32 RGB (0-255 scale, color offset unclipped as in the reference)."""
        if gray:
            crop = self.to_gray(image=crop)["image"]
        out = crop.astype(np.float32)
        if draw.color is not None:
            out -= draw.color
        if draw.blur:
            size = int(rng.choice(self.blur_sizes))
            out = reference_motion_blur(out, size, float(rng.random()))
        return out

