"""Typed parameter sets (dataclasses) built from plain values: YAML, ``--set key=value``, checkpoints.

Every tracker has its parameters in a dataclass with defaults (``tracking.trackers.siamrpn.SiamRPNParams``, ...),
apart from its network's config; :func:`build_params` makes one from a mapping, checking each key against the
dataclass's fields and each value against the field's type, so a typo or ``"5e-3"`` read as text is an error
naming the key rather than a silently wrong run.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping


def _is_union(annotation) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _coerce(value, annotation, key: str, where: str):
    """``value`` as ``annotation`` (float, int, bool, str, tuple[...], X | None, dict, list, Any)."""
    if annotation is typing.Any:
        return value
    if _is_union(annotation):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key, where)
            except ValueError as error:
                errors.append(str(error))
        raise ValueError(errors[0] if errors else f"{where}: {key}={value!r} does not fit {annotation}")
    origin = typing.get_origin(annotation) or annotation
    bad = ValueError(f"{where}: {key}={value!r} is not a valid {getattr(annotation, '__name__', annotation)}")
    if origin is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad
    if origin in (float, int):
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int) or (origin is float and isinstance(value, float)):
            return origin(value)
        if origin is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):  # YAML 1.1 reads 5e-3 as text
            try:
                return origin(value)
            except ValueError:
                raise bad from None
        raise bad
    if origin is str:
        if isinstance(value, str):
            return value
        raise bad
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], key, where) for v in value)
        if args and len(args) != len(value):
            raise ValueError(f"{where}: {key}={value!r} needs {len(args)} values")
        return tuple(_coerce(v, a, key, where) for v, a in zip(value, args)) if args else tuple(value)
    if origin in (list, dict):
        if not isinstance(value, origin):
            raise bad
        return value
    if isinstance(origin, type) and not isinstance(value, origin):
        raise bad
    return value


def build_params(cls, values: Mapping | None = None, where: str = "parameters", base=None):
    """An instance of dataclass ``cls`` from ``base`` (an instance, or the defaults) updated with ``values``.

    ``values`` may itself be an instance of ``cls``. Unknown keys raise ``ValueError`` listing the accepted ones;
    values are converted to the field's type (``"5e-3"`` -> 0.005 for a float) or raise naming the key.
    """
    if isinstance(values, cls) and base is None:
        return values
    if dataclasses.is_dataclass(values):
        values = dataclasses.asdict(values)
    values = dict(values or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; accepted: {sorted(fields)}")
    current = dataclasses.asdict(base) if base is not None else {}
    for key, value in values.items():
        current[key] = _coerce(value, hints[key], key, where)
    return cls(**current)


def params_dict(params) -> dict:
    """A parameter dataclass as plain, YAML/JSON-friendly values (tuples as lists)."""
    out = {}
    for field in dataclasses.fields(params):
        value = getattr(params, field.name)
        out[field.name] = list(value) if isinstance(value, tuple) else value
    return out


@dataclasses.dataclass(frozen=True)
class Range:
    """An interval of allowed values, closed unless ``low_open`` / ``high_open``."""

    low: float = -float("inf")
    high: float = float("inf")
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return bool(above and below)

    def __str__(self) -> str:
        def text(bound):
            return "inf" if bound == float("inf") else "-inf" if bound == -float("inf") else f"{bound:g}"

        opening = "(" if self.low_open or self.low == -float("inf") else "["
        closing = ")" if self.high_open or self.high == float("inf") else "]"
        return f"{opening}{text(self.low)}, {text(self.high)}{closing}"


def check_ranges(params) -> None:
    """Refuse a parameter dataclass whose numbers are not finite or lie outside their field's range: the
    ``RANGES`` mapping (field -> ``Range``) of its class and its bases; a tuple's entries are checked one by one,
    None passes. ``ValueError`` names the class, the field, the value and the range."""
    import math

    ranges = {}
    for klass in reversed(type(params).__mro__):
        ranges.update(vars(klass).get("RANGES", {}))
    for field in dataclasses.fields(params):
        value = getattr(params, field.name)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                continue
            allowed = ranges.get(field.name)
            if not math.isfinite(item) or (allowed is not None and item not in allowed):
                where = f" {allowed}" if allowed is not None else ": a finite number"
                raise ValueError(f"{type(params).__name__}: {field.name}={value!r} is outside its range{where}")
