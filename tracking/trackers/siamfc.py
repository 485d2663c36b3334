"""The SiamFC tracker of siamfc-pytorch (``TrackerSiamFC``, ``siamfc/siamfc.py:112-213``), on any level of a
``tracking.models.siamfc.SiamFC`` network.

``init``: the box (1-based ``x, y, w, h`` as got10k's experiments hand it over) becomes the 0-based centre
``x - 1 + (w - 1) / 2`` (lines 117-122); the exemplar window ``z_sz = sqrt((w + p)(h + p))``, ``p = 0.5 (w + h)``,
and the search window ``x_sz = z_sz * 255 / 127`` (137-140); the first frame's mean colour pads every later crop
(143); the exemplar crop (``tracking.crops.crop_and_resize_siamfc``, 127x127) gives the kernel once: the template
is never updated.

``update``: three search crops of ``x_sz * 1.0375^{-1,0,1}`` resized to 255 (160-163), scored (17x17), each map
upsampled x16 to 272x272 bicubically (174-177); the whole maps of the non-central scales times 0.9745 (178-179);
the scale with the highest peak (182); its map min-shifted and divided by its sum (+1e-16) (185-187), blended
0.824 / 0.176 with a Hanning window normalised to sum 1 (125-129, 188-189); the peak ``loc`` moves the centre by
``(loc - 135.5) * 8 / 16 * x_sz * scale / 255`` pixels, unclipped (193-198); the size, ``z_sz`` and ``x_sz`` are
multiplied by ``0.41 + 0.59 * scale`` (201-205); the box is returned 1-based (208-213).

``SiamFCParams`` also serves the single-layer baselines of Hierarchical SiamFC (bilinear, corner-aligned x8 upsampling
to 129x129: ``response_up`` 8, ``upsample_mode`` "bilinear", ``align_corners`` True; the map's centre is then
``(129 - 1) / 2 = 64`` and a step is ``total_stride / response_up`` search pixels, as for 272 / 135.5 / 16).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tracking.inference import CropRequest, InferenceParams
from tracking.params import Range
from tracking.tracker import initial_box, rgb_frame
from tracking.trackers.batched import LockstepTracker

UPSAMPLE_MODES = ("bicubic", "bilinear")


@dataclass(frozen=True)
class SiamFCParams(InferenceParams):
    """siamfc-pytorch's inference values (``parse_args``, ``siamfc.py:79-110``); the network fixes the rest
    (exemplar 127, stride 8; response 17 follows from ``instance_size``).

    ``response_up``: upsampling factor of the score maps (16: 17 -> 272); ``upsample_mode`` "bicubic" (cv2's
    ``INTER_CUBIC``: half-pixel centres, a = -0.75, as torch's bicubic) or "bilinear"; ``align_corners``: False
    maps n cells onto ``n * up`` pixels (cv2, the reference), True onto ``(n - 1) * up + 1`` (corner cells on
    corner pixels, Hierarchical SiamFC's 17 -> 129). ``box_index_base``: 1 takes and returns boxes 1-based as the
    reference does with got10k's experiments (it subtracts 1 in ``init`` and adds it back to every output); 0 for boxes
    already 0-based. The inference values and their meaning: ``tracking.inference.InferenceParams``.
    """

    context_amount: float = 0.5
    instance_size: int = 255
    scale_num: int = 3
    scale_step: float = 1.0375
    scale_lr: float = 0.59
    scale_penalty: float = 0.9745
    window_influence: float = 0.176
    response_up: int = 16
    upsample_mode: str = "bicubic"
    align_corners: bool = False
    box_index_base: int = 1

    RANGES = {"context_amount": Range(0), "instance_size": Range(1), "scale_num": Range(1),
              "scale_step": Range(0, low_open=True), "scale_lr": Range(0, 1), "scale_penalty": Range(0, 1, True),
              "window_influence": Range(0, 1), "response_up": Range(1), "box_index_base": Range(0, 1)}

    def __post_init__(self):
        super().__post_init__()
        if self.upsample_mode not in UPSAMPLE_MODES:
            raise ValueError(f"upsample_mode must be one of {UPSAMPLE_MODES}, got {self.upsample_mode!r}")

    def upsampled_size(self, response_size: int) -> int:
        return (response_size - 1) * self.response_up + 1 if self.align_corners else response_size * self.response_up


class SiamFCTracker(LockstepTracker):
    """Tracker protocol (``init(image, box)``, ``update(image) -> box``) around a ``SiamFC`` network.

    ``level``: which of the network's levels scores the target (default its last, e.g. conv5). ``params``: a
    ``SiamFCParams``, a mapping of its fields (unknown keys raise, listing the accepted ones) or None.
    """

    params_class = SiamFCParams
    crop_style = "siamfc"

    def __init__(self, model, params=None, level: str | None = None, device="cpu", name: str = "SiamFC"):
        super().__init__(model, params, device, name)
        levels = self.network.levels
        level = levels[-1] if level is None else level
        if level not in levels:
            raise ValueError(f"tracker {name!r} needs the network's level {level!r}; its levels: {list(levels)}")
        self.level = levels.index(level)
        cfg = self.params
        self.response_size = self.network.score_size_for(cfg.instance_size)
        self.upscale_size = cfg.upsampled_size(self.response_size)
        hann = np.outer(np.hanning(self.upscale_size), np.hanning(self.upscale_size))
        self.hann_window = hann / hann.sum()
        self.scale_factors = cfg.scale_step ** np.linspace(-(cfg.scale_num // 2), cfg.scale_num // 2, cfg.scale_num)

    # ------------------------------------------------------------------------------------------------ steps
    def _template(self):
        return self.kernel

    def _crop_request(self, image: np.ndarray, windows, output_size: int) -> CropRequest:
        """The reference's crops of ``image`` around the centre, one per window, padded with the first frame's mean
        colour."""
        return CropRequest(image, self.center, windows, output_size, self.avg_color)

    def _crop_input(self, image: np.ndarray, windows, output_size: int) -> torch.Tensor:
        return self.net.crops([self._crop_request(image, windows, output_size)])

    @torch.inference_mode()
    def init(self, image: np.ndarray, box) -> None:
        image = rgb_frame(image)
        x, y, w, h = initial_box(box)
        cfg = self.params
        base = cfg.box_index_base
        self.center = np.array([x - base + (w - 1) / 2, y - base + (h - 1) / 2])  # (cx, cy), 0-based
        self.target_size = np.array([w, h])
        context = cfg.context_amount * (w + h)
        self.z_sz = float(np.sqrt((w + context) * (h + context)))
        self.x_sz = self.z_sz * cfg.instance_size / self.network.exemplar_size
        self.avg_color = np.mean(image, axis=(0, 1))
        exemplar = self._crop_input(image, [self.z_sz], self.network.exemplar_size)
        self.kernel = self.net.run("template_features", exemplar)

    # ``update`` (LockstepTracker): _search_request -> _network_outputs -> _finish
    def _search_request(self, image: np.ndarray) -> tuple[CropRequest, None]:
        """The frame's search crops, one per scale."""
        windows = [self.x_sz * f for f in self.scale_factors]
        return self._crop_request(rgb_frame(image), windows, self.params.instance_size), None

    def _network_outputs(self, template, search: torch.Tensor) -> list[torch.Tensor]:
        # one template at a time: in lockstep, each slot's maps are those of tracking it alone, bit for bit
        return self.net.run("responses", template, search, per_exemplar=True)

    def _finish(self, state: None, responses: list[torch.Tensor]) -> np.ndarray:
        self.step(self.score_maps(responses)[self.level])
        return self.box()

    def score_maps(self, responses: list[torch.Tensor]) -> np.ndarray:
        """(levels, scales, U, U) float32: every level's upsampled score maps of the frame's search scales (the
        network's per-level (scales, 1, s, s) ``responses``), the non-central scales' whole maps times
        ``scale_penalty``."""
        cfg = self.params
        maps = torch.stack([r[:, 0] for r in responses]).float()  # (levels, scales, s, s)
        maps = F.interpolate(maps, size=(self.upscale_size,) * 2, mode=cfg.upsample_mode,
                             align_corners=cfg.align_corners).cpu().numpy()
        half = cfg.scale_num // 2
        maps[:, :half] *= cfg.scale_penalty
        maps[:, half + 1:] *= cfg.scale_penalty
        return maps

    def peak(self, response: np.ndarray) -> tuple[int, int]:
        """(row, column) of the target in one upsampled map: min-shifted, normalised to sum 1, blended with the
        Hanning window."""
        response = response - response.min()
        response = response / (response.sum() + 1e-16)
        response = (1 - self.params.window_influence) * response + self.params.window_influence * self.hann_window
        row, column = np.unravel_index(int(response.argmax()), response.shape)
        return int(row), int(column)

    def step(self, scale_maps: np.ndarray) -> tuple[int, tuple[int, int]]:
        """Locate the target with one level's (scales, U, U) maps: move the centre and rescale the target.
        Returns the chosen scale and the peak (row, column)."""
        cfg = self.params
        scale_id = int(np.argmax(np.amax(scale_maps, axis=(1, 2))))
        loc = self.peak(scale_maps[scale_id])
        displacement = np.array([loc[1], loc[0]]) - (self.upscale_size - 1) / 2  # (dx, dy) in map pixels
        displacement = displacement * self.network.total_stride / cfg.response_up  # search-crop pixels
        self.center = self.center + displacement * self.x_sz * self.scale_factors[scale_id] / cfg.instance_size
        scale = (1 - cfg.scale_lr) + cfg.scale_lr * self.scale_factors[scale_id]
        self.target_size = self.target_size * scale
        self.z_sz *= scale
        self.x_sz *= scale
        return scale_id, loc

    def box(self) -> np.ndarray:
        """The current box, ``x, y, w, h`` in the caller's index base."""
        base = self.params.box_index_base
        w, h = self.target_size
        return np.array([self.center[0] + base - (w - 1) / 2, self.center[1] + base - (h - 1) / 2, w, h])
