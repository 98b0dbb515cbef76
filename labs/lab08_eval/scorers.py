"""Deterministic scorers: exact, normalized, includes, regex, numeric tolerance, JSON schema, JSON fields, code.

    python -c "from labs.lab08_eval.scorers import score; print(score('numeric', 'About 3.1416.', {'answer': 3.14159}))"

Each maps (response, item) to a score in [0, 1]. The LLM judge is in judge.py (it is async and costs
calls); pass@k for code is in the runner, which samples n completions and runs each in the sandbox.
normalize: lower-case, drop punctuation and the articles a/an/the, collapse spaces (SQuAD-style).
numeric:   |x − y| ≤ max(abs_tol, rel_tol·|y|) on the last number in the response.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable

import jsonschema

from labs.lab08_eval.sandbox import Outcome, run_code

ANSWER_LINE = re.compile(r"answer:\**\s*(.+)$", re.IGNORECASE | re.MULTILINE)
FENCE = re.compile(r"```(?:\w+)?\n(.*?)```", re.DOTALL)
NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")


def normalize(text: str) -> str:
    text = text.lower()
    text = "".join(" " if c in string.punctuation else c for c in text)
    return " ".join(w for w in text.split() if w not in {"a", "an", "the"})


def final_answer(response: str) -> str:
    """The text after the last 'Answer:' line, else the whole response."""
    found = ANSWER_LINE.findall(response)
    return found[-1].strip() if found else response.strip()


def strip_fence(response: str) -> str:
    match = FENCE.search(response)
    return match.group(1) if match else response


def exact(response: str, item: dict) -> float:
    return float(final_answer(response) == str(item["answer"]))


def normalized(response: str, item: dict) -> float:
    return float(normalize(final_answer(response)) == normalize(str(item["answer"])))


def includes(response: str, item: dict) -> float:
    return float(f" {normalize(str(item['answer']))} " in f" {normalize(response)} ")


def regex(response: str, item: dict) -> float:
    pattern = item.get("pattern") or rf"\b{re.escape(str(item['answer']))}\b"
    return float(re.search(pattern, response, re.IGNORECASE) is not None)


def numeric(response: str, item: dict, rel_tol: float = 1e-3, abs_tol: float = 1e-6) -> float:
    numbers = NUMBER.findall(final_answer(response))
    if not numbers:
        return 0.0
    x, y = float(numbers[-1].replace(",", "")), float(item["answer"])
    return float(abs(x - y) <= max(abs_tol, rel_tol * abs(y)))


def parse_json(response: str) -> object:
    return json.loads(strip_fence(response).strip())


def json_schema(response: str, item: dict) -> float:
    try:
        jsonschema.validate(parse_json(response), item["schema"])
    except (ValueError, jsonschema.ValidationError):
        return 0.0
    return 1.0


def json_fields(response: str, item: dict) -> float:
    """The share of the reference's fields the response got exactly right."""
    try:
        got = parse_json(response)
    except ValueError:
        return 0.0
    if not isinstance(got, dict):
        return 0.0
    want = item["answer"]
    return sum(got.get(k) == v for k, v in want.items()) / len(want)


def code_outcome(response: str, item: dict) -> Outcome:
    """The sandbox's verdict on the response's code: passed, or why not (failed, error, timeout, memory, killed)."""
    return run_code(strip_fence(response), item["tests"])


def code(response: str, item: dict) -> float:
    return float(code_outcome(response, item).passed)


SCORERS: dict[str, Callable[[str, dict], float]] = {
    "exact": exact, "normalized": normalized, "includes": includes, "regex": regex, "numeric": numeric,
    "json_schema": json_schema, "json_fields": json_fields, "code": code,
}
TASK_SCORERS = {  # what makes sense per task; "judge" needs a reference or a rubric (qa)
    "qa": {"exact", "normalized", "includes", "regex", "numeric", "judge"},
    "classification": {"exact", "normalized", "regex"},
    "extraction": {"json_schema", "json_fields"},
    "code": {"code", "pass@k"},
}
DEFAULTS = {"qa": ["includes", "judge"], "classification": ["exact"], "extraction": ["json_schema", "json_fields"],
            "code": ["pass@k"]}


def score(name: str, response: str, item: dict) -> float:
    return SCORERS[name](response, item)
