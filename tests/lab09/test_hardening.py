"""Bad input is refused before anything is recorded, the span store survives any row, operator routes
stay operator-only, and the gateway retries what shared.resilience calls transient."""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest
from fastapi.testclient import TestClient

from labs.lab09_gateway.app import create_app
from labs.lab09_gateway.calls import user_hash
from labs.lab09_gateway.gateway import UpstreamError
from shared.config import get_settings
from shared.resilience import TRANSIENT_STATUS, is_transient
from shared.telemetry import COST_ATTRIBUTE, query_spans

ADMIN = {"authorization": "Bearer sk-lab09-admin"}
ACME = {"authorization": "Bearer sk-lab09-acme", "content-type": "application/json"}
MSG = [{"role": "user", "content": "What is 12 * 7?"}]


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _chat_raw(client, body: bytes, **headers):
    return client.post("/v1/chat/completions", content=body, headers={**ACME, **headers})


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_non_finite_temperature_is_a_422_and_records_nothing(client, value):
    trace_id = uuid.uuid4().hex
    r = _chat_raw(client, b'{"model": "assistant", "temperature": ' + value + b', "messages": ' + json.dumps(MSG).encode()
                  + b"}", traceparent=f"00-{trace_id}-00f067aa0ba902b7-01", **{"x-user-id": "u-nan"})
    assert r.status_code == 422 and "temperature" in r.json()["error"]["message"]
    assert client.get("/calls", headers=ADMIN).json() == [], "no call row for a refused body"
    spans = query_spans(trace_id=trace_id)
    assert not [s for s in spans if s["kind"] == "CLIENT"], "no upstream attempt, so no GenAI span"
    assert "NaN" not in json.dumps(spans) and "Infinity" not in json.dumps(spans)
    assert client.delete("/users/u-nan/content", headers=ADMIN).status_code == 200


@pytest.mark.parametrize("body", [
    {"model": "assistant", "top_p": 1.5, "messages": MSG},
    {"model": "assistant", "temperature": -1, "messages": MSG},
    {"model": "assistant", "messages": [{"role": "user", "content": "hi \ud800"}]},
    {"model": "assistant", "messages": MSG, "metadata": {"note": "\udfff"}},
    {"model": "assistant", "messages": [{"role": "robot", "content": "hi"}]},
])
def test_bad_values_anywhere_in_a_chat_body_are_422s(client, body):
    r = _chat_raw(client, json.dumps(body).encode())
    assert r.status_code == 422, r.text[:200]
    assert client.get("/calls", headers=ADMIN).json() == []


def test_fields_the_gateway_does_not_name_are_forwarded(client):
    """The chosen contract of the OpenAI-compatible body: unknown fields pass through to the provider."""
    r = client.post("/v1/chat/completions", headers=ACME,
                    json={"model": "assistant", "messages": MSG, "user": "end-user-7", "logit_bias": {"50256": -100}})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "84"


def test_a_long_context_prompt_is_not_refused_by_a_text_cap(client):
    prompt = "Summarize: " + "the invoice was paid late. " * 8000  # ~216k characters, well under 1 MB
    r = client.post("/v1/chat/completions", headers=ACME, json={"model": "assistant", "messages": [
        {"role": "user", "content": prompt}]})
    assert r.status_code == 200, r.text[:200]


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/v1/feedback", {"request_id": "x", "score": 0.5, "scor": 1}),
    ("PUT", "/admin/sampling", {"p": 0.5, "slowms": 10}),
    ("POST", "/admin/keys", {"tenant": "hooli", "budget": 5}),
    ("POST", "/replay/some-request", {"sytem": "be brief"}),
    ("POST", "/traffic", {"n": 1, "errors": 0.5}),
])
def test_operator_and_feedback_bodies_name_an_unknown_field(client, method, path, body):
    r = client.request(method, path, json=body, headers=ADMIN)
    assert r.status_code == 422, r.text[:200]
    unknown = next(k for k in body if k not in ("request_id", "score", "p", "tenant", "n"))
    assert r.json()["error"]["message"].startswith(f"{unknown}:")


def test_poisoned_span_row_does_not_break_deletion_for_anyone(client, settings):
    """What a NaN temperature used to leave behind: a span row SQLite calls malformed JSON."""
    client.put("/admin/capture", headers=ADMIN, json={"enabled": True})
    r = client.post("/v1/chat/completions", headers={**ACME, "x-user-id": "u-7"},
                    json={"model": "assistant", "messages": [{"role": "user", "content": "Summarize: café ☕ déjà vu"}]})
    assert r.status_code == 200
    uhash = user_hash("u-7", client.app.state.lab09.secret)
    query_spans(limit=1)  # flush the batch so the real spans are stored first
    with sqlite3.connect(settings.data_dir / "telemetry.db") as db:
        db.execute("INSERT INTO spans VALUES (?, ?, NULL, 'chat poisoned', 'CLIENT', 'lab09', 1, 2, 0.0, 'UNSET', "
                   "NULL, ?, '[]')", [uuid.uuid4().hex[:16], uuid.uuid4().hex,
                                      f'{{"gen_ai.request.temperature": NaN, "gateway.user.hash": "{uhash}", '
                                      '"gen_ai.input.messages": "secret"}'])
    for user in ("someone-else", "u-7"):
        out = client.delete(f"/users/{user}/content", headers=ADMIN)
        assert out.status_code == 200, out.text[:300]
    assert out.json()["contents_removed"] == 1 and out.json()["spans_scrubbed"] >= 2
    assert "gen_ai.input.messages" not in json.dumps(query_spans(attribute=("gateway.user.hash", uhash)))
    # and everything that reads the store still answers
    assert client.get("/traces?limit=5").status_code == 200
    assert client.get("/dashboard/data").status_code == 200
    assert client.get("/calls?limit=5", headers=ADMIN).status_code == 200


def test_traffic_is_operator_only_and_bills_nobody_without_the_admin_key(client):
    spent = lambda: {k["key_id"]: k["spent_usd"] for k in client.get("/admin/keys", headers=ADMIN).json()}  # noqa: E731
    before = spent()
    for headers in ({}, {"authorization": "Bearer sk-lab09-acme"}):
        assert client.post("/traffic", json={"n": 5}, headers=headers).status_code in (401, 403)
    assert spent() == before and client.get("/calls", headers=ADMIN).json() == []
    r = client.post("/traffic", json={"n": 2}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["statuses"] == {"200": 2}


@pytest.mark.parametrize("field,value", [("feature", "café"), ("prompt_version", "v2\u2013beta"),
                                         ("key", "sk-lab09-acmé"), ("feature", "a\r\nx-evil: 1"),
                                         ("feature", " padded ")])
def test_traffic_fields_that_become_headers_are_a_422_not_a_500(client, field, value):
    r = client.post("/traffic", json={"n": 1, field: value}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["error"]["message"].startswith(f"{field}:"), r.text[:200]


def test_cost_is_in_the_projects_namespace_on_gateway_spans(client):
    trace_id = uuid.uuid4().hex
    r = client.post("/v1/chat/completions", json={"model": "assistant", "messages": MSG},
                    headers={**ACME, "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert r.status_code == 200
    genai = [s for s in query_spans(trace_id=trace_id) if s["kind"] == "CLIENT"][0]["attributes"]
    assert genai[COST_ATTRIBUTE] == pytest.approx(float(r.headers["x-gateway-cost-usd"]), abs=1e-8)
    assert "gen_ai.usage.cost_usd" not in genai


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504, 529])
def test_the_gateway_retries_exactly_what_shared_resilience_calls_transient(status):
    err = UpstreamError(status, "x", "t")
    assert err.retryable == is_transient(err) == (status in TRANSIENT_STATUS)


def test_the_model_handle_carries_create_apps_settings(settings):
    app = create_app(settings)
    gateway = app.state.lab09.gateway
    assert gateway.model.settings is settings and gateway.router.settings is settings


NUMBER_FIELDS = [("POST", "/v1/feedback", {"request_id": "x", "score": 0.5}, "score"),
                 ("PUT", "/admin/sampling", {"p": 0.5, "slow_ms": 10}, "p"),
                 ("PUT", "/admin/sampling", {"p": 0.5, "slow_ms": 10}, "slow_ms"),
                 ("POST", "/admin/keys", {"tenant": "hooli", "budget_usd": 1, "rate_per_s": 1}, "budget_usd"),
                 ("POST", "/admin/keys", {"tenant": "hooli", "budget_usd": 1, "rate_per_s": 1}, "rate_per_s"),
                 ("POST", "/traffic", {"n": 1, "error_rate": 0, "quality": 0.5}, "error_rate"),
                 ("POST", "/traffic", {"n": 1, "error_rate": 0, "quality": 0.5}, "quality"),
                 ("POST", "/v1/chat/completions", {"model": "assistant", "messages": MSG, "top_p": 1}, "top_p"),
                 ("POST", "/v1/chat/completions", {"model": "assistant", "messages": MSG, "seed": 1}, "seed"),
                 ("POST", "/v1/chat/completions", {"model": "assistant", "messages": MSG, "x_new": 1}, "x_new"),
                 ("POST", "/v1/embeddings", {"model": "embedding", "input": "a", "dimensions": 8}, "dimensions")]


@pytest.fixture(scope="module")
def one_client(tmp_path_factory):
    """One gateway for the many cases below: every one of them must leave it untouched."""
    with TestClient(create_app(get_settings(data_dir=tmp_path_factory.mktemp("data"))),
                    raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("method,path,body,field", NUMBER_FIELDS)
def test_every_number_field_refuses_non_finite_values(one_client, method, path, body, field, constant):
    """Python's JSON reader accepts NaN and Infinity; no body may let one through (forwarded fields included)."""
    raw = json.dumps({**body, field: "__X__"}).replace('"__X__"', constant).encode()
    r = one_client.request(method, path, content=raw, headers={**ACME, **ADMIN} if "/v1/" not in path else ACME)
    assert r.status_code == 422, (path, field, r.status_code, r.text[:200])
    assert one_client.get("/calls", headers=ADMIN).json() == []
