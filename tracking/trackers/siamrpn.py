"""The SiamRPN/SiamRPN++ tracker of the reference implementation (pysot ``tracker/siamrpn_tracker.py``).

Per frame: crop a search window ``round(s_x)`` pixels wide around the last center (mean padding, resized to
``instance_size``), score all anchors, decode their boxes, penalise scale and aspect-ratio change
``exp(-(r_c * s_c - 1) * k)``, blend with a Hanning window (tiled over the anchors, not normalised)
``pscore = penalty * score * (1 - wi) + window * wi``, take the best anchor, move the center fully and
smooth the size with ``lr = penalty * score * LR``, then clip to the image (size at least 10 pixels).
The template branch (backbone, neck and the head's template convolutions) runs once per sequence.
``init`` takes the ground-truth box as the reference's test script (``tools/test.py``) passes it on.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dataclasses import dataclass

from tracking.crops import context_size
from tracking.inference import CropRequest, InferenceParams
from tracking.models.anchors import generate_anchors
from tracking.params import Range
from tracking.tracker import initial_box, rgb_frame
from tracking.trackers.batched import LockstepTracker


@dataclass(frozen=True)
class SiamRPNParams(InferenceParams):
    """The tracker's hyper-parameters (pysot ``TRACK.*``); the network's own config is fixed by its weights.

    Defaults: pysot's ``siamrpn_r50_l234_dwxcorr`` (VOT). ``instance_size`` is the search crop while tracking
    (255; the AlexNet model tracks at 287); ``context_amount`` the context added around the target (0.5).
    The inference values and their meaning: ``tracking.inference.InferenceParams``.
    """

    penalty_k: float = 0.05
    window_influence: float = 0.42
    lr: float = 0.38
    instance_size: int = 255
    context_amount: float = 0.5

    RANGES = {"penalty_k": Range(0), "window_influence": Range(0, 1), "lr": Range(0, 1),
              "instance_size": Range(1), "context_amount": Range(0)}


class SiamRPNTracker(LockstepTracker):
    """Tracker protocol (``init(image, box)``, ``update(image) -> box``) around a ``SiamRPN`` network.

    ``params``: a ``SiamRPNParams``, a mapping of its fields (unknown keys raise, listing the accepted ones) or
    None (the defaults).
    """

    params_class = SiamRPNParams  # a subclass tracker with more parameters names its own dataclass
    crop_style = "pysot"

    def __init__(self, model, params: SiamRPNParams | dict | None = None, device="cpu", name: str = "SiamRPN++"):
        super().__init__(model, params, device, name)
        self.score_size = self.network.score_size_for(self.params.instance_size)
        self.anchor_num = self.network.anchor_num
        hanning = np.hanning(self.score_size)
        self.window = np.tile(np.outer(hanning, hanning).flatten(), self.anchor_num)
        anchors = generate_anchors(self.network, self.params.instance_size)
        anchors[:, :2] -= self.params.instance_size // 2  # relative to the crop center
        self.anchors = anchors
        self.size = None
        self.last_score = None

    def _template(self):
        return self.template_features

    # ------------------------------------------------------------------------------------------------
    def _crop_request(self, image: np.ndarray, window: float, output_size: int) -> CropRequest:
        """pysot's crop of ``window`` pixels around the centre, padded with the first frame's mean colour."""
        return CropRequest(image, self.center, [window], output_size, self.channel_average)

    def _context_window(self) -> float:
        return context_size(float(self.size[0]), float(self.size[1]), self.params.context_amount)

    # ------------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def init(self, image: np.ndarray, box) -> None:
        image = rgb_frame(image)
        box = initial_box(box)
        # The reference's evaluation (pysot tools/test.py) hands its tracker [cx - (w-1)/2, cy - (h-1)/2, w, h]
        # with cx = x + w/2 (get_axis_aligned_bbox), and the tracker takes x + (w-1)/2 as the center: so the
        # center is x + w/2, consistent with the boxes it reports (x = cx - w/2).
        self.center = np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])
        self.size = np.array([box[2], box[3]])
        self.channel_average = np.mean(image, axis=(0, 1))
        exemplar_window = round(self._context_window())
        template = self.net.crops([self._crop_request(image, exemplar_window, self.network.exemplar_size)])
        self.template_features = self.net.run("template_features", template)

    # ------------------------------------------------------------------------------------------------ the step
    # ``update`` (LockstepTracker): _search_request -> _network_outputs -> _finish; the pieces are shared with
    # trackers that rank the anchors by other scores (tracking.trackers.snscf)
    def _search_request(self, image: np.ndarray) -> tuple[CropRequest, tuple[np.ndarray, float]]:
        image, window, scale_z = self._search_window(image)
        return self._crop_request(image, window, self.params.instance_size), (image, scale_z)

    def _network_outputs(self, template, search: torch.Tensor):
        return self.net.run("track_features", template, search)

    def _finish(self, state: tuple[np.ndarray, float], outputs) -> np.ndarray:
        image, scale_z = state
        score, delta = self._rpn_outputs(*outputs)
        return self._step(image, score, delta, scale_z)

    def _search_window(self, image: np.ndarray) -> tuple[np.ndarray, int, float]:
        """The frame as RGB, the search window ``round(s_x)`` around the last centre and its scale ``scale_z``."""
        s_z = self._context_window()
        s_x = s_z * (self.params.instance_size / self.network.exemplar_size)
        return rgb_frame(image), round(s_x), self.network.exemplar_size / s_z

    def _search_crop(self, image: np.ndarray) -> tuple[np.ndarray, torch.Tensor, float]:
        """The frame as RGB, the search crop (window ``s_x`` around the last centre) and its scale ``scale_z``."""
        search, (image, scale_z) = self._search_input(image)
        return image, search, scale_z

    @staticmethod
    def _rpn_outputs(cls: torch.Tensor, loc: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Foreground probabilities (K*S*S,) and box offsets (4, K*S*S) of the head's maps, ordered like the anchors."""
        score = F.softmax(cls[0].float().reshape(2, -1), dim=0)[1].cpu().numpy()
        delta = loc[0].float().reshape(4, -1).cpu().numpy()
        return score, delta

    def _step(self, image: np.ndarray, score: np.ndarray, delta: np.ndarray, scale_z: float) -> np.ndarray:
        """pysot's step on per-anchor ``score``: decode the boxes, penalise scale/ratio change, blend the window,
        take the best anchor, smooth the size, clip to the image; updates the state and returns the box."""
        cfg = self.params
        anchors = self.anchors
        pred_cx = delta[0] * anchors[:, 2] + anchors[:, 0]
        pred_cy = delta[1] * anchors[:, 3] + anchors[:, 1]
        # An untrained network can predict log-sizes whose exp overflows; such anchors get penalty 0 (so lr 0:
        # the size is kept) instead of NaN scores; the reference's numbers are unchanged wherever they are finite.
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            pred_w = np.exp(delta[2]) * anchors[:, 2]
            pred_h = np.exp(delta[3]) * anchors[:, 3]

            def change(ratio):
                return np.maximum(ratio, 1.0 / ratio)

            def padded_size(w, h):
                pad = (w + h) * 0.5
                return np.sqrt((w + pad) * (h + pad))

            scale_change = change(padded_size(pred_w, pred_h) /
                                  padded_size(self.size[0] * scale_z, self.size[1] * scale_z))
            ratio_change = change((self.size[0] / self.size[1]) / (pred_w / pred_h))
            penalty = np.exp(-(ratio_change * scale_change - 1) * cfg.penalty_k)
        finite = np.isfinite(penalty) & np.isfinite(pred_w) & np.isfinite(pred_h)
        penalty, pred_w, pred_h = (np.where(finite, v, 0.0) for v in (penalty, pred_w, pred_h))
        pscore = penalty * score * (1 - cfg.window_influence) + self.window * cfg.window_influence
        best = int(np.argmax(pscore))

        lr = penalty[best] * score[best] * cfg.lr
        cx = pred_cx[best] / scale_z + self.center[0]
        cy = pred_cy[best] / scale_z + self.center[1]
        width = self.size[0] * (1 - lr) + pred_w[best] / scale_z * lr
        height = self.size[1] * (1 - lr) + pred_h[best] / scale_z * lr

        image_height, image_width = image.shape[:2]
        cx = max(0.0, min(float(cx), image_width))
        cy = max(0.0, min(float(cy), image_height))
        width = max(10.0, min(float(width), image_width))
        height = max(10.0, min(float(height), image_height))

        self.center = np.array([cx, cy])
        self.size = np.array([width, height])
        self.last_score = float(score[best])
        return np.array([cx - width / 2, cy - height / 2, width, height])
