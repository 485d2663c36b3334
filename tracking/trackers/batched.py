"""Several sequences in lockstep on one network: a tracker's frame step split so that its network call serves
every sequence at once (``BATCH=N``, ``tracking.evaluation.runner.drive_batched``).

A ``LockstepTracker`` splits ``update`` into three methods, and ``update`` itself is just them in a row:

- ``_search_input(image) -> (search, state)``: the frame's search crops of this sequence, (n, C, H, W) with the
  same n on every frame (e.g. SiamFC's three scales), and whatever its decoding needs (``state``);
- ``_network_outputs(template, search)``: the network's search branch against the template features (the model's
  per-sample correlation: each template serves its own n consecutive crops);
- ``_finish(state, outputs) -> box``: the decoding of this sequence's outputs (its n rows of every tensor), which
  updates the sequence's state and returns the box.

``BatchedTracker`` (``tracker.batched(capacity)``) holds one slot per sequence, a shallow copy of the tracker
(the network shared, the state its own), and makes one network call per frame step on the stacked crops of its
slots against their stacked templates; each slot's decoding is the tracker's own. The boxes are those of
one-at-a-time tracking up to the network's batched arithmetic (the tests compare them within 1e-3 px on the CPU
in fp32). A subclass that changes ``update`` itself (e.g. online training) is not batched: ``batched`` gives None
and the runner tracks its sequences one at a time.

Slots may also decode with different trackers of one network (a sweep's trials: other parameters, the same
weights): ``init_slot(slot, image, box, prototype)`` makes the slot a shallow copy of ``prototype`` (its
parameters and everything derived from them), and the step's one network call, made by the first slot's tracker,
serves them all. That needs search crops of one shape (``search_shape``) and one network function.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass

import numpy as np
import torch

from tracking.params import check_ranges
from tracking.precision import check_precision


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


@dataclass(frozen=True)
class InferenceParams:
    """How a network tracker runs its network, apart from what it tracks with (its subclasses' fields):
    ``channels_last`` (NHWC input and weights), ``fold_batchnorm``, ``crop_on_device``, ``compile`` and
    ``precision`` (``tracking.precision``); each tracker's parameter class says what they mean for it."""

    channels_last: bool = True
    fold_batchnorm: bool = True
    crop_on_device: bool = False
    compile: bool = False
    precision: str = "fp32"

    def __post_init__(self):
        check_precision(self.precision)
        check_ranges(self)  # every subclass's fields: its RANGES and finite numbers


class LockstepTracker:
    """The split frame step of a tracker that can be batched (see the module docstring). A tracker provides
    ``_template()`` (its sequence's template features), ``_search_input``, ``_network_outputs``, ``_finish``,
    ``_autocast()`` and a ``center`` that is None before ``init``."""

    def batched(self, capacity: int) -> "BatchedTracker | None":
        """This tracker for ``capacity`` sequences in lockstep (one network call per frame step), or None for a
        subclass that changes ``update`` itself (it tracks one sequence at a time)."""
        if type(self).update is not LockstepTracker.update:
            return None
        return BatchedTracker(self, capacity)

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _search_inputs(self, trackers: list["LockstepTracker"], images: list[np.ndarray]) -> list:
        """``_search_input`` of each (tracker, image) pair of a lockstep step; a tracker class may cut them all in
        one call (SiamRPN++ with ``crop_on_device``)."""
        return [tracker._search_input(image) for tracker, image in zip(trackers, images)]

    def _frame_outputs(self, image: np.ndarray):
        """(state, network outputs) of this sequence's search crops of ``image``."""
        search, state = self._search_input(image)
        with self._autocast():
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
        inputs = trackers[0]._search_inputs(trackers, images)
        search = torch.cat([search for search, _ in inputs], dim=0)
        templates = stack_batches([tracker._template() for tracker in trackers])
        with trackers[0]._autocast():
            outputs = trackers[0]._network_outputs(templates, search)
        boxes, start = [], 0
        for tracker, (crops, state) in zip(trackers, inputs):
            stop = start + crops.shape[0]
            boxes.append(tracker._finish(state, batch_rows(outputs, start, stop)))
            start = stop
        return boxes
