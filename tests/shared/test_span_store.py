"""The span store keeps strict JSON, and its queries and deletions work over any row it holds."""

from __future__ import annotations

import json
import math
import sqlite3
import uuid

import pytest
from opentelemetry.trace import SpanKind

from shared.telemetry import (
    COST_ATTRIBUTE,
    flush,
    genai_span,
    json_text,
    query_spans,
    remove_span_attributes,
    setup_telemetry,
    tracer,
)


@pytest.fixture(autouse=True)
def _telemetry(settings):
    setup_telemetry(settings)


def _raw_rows(settings, span_name: str) -> list[tuple[str, str]]:
    flush()
    with sqlite3.connect(settings.data_dir / "telemetry.db") as db:
        return db.execute("SELECT attributes, events FROM spans WHERE name = ?", [span_name]).fetchall()


def _insert_raw(settings, attributes: str, name: str = "poisoned") -> str:
    """A row as an older version (or anything else) may have left it: written straight into the table."""
    span_id = uuid.uuid4().hex[:16]
    with sqlite3.connect(settings.data_dir / "telemetry.db") as db:
        db.execute("INSERT INTO spans VALUES (?, ?, NULL, ?, 'INTERNAL', 'test', 1, 2, 0.0, 'UNSET', NULL, ?, '[]')",
                   [span_id, uuid.uuid4().hex, name, attributes])
    return span_id


def _refuse(constant: str):
    raise AssertionError(f"non-standard JSON constant {constant} in the span store")


@pytest.mark.parametrize("value,stored", [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")])
def test_non_finite_attributes_are_stored_as_strict_json(settings, value, stored):
    name = f"nonfinite-{uuid.uuid4().hex[:8]}"
    with tracer().start_as_current_span(name, kind=SpanKind.INTERNAL,
                                        attributes={"x.value": value, "x.list": [1.0, value]}) as span:
        span.add_event("e", {"x.event": value})
    attributes, events = _raw_rows(settings, name)[0]
    with sqlite3.connect(":memory:") as db:  # SQLite's own JSON parser is the strict reader here
        assert db.execute("SELECT json_valid(?) AND json_valid(?)", [attributes, events]).fetchone()[0] == 1
    assert json.loads(attributes)["x.value"] == stored and json.loads(attributes)["x.list"] == [1.0, stored]
    assert json.loads(events)[0]["attributes"]["x.event"] == stored
    json.loads(attributes, parse_constant=_refuse)  # a strict reader (no NaN / Infinity constants) reads it
    assert query_spans(name=name)[0]["attributes"]["x.value"] == stored


def test_json_text_never_writes_nan():
    text = json_text({"a": math.nan, "b": {"c": (math.inf, 2)}, "d": "NaN"})
    assert json.loads(text) == {"a": "NaN", "b": {"c": ["Infinity", 2]}, "d": "NaN"}


def test_deletion_and_queries_work_over_a_poisoned_row(settings):
    """A row holding a bare NaN (what a NaN temperature once left behind) breaks no query and no deletion."""
    user = uuid.uuid4().hex
    poisoned = _insert_raw(settings, f'{{"gen_ai.request.temperature": NaN, "user.hash": "{user}", '
                                     '"gen_ai.input.messages": "secret"}')
    garbage = _insert_raw(settings, f'{{"user.hash": "{user}", "gen_ai.input.messages": "secret"')  # cut off
    with sqlite3.connect(settings.data_dir / "telemetry.db") as db:
        with pytest.raises(sqlite3.OperationalError, match="malformed JSON"):  # what broke deletion before
            db.execute("SELECT json_extract(attributes, '$.x') FROM spans WHERE span_id = ?", [poisoned]).fetchall()
    with genai_span("chat", "mock/assistant", extra={"user.hash": user, "gen_ai.input.messages": "hello"}):
        pass
    with genai_span("chat", "mock/assistant", extra={"user.hash": "someone-else", "gen_ai.input.messages": "keep"}):
        pass

    assert len(query_spans(attribute=("user.hash", user), limit=50)) == 1, "the valid row matches, no error"
    assert remove_span_attributes(["gen_ai.input.messages"], ("user.hash", user)) == 3
    rows = {s["span_id"]: s for s in query_spans(limit=50)}
    assert rows[poisoned]["attributes"] == {"gen_ai.request.temperature": "NaN", "user.hash": user}
    assert rows[garbage]["attributes"] == {}, "an unreadable row holding the user's value keeps nothing"
    mine = query_spans(attribute=("user.hash", user), limit=50)
    assert mine and all("gen_ai.input.messages" not in s["attributes"] for s in mine)
    other = query_spans(attribute=("user.hash", "someone-else"), limit=50)
    assert other[0]["attributes"]["gen_ai.input.messages"] == "keep"
    assert remove_span_attributes(["gen_ai.input.messages"], ("user.hash", user)) == 0, "nothing left to remove"


def test_cost_sits_in_the_projects_namespace_not_gen_ai_usage():
    name = "chat mock/cost-check"
    with genai_span("chat", "mock/cost-check") as (_span, result):
        result.input_tokens, result.output_tokens, result.cost_usd = 10, 2, 0.25
    attrs = query_spans(name=name, limit=1)[0]["attributes"]
    assert attrs[COST_ATTRIBUTE] == 0.25 and not COST_ATTRIBUTE.startswith("gen_ai.")
    assert {k for k in attrs if k.startswith("gen_ai.usage.")} == {"gen_ai.usage.input_tokens",
                                                                     "gen_ai.usage.output_tokens"}


def test_invoke_agent_spans_opened_directly_name_their_provider():
    name = f"invoke_agent planner-{uuid.uuid4().hex[:6]}"
    with tracer().start_as_current_span(name, attributes={"gen_ai.operation.name": "invoke_agent",
                                                          "gen_ai.request.model": "openai/mock/agent"}):
        pass
    with tracer().start_as_current_span("not genai", attributes={"gen_ai.request.model": "mock/x"}):
        pass
    assert query_spans(name=name, limit=1)[0]["attributes"]["gen_ai.provider.name"] == "openai"
    assert "gen_ai.provider.name" not in query_spans(name="not genai", limit=1)[0]["attributes"]
    with tracer().start_as_current_span("invoke_agent told", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "mock/agent"}):
        pass
    assert query_spans(name="invoke_agent told", limit=1)[0]["attributes"]["gen_ai.provider.name"] == "anthropic"
