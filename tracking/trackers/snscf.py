"""The SNS-CF tracker: SiamRPN++'s tracking step ranked by adaptive correlation filters (ACF).

Per sequence (nothing outlives ``init``): the template branch runs once as in SiamRPN++, and a correlation filter is
learned per feature level (conv3/4/5 after the neck) on the first frame's search-sized window around the target
(the window every later frame is searched in; HCF learns on a padded window around the target), with the Gaussian
label at the window's centre (Eq. 6).

Per frame:

1. SiamRPN++'s step on the search crop (``SiamRPNTracker``): scores and the boxes fused over levels with the learned
   weights beta (Eq. 3, the head's ``loc_weight``), one network pass that also yields every level's search features.
2. The filters' responses on those features (Eq. 9, cosine-windowed as HCF, zero-padded to a fast FFT size: 31 ->
   32; one FFT per level and frame serves the response and the update), bilinearly resampled onto the anchor
   grid (Eq. 4; the feature cell under each anchor centre) and fused with per-level weights (HCF's 0.02 / 0.5 / 1
   for conv3 / conv4 / conv5, normalised to sum 1 so a perfect response peaks at 1).
3. Ranking: the paper "drops the scores and uses only bounding boxes": ``ranking="cf"`` (default) ranks every anchor
   by the fused response at its cell, clipped to [0, 1] (the regression target's range; the smoothing rate below
   multiplies it); ``"blend"`` takes ``(1 - rpn_weight) * cf + rpn_weight * rpn`` and ``"product"`` ``cf * rpn``;
   ``"rpn"`` is SiamRPN++ alone (no filter is learned: the ablation's baseline on the same network).
4. SiamRPN++'s scale/ratio penalty, cosine window and size smoothing on that score (the same code as
   ``SiamRPNTracker``), then the adaptive update: a filter learned on this frame's features with the label at the
   new position (in this crop's cells) is interpolated into the numerator and energy at ``cf_lr`` (HCF's 0.01).
   Learning on the search crop rather than on a second crop centred on the new position saves a network pass per
   frame; Eq. 8's numerator and energy are unchanged by moving features and label together, so only the cosine
   window's centre differs from re-cropping.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tracking.models.correlation_filter import (HCF_INTERP_FACTOR, HCF_LAMBDA, HCF_LAYER_WEIGHTS, HCF_SIGMA_FACTOR,
                                                FilterSpectrum, absolute_lambda, filter_response,
                                                gaussian_label, hann_window, interpolate, learn_filter,
                                                pad_for_fft, sample_on_anchor_grid)
from tracking.params import Range
from tracking.trackers.siamrpn import SiamRPNParams, SiamRPNTracker

RANKINGS = ("cf", "blend", "product", "rpn")


@dataclass(frozen=True)
class SNSCFParams(SiamRPNParams):
    """The SNS-CF tracker's parameters: SiamRPN++'s (``SiamRPNParams``, pysot's VOT values) and the filters'.

    ``cf_lr``: the adaptive update's rate (HCF ``interp_factor`` 0.01); ``cf_lambda``: the ridge term relative to
    the mean feature energy (HCF 1e-4); ``cf_sigma_factor``: label width per target size in cells (HCF 0.1);
    ``cf_layer_weights``: one weight per feature level, conv3 first (HCF 0.02, 0.5, 1; 0 drops a level's filter);
    ``ranking`` "cf" (the paper), "blend", "product" or "rpn" (no filter); ``rpn_weight``: the RPN score's share
    for "blend".
    """

    cf_lr: float = HCF_INTERP_FACTOR
    cf_lambda: float = HCF_LAMBDA
    cf_sigma_factor: float = HCF_SIGMA_FACTOR
    cf_layer_weights: tuple[float, ...] = HCF_LAYER_WEIGHTS
    ranking: str = "cf"
    rpn_weight: float = 0.5

    RANGES = {"cf_lr": Range(0, 1), "cf_lambda": Range(0, low_open=True), "cf_sigma_factor": Range(0, low_open=True),
              "cf_layer_weights": Range(0), "rpn_weight": Range(0, 1)}

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "cf_layer_weights", tuple(float(w) for w in self.cf_layer_weights))
        if self.ranking not in RANKINGS:
            raise ValueError(f"ranking must be one of {RANKINGS}, got {self.ranking!r}")
        if sum(self.cf_layer_weights) <= 0:
            raise ValueError(f"cf_layer_weights must have a positive sum, got {self.cf_layer_weights}")


class SNSCFTracker(SiamRPNTracker):
    """``init(image, box)`` / ``update(image) -> box`` on a ``SiamRPN`` network (see the module docstring)."""

    params_class = SNSCFParams

    def __init__(self, model, params: SNSCFParams | dict | None = None, device="cpu", name: str = "SNS-CF"):
        super().__init__(model, params, device=device, name=name)
        levels = len(self.network.used_layers)
        weights = self.params.cf_layer_weights
        if len(weights) != levels:
            raise ValueError(f"cf_layer_weights has {len(weights)} value(s) for a network of {levels} feature "
                             f"level(s) (one per level, conv3 first)")
        self.levels = [] if self.params.ranking == "rpn" else [i for i, weight in enumerate(weights) if weight > 0]
        self.level_weights = np.asarray([weights[i] for i in self.levels]) / max(sum(weights[i] for i in self.levels),
                                                                                 1e-12)
        self.stride = float(self.network.anchor_stride)
        self.filters: dict[int, FilterSpectrum] = {}
        self._windows: dict[tuple[int, int], torch.Tensor] = {}
        self.last_cf_response: np.ndarray | None = None

    # ------------------------------------------------------------------------------------------------ filters
    def _windowed(self, features: list[torch.Tensor]) -> dict[int, tuple[torch.Tensor, torch.Tensor, tuple]]:
        """Per filtered level: the windowed maps padded to the FFT size, their spectrum and the maps' own size."""
        out = {}
        for level in self.levels:
            feature = features[level].float()
            size = tuple(feature.shape[-2:])
            if size not in self._windows:
                self._windows[size] = hann_window(*size, device=feature.device)
            padded = pad_for_fft(feature * self._windows[size])
            out[level] = (padded, torch.fft.rfft2(padded), size)  # one FFT serves the response and the update
        return out

    def _learn(self, windowed: dict, offset_pixels: np.ndarray, scale_z: float) -> dict[int, FilterSpectrum]:
        """Filters for this frame's features with the label at ``offset_pixels`` from the crop centre."""
        learned = {}
        width, height = self.size * scale_z / self.stride  # the target in feature cells
        sigma = torch.tensor([self.params.cf_sigma_factor * float(np.sqrt(width * height))])
        for level, (padded, spectrum, (rows, columns)) in windowed.items():
            # the crop centre is the maps' centre cell (tracking.models.correlation_filter.feature_cells)
            center = torch.tensor([[(columns - 1) / 2 + offset_pixels[0] / self.stride,
                                    (rows - 1) / 2 + offset_pixels[1] / self.stride]])
            label = gaussian_label(tuple(padded.shape[-2:]), center.to(padded.device), sigma.to(padded.device))
            learned[level] = learn_filter(padded, label, spectrum=spectrum)
        return learned

    def _cf_score(self, windowed: dict) -> np.ndarray:
        """The fused filter response on the anchor grid (S, S), clipped to [0, 1]."""
        fused = 0.0
        for weight, level in zip(self.level_weights, self.levels):
            padded, spectrum, (rows, columns) = windowed[level]
            response = filter_response(self.filters[level], padded, absolute_lambda(self.params.cf_lambda, padded),
                                       search=spectrum)[..., :rows, :columns]
            fused = fused + weight * sample_on_anchor_grid(response, self.score_size, self.network.anchor_stride,
                                                           self.stride)[0]
        self.last_cf_response = fused.cpu().numpy()
        return np.clip(self.last_cf_response, 0.0, 1.0)

    def _ranked(self, rpn_score: np.ndarray, cf_score: np.ndarray) -> np.ndarray:
        """Per-anchor scores (K * S * S, ordered (k, row, column) like the anchors) of the configured ranking."""
        if self.params.ranking == "rpn":
            return rpn_score
        cf = np.tile(cf_score.reshape(-1), self.anchor_num)
        if self.params.ranking == "cf":
            return cf
        if self.params.ranking == "product":
            return cf * rpn_score
        return (1 - self.params.rpn_weight) * cf + self.params.rpn_weight * rpn_score

    # ------------------------------------------------------------------------------------------------ protocol
    @torch.inference_mode()
    def init(self, image: np.ndarray, box) -> None:
        super().init(image, box)
        self.filters, self.last_cf_response = {}, None
        if not self.levels:
            return
        image, search, scale_z = self._search_crop(image)
        features = self.net.run("features", search)
        self.filters = self._learn(self._windowed(features), np.zeros(2), scale_z)

    # ``update`` (LockstepTracker): SiamRPN++'s search crop, one pass that also yields the levels' features, then
    # the ranking, step and filter update below (per sequence: its filters are its own)
    def _network_outputs(self, template, search: torch.Tensor):
        return self.net.run("track_levels", template, search)

    def _finish(self, state: tuple[np.ndarray, float], outputs) -> np.ndarray:
        image, scale_z = state
        cls, loc, features = outputs
        rpn_score, delta = self._rpn_outputs(cls, loc)
        if not self.levels:
            return self._step(image, rpn_score, delta, scale_z)
        windowed = self._windowed(features)
        previous = self.center.copy()
        box = self._step(image, self._ranked(rpn_score, self._cf_score(windowed)), delta, scale_z)
        learned = self._learn(windowed, (self.center - previous) * scale_z, scale_z)
        self.filters = {level: interpolate(self.filters[level], learned[level], self.params.cf_lr)
                        for level in self.levels}
        return box
