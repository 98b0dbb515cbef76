"""Tail sampling in the span pipeline, and who may call the operator routes."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from labs.lab09_gateway import sampling
from labs.lab09_gateway.app import create_app
from shared.telemetry import query_spans

ADMIN = {"authorization": "Bearer sk-lab09-admin"}
ACME = {"authorization": "Bearer sk-lab09-acme"}
GLOBEX = {"authorization": "Bearer sk-lab09-globex"}
MSG = [{"role": "user", "content": "What is 12 * 7?"}]


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _call(client, trace_id: str, **headers):
    return client.post("/v1/chat/completions", json={"model": "assistant", "messages": MSG},
                       headers={**ACME, "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01", **headers})


# --- tail sampling ------------------------------------------------------------------------------

def test_processor_holds_a_trace_until_its_root_ends_then_exports_all_or_none():
    exporter = InMemorySpanExporter()
    tail = sampling.TailSamplingProcessor([SimpleSpanProcessor(exporter)])
    provider = TracerProvider()
    provider.add_span_processor(tail)
    tracer = provider.get_tracer("t")
    live = sampling.LiveSampling(sampling.TailSampler(p=0.0, slow_ms=10_000))

    with tracer.start_as_current_span("root ok") as root:
        tail.watch(root, live)
        with tracer.start_as_current_span("child"):
            pass
        assert exporter.get_finished_spans() == (), "a child must wait for its trace's decision"
    assert exporter.get_finished_spans() == () and live.counts["dropped"] == 1 and live.spans_dropped == 2

    with tracer.start_as_current_span("root error") as root:
        tail.watch(root, live)
        with tracer.start_as_current_span("failed attempt") as child:
            child.set_status(Status(StatusCode.ERROR, "upstream 500"))
        with tracer.start_as_current_span("fallback"):
            pass
    assert [s.name for s in exporter.get_finished_spans()] == ["failed attempt", "fallback", "root error"]
    assert live.stats()["by_reason"]["error"] == 1 and live.stats()["kept_fraction"] == 0.5

    exporter.clear()
    with tracer.start_as_current_span("not a gateway trace"):
        with tracer.start_as_current_span("inner"):
            pass
        assert [s.name for s in exporter.get_finished_spans()] == ["inner"], "unwatched traces pass straight on"


def test_processor_keeps_slow_traces_and_samples_the_rest_by_trace_id():
    exporter = InMemorySpanExporter()
    tail = sampling.TailSamplingProcessor([SimpleSpanProcessor(exporter)])
    provider = TracerProvider()
    provider.add_span_processor(tail)
    tracer = provider.get_tracer("t")
    live = sampling.LiveSampling(sampling.TailSampler(p=0.25, slow_ms=0.0001))
    with tracer.start_as_current_span("slow root") as root:
        tail.watch(root, live)
    assert live.counts["slow"] == 1 and len(exporter.get_finished_spans()) == 1

    live.set_policy(sampling.TailSampler(p=0.25, slow_ms=60_000))
    exporter.clear()
    for _ in range(800):
        with tracer.start_as_current_span("root") as root:
            tail.watch(root, live)
    stats = live.stats()
    assert stats["traces"] == 800 and stats["kept"] == len(exporter.get_finished_spans())
    assert stats["kept_fraction"] == pytest.approx(0.25, abs=0.05)
    for span in exporter.get_finished_spans():  # the same trace id always gets the same answer
        assert sampling.unit_hash(f"{span.context.trace_id:032x}") < 0.25


def test_gateway_drops_fast_ok_traces_and_keeps_every_error_whole(client):
    assert client.put("/admin/sampling", headers=ADMIN, json={"p": 0, "slow_ms": 60_000}).status_code == 200
    ok_id, err_id = uuid.uuid4().hex, uuid.uuid4().hex
    assert _call(client, ok_id).status_code == 200
    assert _call(client, err_id, **{"x-mock-error-status": "503"}).status_code == 502
    assert query_spans(trace_id=ok_id) == [], "a dropped trace reaches no exporter"
    kept = query_spans(trace_id=err_id)
    assert [s["kind"] for s in kept].count("SERVER") == 1 and len(kept) == 3  # server + two failed attempts
    assert all(s["attributes"].get("error.type") for s in kept if s["kind"] == "CLIENT")

    live = client.get("/analysis/sampling").json()["live"]
    assert live["traces"] == 2 and live["kept"] == 1 and live["kept_fraction"] == 0.5
    assert live["by_reason"]["error"] == 1 and live["by_reason"]["dropped"] == 1 and live["spans_dropped"] >= 2

    missing = client.get(f"/traces/{ok_id}")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "trace_not_sampled"
    assert client.get(f"/traces/{err_id}").status_code == 200
    listed = {t["trace_id"] for t in client.get("/traces?limit=50").json()}
    assert err_id in listed and ok_id not in listed
    rows = {r["trace_id"]: r for r in client.get("/calls?limit=5", headers=ADMIN).json()}
    assert rows[ok_id]["kept"] == 0 and rows[err_id]["kept"] == 1, "the call log keeps every call either way"


def test_gateway_keeps_slow_traces_and_streams_whole(client):
    client.put("/admin/sampling", headers=ADMIN, json={"p": 0, "slow_ms": 50})
    slow_id = uuid.uuid4().hex
    with client.stream("POST", "/v1/chat/completions", json={"model": "assistant", "stream": True, "messages": MSG},
                       headers={**ACME, "traceparent": f"00-{slow_id}-00f067aa0ba902b7-01",
                                "x-mock-ttft-ms": "80"}) as r:
        assert "".join(r.iter_text()).endswith("data: [DONE]\n\n")
    spans = query_spans(trace_id=slow_id)
    assert {s["kind"] for s in spans} == {"SERVER", "CLIENT"}
    assert client.get("/analysis/sampling").json()["live"]["by_reason"]["slow"] == 1


def test_kept_fraction_under_traffic_matches_the_policy(client):
    # a key whose token bucket holds the whole burst: acme's (50/s, burst 100) refuses some of 200 calls sent
    # as fast as an idle machine can, and a refused call (429) is a trace the live sampler decides on but
    # never a row of the call log, so the what-if would count fewer
    key = client.post("/admin/keys", headers=ADMIN,
                      json={"tenant": "acme", "budget_usd": 5, "rate_per_s": 1000, "burst": 1000}).json()["key"]
    client.put("/admin/sampling", headers=ADMIN, json={"p": 0.3, "slow_ms": 60_000})
    sent = client.post("/traffic", headers=ADMIN, json={"n": 200, "error_rate": 0.1, "key": key}).json()
    assert set(sent["statuses"]) <= {"200", "502"}, sent
    out = client.get("/analysis/sampling").json()
    live = out["live"]
    errors = live["by_reason"]["error"]
    assert live["traces"] == out["what_if"]["traces"] == 200 and 5 <= errors <= 40
    rest = live["by_reason"]["sampled"] / (200 - errors)
    assert rest == pytest.approx(0.3, abs=0.1)
    assert out["what_if"]["kept"] == live["kept"], "the what-if over the call log agrees with the live decisions"
    stored = {s["trace_id"] for s in query_spans(name="chat mock/assistant", limit=5000)}
    kept_ids = {r["trace_id"] for r in client.get("/calls?limit=1000", headers=ADMIN).json() if r["kept"]}
    assert kept_ids <= stored and len(kept_ids) == live["kept"]


@pytest.mark.parametrize("body", [{"p": 1.5}, {"p": -0.1}, {"p": 0.5, "slow_ms": 0}, {}, {"p": "x"}])
def test_bad_sampling_policy_is_a_422(client, body):
    r = client.put("/admin/sampling", headers=ADMIN, json=body)
    assert r.status_code == 422 and r.json()["error"]["message"]


def test_bad_sampling_env_fails_at_start(settings, monkeypatch):
    monkeypatch.setenv("LAB09_SAMPLE_RATE", "2")
    with pytest.raises(ValueError, match="LAB09_SAMPLE_RATE"):
        create_app(settings)


# --- the admin key ------------------------------------------------------------------------------

OPERATOR_ROUTES = [("GET", "/admin/keys", None), ("POST", "/admin/keys", {"tenant": "hooli"}),
                   ("GET", "/admin/capture", None), ("PUT", "/admin/capture", {"enabled": True}),
                   ("PUT", "/admin/sampling", {"p": 0.5}), ("DELETE", "/users/u-1/content", None),
                   ("POST", "/replay/some-request", {}), ("POST", "/traffic", {"n": 1})]


@pytest.mark.parametrize("method,path,body", OPERATOR_ROUTES)
def test_operator_routes_need_the_admin_key(client, method, path, body):
    none = client.request(method, path, json=body)
    assert none.status_code == 401 and none.headers["www-authenticate"].startswith("Bearer")
    assert none.json()["error"]["type"] == "missing_admin_key"
    wrong = client.request(method, path, json=body, headers={"authorization": "Bearer sk-not-a-key"})
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "invalid_admin_key"
    tenant = client.request(method, path, json=body, headers=ACME)
    assert tenant.status_code == 403 and tenant.json()["error"]["type"] == "admin_only"
    admin = client.request(method, path, json=body, headers=ADMIN)
    assert admin.status_code in (200, 201, 404), admin.text[:200]  # 404: the replayed call does not exist
    via_header = client.request(method, path, json=body, headers={"x-api-key": "sk-lab09-admin"})
    assert via_header.status_code == admin.status_code


def test_the_admin_key_comes_from_the_environment(settings, monkeypatch):
    monkeypatch.setenv("LAB09_ADMIN_KEY", "sk-ops-" + uuid.uuid4().hex)
    import os

    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        assert c.get("/admin/keys", headers=ADMIN).status_code == 401
        assert c.get("/admin/keys", headers={"authorization": f"Bearer {os.environ['LAB09_ADMIN_KEY']}"}).status_code == 200


def test_a_tenant_sees_only_its_own_calls(client):
    mine = client.post("/v1/chat/completions", headers=ACME, json={"model": "assistant", "messages": MSG})
    theirs = client.post("/v1/chat/completions", headers=GLOBEX, json={"model": "assistant", "messages": MSG})
    assert mine.status_code == theirs.status_code == 200
    acme_rows = client.get("/calls?limit=10", headers=ACME).json()
    assert {r["tenant"] for r in acme_rows} == {"acme"} and len(acme_rows) == 1
    assert len(client.get("/calls?limit=10", headers=ADMIN).json()) == 2
    assert client.get(f"/calls/{theirs.headers['x-request-id']}", headers=ACME).status_code == 404
    assert client.get(f"/calls/{mine.headers['x-request-id']}", headers=ACME).status_code == 200
    assert client.get("/calls").status_code == 401
    # grading: the tenant that made the call, or the admin; never anyone
    fb = {"request_id": theirs.headers["x-request-id"], "score": 0.2}
    assert client.post("/v1/feedback", json=fb).status_code == 401
    assert client.post("/v1/feedback", json=fb, headers=ACME).status_code == 404
    assert client.post("/v1/feedback", json=fb, headers=GLOBEX).status_code == 200
    assert client.post("/v1/feedback", json=fb, headers=ADMIN).status_code == 200
