"""Typed parameter sets built from plain values (YAML, --set key=value, checkpoints)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from tracking.params import build_params, params_dict


@dataclass(frozen=True)
class Example:
    rate: float = 0.1
    steps: int = 4
    flag: bool = False
    name: str = "x"
    sizes: tuple[int, ...] = (1, 2)
    limit: int | None = None


def test_values_are_converted_to_the_field_types():
    params = build_params(Example, {"rate": "5e-3", "steps": 3.0, "flag": "true", "sizes": [3, 4], "limit": 7})
    assert params == Example(rate=0.005, steps=3, flag=True, sizes=(3, 4), limit=7)
    assert build_params(Example, {"rate": 2}).rate == 2.0 and isinstance(build_params(Example, {"rate": 2}).rate,
                                                                          float)
    assert build_params(Example, {"limit": None}).limit is None
    assert params_dict(params)["sizes"] == [3, 4]


def test_updates_start_from_a_base_and_instances_pass_through():
    base = Example(rate=0.2, name="base")
    assert build_params(Example, {"steps": 9}, base=base) == Example(rate=0.2, steps=9, name="base")
    assert build_params(Example, base) is base
    assert build_params(Example, None) == Example()


def test_errors_name_the_key_and_the_accepted_ones():
    with pytest.raises(ValueError, match=r"tracker: unknown key\(s\) \['rat'\]; accepted: \['flag', 'limit'"):
        build_params(Example, {"rat": 1}, "tracker")
    with pytest.raises(ValueError, match=r"rate='fast' is not a valid float"):
        build_params(Example, {"rate": "fast"})
    with pytest.raises(ValueError, match="steps=2.5 is not a valid int"):
        build_params(Example, {"steps": 2.5})
    with pytest.raises(ValueError, match="flag=1 is not a valid bool"):
        build_params(Example, {"flag": 1})
    with pytest.raises(ValueError, match="is not a valid"):
        build_params(Example, {"rate": True})


def _tracker_parameter_classes():
    from tracking.trackers.hsiamfc import HierarchicalParams
    from tracking.trackers.mfst import MFSTParams
    from tracking.trackers.siamfc_online import OnlineParams
    from tracking.trackers.siamfc import SiamFCParams
    from tracking.trackers.siamrpn import SiamRPNParams
    from tracking.trackers.snscf import SNSCFParams

    return [SiamRPNParams, SNSCFParams, SiamFCParams, OnlineParams, MFSTParams, HierarchicalParams]


@pytest.mark.parametrize("params_class", _tracker_parameter_classes())
def test_tracker_values_outside_their_range_are_refused_with_the_range(params_class):
    import math

    from tracking.params import check_ranges

    defaults = params_class()
    check_ranges(defaults)  # the published values lie inside
    for bad in (float("nan"), float("inf"), -5.0):
        with pytest.raises(ValueError, match=rf"{params_class.__name__}: window_influence=.* is outside its range "
                                             r"\[0, 1\]"):
            build_params(params_class, {"window_influence": bad})
    with pytest.raises(ValueError, match=r"window_influence=1\.5 is outside its range \[0, 1\]"):
        build_params(params_class, {"window_influence": "1.5"})  # as --set gives it
    for name, allowed in params_class.RANGES.items():
        value = getattr(defaults, name)
        if value is None:
            continue
        outside = allowed.high + 1 if math.isfinite(allowed.high) else allowed.low - 1
        bad = tuple(outside for _ in value) if isinstance(value, tuple) else type(value)(outside)
        with pytest.raises(ValueError, match=rf"{name}=.* is outside its range"):
            build_params(params_class, {name: bad})


def test_a_range_prints_as_an_interval_and_checks_open_ends():
    from tracking.params import Range

    assert str(Range(0, 1)) == "[0, 1]" and str(Range(0, low_open=True)) == "(0, inf)"
    assert 0 in Range(0, 1) and 0 not in Range(0, 1, low_open=True) and 1 not in Range(0, 1, high_open=True)
