"""What the stored data says: metrics on /metrics, cache and reasoning tokens on spans, the redacting
processor, the latency breakdown, drift, and streams that break after they started."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from opentelemetry.trace import SpanKind

from labs.lab09_gateway.app import create_app
from labs.lab09_gateway.redaction import redactor
from shared.config import get_settings
from shared.telemetry import query_spans, tracer

ADMIN = {"authorization": "Bearer sk-lab09-admin"}
ACME = {"authorization": "Bearer sk-lab09-acme"}


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _chat(client, content, **extra):
    headers = {**ACME, **extra.pop("headers", {})}
    return client.post("/v1/chat/completions", headers=headers,
                       json={"model": extra.pop("model", "assistant"), "messages": [{"role": "user", "content": content}],
                             **extra})


def test_golden_signal_and_genai_metrics_are_exported(client):
    _chat(client, "What is 2 + 2?", headers={"x-feature": "faq", "x-prompt-version": "v3"})
    with client.stream("POST", "/v1/chat/completions", headers={**ACME, "x-mock-tpot-ms": "2"},
                       json={"model": "assistant", "stream": True,
                             "messages": [{"role": "user", "content": "Summarize: tokens arrive one by one here."}]}) as r:
        "".join(r.iter_text())
    text = client.get("/metrics").text
    for name in ("gen_ai_client_token_usage", "gen_ai_client_operation_duration",
                 "gen_ai_client_operation_time_to_first_chunk", "gen_ai_client_operation_time_per_output_chunk",
                 "gateway_requests", "gateway_request_duration", "gateway_cost", "gateway_inflight"):
        assert name in text, name
    assert 'tenant="acme"' in text and 'prompt_version="v3"' in text


def test_cache_read_and_reasoning_tokens_reach_the_span_and_the_price(client):
    long_prompt = "Summarize this policy. " + "Every refund needs a receipt and an order number. " * 150
    _chat(client, long_prompt)
    second = _chat(client, long_prompt)
    assert second.json()["usage"]["prompt_tokens_details"]["cached_tokens"] > 0
    row = client.get("/calls?limit=1", headers=ADMIN).json()[0]
    spans = [s for s in query_spans(trace_id=row["trace_id"]) if s["kind"] == "CLIENT"]
    assert spans[0]["attributes"]["gen_ai.usage.cache_read.input_tokens"] == row["cached_tokens"] > 0
    first = client.get("/calls?limit=2", headers=ADMIN).json()[1]
    assert row["cost_usd"] < first["cost_usd"], "cached prompt tokens are billed at the cached price"
    _chat(client, "What is 17 * 23?", model="reasoning", reasoning_effort="high")
    row = client.get("/calls?limit=1", headers=ADMIN).json()[0]
    span = [s for s in query_spans(trace_id=row["trace_id"]) if s["kind"] == "CLIENT"][0]
    assert span["attributes"]["gen_ai.usage.reasoning.output_tokens"] == row["reasoning_tokens"] > 100


def test_redacting_processor_cleans_every_span_before_export(settings):
    create_app(settings)
    before = redactor().redacted_spans
    with tracer().start_as_current_span("leaky", kind=SpanKind.INTERNAL,
                                        attributes={"note": "reach me at bob@example.org"}) as span:
        span.add_event("retry", {"detail": "card 4111-1111-1111-1111 declined"})
        span.set_attribute("user.phone", "+1 415 555 0134")
    stored = query_spans(name="leaky", limit=1)[0]
    dumped = json.dumps(stored)
    assert "bob@example.org" not in dumped and "4111-1111" not in dumped and "555 0134" not in dumped
    assert stored["attributes"]["note"] == "reach me at [EMAIL]"
    assert stored["events"][0]["attributes"]["detail"] == "card [CARD] declined"
    assert redactor().redacted_spans == before + 1


def test_latency_breakdown_separates_ttft_and_decode(client):
    for _ in range(3):
        with client.stream("POST", "/v1/chat/completions",
                           headers={**ACME, "x-mock-ttft-ms": "60", "x-mock-tpot-ms": "10"},
                           json={"model": "assistant", "stream": True, "messages": [
                               {"role": "user", "content": "Summarize: a gateway relays chunks as they arrive."}]}) as r:
            "".join(r.iter_text())
    out = client.get("/analysis/latency").json()["models"]["assistant"]
    assert out["median_stages_ms"]["ttft"] >= 60
    assert out["median_stages_ms"]["decode"] >= 10
    assert out["time_per_output_chunk_ms"]["p50"] >= 5
    for row in client.get("/calls?limit=3", headers=ADMIN).json():
        assert row["latency_ms"] >= row["queue_ms"] + row["ttft_ms"] + row["decode_ms"]


def test_drift_endpoint_sees_a_topic_shift(client):
    app = client.app
    lab = app.state.lab09
    for _ in range(12):
        _chat(client, "Where is my invoice refund for the last payment?")
    lab.log.flush()
    lab.store.execute("UPDATE calls SET ts = ts - 3600")
    for _ in range(6):
        _chat(client, "Weather for my flight to Tokyo and a hotel in Paris?")
    out = client.get("/analysis/drift?reference_s=86400&current_s=600").json()
    assert out["features"]["topic"]["reference"] == {"billing": 12}
    assert out["features"]["topic"]["current"] == {"travel": 6}
    assert out["drifted"] and out["features"]["topic"]["kl"] > 1


@pytest.mark.parametrize("upstream", ["litellm", "http"])
def test_a_stream_cut_off_upstream_ends_with_an_error_event(request, tmp_path, upstream):
    settings = get_settings(data_dir=tmp_path / "data")
    model = "assistant"
    if upstream == "http":
        settings = get_settings(data_dir=tmp_path / "data", llm_api_base=f"{request.getfixturevalue('live_mock')}/v1")
        model = "assistant-http"
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        with c.stream("POST", "/v1/chat/completions", headers={**ACME, "x-mock-truncate-rate": "1"},
                      json={"model": model, "stream": True, "messages": [
                          {"role": "user", "content": "Summarize: streams can break half-way through a long answer."}]}) as r:
            body = "".join(r.iter_text())
        assert r.status_code == 200 and '"error"' in body and "data: [DONE]" not in body
        row = c.get("/calls?limit=1", headers=ADMIN).json()[0]
        assert row["status"] == 502 and row["error_class"] == "provider" and row["error_type"]
        span = [s for s in query_spans(trace_id=row["trace_id"]) if s["kind"] == "CLIENT"][0]
        assert span["attributes"]["error.type"]


def test_unreachable_upstream_is_a_502(tmp_path):
    settings = get_settings(data_dir=tmp_path / "data", llm_api_base="http://127.0.0.1:9/v1")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        r = _chat(c, "hi", model="assistant-http")
        assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_error"
        e = c.post("/v1/embeddings", headers=ACME, json={"model": "embedding-http", "input": "hi"})
        assert e.status_code == 502


def test_embeddings_on_both_paths(client, live_mock, tmp_path):
    direct = client.post("/v1/embeddings", headers=ACME, json={"model": "embedding", "input": ["a b c"], "dimensions": 16})
    settings = get_settings(data_dir=tmp_path / "http", llm_api_base=f"{live_mock}/v1")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        via_http = c.post("/v1/embeddings", headers=ACME,
                          json={"model": "embedding-http", "input": ["a b c"], "dimensions": 16})
        assert c.get("/calls?limit=1", headers=ADMIN).json()[0]["path"] == "http"
    a, b = direct.json()["data"][0]["embedding"], via_http.json()["data"][0]["embedding"]
    assert len(a) == 16 and a == pytest.approx(b)
