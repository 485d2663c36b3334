"""MFST's tracker (MFST, Sec. III-C and IV-A d/e) on a ``tracking.models.mfst.MFST`` network.

What the paper states is followed: the exemplar's SE-recalibrated features computed once on the first frame
(never updated), the six responses fused within each branch and then across the branches (S by hard weight
0.1 / 0.3 / 0.7, A by soft weight 0.1 / 0.6 / 0.3, then soft weight 0.3 (S) / 0.7 (A): Sec. IV-A e and
Table II), the final map resized and its maximum taken as the target, three scales ``1.025^{-1,0,1}``.
Where it is silent, the released tracker (``inference/tracker.py``, ``inference_wrapper.py``; reference notes
part B5, whose values are its ``track_config.json``):

- crops (the ``subpixel`` crop style, ``tracking.crops.crop_subpixel``): ``tf.image.crop_and_resize`` of the window
  ``s_x = s_z * 255 / 127`` (``s_z`` the context window of the *current* size, context 0.5) times each scale
  factor: bilinear, sub-pixel (no rounding),
  sample ``i`` at ``c - (s - 1) / 2 + i (s - 1) / 254``; samples outside the frame take the current frame's mean
  colour (B5.2);
- the exemplar is the central 127x127 of the first frame's 255 crop at scale 1 (B5.3);
- the fused 17x17 maps of the three scales upsampled x16 to 272x272 by bicubic interpolation with aligned corners
  (TF's ``resize_images(align_corners=True)`` = torch's bicubic, a = -0.75, corners aligned); the best scale
  maximises its map's peak times 0.9745 for the non-central scales; that map min-shifted, divided by its sum and
  blended 0.824 / 0.176 with a Hanning window normalised to sum 1 (``SiamFCTracker.peak``);
- the peak's displacement from 135.5, divided by 16 (the code's step, although corner-aligned upsampling puts the
  cells 271/16 pixels apart), clipped to +-8 feature cells, times stride 8 / the crop's scale (B5.4);
- the size: ``ts = (h / h0) (0.41 + 0.59 f)`` clipped to [0.2, 5] and ``(w, h) = ts (w0, h0)``, relative to the
  first frame's size (B5.4).

Differences from the released code, where the paper decides: the scale step (paper 1.025; the code's config
1.0375: ``scale_step``), and the order of fusion and upsampling (the paper resizes the *final* map; the code
upsamples each of the six maps first, so its normalising maxima are those of the upsampled maps). The fusion
itself and the guard of a non-positive maximum are ``tracking.models.mfst.fuse``. A sum of zero in the
min-shift normalisation is guarded by +1e-16 (the code raises).

``MFSTParams`` extends ``SiamFCParams`` (the shared step values) with the size clamp, the SE switch and the
fusion; every strategy and weight is a parameter. ``s_weights`` / ``a_weights`` follow the network's ``levels``,
``branch_weights`` is (S, A): a zero branch weight under hard or soft weight leaves that branch out (it is not
computed: the single-branch rows), zero level weights keep one layer (the single-layer rows), ``use_se=False``
correlates the un-gated features (the no-SE rows on the same weights).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tracking.inference import CropRequest
from tracking.models.mfst import BRANCHES, FUSIONS, fuse
from tracking.params import Range
from tracking.tracker import initial_box, rgb_frame
from tracking.trackers.siamfc import SiamFCParams, SiamFCTracker


@dataclass(frozen=True)
class MFSTParams(SiamFCParams):
    """The tracker's values (see the module docstring): paper where it says, else the released ``track_config``.

    ``scale_step`` 1.025 (paper; 1.0375 in the code), ``scale_lr`` the scale damping 0.59, ``align_corners`` True
    (17 -> 272 with corner cells on corner pixels), ``min_scale`` / ``max_scale`` the clamp of the size relative to
    the first frame's. Fusion: ``s_fusion`` / ``a_fusion`` over the levels with ``s_weights`` / ``a_weights`` (one
    per network level, conv3 / conv4 / conv5 order), ``branch_fusion`` over the branches with ``branch_weights``
    (S, A); strategies "hard_weight", "soft_mean", "soft_weight".
    """

    scale_step: float = 1.025
    align_corners: bool = True
    min_scale: float = 0.2
    max_scale: float = 5.0
    use_se: bool = True
    s_fusion: str = "hard_weight"
    s_weights: tuple[float, ...] = (0.1, 0.3, 0.7)
    a_fusion: str = "soft_weight"
    a_weights: tuple[float, ...] = (0.1, 0.6, 0.3)
    branch_fusion: str = "soft_weight"
    branch_weights: tuple[float, ...] = (0.3, 0.7)

    RANGES = {"min_scale": Range(0, 1, low_open=True), "max_scale": Range(1), "s_weights": Range(0),
              "a_weights": Range(0), "branch_weights": Range(0)}

    def __post_init__(self):
        super().__post_init__()
        for name in ("s_weights", "a_weights", "branch_weights"):
            object.__setattr__(self, name, tuple(float(w) for w in getattr(self, name)))
        for name in ("s_fusion", "a_fusion", "branch_fusion"):
            if getattr(self, name) not in FUSIONS:
                raise ValueError(f"{name} must be one of {FUSIONS}, got {getattr(self, name)!r}")
        if len(self.branch_weights) != len(BRANCHES):
            raise ValueError(f"branch_weights are (S, A): two values, got {list(self.branch_weights)}")

    def upsampled_size(self, response_size: int) -> int:
        # the released tracker resizes 17 -> 17 x 16 = 272 with align_corners=True (its centre 135.5)
        return response_size * self.response_up

    def fusion(self, branch: str) -> tuple[str, tuple[float, ...]]:
        return getattr(self, f"{branch}_fusion"), getattr(self, f"{branch}_weights")


class MFSTTracker(SiamFCTracker):
    """Tracker protocol (``init(image, box)``, ``update(image) -> box``) around an ``MFST`` network.

    ``params``: an ``MFSTParams``, a mapping of its fields (unknown keys raise) or None. The template branch runs
    once per sequence (``init``); each frame runs the search branches of the branches with weight on the three
    scale crops in one batch. ``batched(N)`` tracks N sequences in lockstep (``tracking.trackers.batched``): one
    call for every slot's scale crops, each slot's maps fused and stepped as here.
    """

    params_class = MFSTParams
    crop_style = "subpixel"

    def __init__(self, model, params=None, device="cpu", name: str = "MFST"):
        super().__init__(model, params, None, device, name)
        cfg = self.params
        levels = self.network.levels
        for branch in self.network.branches:
            strategy, weights = cfg.fusion(branch)
            if len(weights) != len(levels):
                raise ValueError(f"{branch}_weights {list(weights)} need one value per network level {list(levels)}")
        weights = dict(zip(BRANCHES, cfg.branch_weights))
        # a branch with no weight contributes nothing under hard / soft weight: it is not computed
        self.active = [b for b in self.network.branches if cfg.branch_fusion == "soft_mean" or weights[b] != 0]
        if not self.active:
            raise ValueError(f"branch_weights {list(cfg.branch_weights)} leave none of the network's branches "
                             f"{list(self.network.branches)}")
        self.branch_weights = [weights[b] for b in self.active]
        self.use_se = cfg.use_se and self.network.se
        self.max_displacement = int(self.upscale_size / cfg.response_up / 2)  # +-8 cells (tracker.py r_radius)
        self.initial_size = None

    def search_window(self) -> float:
        """``s_x``: the context window of the current size, ``sqrt((w + p)(h + p)) * 255 / 127``, p = 0.5 (w + h)."""
        w, h = self.target_size
        context = self.params.context_amount * (w + h)
        return float(np.sqrt((w + context) * (h + context))) * self.params.instance_size / self.network.exemplar_size

    @torch.inference_mode()
    def init(self, image: np.ndarray, box) -> None:
        image = rgb_frame(image)
        x, y, w, h = initial_box(box)
        cfg = self.params
        base = cfg.box_index_base
        self.center = np.array([x - base + (w - 1) / 2, y - base + (h - 1) / 2])  # (cx, cy), 0-based
        self.target_size = np.array([w, h])
        self.initial_size = self.target_size.copy()
        # the frame's mean colour pads (no fill given)
        crop = self.net.crops([CropRequest(image, self.center, [self.search_window()], cfg.instance_size)])
        start = (cfg.instance_size - self.network.exemplar_size) // 2  # 64: the exemplar is the crop's centre
        exemplar = crop[..., start:start + self.network.exemplar_size, start:start + self.network.exemplar_size]
        self.kernel = self.net.run("template_features", self.net.as_input(exemplar), self.use_se, self.active)

    # ``update`` (LockstepTracker): _search_request -> _network_outputs -> _finish
    def _search_request(self, image: np.ndarray) -> tuple[CropRequest, None]:
        """The frame's scale crops, padded with the current frame's mean colour (no fill given)."""
        windows = [self.search_window() * f for f in self.scale_factors]
        return CropRequest(rgb_frame(image), self.center, windows, self.params.instance_size), None

    def _network_outputs(self, template, search: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        # one template at a time: in lockstep, each slot's maps are those of tracking it alone, bit for bit
        return self.net.run("responses", template, search, self.use_se, per_exemplar=True)

    def _finish(self, state: None, responses: dict[str, list[torch.Tensor]]) -> np.ndarray:
        self.step(self.fused(responses))
        return self.box()

    @staticmethod
    def branch_maps(responses: dict[str, list[torch.Tensor]]) -> dict[str, list[torch.Tensor]]:
        """The network's (scales, 1, 17, 17) responses as (scales, 17, 17) float32 maps."""
        return {branch: [r[:, 0].float() for r in maps] for branch, maps in responses.items()}

    def fused(self, responses: dict[str, list[torch.Tensor]]) -> np.ndarray:
        """(scales, 272, 272): the responses fused within each branch, then across the branches, upsampled."""
        cfg = self.params
        maps = self.branch_maps(responses)
        per_branch = [fuse(maps[branch], *cfg.fusion(branch)) for branch in self.active]
        fused = fuse(per_branch, cfg.branch_fusion, self.branch_weights)
        size = (self.upscale_size, self.upscale_size)
        return F.interpolate(fused[None], size=size, mode=cfg.upsample_mode,
                             align_corners=cfg.align_corners)[0].cpu().numpy()

    @torch.inference_mode()
    def response_maps(self, image: np.ndarray) -> dict[str, list[torch.Tensor]]:
        """Each active branch's per-level (scales, 17, 17) float32 responses to the frame's scale crops."""
        return self.branch_maps(self._frame_outputs(image)[1])

    @torch.inference_mode()
    def fused_map(self, image: np.ndarray) -> np.ndarray:
        """``fused`` of the frame's responses."""
        return self.fused(self._frame_outputs(image)[1])

    def step(self, scale_maps: np.ndarray) -> tuple[int, tuple[int, int]]:
        """Locate the target in the fused (scales, U, U) maps: move the centre (clipped displacement) and set the
        size (damped, clamped relative to the first frame's). Returns the chosen scale and the peak (row, column)."""
        cfg = self.params
        penalties = np.full(cfg.scale_num, cfg.scale_penalty)
        penalties[cfg.scale_num // 2] = 1.0
        scale_id = int(np.argmax(np.amax(scale_maps, axis=(1, 2)) * penalties))
        loc = self.peak(scale_maps[scale_id])
        cells = (np.array([loc[1], loc[0]]) - (self.upscale_size - 1) / 2) / cfg.response_up  # (dx, dy)
        cells = np.clip(cells, -self.max_displacement, self.max_displacement)
        factor = self.scale_factors[scale_id]
        pixels = cells * self.network.total_stride * self.search_window() * factor / cfg.instance_size
        self.center = self.center + pixels
        scale = self.target_size[1] / self.initial_size[1] * ((1 - cfg.scale_lr) + cfg.scale_lr * factor)
        self.target_size = self.initial_size * float(np.clip(scale, cfg.min_scale, cfg.max_scale))
        return scale_id, loc
