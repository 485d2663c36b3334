"""SiamFC online training: SiamFC's tracker whose network is fine-tuned
while it tracks, by the divergence between the current score map and a template score map, when the tracking is
confident.

Per sequence (``init``):

- the network is a fresh copy of the checkpoint's (the module's network is read, never trained): fine-tuning
  never leaks from one sequence into the next, nor into the module;
- template score map R_t (Sec. 2.3): the first frame's exemplar against the search crop centred on the ground
  truth, as a distribution (below).

Per frame (``update``): SiamFC's step (``SiamFCTracker``: three scales, penalties, window) with the current
network, then:

- current score map R_c: the exemplar against one search crop centred on the new position, at the new size
  (by default scored in the next frame's network call, beside its scale crops: ``defer_current_map``);
- confidence (Eq. 8-9): ``Peak_r = min(1, Peak(R_c) / Peak(R_t))``, ``PSR_r = min(1, PSR(R_c) / PSR(R_t))``,
  ``JCPP = lambda Peak_r + (1 - lambda) PSR_r`` (lambda 0.5);
- only when ``JCPP > T_c`` (0.7): up to 4 SGD iterations (momentum 0.9) on the KL loss (Eq. 4)
  ``l = sum r_t log(r_t / r_c)`` with the zero-loss threshold T_l = 1 (Eq. 5: ``l`` is 0 unless it exceeds T_l),
  back-propagated end to end through both branches (exemplar and search features: Eq. 6-7 are autograd's
  gradients of the correlation), then the template map update (Eq. 10-11)
  ``R_t <- (1 - alpha) R_t + alpha R_c`` with ``alpha = (JCPP - T_c) / (1 - T_c)``.

Choices where the paper is silent (each an ``OnlineParams`` value or stated here):

- **Score maps as distributions** (``map_normalization``). A raw map has negative values (SiamFC's conv5 has no
  ReLU; the maps are the logits its logistic loss trains). "Normalized to ensure sum r = 1": by default
  ``(R - min R) / sum(R - min R)`` (SiamFC's normalisation of its response), which does not depend on the
  response's units, so the absolute threshold T_l = 1 means the same whatever the network's output scale; each
  cell is floored at 1e-9 so the KL stays finite. A softmax ``exp(R_i / T) / sum_j exp(R_j / T)`` is the option
  ("softmax", ``softmax_temperature`` T): its KL depends on the scale (the same maps, peak moved 3 cells: KL 0.07
  at scale 1, >= 2.96 at scale 10), so T becomes part of the gate. Computed in float64 on the network's raw 17x17
  maps (``out_scale x xcorr``, no upsampling, no window, no scale penalty).
- **Peak and PSR** are taken on those distributions (so ``Peak_r`` compares how concentrated the two maps are);
  PSR is the correlation-filter definition the paper cites for Eq. 8 (:func:`sidelobe_psr`): ``(max - mean) /
  std`` of the sidelobe, the map without the ``psr_window`` x ``psr_window`` (11) cells around the peak. A template
  map with a zero PSR (flat sidelobe) gives ``PSR_r = 1``.
- **The template map update** blends the two distributions, so R_t stays one; it uses the R_c whose confidence
  was measured (before the fine-tuning), whenever ``JCPP > T_c`` (whether or not the loss exceeded T_l).
- **Iterations.** Each of the 4 iterations recomputes R_c with the current weights. An iteration whose loss is
  not above T_l has a zero loss (Eq. 5), hence no gradient: it makes no step (the momentum does not coast on), and
  since the weights did not change the remaining iterations would be the same, so they end. Every training
  starts with a fresh momentum buffer (one "training" is 4 iterations, Sec. 3.1). No weight decay.
- **What trains** (``trainable_layers``): None trains every parameter (end to end); k trains the backbone's last k
  convolutions (with the normalisation layers that follow the first of them) and the head's parameters, if any.
  BatchNorm stays in eval mode: its running statistics are the checkpoint's (a batch of one crop would make
  train-mode statistics meaningless); its affine parameters train when inside the trained layers.
- **Learning rate** (``learning_rate``): not given by the paper; the default and its measurement are in the README
  (``make sweep SWEEP=siamfc_online`` searches it against ``map_normalization``).

The paper's numbers (lambda 0.5, T_l 1, T_c 0.7, 4 iterations, momentum 0.9) are the defaults; SiamFC's tracking
values (``SiamFCParams``) are inherited.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from tracking.params import Range
from tracking.tracker import rgb_frame
from tracking.trackers.siamfc import SiamFCParams, SiamFCTracker


@dataclass(frozen=True)
class OnlineParams(SiamFCParams):
    """SiamFC online training on top of SiamFC's tracking values (see the module docstring).

    ``learning_rate``: SGD step size of the fine-tuning (not in the paper). ``trainable_layers``: None (every
    parameter, end to end) or the number k of the backbone's last convolutions that train (0: only the template
    map updates). ``iterations`` (4) and ``momentum`` (0.9): SGD per training (Sec. 3.1). ``loss_threshold``:
    T_l, the zero-loss threshold (Eq. 5, 1). ``confidence_threshold``: T_c (Eq. 9-11, 0.7). ``peak_weight``:
    lambda of JCPP (Eq. 9, 0.5). ``defer_current_map``: R_c of frame t is scored in the network call that scores
    frame t+1's scale crops (one call per frame instead of two; a training on frame t has those crops scored again
    with the new weights), so the boxes are those of the immediate order (False: R_c in its own call right after
    frame t), but ``last`` then describes the frame before the one just returned and the last frame of a sequence
    gets no online step (it would change nothing tracked). The inference values apply to the tracking copies
    (``tracking.inference.TrackingNetwork``): the fine-tuning trains ``learner``, the network as the checkpoint
    parametrises it (BatchNorm's affine parameters included), and its tracking copy is rebuilt after each
    training, uncompiled (a compilation per training would cost more than it saves). ``map_normalization``: how a
    score map becomes the distribution of Eq. 4, "minmax" (``(R - min R) / sum(R - min R)``: independent of the
    response's units) or "softmax" (``softmax(R / softmax_temperature)``). ``psr_window``: the side of the window
    around the peak that the PSR's sidelobe excludes (11: the correlation-filter PSR the paper cites).
    """

    learning_rate: float = 1e-3
    trainable_layers: int | None = None
    iterations: int = 4
    momentum: float = 0.9
    loss_threshold: float = 1.0
    confidence_threshold: float = 0.7
    peak_weight: float = 0.5
    defer_current_map: bool = True
    map_normalization: str = "minmax"
    softmax_temperature: float = 1.0
    psr_window: int = 11

    RANGES = {"learning_rate": Range(0), "trainable_layers": Range(0), "iterations": Range(0),
              "momentum": Range(0, 1, high_open=True), "loss_threshold": Range(0),
              "confidence_threshold": Range(0, 1, high_open=True), "peak_weight": Range(0, 1),
              "softmax_temperature": Range(0, low_open=True), "psr_window": Range(1)}

    def __post_init__(self):
        super().__post_init__()
        if self.map_normalization not in MAP_NORMALIZATIONS:
            raise ValueError(f"map_normalization must be one of {MAP_NORMALIZATIONS}, got {self.map_normalization!r}")


# ------------------------------------------------------------------------------------------------ equations
MAP_NORMALIZATIONS = ("minmax", "softmax")
MINMAX_FLOOR = 1e-9  # probability mass added to every cell of a "minmax" map (then renormalised): no cell is 0


def score_distribution(score_map: torch.Tensor, normalization: str = "minmax",
                       temperature: float = 1.0) -> torch.Tensor:
    """A score map as a distribution over its cells ("normalized to ensure sum r = 1", Eq. 4), in float64,
    differentiable. "minmax": ``(R - min R) / sum(R - min R)``, unchanged when the scores are scaled (SiamFC's
    ``out_scale`` or any other unit), each cell then floored at ``MINMAX_FLOOR`` so the KL stays finite (a flat map
    is uniform); "softmax": ``exp(R_i / T) / sum_j exp(R_j / T)`` with ``temperature`` T, which depends on the units
    (T is then part of the gate)."""
    values = score_map.double()
    if normalization == "softmax":
        return torch.softmax(values.flatten() / temperature, dim=0).view_as(values)
    if normalization != "minmax":
        raise ValueError(f"normalization must be one of {MAP_NORMALIZATIONS}, got {normalization!r}")
    shifted = values - values.min()
    mass = shifted / shifted.sum().clamp_min(torch.finfo(torch.float64).tiny)  # all 0 for a flat map
    return (mass + MINMAX_FLOOR) / (mass.sum() + MINMAX_FLOOR * values.numel())  # a flat map: uniform


def sidelobe_psr(score_map, window: int = 11) -> float:
    """The correlation-filter peak-to-sidelobe ratio the paper cites for Eq. 8: ``(max - mean_s) / std_s`` over the
    sidelobe, the map without the ``window`` x ``window`` cells around the peak (clipped at the borders); 0 for a
    flat sidelobe, or when the window covers the whole map."""
    values = np.asarray(score_map, dtype=np.float64)
    peak = np.unravel_index(int(np.argmax(values)), values.shape)
    half = window // 2
    sidelobe = np.ones(values.shape, dtype=bool)
    sidelobe[tuple(slice(max(0, index - half), index + half + 1) for index in peak)] = False
    lobe = values[sidelobe]
    if lobe.size == 0 or lobe.std() == 0:
        return 0.0
    return float((values.max() - lobe.mean()) / lobe.std())


def kl_divergence(template: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """Eq. 4, ``sum r_t log(r_t / r_c)`` (a cell with ``r_t = 0`` contributes 0)."""
    return (torch.xlogy(template, template) - torch.xlogy(template, current)).sum()


def thresholded_loss(loss: float, threshold: float) -> float:
    """Eq. 5: the loss when it exceeds the zero-loss threshold T_l, else 0."""
    return float(loss) if float(loss) > threshold else 0.0


def relative(current: float, template: float) -> float:
    """Eq. 8's ``min(1, current / template)``; 1 when the template's value is not positive."""
    return min(1.0, current / template) if template > 0 else 1.0


def joint_confidence(current, template, peak_weight: float = 0.5, psr_window: int = 11) -> tuple[float, float, float]:
    """(Peak_r, PSR_r, JCPP) of the current map against the template map (Eq. 8-9), both distributions; the PSR is
    :func:`sidelobe_psr`."""
    current = np.asarray(torch.as_tensor(current).detach().cpu(), dtype=np.float64)
    template = np.asarray(torch.as_tensor(template).detach().cpu(), dtype=np.float64)
    peak_r = relative(float(current.max()), float(template.max()))
    psr_r = relative(sidelobe_psr(current, psr_window), sidelobe_psr(template, psr_window))
    return peak_r, psr_r, peak_weight * peak_r + (1 - peak_weight) * psr_r


def update_rate(jcpp: float, threshold: float) -> float:
    """Eq. 11, ``alpha = (JCPP - T_c) / (1 - T_c)``; 0 when ``JCPP <= T_c`` (no update)."""
    return (jcpp - threshold) / (1 - threshold) if jcpp > threshold else 0.0


def blend_template(template: torch.Tensor, current: torch.Tensor, alpha: float) -> torch.Tensor:
    """Eq. 10, ``R_t <- (1 - alpha) R_t + alpha R_c``."""
    return (1 - alpha) * template + alpha * current


def trainable_parameters(model: nn.Module, layers: int | None) -> list[nn.Parameter]:
    """The parameters online training updates: all (``layers`` None), or those of the backbone's last ``layers``
    convolutions and of every backbone module registered after the first of them (their normalisation layers),
    plus the head's."""
    if layers is None:
        return list(model.parameters())
    if layers == 0:
        return []
    modules = list(model.backbone.modules())
    convolutions = [index for index, module in enumerate(modules) if isinstance(module, nn.Conv2d)]
    if layers > len(convolutions):
        raise ValueError(f"trainable_layers={layers}, but the backbone has {len(convolutions)} convolutions")
    chosen = [p for module in modules[convolutions[-layers]:] for p in module.parameters(recurse=False)]
    return chosen + list(model.head.parameters())


# ------------------------------------------------------------------------------------------------ tracker
class OnlineSiamFCTracker(SiamFCTracker):
    """SiamFC's tracker with SiamFC online training on a per-sequence copy of the network (module docstring).

    After each ``update``, ``last`` holds the frame's ``peak_r``, ``psr_r``, ``jcpp``, ``kl`` (Eq. 4 before any
    step), ``alpha`` (0 without an update), ``steps`` (SGD steps taken), ``losses`` (the loss of each step) and
    ``current_map`` (R_c, before any step). Networks: ``source`` the checkpoint's (never written), ``learner``
    the per-sequence copy that trains, ``net`` what tracks and scores R_c (the tracking copy of ``learner``,
    ``TrackingNetwork.rebuilt``; until the first training of a sequence, SiamFCTracker's copy of the source).
    """

    params_class = OnlineParams

    def __init__(self, model, params=None, level: str | None = None, device="cpu", name: str = "SiamFC-OT"):
        super().__init__(model, params, level, device, name)
        self.source = self.net.source  # the checkpoint's network: every sequence starts from it, nothing writes to it
        # what tracks while the learner still holds the source's weights: SiamFCTracker's network of the source
        self.source_net = self.net
        self.learner = copy.deepcopy(self.source).eval()
        self.trainable = trainable_parameters(self.learner, self.params.trainable_layers)
        trained = {id(p) for p in self.trainable}
        for parameter in self.learner.parameters():
            parameter.requires_grad_(id(parameter) in trained)
        self.template_map = None
        self.last: dict = {}

    def batched(self, batch: int):
        """None: the network changes per sequence, so sequences are tracked one at a time (the runner says so)."""
        return None

    def init(self, image: np.ndarray, box) -> None:
        self.pending_search = None  # a failed sequence's (VOT's re-initialisation) last R_c is dropped with it
        with torch.no_grad():
            self.learner.load_state_dict(self.source.state_dict())
        # built once per tracker, not per sequence: the learner has just taken the source's weights
        self.net = self.source_net
        super().init(image, box)
        image = rgb_frame(image)
        self.exemplar = self._crop_input(image, [self.z_sz], self.network.exemplar_size)
        self.template_map = self._current_map(image)[0]
        self.last = {}
        self.counts = {"online_steps": 0, "gate_opened": 0, "trainings": 0, "sgd_steps": 0}

    def sequence_info(self) -> dict:
        """What online training did in this sequence (the runner writes it beside the results): online steps
        (frames whose confidence was measured), how often the gate opened (JCPP > T_c), trainings and SGD steps."""
        return dict(self.counts)

    def _distribution(self, score: torch.Tensor) -> torch.Tensor:
        return score_distribution(score, self.params.map_normalization, self.params.softmax_temperature)

    def _current_map(self, image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(distribution, search input) of the exemplar against the search crop centred on the current position."""
        search = self._crop_input(image, [self.x_sz], self.params.instance_size)
        score = self.net.run("responses", self.kernel, search)[self.level][0, 0]
        # a clone outside inference mode: R_t takes part in the fine-tuning's autograd graph
        return self._distribution(score.clone()), search

    def update(self, image: np.ndarray) -> np.ndarray:
        if not self.params.defer_current_map:
            box = super().update(image)  # SiamFC's step with the network as fine-tuned so far
            self.learn(rgb_frame(image))
            return box
        image = rgb_frame(image)
        search, _ = self._search_input(image)
        pending = self.pending_search
        responses = self._network_outputs(self.kernel, search if pending is None else torch.cat([search, pending]))
        if pending is not None:
            # the previous frame's online step, on the R_c that came with this call; a training changed the network,
            # so this frame's scales are scored again with it, as they would have been after an immediate step
            if self.learn_from(self._distribution(responses[self.level][-1, 0].clone()), pending):
                responses = self._network_outputs(self.kernel, search)
            else:
                responses = [r[:-1] for r in responses]
        with torch.inference_mode():
            box = self._finish(None, responses)
        self.pending_search = self._crop_input(image, [self.x_sz], self.params.instance_size)
        return box

    def learn(self, image: np.ndarray) -> None:
        """The online step after a tracked frame: R_c, JCPP, and when confident the fine-tuning and R_t's update."""
        self.learn_from(*self._current_map(image))

    def learn_from(self, current: torch.Tensor, search: torch.Tensor) -> bool:
        """The online step on R_c (``current``, a distribution) of the search input ``search``; True when the
        fine-tuning changed the network."""
        cfg = self.params
        peak_r, psr_r, jcpp = joint_confidence(current, self.template_map, cfg.peak_weight, cfg.psr_window)
        kl = float(kl_divergence(self.template_map, current))
        alpha, losses = 0.0, []
        if jcpp > cfg.confidence_threshold:
            if thresholded_loss(kl, cfg.loss_threshold) > 0 and self.trainable:
                losses = self._fine_tune(search)
            alpha = update_rate(jcpp, cfg.confidence_threshold)
            self.template_map = blend_template(self.template_map, current, alpha)
        self.last = {"peak_r": peak_r, "psr_r": psr_r, "jcpp": jcpp, "kl": kl, "alpha": alpha,
                     "steps": len(losses), "losses": losses, "current_map": current}
        self.counts["online_steps"] += 1
        self.counts["gate_opened"] += int(jcpp > cfg.confidence_threshold)
        self.counts["trainings"] += int(bool(losses))
        self.counts["sgd_steps"] += len(losses)
        return bool(losses)

    def _fine_tune(self, search: torch.Tensor) -> list[float]:
        """Up to ``iterations`` SGD steps on the thresholded KL loss through both branches; returns each step's
        loss. The tracking network (rebuilt) and kernel are then recomputed from the new weights. As the
        suite's training skips non-finite steps, a non-finite loss ends the iterations untaken, and a training that
        leaves non-finite template features is undone (the weights and kernel as before it)."""
        cfg = self.params
        optimizer = torch.optim.SGD(self.trainable, lr=cfg.learning_rate, momentum=cfg.momentum)
        before = [p.detach().clone() for p in self.trainable]
        losses = []
        with torch.enable_grad():
            for _ in range(cfg.iterations):
                score = self.net.train_forward(self.learner, self.exemplar, search)[self.level][0, 0]
                loss = kl_divergence(self.template_map, self._distribution(score))
                value = thresholded_loss(loss.detach(), cfg.loss_threshold)
                if value == 0 or not math.isfinite(value):
                    break  # Eq. 5: zero loss, no gradient; the unchanged weights would give it again
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(value)
        if losses:
            tracking = self.source_net.rebuilt(self.learner)
            kernel = tracking.run("template_features", self.exemplar)
            if all(bool(torch.isfinite(k).all()) for k in kernel):
                self.net, self.kernel = tracking, kernel
            else:
                with torch.no_grad():
                    for parameter, value in zip(self.trainable, before):
                        parameter.copy_(value)
                losses = []
        return losses
