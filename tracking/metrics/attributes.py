"""Per-attribute breakdowns.

Sequence-level attributes (OTB, UAV123, LaSOT): the scores of the sequences that have an attribute are averaged,
every sequence weighing the same, as the OTB and LaSOT toolkits do for their attribute plots. Because the OPE
scores are linear in the curves (AUC = mean of the curve, P@20 = one point of it), averaging per-sequence
scores equals reading the scores off the averaged curves.

Frame-level tags (VOT): per-frame values are pooled over the frames carrying a tag.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def attribute_scores(per_sequence: Mapping[str, Mapping], attributes: Mapping[str, Sequence[str]],
                     keys: Sequence[str] | None = None) -> dict[str, dict]:
    """Mean of each score over the sequences having each attribute.

    ``per_sequence`` maps a sequence name to its scores (floats or equally long curves), ``attributes`` maps a
    sequence name to its attribute names. Sequences without scores are ignored. Returns
    ``{attribute: {key: mean, ..., "num_sequences": n}}`` with attributes sorted by name.
    """
    members: dict[str, list[str]] = {}
    for name, names in attributes.items():
        if name not in per_sequence:
            continue
        for attribute in names:
            members.setdefault(attribute, []).append(name)
    if keys is None:
        first = next(iter(per_sequence.values()), {})
        keys = [k for k, v in first.items() if np.ndim(v) <= 1 and np.issubdtype(np.asarray(v).dtype, np.number)]
    table = {}
    for attribute in sorted(members):
        names = members[attribute]
        row = {key: _mean([per_sequence[n][key] for n in names]) for key in keys}
        row["num_sequences"] = len(names)
        table[attribute] = row
    return table


def _mean(values):
    mean = np.mean(np.asarray(values, dtype=np.float64), axis=0)
    return float(mean) if np.ndim(mean) == 0 else mean


def tag_means(frame_values: Mapping[str, np.ndarray], tags: Mapping[str, Mapping[str, np.ndarray]]) -> dict:
    """Mean of per-frame values (e.g. overlaps, NaN ignored) over all frames carrying each tag.

    ``frame_values[seq]`` is an (N,) array, ``tags[seq][tag]`` an (N,) bool array. Returns
    ``{tag: {"mean": value, "num_frames": n}}``.
    """
    pooled: dict[str, list[np.ndarray]] = {}
    for name, values in frame_values.items():
        values = np.asarray(values, dtype=np.float64)
        for tag, mask in tags.get(name, {}).items():
            mask = np.asarray(mask).astype(bool)
            if mask.shape != values.shape:
                raise ValueError(f"{name}: tag {tag!r} has {mask.size} frames, values {values.size}")
            pooled.setdefault(tag, []).append(values[mask])
    table = {}
    for tag in sorted(pooled):
        values = np.concatenate(pooled[tag])
        finite = values[~np.isnan(values)]
        table[tag] = {"mean": float(finite.mean()) if finite.size else float("nan"), "num_frames": int(values.size)}
    return table
