"""shared.schemas.StrictModel: unknown fields, bad text, NaN and oversized input are validation errors."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, ValidationError

from shared.schemas import MAX_ITEMS, IsoDate, Number, StrictModel, Text, walk


class Inner(StrictModel):
    name: Text = "x"
    weight: Number = 1.0


class Body(StrictModel):
    query: Text = Field("q", max_length=50)
    k: int = Field(5, ge=1, le=100)
    inner: Inner = Field(default_factory=Inner)
    extra: dict[str, Any] = Field(default_factory=dict)


class Roomy(StrictModel):
    max_text = 10
    max_items = 3
    data: Any = None


def _errors(**body) -> str:
    with pytest.raises(ValidationError) as err:
        Body.model_validate(body)
    return str(err.value)


def test_unknown_fields_are_refused_and_named():
    assert "top_kk" in _errors(top_kk=3)
    assert "colour" in _errors(inner={"colour": "red"})


def test_lone_surrogates_anywhere_are_refused():
    assert "lone surrogate" in _errors(query="a\ud800b")
    assert "lone surrogate" in _errors(extra={"deep": ["ok", {"x": "\udfff"}]})
    assert "lone surrogate" in _errors(extra={"\ud800": 1})


def test_non_finite_numbers_anywhere_are_refused():
    for bad in (math.nan, math.inf, -math.inf):
        assert "finite" in _errors(inner={"weight": bad})
        assert "finite" in _errors(extra={"a": [1, {"b": bad}]})


class Numbers(StrictModel):
    count: int = 1
    ratio: float | None = None
    weight: Number = 1.0
    ids: list[int] = Field(default_factory=list)
    pair: tuple[float, float] = (0.0, 0.0)
    aliased: int = Field(0, alias="n")
    flag: bool = False
    label: str = ""


def test_true_and_false_are_not_numbers():
    """pydantic's lax mode reads true as 1: `"limit": true` would have run one item without a word."""
    assert Numbers.number_fields == {"count": "one", "ratio": "one", "weight": "one", "ids": "many",
                                     "pair": "many", "n": "one"}
    for body in ({"count": True}, {"ratio": False}, {"weight": True}, {"ids": [1, True]}, {"pair": [1.0, False]},
                 {"n": True}):
        with pytest.raises(ValidationError, match="not true|not false|not true or false"):
            Numbers.model_validate(body)
    ok = Numbers.model_validate({"count": 2, "ratio": 3, "ids": [1, 2], "n": 4, "flag": True, "label": "true"})
    assert (ok.count, ok.ratio, ok.ids, ok.aliased, ok.flag) == (2, 3.0, [1, 2], 4, True)
    assert "k: must be a number, not true" in _errors(k=True)
    assert "weight: must be a number" in _errors(inner={"weight": False})


def test_caps_hold_and_can_be_raised_per_model():
    assert Roomy(data="0123456789").data == "0123456789"
    with pytest.raises(ValidationError):
        Roomy(data="01234567890")
    with pytest.raises(ValidationError):
        Roomy(data=[1, 2, 3, 4])
    with pytest.raises(ValueError):
        walk(list(range(MAX_ITEMS + 1)))


def test_json_with_nan_from_the_wire_is_refused():
    """Python's json accepts NaN and Infinity; the body must still be a 422, never stored."""
    body = json.loads('{"inner": {"weight": NaN}}')
    with pytest.raises(ValidationError):
        Body.model_validate(body)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(payload=_json)
def test_any_clean_json_is_accepted_as_free_form_data(payload):
    assert Body(extra={"payload": payload}).extra["payload"] == payload


@settings(max_examples=150, deadline=None)
@given(payload=_json, poison=st.sampled_from([math.nan, math.inf, "\ud800", "x\udc00y"]), where=st.integers(0, 3))
def test_one_poisoned_leaf_anywhere_is_found(payload, poison, where):
    nested = [payload, {"k": poison}] if where % 2 else {"a": [payload, poison]}
    with pytest.raises(ValidationError):
        Body(extra={"payload": nested})


_any = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
                    | st.text(max_size=12) | st.sampled_from(["\ud800", "é\udc00", "x" * 12, "€" * 11]),
                    lambda inner: st.lists(inner, max_size=12) | st.dictionaries(st.text(max_size=4), inner, max_size=12),
                    max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(value=_any, limit_text=st.integers(1, 12), limit_items=st.integers(1, 12))
def test_the_quick_check_passes_exactly_what_the_full_walk_passes(value, limit_text, limit_items):
    """walk() first runs a check that builds no paths; it must pass a value exactly when the path-naming
    walk finds nothing, or a bad body would get through."""
    from shared.schemas import _clean, _walk

    try:
        _walk(value, "", limit_text, limit_items)
        full = True
    except ValueError:
        full = False
    assert _clean(value, limit_text, limit_items) == full


@given(st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99))
def test_a_date_is_accepted_exactly_when_the_calendar_has_that_day(year, month, day):
    import datetime

    class M(StrictModel):
        when: IsoDate

    text = f"{year:04d}-{month:02d}-{day:02d}"
    try:
        datetime.date(year, month, day)
        real = True
    except ValueError:
        real = False
    if real:
        assert M(when=text).when == text
    else:
        with pytest.raises(ValidationError, match="not a calendar date"):
            M(when=text)


@pytest.mark.parametrize("text", ["20240301", "2024-W01-1", "2024-1-01", "２０２４-01-01", "", "2024-01-01T00:00"])
def test_other_iso_forms_of_a_date_are_refused(text):
    class M(StrictModel):
        when: IsoDate

    with pytest.raises(ValidationError):
        M(when=text)
