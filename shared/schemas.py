"""Request models that say when they are wrong: unknown fields, lone surrogates, NaN, oversized lists.

    from shared.schemas import StrictModel, Text, Number
    class SearchIn(StrictModel):
        query: Text = Field(min_length=1, max_length=2_000)
        k: int = Field(5, ge=1, le=100)

Every lab's request bodies subclass `StrictModel`:
- an unknown field is a 422 that names it (`top_kk: Extra inputs are not permitted`), as the OpenAI
  API answers, instead of being silently ignored and running with the defaults;
- every string, anywhere in the body, must be encodable as UTF-8: a lone surrogate (`"\\ud800"`, legal
  in JSON, illegal in UTF-8) is a 422 here, not a 500 deep inside SQLite, a header or a tokenizer;
- every float must be finite: NaN and Infinity are 422s (JSON has no NaN, but Python's parser
  accepts it, and one stored NaN makes a row that strict JSON readers refuse);
- a number field (int or float, optional or in a list) refuses `true` and `false`: pydantic's lax
  mode reads them as 1 and 0, so `"limit": true` ran one item instead of saying it was wrong;
- strings default to at most `MAX_TEXT` characters and lists to `MAX_ITEMS` items unless a field says
  otherwise, so no request can make a route do unbounded work.
"""

from __future__ import annotations

import datetime
import math
import re
import types
import typing
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

MAX_TEXT = 100_000
MAX_ITEMS = 1_000


def check_text(value: str) -> str:
    """Refuse strings that are not valid Unicode text (lone surrogates cannot be encoded as UTF-8)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"text is not valid UTF-8 (lone surrogate at position {exc.start})") from None
    return value


def check_finite(value: float) -> float:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number (NaN and Infinity are not allowed)")
    return value


DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


def check_date(value: str) -> str:
    """A YYYY-MM-DD string that names a day of the calendar (2024-02-30 has the shape and is not one)."""
    if not re.fullmatch(DATE_PATTERN, value, re.ASCII):  # ASCII: \d alone also takes other scripts' digits
        raise ValueError(f"{value!r} is not a date in the form YYYY-MM-DD")
    try:
        datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a calendar date ({exc})") from None
    return value


Text = Annotated[str, AfterValidator(check_text)]
Number = Annotated[float, AfterValidator(check_finite)]
IsoDate = Annotated[str, Field(pattern=DATE_PATTERN, description="YYYY-MM-DD"), AfterValidator(check_date)]


def _clean(value: Any, limit_text: int, limit_items: int) -> bool:
    """True when `walk` would find nothing wrong: the same checks without building a path for every
    element (most bodies are clean, and the paths cost more than the checks). An ASCII string cannot
    hold a lone surrogate (CPython knows a string is ASCII without reading it)."""
    if isinstance(value, str):
        if len(value) > limit_text:
            return False
        if value.isascii():
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return len(value) <= limit_items and all(
            _clean(k, limit_text, limit_items) and _clean(v, limit_text, limit_items) for k, v in value.items())
    if isinstance(value, list | tuple):
        return len(value) <= limit_items and all(_clean(v, limit_text, limit_items) for v in value)
    return True


def walk(value: Any, path: str = "", limit_text: int = MAX_TEXT, limit_items: int = MAX_ITEMS) -> None:
    """Check every nested string, float and list of free-form data (dict[str, Any] fields included)."""
    if _clean(value, limit_text, limit_items):
        return
    _walk(value, path, limit_text, limit_items)


def _walk(value: Any, path: str, limit_text: int, limit_items: int) -> None:
    """`walk` for a value with something wrong in it: the same checks, naming where the first failure is."""
    if isinstance(value, str):
        check_text(value)
        if len(value) > limit_text:
            raise ValueError(f"{path or 'value'}: text longer than {limit_text} characters")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path or 'value'}: must be a finite number (NaN and Infinity are not allowed)")
    elif isinstance(value, dict):
        if len(value) > limit_items:
            raise ValueError(f"{path or 'value'}: more than {limit_items} keys")
        for k, v in value.items():
            _walk(k, path, limit_text, limit_items)
            _walk(v, f"{path}.{k}" if path else str(k), limit_text, limit_items)
    elif isinstance(value, list | tuple):
        if len(value) > limit_items:
            raise ValueError(f"{path or 'value'}: more than {limit_items} items")
        for i, v in enumerate(value):
            _walk(v, f"{path}[{i}]", limit_text, limit_items)


def _number_kind(annotation: Any) -> str | None:
    """"one" for an int or float field (optional or not), "many" for a list, tuple or set of them."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _number_kind(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kinds = {_number_kind(a) for a in typing.get_args(annotation) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if annotation in (int, float):  # bool is a subclass of int, but not one of these two
        return "one"
    if origin in (list, tuple, set, frozenset):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if args and all(_number_kind(a) == "one" for a in args):
            return "many"
    return None


def refuse_booleans(data: Any, number_fields: dict[str, str]) -> None:
    """A JSON true/false where a number field is: refused (pydantic's lax mode reads them as 1 and 0)."""
    if not isinstance(data, dict):
        return
    for key, kind in number_fields.items():
        value = data.get(key)
        if kind == "one" and isinstance(value, bool):
            raise ValueError(f"{key}: must be a number, not {str(value).lower()}")
        if kind == "many" and isinstance(value, list | tuple) and any(isinstance(v, bool) for v in value):
            raise ValueError(f"{key}: must hold numbers only, not true or false")


class StrictModel(BaseModel):
    """The base of every request body: unknown fields, bad text, NaN and unbounded input are 422s.

    The walk caps every string and list in the body, free-form `dict[str, Any]` and `list[...]` fields
    included; a field's own `max_length` can only tighten that. A model that must carry more (a
    gateway's long-context prompt) raises `max_text` / `max_items` for itself.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    max_text: ClassVar[int] = MAX_TEXT
    max_items: ClassVar[int] = MAX_ITEMS
    # input key -> "one" / "many", for the fields that hold numbers (worked out once per class)
    number_fields: ClassVar[dict[str, str]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.number_fields = {}
        for name, info in cls.model_fields.items():
            kind = _number_kind(info.annotation)
            if kind is not None:
                key = info.validation_alias if isinstance(info.validation_alias, str) else info.alias or name
                cls.number_fields[key] = kind

    @model_validator(mode="before")
    @classmethod
    def _refuse_bad_input(cls, data: Any) -> Any:
        walk(data, "", cls.max_text, cls.max_items)
        refuse_booleans(data, cls.number_fields)
        return data


__all__ = ["MAX_ITEMS", "MAX_TEXT", "Field", "Number", "StrictModel", "Text", "check_finite", "check_text",
           "refuse_booleans", "walk"]
