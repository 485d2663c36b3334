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

from tracking.crops import context_size, crop_and_resize, crop_batch, padded_frames
from tracking.models.anchors import generate_anchors
from tracking.models.inference import inference_network
from tracking.network_input import network_batch, network_layout_torch, to_network_layout
from tracking.params import Range, build_params
from tracking.precision import with_precision
from tracking.tracker import initial_box, rgb_frame
from tracking.trackers.batched import InferenceParams, LockstepTracker


@dataclass(frozen=True)
class SiamRPNParams(InferenceParams):
    """The tracker's hyper-parameters (pysot ``TRACK.*``); the network's own config is fixed by its weights.

    Defaults: pysot's ``siamrpn_r50_l234_dwxcorr`` (VOT). ``instance_size`` is the search crop while tracking
    (255; the AlexNet model tracks at 287); ``context_amount`` the context added around the target (0.5).
    ``channels_last``: the network's input, and the convolution weights of the tracker's copy, in NHWC memory
    order (``tracking.network_input.network_batch``; the same values, rounded differently): faster on the CPU for
    every network measured except pysot's dilated ResNet-50 (README, Speed), whose configs turn it off.
    ``fold_batchnorm``: track with a copy of the network whose BatchNorms are folded into the convolutions before
    them (``tracking.models.inference``; the same function up to float rounding, about 1e-6 relative).
    ``crop_on_device``: cut the crops in torch on the tracker's device (``tracking.crops.crop_batch``; in
    lockstep, every slot's search crop in one call) instead of OpenCV on the CPU: for GPUs, where the CPU crop and
    the upload of float crops would bound the frame rate. Its bilinear samples are not rounded to uint8 as
    OpenCV's are (within 1 grey level), so the boxes are not pysot's to the last digit: off by default.
    ``compile``: track with the backbone and the RPN head's search path compiled by ``torch.compile`` with frozen
    weights (``tracking.models.inference.compile_for_inference``: convolutions fused with their additions and
    ReLUs): faster on the CPU (README, Speed), the same function up to float rounding (about 1e-5 relative); each
    new input shape costs a compilation (seconds to a minute): off by default. ``precision``: ``fp32`` (pysot's),
    ``bf16`` or ``fp16``: the network under autocast of that dtype (``tracking.precision``; for GPUs and CPUs with
    bf16 instructions, elsewhere it warns); ``auto`` the fastest native one of the device.
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

    def __init__(self, model, params: SiamRPNParams | dict | None = None, device="cpu", name: str = "SiamRPN++"):
        self.params = build_params(self.params_class, params, f"{self.params_class.__name__} tracker parameters")
        self.network = model.config
        self.name = name
        self.device = torch.device(device)
        model = model.to(self.device).eval()
        # the tracker's own copy, BatchNorm folded, NHWC weights, backbones compiled (the module's network untouched)
        self.model = inference_network(model, self.params.fold_batchnorm, self.params.compile,
                                       self.params.channels_last)
        self.params, self.autocast_dtype = with_precision(self.params, self.device)  # 'auto' resolved here
        self.score_size = self.network.score_size_for(self.params.instance_size)
        self.anchor_num = self.network.anchor_num
        hanning = np.hanning(self.score_size)
        self.window = np.tile(np.outer(hanning, hanning).flatten(), self.anchor_num)
        anchors = generate_anchors(self.network, self.params.instance_size)
        anchors[:, :2] -= self.params.instance_size // 2  # relative to the crop center
        self.anchors = anchors
        self.center = None
        self.size = None
        self.last_score = None

    def _template(self):
        return self.template_features

    # ------------------------------------------------------------------------------------------------
    def _crop(self, image: np.ndarray, window: float, output_size: int) -> torch.Tensor:
        if self.params.crop_on_device:
            return self._device_crops([self], [image], [window], output_size)
        patch = crop_and_resize(image, self.center, window, output_size, fill=self.channel_average)
        array = to_network_layout(patch, self.network.image_format)
        return network_batch(array[None], self.device, self.params.channels_last)

    def _device_crops(self, trackers, images, windows, output_size: int) -> torch.Tensor:
        """One crop per (tracker, frame, window) around each tracker's centre, cut in one ``crop_batch`` call on
        this tracker's device, in the network's layout. The fill is the frame's mean colour truncated to uint8, as
        pysot's canvas stores it."""
        fills = np.floor(np.stack([tracker.channel_average for tracker in trackers]))
        frames = padded_frames(images, fills, self.device)
        centers = torch.as_tensor(np.stack([tracker.center for tracker in trackers]), dtype=torch.float64)
        crops = crop_batch(frames, centers, torch.as_tensor(windows, dtype=torch.float64), output_size,
                           fill=torch.as_tensor(fills, dtype=torch.float32, device=self.device))
        return network_layout_torch(crops, self.network.image_format, self.params.channels_last)

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
        template = self._crop(image, exemplar_window, self.network.exemplar_size)
        with self._autocast():
            self.template_features = self.model.template_features(template)

    # ------------------------------------------------------------------------------------------------ the step
    # ``update`` (LockstepTracker): _search_input -> _network_outputs -> _finish; the pieces are shared with
    # trackers that rank the anchors by other scores (tracking.trackers.snscf)
    def _search_input(self, image: np.ndarray) -> tuple[torch.Tensor, tuple[np.ndarray, float]]:
        image, search, scale_z = self._search_crop(image)
        return search, (image, scale_z)

    def _network_outputs(self, template, search: torch.Tensor):
        return self.model.track_features(template, search)

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
        image, window, scale_z = self._search_window(image)
        return image, self._crop(image, window, self.params.instance_size), scale_z

    def _search_inputs(self, trackers, images) -> list:
        if not all(tracker.params.crop_on_device for tracker in trackers):
            return super()._search_inputs(trackers, images)
        windows = [tracker._search_window(image) for tracker, image in zip(trackers, images)]
        crops = self._device_crops(trackers, [image for image, _, _ in windows], [window for _, window, _ in windows],
                                   self.params.instance_size)
        return [(crops[index:index + 1], (image, scale_z)) for index, (image, _, scale_z) in enumerate(windows)]

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
