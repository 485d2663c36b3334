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
