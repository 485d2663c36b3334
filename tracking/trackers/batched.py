"""Several sequences in lockstep on one network: a tracker's frame step split so that its network call serves
every sequence at once (``BATCH=N``, ``tracking.evaluation.runner.drive_batched``).

A ``LockstepTracker`` splits ``update`` into three methods, and ``update`` itself is just them in a row:

- ``_search_request(image) -> (request, state)``: where this sequence's search crops of the frame lie (a
  ``tracking.inference.CropRequest``: n windows with the same n on every frame, e.g. SiamFC's three scales), and
  whatever its decoding needs (``state``);
- ``_network_outputs(template, search)``: the network's search branch against the template features, run by the
  tracker's ``TrackingNetwork`` (the model's per-sample correlation: each template serves its own n consecutive
  crops);
- ``_finish(state, outputs) -> box``: the decoding of this sequence's outputs (its n rows of every tensor), which
  updates the sequence's state and returns the box.

``BatchedTracker`` (``tracker.batched(capacity)``) holds one slot per sequence, a shallow copy of the tracker
(the network shared, the state its own), and makes one crop call and one network call per frame step for its
slots (their stacked crops against their stacked templates); each slot's decoding is the tracker's own. The boxes are those of
one-at-a-time tracking up to the network's batched arithmetic (the tests compare them within 1e-3 px on the CPU
in fp32). A subclass that changes ``update`` itself (e.g. online training) is not batched: ``batched`` gives None
and the runner tracks its sequences one at a time.

Slots may also decode with different trackers of one network (a sweep's trials: other parameters, the same
weights): ``init_slot(slot, image, box, prototype)`` makes the slot a shallow copy of ``prototype`` (its
parameters and everything derived from them), and the step's one network call, made by the first slot's tracker,
serves them all. That needs search crops of one shape (``search_shape``) and one network function.

``LockstepTracker.__init__`` builds what every network tracker holds: its parameters (``params_class``), its
``TrackingNetwork`` (``net``, in the tracker's ``crop_style``) and its network's config (``network``).
"""
from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np
import torch

from tracking.inference import InferenceParams, TrackingNetwork
from tracking.params import build_params


def stack_batches(parts):
    """Per-sequence tensors (or nested lists, tuples and dicts of them) joined along the batch dimension."""
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(parts, dim=0)
    if isinstance(first, dict):
        return {key: stack_batches([part[key] for part in parts]) for key in first}
    return type(first)(stack_batches([part[index] for part in parts]) for index in range(len(first)))


def batch_rows(outputs, start: int, stop: int):
    """Rows ``start:stop`` of every tensor in ``outputs`` (a tensor or nested lists, tuples and dicts of them)."""
    if isinstance(outputs, torch.Tensor):
        return outputs[start:stop]
    if isinstance(outputs, dict):
        return {key: batch_rows(value, start, stop) for key, value in outputs.items()}
    return type(outputs)(batch_rows(value, start, stop) for value in outputs)


def search_shape(tracker, image: np.ndarray, box) -> tuple[int, ...]:
    """The shape (n, C, H, W) of ``tracker``'s search crops of ``image`` after ``init(image, box)``, on a shallow
    copy (the tracker itself untouched): trackers whose shapes agree can share a batched network call."""
    probe = copy.copy(tracker)
    with torch.inference_mode():
        probe.init(image, box)
        return tuple(probe._search_input(image)[0].shape)


class LockstepTracker:
    """The split frame step of a tracker that can be batched (see the module docstring). A tracker provides
    ``_template()`` (its sequence's template features), ``_search_request``, ``_network_outputs``, ``_finish``
    and a ``center`` that is None before ``init``."""

    params_class: ClassVar[type[InferenceParams]] = InferenceParams
    crop_style: ClassVar[str] = "pysot"  # the reference crop (tracking.inference.crops.CROP_STYLES)

    def __init__(self, model, params=None, device="cpu", name: str = ""):
        params = build_params(self.params_class, params, f"{self.params_class.__name__} tracker parameters")
        self.net = TrackingNetwork(model, params, device, self.crop_style)
        self.params = self.net.params  # precision 'auto' resolved for the device
        self.network = model.config
        self.name = name
        self.center = None

    def batched(self, capacity: int) -> "BatchedTracker | None":
        """This tracker for ``capacity`` sequences in lockstep (one network call per frame step), or None for a
        subclass that changes ``update`` itself (it tracks one sequence at a time)."""
        if type(self).update is not LockstepTracker.update:
            return None
        return BatchedTracker(self, capacity)

    def _search_input(self, image: np.ndarray):
        """(this sequence's search crops of ``image`` as the network's input, state)."""
        request, state = self._search_request(image)
        return self.net.crops([request]), state

    def _frame_outputs(self, image: np.ndarray):
        """(state, network outputs) of this sequence's search crops of ``image``."""
        search, state = self._search_input(image)
        return state, self._network_outputs(self._template(), search)

    @torch.inference_mode()
    def update(self, image: np.ndarray) -> np.ndarray:
        if self.center is None:
            raise RuntimeError("call init() before update()")
        return self._finish(*self._frame_outputs(image))


class BatchedTracker:
    """``capacity`` sequences in lockstep on one tracker's network (``LockstepTracker.batched``): ``slots`` holds a
    shallow copy of the tracker per sequence (its own state, the network shared); ``init_slot(slot, image, box)``
    starts a sequence in a slot (with ``prototype``: as a copy of that tracker, see the module docstring),
    ``update_slots(slots, images) -> boxes`` advances those slots by one frame each with one network call."""

    def __init__(self, tracker: LockstepTracker, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.prototypes = [tracker] * capacity  # the tracker each slot is a copy of
        self.slots = [copy.copy(tracker) for _ in range(capacity)]  # shallow: the network is shared
        for slot in self.slots:
            slot.center = None  # each slot starts with its own init_slot

    def init_slot(self, slot: int, image: np.ndarray, box, prototype: LockstepTracker | None = None) -> None:
        if prototype is not None and prototype is not self.prototypes[slot]:
            self.prototypes[slot], self.slots[slot] = prototype, copy.copy(prototype)
        self.slots[slot].init(image, box)

    @torch.inference_mode()
    def update_slots(self, slots: list[int], images: list[np.ndarray]) -> list[np.ndarray]:
        trackers = [self.slots[slot] for slot in slots]
        if any(tracker.center is None for tracker in trackers):
            raise RuntimeError("call init_slot() before update_slots()")
        requests = [tracker._search_request(image) for tracker, image in zip(trackers, images)]
        search = search_batch([tracker.net for tracker in trackers], [request for request, _ in requests])
        templates = stack_batches([tracker._template() for tracker in trackers])
        outputs = trackers[0]._network_outputs(templates, search)
        boxes, start = [], 0
        for tracker, (request, state) in zip(trackers, requests):
            stop = start + len(request.windows)
            boxes.append(tracker._finish(state, batch_rows(outputs, start, stop)))
            start = stop
        return boxes


def search_batch(nets: list[TrackingNetwork], requests: list) -> torch.Tensor:
    """The slots' search crops as one input: one crop call when the slots crop alike (always, but for a sweep's
    trials that differ in how they crop), else each slot's own."""
    if all(net.crop_settings == nets[0].crop_settings for net in nets):
        return nets[0].crops(requests)
    return torch.cat([net.crops([request]) for net, request in zip(nets, requests)])
