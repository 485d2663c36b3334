"""Hierarchical estimation for SiamFC (Hierarchical SiamFC, Sec. 2.4): one score map per level (conv3, conv4, conv5),
the target located in each frame by the map with the largest weighted peak-to-sidelobe ratio, the weights adapted
from a current and a historic tracking loss.

After the target is located in frame t with map k, for every level i:

- current tracking loss (Eq. 2) ``CTL_i^t = max(S_i^t) - S_i^t(x_c, y_c)``, at the located centre;
- PSR (Eq. 4) ``f(S) = (max(S) - mean(S)) / std(S)`` over the whole map;
- historic tracking loss (Eq. 3) ``HTL_i^t = |f(S_i^t) - mean_T f(S_i)| / std_T f(S_i)`` over the previous T
  frames (t - T ... t - 1);
- weight (Eq. 5, a harmonic mean) ``w_i^{t+1} = 2 a e^-CTL e^-HTL / (a e^-CTL + e^-HTL)``;

and frame t + 1 is located by the map ``k = argmax_i w_i^{t+1} f(S_i^{t+1})``. alpha = 1, T = 10 (Sec. 3.1).

Choices where the paper is silent or ambiguous (each a ``HierarchicalParams`` value):

- **Scales.** Each level scores SiamFC's three search scales; the scale penalty applies to each level's maps as
  in SiamFC, and each level's map ``S_i`` is the one at its own best scale (highest penalised peak). The chosen
  level then moves and rescales the target exactly as SiamFC does with its maps (``SiamFCTracker.step``).
- **Where the CTL is read.** ``(x_c, y_c)`` is the located peak, on every level's map at the scale the target
  was located at (so the same pixel is the same image point on every level); it is the Hanning-windowed peak, so
  ``CTL_k`` is 0 unless the window moved the peak off the raw maximum.
- **Comparable CTLs** (``ctl_normalization``). Layers' maps differ in scale by orders of magnitude (channel
  counts and activations differ), so a raw CTL would weigh levels by their units. "minmax" (default) divides the
  CTL by the map's range: ``(max S - S(x_c)) / (max S - min S)`` in [0, 1], invariant to each map's scale and
  offset, as PSR and HTL already are. "none" keeps Eq. 2 as written.
- **When HTL starts** (``htl_start``). "HTL is calculated after 10th frame": HTL is 0 for the frames before index
  ``htl_start`` (10; frame 0 is the initial frame, which has no score map) and from then on uses the PSRs of the
  previous ``history_length`` frames that have maps (9 at frame 10, T from frame 11 on). The standard deviations
  are population ones (numpy's default); a zero deviation gives a PSR / HTL of 0.
- **Start.** Equal weights: ``w^1 = 1`` for every level, Eq. 5's value at CTL = HTL = 0.
- **Upsampling.** Maps are upsampled 17 -> 129 bilinearly with corners aligned (129 = 16 x 8 + 1: 8 pixels per
  cell, a step of one search-crop pixel at stride 8): ``response_up`` 8, ``upsample_mode`` "bilinear",
  ``align_corners`` True; SiamFC's other values (window influence 0.176 over the 129x129 map, scale step 1.0375,
  penalty 0.9745, damping 0.59) as the single-layer trackers.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from tracking.params import Range
from tracking.trackers.siamfc import SiamFCParams, SiamFCTracker

CTL_NORMALIZATIONS = ("minmax", "none")


@dataclass(frozen=True)
class HierarchicalParams(SiamFCParams):
    """Hierarchical SiamFC's tracker: SiamFC's step values with the paper's upsampling, plus ``alpha`` (harmonic
    coefficient, 1), ``history_length`` (T, 10), ``htl_start`` (first frame index with an HTL, 10) and
    ``ctl_normalization`` ("minmax" or "none"); see the module docstring."""

    response_up: int = 8
    upsample_mode: str = "bilinear"
    align_corners: bool = True
    alpha: float = 1.0
    history_length: int = 10
    htl_start: int = 10
    ctl_normalization: str = "minmax"

    RANGES = {"alpha": Range(0, low_open=True), "history_length": Range(1), "htl_start": Range(0)}

    def __post_init__(self):
        super().__post_init__()
        if self.ctl_normalization not in CTL_NORMALIZATIONS:
            raise ValueError(f"ctl_normalization must be one of {CTL_NORMALIZATIONS}, got {self.ctl_normalization!r}")


# The paper's single-layer baselines: SiamFC's step on one level, upsampled as the hierarchical tracker's.
PAPER_LAYER_PARAMS = SiamFCParams(response_up=8, upsample_mode="bilinear", align_corners=True)


class LayerTracker(SiamFCTracker):
    """A single-layer baseline: SiamFC's step on the network level ``level_name``, with the paper's upsampling
    (``PAPER_LAYER_PARAMS``) by default."""

    level_name = ""
    default_params = PAPER_LAYER_PARAMS

    def __init__(self, model, params=None, device="cpu", name: str | None = None):
        super().__init__(model, params, self.level_name, device, name or f"SiamFC-{self.level_name}")


class Conv3Tracker(LayerTracker):
    level_name = "conv3"


class Conv4Tracker(LayerTracker):
    level_name = "conv4"


class Conv5Tracker(LayerTracker):
    level_name = "conv5"


LAYER_TRACKERS = {"conv3": Conv3Tracker, "conv4": Conv4Tracker, "conv5": Conv5Tracker}


def psr(score_map: np.ndarray) -> float:
    """Peak-to-sidelobe ratio (Eq. 4) over the whole map: ``(max - mean) / std``; 0 for a constant map."""
    values = np.asarray(score_map, dtype=np.float64)
    spread = values.std()
    return float((values.max() - values.mean()) / spread) if spread > 0 else 0.0


def current_tracking_loss(score_map: np.ndarray, location: tuple[int, int], normalization: str = "minmax") -> float:
    """CTL (Eq. 2): ``max(S) - S(location)``; with "minmax" divided by ``max(S) - min(S)`` (0 for a flat map)."""
    values = np.asarray(score_map, dtype=np.float64)
    loss = float(values.max() - values[location])
    if normalization == "none":
        return loss
    spread = float(values.max() - values.min())
    return loss / spread if spread > 0 else 0.0


def historic_tracking_loss(current_psr: float, history) -> float:
    """HTL (Eq. 3): ``|f_t - mean(history)| / std(history)``; 0 without history or with a zero deviation."""
    history = np.asarray(list(history), dtype=np.float64)
    if history.size == 0:
        return 0.0
    spread = history.std()
    return float(abs(current_psr - history.mean()) / spread) if spread > 0 else 0.0


def adaptive_weights(ctl, htl, alpha: float = 1.0) -> np.ndarray:
    """Eq. 5 per level: ``2 a e^-CTL e^-HTL / (a e^-CTL + e^-HTL)``."""
    current, historic = np.exp(-np.asarray(ctl, dtype=np.float64)), np.exp(-np.asarray(htl, dtype=np.float64))
    return 2 * alpha * current * historic / (alpha * current + historic)


def select_level(weights, psrs) -> int:
    """``argmax_i w_i f(S_i)`` (the first level on a tie)."""
    return int(np.argmax(np.asarray(weights, dtype=np.float64) * np.asarray(psrs, dtype=np.float64)))


class HierarchicalSiamFCTracker(SiamFCTracker):
    """The hierarchical tracker on every level of a multi-level ``SiamFC`` network (see the module docstring).

    After each ``update``, ``last`` holds the frame's chosen ``level`` (index), the ``weights`` it was chosen
    with, and the levels' ``psr``, ``ctl``, ``htl`` and the ``next_weights``.
    """

    params_class = HierarchicalParams

    def __init__(self, model, params=None, device="cpu", name: str = "HSiamFC"):
        super().__init__(model, params, None, device, name)
        if len(self.network.levels) < 2:
            raise ValueError(f"the hierarchical tracker needs several levels; the network has "
                             f"{list(self.network.levels)} (use a single-layer tracker)")
        self.last: dict = {}

    def init(self, image: np.ndarray, box) -> None:
        super().init(image, box)
        levels = len(self.network.levels)
        self.weights = np.ones(levels)
        self.psr_history = [deque(maxlen=self.params.history_length) for _ in range(levels)]
        self.frame = 0
        self.last = {}

    def _finish(self, state: None, responses: list[torch.Tensor]) -> np.ndarray:
        """The frame's step (``update``, or a slot's in lockstep) on the network's responses of every level."""
        cfg = self.params
        self.frame += 1
        maps = self.score_maps(responses)  # (levels, scales, U, U)
        best_scales = np.argmax(np.amax(maps, axis=(2, 3)), axis=1)
        psrs = np.array([psr(maps[i, s]) for i, s in enumerate(best_scales)])
        chosen = select_level(self.weights, psrs)
        scale_id, loc = self.step(maps[chosen])
        ctl = np.array([current_tracking_loss(maps[i, scale_id], loc, cfg.ctl_normalization)
                        for i in range(len(maps))])
        htl = np.array([historic_tracking_loss(value, history) if self.frame >= cfg.htl_start else 0.0
                        for value, history in zip(psrs, self.psr_history)])
        self.last = {"level": chosen, "weights": self.weights, "psr": psrs, "ctl": ctl, "htl": htl}
        self.weights = adaptive_weights(ctl, htl, cfg.alpha)
        self.last["next_weights"] = self.weights
        for value, history in zip(psrs, self.psr_history):
            history.append(value)
        return self.box()
