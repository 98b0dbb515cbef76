"""Two app instances on one PostgreSQL database (lab-05's budgets and idempotency keys, shared.jobs), and
what a wrong DATABASE_URL does: /readyz 503 with the reason, requests 503, never a local fallback."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from labs.lab05_patterns.app import create_app as lab05_app
from shared import llm
from shared.config import get_settings
from shared.jobs import JobStore, jobs_router
from shared.service import create_service

TEXT = "Summarize: quotas protect shared capacity. Each tenant gets a budget. Budgets reset daily."


def _chat(client, key=None, text=TEXT, tenant="acme"):
    headers = {"x-tenant-id": tenant, **({"idempotency-key": key} if key else {})}
    return client.post("/chat", json={"messages": [{"role": "user", "content": text}], "max_tokens": 20},
                       headers=headers)


@pytest.fixture
def replicas(tmp_path, pg_url):
    """Two lab-05 services, each with its own DATA_DIR, meeting in one PostgreSQL database."""
    apps = [lab05_app(get_settings(data_dir=tmp_path / f"replica{i}", database_url=pg_url)) for i in (1, 2)]
    for app in apps:
        app.state.lab05.gateway.tenants.tenants["acme"].daily_tokens = 200
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        yield a, b


def test_two_instances_cannot_overshoot_a_tenants_day_together(replicas, monkeypatch):
    """One call through each instance, then ten more of ~39 tokens against what is left of a 200-token day,
    spread over both and all in flight together: with a per-process budget each instance would admit
    about 200 (400 in all)."""
    a, b = replicas
    first = [_chat(a), _chat(b)]  # both instances serve (in a burst, which one is admitted first is a race)
    assert [r.status_code for r in first] == [200, 200]
    real = llm.acomplete

    async def slow(messages, **kwargs):
        await asyncio.sleep(0.2)  # every call is in flight when the others are admitted
        return await real(messages, **kwargs)

    monkeypatch.setattr(llm, "acomplete", slow)
    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(lambda i: _chat((a, b)[i % 2]), range(10)))
    codes = [r.status_code for r in replies]
    assert set(codes) == {200, 429}
    assert {r.json()["error"]["type"] for r in replies if r.status_code == 429} == {"quota_exceeded"}
    ua, ub = a.get("/tenants/acme/usage").json(), b.get("/tenants/acme/usage").json()
    assert ua == ub, "both instances read the same ledger"
    assert ua["tokens"] <= 200 and ua["held_in_flight"] == 0 and ua["requests"] == 2 + codes.count(200)


def test_an_idempotency_key_is_honoured_by_the_other_instance(replicas):
    a, b = replicas
    first = _chat(a, key="order-42")
    again = _chat(b, key="order-42")
    assert first.status_code == again.status_code == 200
    assert again.json()["replayed"] and again.json()["text"] == first.json()["text"]
    assert a.get("/tenants/acme/usage").json()["requests"] == 1, "the replay was not billed"


@pytest.mark.parametrize("url,reason", [
    ("postgresql://lab@127.0.0.1:1/labs", "PostgreSQL unavailable"),
    ("postgresql://lab@%zz/labs", "PostgreSQL unavailable"),
    ("mysql://lab@db/labs", "not supported"),
])
def test_a_wrong_database_url_is_a_503_with_the_reason_never_a_500(tmp_path, url, reason):
    settings = get_settings(data_dir=tmp_path / "data", database_url=url)
    with TestClient(lab05_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and reason in ready.json()["error"]["checks"]["store"]["detail"]
        r = _chat(client, tenant="public")
        assert r.status_code == 503 and r.json()["error"]["type"] == "unavailable"
        assert reason in r.json()["error"]["message"] and r.headers["retry-after"]
        assert client.get("/tenants/acme/usage").status_code == 503

    jobs = JobStore(tmp_path / "jobs.db", url=url)  # every lab's jobs: the same answer
    app = create_service("jobs", lab="jobs", settings=settings, readiness={"jobs_db": jobs.store.ping})
    app.include_router(jobs_router(jobs))
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 503 and client.get("/jobs").status_code == 503
    assert not [p for p in tmp_path.rglob("*.db") if p.name != "telemetry.db"], "no silent fallback to SQLite"
