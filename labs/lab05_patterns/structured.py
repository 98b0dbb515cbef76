"""Structured outputs at four reliability levels: prompt+parse, JSON mode, function calling, grammar.

    curl -s localhost:8005/extract -H 'content-type: application/json' \
      -d '{"text": "Ada Lovelace is 36, an engineer, ada@example.com", "level": "tools"}'

    level        how the model is asked                        what can still go wrong
    prompt       "reply with JSON like ..." then parse text    prose around it, broken JSON, wrong types
    json         response_format json_object (instructor)      valid JSON, wrong shape or types
    tools        one forced function call (instructor)         arguments that miss the schema
    json_schema  response_format json_schema, strict: true     nothing: the provider decodes under the schema
    grammar      our own constrained decoder (constrained.py)  nothing: valid by construction

Each failed attempt is re-asked with the validation error (instructor does this for json and tools;
`extract_by_hand` does it for prompt and json_schema, so the mechanism is visible; instructor's own
JSON_SCHEMA mode does not send strict: true, which is the whole point of that level). The result records
attempts and each error, which is what the benchmark (bench/bench_lab05_ladder.py) counts.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from instructor.core import InstructorRetryException
from pydantic import ValidationError

from labs.lab05_patterns.constrained import CopyModel, decode
from labs.lab05_patterns.person import SYSTEM, Person, prompt_system
from shared.llm import Model
from shared.pricing import Usage, cost, usage_from
from shared.resilience import status_of

LEVELS = ("prompt", "json", "tools", "json_schema", "grammar")
Level = Literal["prompt", "json", "tools", "json_schema", "grammar"]


CORRECTION = "Could not parse your reply: {error}. Fix the errors and reply with the JSON object only."


def strict_format() -> dict[str, Any]:
    """OpenAI's structured outputs: the provider decodes under this schema (strict: true)."""
    schema = {**Person.model_json_schema(), "additionalProperties": False}
    return {"type": "json_schema", "json_schema": {"name": "Person", "schema": schema, "strict": True}}


@dataclass
class Extraction:
    level: str
    ok: bool
    value: dict[str, Any] | None
    attempts: int
    errors: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    latency_s: float = 0.0
    interventions: int | None = None  # grammar level: tokens the mask overrode

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_person(text: str | None) -> Person:
    """The prompt level's parser: the outermost {...} in the reply, then Pydantic validation."""
    match = _JSON_OBJECT.search(text or "")
    if match is None:
        raise ValueError("no JSON object in the reply")
    return Person.model_validate(json.loads(match.group()))


def extract_by_hand(text: str, level: str, *, model: Model, max_retries: int = 2,
                    mock: dict[str, Any] | None = None) -> Extraction:
    """Levels prompt and json_schema without instructor: ask, parse, validate, re-ask with the error."""
    system = prompt_system() if level == "prompt" else SYSTEM
    extra = {"response_format": strict_format()} if level == "json_schema" else {}
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}, {"role": "user", "content": text}]
    errors: list[str] = []
    total, spent = Usage(), 0.0
    for attempt in range(1, max_retries + 2):
        reply = model.complete(messages, mock=mock, **extra)
        total, spent = total + reply.usage, spent + reply.cost_usd
        try:
            person = parse_person(reply.text)
            return Extraction(level, True, person.model_dump(), attempt, errors, asdict(total), spent)
        except (ValueError, ValidationError) as exc:
            error = " ".join(str(exc).split())[:300]
            errors.append(error)
            messages += [reply.message(), {"role": "user", "content": CORRECTION.format(error=error)}]
    return Extraction(level, False, None, max_retries + 1, errors, asdict(total), spent)


def extract_instructor(text: str, level: str, *, model: Model, max_retries: int = 2,
                       mock: dict[str, Any] | None = None) -> Extraction:
    """Levels json and tools through instructor: it adds the format and re-asks on a validation error."""
    try:
        out = model.structured(text, Person, system=SYSTEM, mode=level, max_retries=max_retries, mock=mock)
    except InstructorRetryException as exc:
        failed = [f.exception for f in (getattr(exc, "failed_attempts", None) or [])]
        last = failed[-1] if failed else exc.__cause__
        if last is not None and status_of(last) is not None:
            # the provider failed (429, 5xx), not the model's output: that is the caller's error to see
            raise last from exc
        usage = usage_from(getattr(exc, "total_usage", None))
        errors = [" ".join(str(e).split())[:300] for e in failed] or [str(exc)[:300]]
        spent = cost(model.id, usage).total
        return Extraction(level, False, None, int(getattr(exc, "n_attempts", max_retries + 1)),
                          errors, asdict(usage), spent)
    return Extraction(level, True, out.value.model_dump(), out.attempts, out.errors, asdict(out.usage),
                      out.cost_usd)


def extract_grammar(text: str, *, model: Model, mock: dict[str, Any] | None = None) -> Extraction:
    """Level 5: the model's JSON-mode completion as its preference, decoded under the schema's grammar."""
    messages = [{"role": "system", "content": prompt_system()}, {"role": "user", "content": text}]
    draft = model.complete(messages, mock=mock, response_format={"type": "json_object"})
    decoded = decode(Person.model_json_schema(), CopyModel(draft.text or "", source=text))
    person = Person.model_validate(decoded.value)  # cannot fail: the grammar only emits valid records
    return Extraction("grammar", True, person.model_dump(), 1, [], asdict(draft.usage), draft.cost_usd,
                      interventions=decoded.interventions)


def extract(text: str, level: str = "tools", *, model: Model, max_retries: int = 2,
            mock: dict[str, Any] | None = None) -> Extraction:
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}")
    start = time.perf_counter()
    if level in ("prompt", "json_schema"):
        result = extract_by_hand(text, level, max_retries=max_retries, model=model, mock=mock)
    elif level == "grammar":
        result = extract_grammar(text, model=model, mock=mock)
    else:
        result = extract_instructor(text, level, max_retries=max_retries, model=model, mock=mock)
    result.latency_s = round(time.perf_counter() - start, 4)
    return result
