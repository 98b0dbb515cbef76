"""The gateway end to end: the official openai SDK on both upstream paths, spans, cost, keys and faults."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import openai
import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from labs.lab09_gateway.app import create_app
from labs.lab09_gateway.decorator import trace_llm_call
from shared.config import get_settings
from shared.telemetry import query_spans
from tests.services import serve_in_thread

ADMIN = {"authorization": "Bearer sk-lab09-admin"}
ACME = {"authorization": "Bearer sk-lab09-acme"}
MSG = [{"role": "user", "content": "What is 12 * 7?"}]


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def http_client(tmp_path, live_mock):
    settings = get_settings(data_dir=tmp_path / "data", llm_api_base=f"{live_mock}/v1")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _sdk(c: TestClient) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://testserver/v1", api_key="sk-lab09-acme", http_client=c, max_retries=0)


def _genai_spans(trace_id: str) -> list[dict]:
    return [s for s in query_spans(trace_id=trace_id) if s["attributes"].get("gen_ai.operation.name")]


@pytest.mark.parametrize("model", ["assistant", "assistant-http"])
def test_openai_sdk_unchanged_on_both_paths(request, model):
    c = request.getfixturevalue("client" if model == "assistant" else "http_client")
    sdk = _sdk(c)
    resp = sdk.chat.completions.create(model=model, messages=MSG, extra_headers={"x-feature": "faq"})
    assert resp.choices[0].message.content == "84" and resp.usage.prompt_tokens > 0
    parts = [ch.choices[0].delta.content for ch in sdk.chat.completions.create(
        model=model, messages=MSG, stream=True) if ch.choices and ch.choices[0].delta.content]
    assert "".join(parts) == "84"
    rows = c.get("/calls?limit=2", headers=ADMIN).json()
    assert {r["path"] for r in rows} == {"http" if model.endswith("http") else "litellm"}
    assert all(r["cost_usd"] > 0 and r["input_tokens"] > 0 for r in rows)


def test_span_is_a_child_of_the_callers_trace_with_genai_attributes(client):
    trace_id = uuid.uuid4().hex
    headers = {**ACME, "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01", "x-prompt-version": "v7"}
    r = client.post("/v1/chat/completions", headers=headers,
                    json={"model": "reasoning", "reasoning_effort": "low", "messages": MSG})
    assert r.status_code == 200
    spans = query_spans(trace_id=trace_id)
    server = [s for s in spans if s["kind"] == "SERVER"]
    genai = _genai_spans(trace_id)
    assert server and server[0]["parent_id"] == "00f067aa0ba902b7"
    assert genai[0]["parent_id"] == server[0]["span_id"]
    a = genai[0]["attributes"]
    assert a["gen_ai.provider.name"] == "mock" and a["gen_ai.request.model"] == "mock/reasoning"
    assert a["gen_ai.usage.reasoning.output_tokens"] > 0 and a["gen_ai.response.finish_reasons"] == ["stop"]
    assert server[0]["attributes"]["gateway.prompt_version"] == "v7"


def test_streaming_span_carries_time_to_first_chunk(client):
    trace_id = uuid.uuid4().hex
    with client.stream("POST", "/v1/chat/completions", headers={**ACME, "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
                                                                 "x-mock-ttft-ms": "40", "x-mock-tpot-ms": "5"},
                       json={"model": "assistant", "stream": True, "messages": MSG}) as r:
        body = "".join(r.iter_text())
    assert body.endswith("data: [DONE]\n\n") and '"usage"' not in body
    a = _genai_spans(trace_id)[0]["attributes"]
    assert a["gen_ai.response.time_to_first_chunk"] >= 0.04 and a["gen_ai.usage.output_tokens"] == 1
    row = client.get("/calls?limit=1", headers=ADMIN).json()[0]
    assert row["stream"] == 1 and row["ttft_ms"] >= 40


def test_fallback_attempts_are_visible_in_spans(client):
    trace_id = uuid.uuid4().hex
    r = client.post("/v1/chat/completions", headers={**ACME, "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
                    json={"model": "resilient", "messages": MSG})
    assert r.status_code == 200 and r.headers["x-gateway-attempts"] == "3"
    spans = sorted(_genai_spans(trace_id), key=lambda s: s["start_ns"])
    assert [s["attributes"].get("error.type") is not None for s in spans] == [True, True, False]
    assert spans[-1]["attributes"]["gateway.fallback"] is True


@pytest.mark.parametrize("status,expected", [(429, 429), (500, 502), (503, 502)])
def test_upstream_faults_are_clear_errors_with_error_type(client, status, expected):
    r = client.post("/v1/chat/completions", headers={**ACME, "x-mock-error-status": str(status)},
                    json={"model": "assistant", "messages": MSG})
    assert r.status_code == expected and "error" in r.json()
    if status == 429:
        assert int(r.headers["retry-after"]) >= 1
    row = client.get("/calls?limit=1", headers=ADMIN).json()[0]
    assert row["error_class"] == "provider" and row["error_type"]
    spans = _genai_spans(row["trace_id"])
    assert spans and all(s["attributes"].get("error.type") for s in spans)


def test_upstream_timeout_is_a_504_without_hanging(http_client):
    http_client.app.state.lab09.gateway.router.timeout_s = 0.5
    start = time.monotonic()
    r = http_client.post("/v1/chat/completions", headers={**ACME, "x-mock-hang": "1"},
                         json={"model": "assistant-http", "messages": MSG})
    assert r.status_code == 504 and time.monotonic() - start < 20, "cut at the 0.5 s upstream timeout, not left hanging"


@pytest.mark.parametrize("body,headers,status", [
    (b'{"model": ', {}, 400),
    (json.dumps({"model": "assistant", "messages": []}).encode(), {}, 422),
    (json.dumps({"model": "nope", "messages": MSG}).encode(), {}, 404),
    (json.dumps({"model": "assistant", "messages": MSG}).encode(), {"authorization": "Bearer sk-wrong"}, 401),
    (json.dumps({"model": "assistant", "messages": MSG}).encode(), {"authorization": ""}, 401),
    (b'{"model": "assistant", "messages": [{"role": "user", "content": "' + b"x" * 1_100_000 + b'"}]}', {}, 413),
])
def test_bad_input_is_a_clear_4xx(client, body, headers, status):
    r = client.post("/v1/chat/completions", content=body,
                    headers={**ACME, "content-type": "application/json", **headers})
    assert r.status_code == status, r.text[:200]
    assert r.json()["error"]["message"]


def test_budget_and_rate_limit(client):
    ok = client.post("/v1/chat/completions", headers={"authorization": "Bearer sk-lab09-globex"},
                     json={"model": "assistant", "messages": MSG})
    refused = client.post("/v1/chat/completions", headers={"authorization": "Bearer sk-lab09-globex"},
                          json={"model": "assistant", "messages": MSG})
    assert ok.status_code == 200 and refused.status_code == 403
    slow = client.post("/admin/keys", headers=ADMIN, json={"tenant": "initech", "rate_per_s": 0.001, "burst": 2}).json()["key"]
    statuses = [client.post("/v1/chat/completions", headers={"authorization": f"Bearer {slow}"},
                            json={"model": "assistant", "messages": MSG}) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert int(statuses[-1].headers["retry-after"]) > 900, "one token per 1,000 s: wait most of that"
    client.post("/v1/chat/completions", headers={"authorization": "Bearer sk-wrong"}, json={"model": "assistant",
                                                                                          "messages": MSG})
    # a refusal counts under the tenant whose key was refused (a throttled tenant shows as itself);
    # only a key the gateway does not know counts as "unknown"
    refusals = [line for line in client.get("/metrics").text.splitlines()
                if line.startswith("gateway_requests") and 'status_class="4xx"' in line]
    for tenant in ("globex", "initech", "unknown"):
        assert any(f'tenant="{tenant}"' in line for line in refusals), (tenant, refusals)


def test_cost_attribution_and_bounded_labels(client):
    for i in range(25):
        client.post("/v1/chat/completions", headers={**ACME, "x-feature": f"f{i}", "x-user-id": f"user-{i}"},
                    json={"model": "assistant", "messages": MSG})
    groups = {g["name"]: g for g in client.get("/analysis/cost?by=feature").json()["groups"]}
    assert len(groups) == 21 and groups["other"]["calls"] == 5
    metrics = client.get("/metrics").text
    assert "gateway_cost" in metrics and "user-3" not in metrics
    spent = {k["key_id"]: k["spent_usd"] for k in client.get("/admin/keys", headers=ADMIN).json()}
    total = client.get("/analysis/cost?by=key_id").json()["groups"][0]["cost_usd"]
    assert spent["key_acme_demo"] == pytest.approx(total, rel=1e-6)


def test_capture_redacts_and_deletion_removes_content(client):
    client.put("/admin/capture", headers=ADMIN, json={"enabled": True})
    secret = "mail ada@example.com card 4111 1111 1111 1111"
    r = client.post("/v1/chat/completions", headers={**ACME, "x-user-id": "u-1"},
                    json={"model": "assistant", "messages": [{"role": "user", "content": f"Summarize: {secret}"}]})
    rid = r.headers["x-request-id"]
    call = client.get(f"/calls/{rid}", headers=ADMIN).json()
    stored = json.dumps(call["content"])
    assert "ada@example.com" not in stored and "[EMAIL]" in stored and "[CARD]" in stored
    span_text = json.dumps(query_spans(trace_id=call["trace_id"]))
    assert "ada@example.com" not in span_text and "4111 1111" not in span_text and "[EMAIL]" in span_text
    open_view = json.dumps(client.get(f"/traces/{call['trace_id']}").json())
    assert "gen_ai.usage.input_tokens" in open_view and "gen_ai.input.messages" not in open_view
    assert "[EMAIL]" in json.dumps(client.get(f"/traces/{call['trace_id']}", headers=ADMIN).json())
    assert "gen_ai.input.messages" not in json.dumps(client.get("/dashboard/data").json()["traces"])
    out = client.delete("/users/u-1/content", headers=ADMIN).json()
    assert out["contents_removed"] == 1 and out["spans_scrubbed"] >= 1
    assert client.get(f"/calls/{rid}", headers=ADMIN).json()["content"] is None
    assert "gen_ai.input.messages" not in json.dumps(query_spans(trace_id=call["trace_id"]))


def test_replay_diffs_against_the_stored_answer(client):
    client.put("/admin/capture", headers=ADMIN, json={"enabled": True})
    r = client.post("/v1/chat/completions", headers=ACME, json={"model": "assistant", "messages": MSG})
    rid = r.headers["x-request-id"]
    same = client.post(f"/replay/{rid}", headers=ADMIN, json={}).json()
    assert same["same"] and same["similarity"] == 1.0
    changed = client.post(f"/replay/{rid}", headers=ADMIN, json={"system": "Answer in uppercase words.", "prompt_version": "v2"}).json()
    assert changed["prompt_version"] == "v2" and "stored" in changed
    client.put("/admin/capture", headers=ADMIN, json={"enabled": False})
    r = client.post("/v1/chat/completions", headers=ACME, json={"model": "assistant", "messages": MSG})
    assert client.post(f"/replay/{r.headers['x-request-id']}", headers=ADMIN, json={}).status_code == 409


def test_slo_burns_when_the_provider_fails(client):
    client.post("/traffic", headers=ADMIN, json={"n": 20, "error_rate": 0.5})
    out = client.get("/slo").json()
    avail = next(s for s in out["slos"] if s["name"] == "availability")
    assert avail["bad"] > 0 and avail["burn_rates"]["5m"] > 14.4
    assert {"slo": "availability", "alert": "page-fast", "severity": "page"} in out["firing"]


def test_decorator_records_usage_and_errors():
    from shared.llm import litellm_module

    @trace_llm_call
    def ask(model: str):
        return litellm_module().completion(model=model, messages=MSG)

    @trace_llm_call
    async def aask(model: str):
        return await litellm_module().acompletion(model=model, messages=MSG)

    ask(model="mock/assistant")
    asyncio.run(aask(model="mock/reasoning"))
    span = query_spans(name="chat mock/assistant", limit=1)[0]
    assert span["attributes"]["gen_ai.usage.output_tokens"] == 1
    with pytest.raises(ValueError):
        trace_llm_call(lambda model: (_ for _ in ()).throw(ValueError("boom")))(model="mock/broken")
    failed = query_spans(name="chat mock/broken", limit=1)[0]
    assert failed["attributes"]["error.type"] == "ValueError" and failed["status"] == "ERROR"


@pytest.fixture
def served_gateway(tmp_path):
    """The gateway on a real socket (a client disconnect needs one)."""
    app = create_app(get_settings(data_dir=tmp_path / "data"))
    with serve_in_thread(app) as base:
        yield base, app


def test_client_disconnect_mid_stream_closes_the_span_with_usage_so_far(served_gateway):
    base, app = served_gateway
    trace_id = uuid.uuid4().hex
    headers = {**ACME, "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01", "x-mock-tpot-ms": "200"}
    body = {"model": "assistant", "stream": True,
            "messages": [{"role": "user", "content": "Summarize: " + "the gateway relays every chunk. " * 20}]}
    with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, headers=headers, timeout=10) as r:
        assert r.status_code == 200
        next(r.iter_lines())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        spans = _genai_spans(trace_id)
        if spans:
            break
        time.sleep(0.1)
    a = spans[0]["attributes"]
    assert a["error.type"] == "client_disconnect" and a["gen_ai.usage.output_tokens"] >= 1
    row = app.state.lab09.log.recent(1)[0]
    assert row["disconnected"] == 1 and row["output_tokens"] >= 1


@pytest.mark.parametrize("model", ["assistant", "assistant-http"])
def test_streams_are_relayed_chunk_by_chunk_not_buffered(tmp_path, live_mock, model):
    """Over a real socket: the first chunk reaches the client while the upstream is still producing."""
    settings = get_settings(data_dir=tmp_path / "data", llm_api_base=f"{live_mock}/v1")
    with serve_in_thread(create_app(settings)) as base:
        body = {"model": model, "stream": True,
                "messages": [{"role": "user", "content": "Summarize: " + "the gateway relays every chunk. " * 20}]}
        httpx.post(f"{base}/v1/chat/completions", json={**body, "stream": False}, headers=ACME, timeout=30)  # warm
        arrivals = []
        trace_id = uuid.uuid4().hex
        start = time.monotonic()
        with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=30,
                          headers={**ACME, "x-mock-tpot-ms": "60",
                                   "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("data: {") and '"content"' in line:
                    arrivals.append(time.monotonic() - start)
    assert len(arrivals) >= 8
    # 60 ms between upstream chunks: a buffering proxy would deliver them all at once at the end
    assert arrivals[-1] - arrivals[0] >= 0.06 * (len(arrivals) - 1) * 0.7
    assert arrivals[0] < arrivals[-1] - 0.3
    # the streaming span ends at the last chunk, not when the response starts
    span = _genai_spans(trace_id)[0]
    assert span["duration_ms"] >= (arrivals[-1] - arrivals[0]) * 1000 * 0.9
    assert span["attributes"]["gen_ai.response.time_to_first_chunk"] * 1000 < span["duration_ms"] / 2


def test_content_is_not_captured_by_default(client):
    assert client.get("/admin/capture", headers=ADMIN).json()["enabled"] is False
    r = client.post("/v1/chat/completions", headers={**ACME, "x-user-id": "u-9"},
                    json={"model": "assistant", "messages": [{"role": "user", "content": "Summarize: mail ada@example.com"}]})
    call = client.get(f"/calls/{r.headers['x-request-id']}", headers=ADMIN).json()
    assert call["content"] is None
    spans = json.dumps(query_spans(trace_id=call["trace_id"]))
    assert spans != "[]" and "gen_ai.input.messages" not in spans and "ada@example.com" not in spans


def test_a_long_repetitive_stream_is_relayed_whole_on_the_litellm_path(client):
    """Regression: LiteLLM's loop check cut a stream after 100 identical chunks (a summary echoing
    "data data ...") and the gateway answered 502 MidStreamFallbackError mid-stream."""
    prompt = "Summarize: " + "data " * 130
    with client.stream("POST", "/v1/chat/completions", headers={**ACME, "x-mock-ttft-ms": "1", "x-mock-tpot-ms": "0"},
                       json={"model": "assistant", "stream": True, "messages": [{"role": "user", "content": prompt}]}) as r:
        body = "".join(r.iter_text())
    assert r.status_code == 200 and body.endswith("data: [DONE]\n\n") and "error" not in body
    text = "".join((json.loads(line[6:])["choices"] or [{}])[0].get("delta", {}).get("content") or ""
                   for line in body.splitlines() if line.startswith("data: {"))
    assert text.count("data") >= 120


def _raw_utf8_upstream(pieces: list[bytes], linger_s: float = 0.0):
    """An OpenAI-compatible upstream that writes its stream as raw UTF-8 JSON (as pydantic's model_dump_json
    does), CRLF line ends, in the given pieces, each its own write a little apart; it ends the response
    `linger_s` after the last piece."""
    from fastapi import FastAPI
    from starlette.responses import StreamingResponse

    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def chat() -> StreamingResponse:
        async def body():
            for piece in pieces:
                yield piece
                await asyncio.sleep(0.02)
            await asyncio.sleep(linger_s)
        return StreamingResponse(body(), media_type="text/event-stream")

    return app


def test_a_stream_whose_json_holds_raw_line_separators_is_relayed_whole(tmp_path):
    """Regression: the relay split upstream lines like str.splitlines, so a token holding U+2028, U+2029 or
    U+0085 (written raw by an upstream that emits UTF-8 JSON) cut its chunk in two halves that did not parse,
    and the text was silently lost. SSE ends a line at CRLF, LF or CR only (sse.py)."""
    tokens = ["line\u2028sep", " para\u2029sep", " next\x85line", " caf\u00e9"]
    events = [{"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "assistant",
               "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]} for t in tokens]
    events.append({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "assistant",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "assistant", "choices": [],
                   "usage": {"prompt_tokens": 9, "completion_tokens": 8, "total_tokens": 17}})
    wire = "".join(f"data: {json.dumps(e, ensure_ascii=False)}\r\n\r\n" for e in events).encode() + b"data: [DONE]\r\n\r\n"
    cafe = wire.index("caf\u00e9".encode()) + 4  # inside the two bytes of the e-acute
    crlf = wire.index(b"\r\n") + 1  # between the CR and the LF of the first line end
    pieces = [wire[:crlf], wire[crlf:cafe], wire[cafe:]]
    with serve_in_thread(_raw_utf8_upstream(pieces)) as upstream:
        settings = get_settings(data_dir=tmp_path / "data", llm_api_base=f"{upstream}/v1")
        with TestClient(create_app(settings), raise_server_exceptions=False) as c:
            parts = [ch.choices[0].delta.content for ch in _sdk(c).chat.completions.create(
                model="assistant-http", messages=MSG, stream=True) if ch.choices and ch.choices[0].delta.content]
            assert "".join(parts) == "".join(tokens)
            row = c.get("/calls?limit=1", headers=ADMIN).json()[0]
    assert row["status"] == 200 and row["output_tokens"] == 8 and row["path"] == "http"


def test_a_client_that_closes_at_done_has_a_complete_call_not_a_disconnect(tmp_path):
    """Regression: many clients close the connection as soon as they read [DONE]. If that landed before the
    upstream's response had ended, the relay was cancelled and a complete stream was recorded as a client
    disconnect: an error span (which the tail sampler always keeps), error_type client_disconnect, no content
    captured. The upstream here waits 0.5 s after [DONE], so the close always lands first."""
    chunk = {"id": "c2", "object": "chat.completion.chunk", "created": 1, "model": "assistant",
             "choices": [{"index": 0, "delta": {"content": "whole"}, "finish_reason": "stop"}]}
    usage = {**chunk, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}
    wire = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode()
    with serve_in_thread(_raw_utf8_upstream([wire], linger_s=0.5)) as upstream:
        settings = get_settings(data_dir=tmp_path / "data", llm_api_base=f"{upstream}/v1")
        with serve_in_thread(create_app(settings)) as base:
            httpx.put(f"{base}/admin/capture", headers=ADMIN, json={"enabled": True})
            trace_id = uuid.uuid4().hex
            with httpx.stream("POST", f"{base}/v1/chat/completions", timeout=30,
                              headers={**ACME, "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
                              json={"model": "assistant-http", "stream": True, "messages": MSG}) as r:
                for line in r.iter_lines():
                    if line == "data: [DONE]":
                        break  # and close, with the upstream still open behind the gateway
            time.sleep(1.0)  # the upstream ends its response; the gateway settles the call
            row = httpx.get(f"{base}/calls?limit=1", headers=ADMIN).json()[0]
            call = httpx.get(f"{base}/calls/{row['request_id']}", headers=ADMIN).json()
    assert row["disconnected"] == 0 and row["error_type"] is None and row["status"] == 200, row
    assert row["output_tokens"] == 1 and call["content"] is not None
    span = _genai_spans(trace_id)[0]
    assert "error.type" not in span["attributes"] and span["status"] != "ERROR"


@pytest.fixture(scope="module")
def garbage_upstream():
    """An OpenAI-compatible upstream that answers 200 with well-formed JSON of the wrong shape; the prompt
    picks which."""
    from fastapi import FastAPI
    from starlette.responses import JSONResponse, StreamingResponse

    answers = {"list": [], "number": 5, "choices": {"choices": ["x"]},
               "usage": {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": "many"}},
               "parts": {"choices": [{"message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
                                      "finish_reason": "stop"}]}}
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        case = body["messages"][0]["content"]
        if body.get("stream"):
            async def events():
                yield f"data: {json.dumps(answers[case])}\n\n"
                yield "data: [DONE]\n\n"
            return StreamingResponse(events(), media_type="text/event-stream")
        return JSONResponse(answers[case])

    with serve_in_thread(app) as base:
        yield base


# (a stream's data line holding JSON that is not an object is dropped, not an error: test_sse.py)
@pytest.mark.parametrize("case,stream", [("list", False), ("number", False), ("choices", False), ("usage", False),
                                         ("choices", True), ("usage", True)])
def test_an_upstream_answer_of_the_wrong_shape_is_a_502_the_providers_not_a_500(tmp_path, garbage_upstream, case,
                                                                                  stream):
    """Regression: a 200 whose JSON was not the shape of a chat completion ([] or {"choices": ["x"]}) raised
    inside the gateway and came out as a 500, the gateway's own error in its tri-class accounting."""
    settings = get_settings(data_dir=tmp_path / "data", llm_api_base=f"{garbage_upstream}/v1")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        r = c.post("/v1/chat/completions", headers=ACME, json={
            "model": "assistant-http", "stream": stream, "messages": [{"role": "user", "content": case}]})
        error = r.json()["error"]
        assert r.status_code == 502 and error["type"] == "upstream_error", r.text[:300]
        assert "not an object" in error["message"] or "cannot read" in error["message"]
        row = c.get("/calls?limit=1", headers=ADMIN).json()[0]
    assert row["status"] == 502 and row["error_class"] == "provider" and row["error_type"] == "invalid_response"


def test_an_answer_whose_content_is_a_list_of_parts_is_relayed_and_captured_as_its_text(tmp_path, garbage_upstream):
    """Content as a list of parts is valid in the OpenAI format; the captured text joined it as strings (a 500)."""
    settings = get_settings(data_dir=tmp_path / "data", llm_api_base=f"{garbage_upstream}/v1")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        c.put("/admin/capture", headers=ADMIN, json={"enabled": True})
        r = c.post("/v1/chat/completions", headers=ACME,
                   json={"model": "assistant-http", "messages": [{"role": "user", "content": "parts"}]})
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"][0]["text"] == "hi"
        call = c.get(f"/calls/{r.headers['x-request-id']}", headers=ADMIN).json()
    assert call["content"]["response"] == "hi"
