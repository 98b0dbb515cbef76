"""Structured output and its reliability ladder: how often a model's JSON fails, by how it was asked.

    .venv/bin/python bench/bench_mock.py     # its "ladder" section: the rates measured through instructor

The chapter ranks the ways to get JSON from a model, least to most reliable:

| level         | how the client asks                                     | what goes wrong                    | fallible |
| ------------- | ------------------------------------------------------- | ---------------------------------- | -------- |
| `prompt`      | "reply in JSON" in the prompt, nothing enforced         | prose, broken JSON, missing fields | 30%      |
| `json_mode`   | response_format {"type": "json_object"}                 | valid JSON, wrong shape            | 12%      |
| `tools`       | a function schema the model must call                   | an argument of the wrong type      | 4%       |
| `json_schema` | response_format json_schema, not strict (best effort)   | rarely, a field missing            | 2%       |
| `strict`      | response_format json_schema with strict: true (grammar) | nothing: decoding cannot leave it  | 0%       |

A behaviour fails at level L with probability `fail_rate_<L>` (a mock option), drawn with the
request's sampling randomness. A *re-ask* (the conversation ends with the validation error, as
instructor sends it: "Validation Error found: ... Recall the function correctly, fix the errors"
or "Correct your JSON ONLY RESPONSE, based on the following errors: ...") is answered correctly:
the model reads the error and fixes its output, which is what makes retries worth their tokens.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from shared.mockllm.request import MockRequest

LEVELS = ("prompt", "json_mode", "tools", "json_schema", "strict")
REALISTIC_FAIL_RATES = {"prompt": 0.30, "json_mode": 0.12, "tools": 0.04, "json_schema": 0.02, "strict": 0.0}

_CORRECTION = re.compile(r"validation errors? found|correct your json|fix the errors|recall the function|"
                         r"unknown tool|no such tool|does not exist|invalid (?:json|arguments?)|"
                         r"could not parse|failed to parse")  # matched against lower-cased text
_INSTRUCTOR_SUFFIX = re.compile(r"\n*Return the correct JSON response within a ```json codeblock.*$", re.DOTALL)


# every alternative of _CORRECTION holds one of these words: a message with none of them cannot match
_CORRECTION_WORDS = ("validation", "correct your", "fix the", "recall", "tool", "not exist", "invalid", "parse")


def is_correction(text: str) -> bool:
    """Does this message tell the model that its last output was invalid?"""
    low = text[:2000].lower()  # lower() + a plain regex: 10x faster than re.I
    # the substring tests first (C speed): most messages hold none of the words, and the alternation's
    # scan of a long message costs ~30 us
    return any(w in low for w in _CORRECTION_WORDS) and bool(_CORRECTION.search(low))


def correcting(req: MockRequest) -> bool:
    """The conversation ends with a correction of the model's previous answer (a re-ask)."""
    last = req.messages[-1]
    return last.get("role") in ("user", "tool") and any(
        m.get("role") == "assistant" for m in req.messages) and is_correction(req.text_of(last))


def task_text(req: MockRequest) -> str:
    """What the user actually asked: the last user message that is not a correction, minus instructor's
    formatting suffix."""
    for message in reversed(req.messages):
        if message.get("role") == "user":
            text = req.text_of(message)
            if not is_correction(text):  # the substring test spares the regex's scan of every line break
                return _INSTRUCTOR_SUFFIX.sub("", text) if "Return the correct JSON" in text else text
    return req.last_user()


def embedded_schema(text: str) -> dict[str, Any] | None:
    """A JSON schema written into a prompt (instructor's JSON / MD_JSON modes put it in the system message)."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and ("properties" in value or value.get("type") == "object"):
            return value
    return None


def level_of(req: MockRequest, via_tool: bool) -> str:
    if via_tool:
        return "tools"
    rf = req.response_format or {}
    if rf.get("type") == "json_schema":
        return "strict" if (rf.get("json_schema") or {}).get("strict") else "json_schema"
    if rf.get("type") == "json_object":
        return "json_mode"
    return "prompt"


def fails(req: MockRequest, level: str, defaults: dict[str, float]) -> random.Random | None:
    """Whether this answer fails at its level; returns the rng to pick how (None: it does not fail)."""
    if correcting(req):
        return None
    rate = float(req.opt(f"fail_rate_{level}", defaults.get(level, 0.0)))
    rng = req.rng(f"sample:structured:{level}")
    return rng if rate > 0 and rng.random() < rate else None


def _wrong_type(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    return 0 if kind == "string" else "unknown"


def break_value(value: Any, schema: dict[str, Any], level: str, rng: random.Random) -> str:
    """A realistic invalid answer for this level, as the raw text the model would send."""
    props = [k for k in (schema.get("required") or list(schema.get("properties") or {})) if
             isinstance(value, dict) and k in value]
    broken = dict(value) if isinstance(value, dict) else {"value": value}
    kinds = {"prompt": ["prose", "broken", "missing"], "json_mode": ["missing", "wrong_type"],
             "tools": ["wrong_type", "missing"], "json_schema": ["missing"], "strict": ["missing"]}[level]
    kind = rng.choice(kinds)
    if kind == "prose":
        return "Sure! Here is what I found: " + ", ".join(f"{k} {v}" for k, v in broken.items()) + "."
    if kind == "broken":
        return json.dumps(broken)[:-1] + ",}"  # a trailing comma: not JSON
    if not props:
        return json.dumps({"result": broken})
    key = rng.choice(props)
    if kind == "missing":
        broken.pop(key)
    else:
        sub = (schema.get("properties") or {}).get(key, {})
        broken[key] = _wrong_type(sub)
    return json.dumps(broken)
