"""The HTTP surface: runs, trajectories, approvals, 4xx for bad input, backpressure, breakers, ledger."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from labs.lab07_agents.app import create_app


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        assert c.app.state.warmup.wait(120), "the model layer did not load"  # a caller waits for /readyz
        yield c


def test_not_ready_until_the_model_layer_and_workers_are_up(settings):
    """/readyz is 503 while start-up work runs, then 200 with each step's detail."""
    app = create_app(settings)
    gate = threading.Event()
    slow = app.state.warmup.steps["model"]
    app.state.warmup.steps["model"] = lambda: gate.wait(30) and slow()
    with TestClient(app, raise_server_exceptions=False) as c:
        cold = c.get("/readyz")
        assert cold.status_code == 503 and "warming up" in cold.text
        gate.set()
        assert app.state.warmup.wait(60)
        warm = c.get("/readyz").json()
        assert warm["status"] == "ready" and warm["checks"]["model"]["detail"] == "mock/assistant"


def test_run_to_completion_with_its_trajectory(client):
    r = client.post("/runs", json={"task": "book-01", "pattern": "react", "wait": True})
    assert r.status_code == 202
    run = client.get(f"/runs/{r.json()['id']}").json()
    assert run["status"] == "completed" and run["answer"].startswith("Booked")
    tool_steps = [s for s in run["trajectory"] if s["kind"] == "tool"]
    assert [s["tool"] for s in tool_steps] == ["search_flights", "hold_flight", "pay", "book"]
    assert all({"thought", "args", "result", "latency_s", "cost_usd"} <= set(s) for s in tool_steps)
    assert run["trace_id"] and len(run["trace_id"]) == 32
    assert client.get("/ledger").json()["violations"] == []


def test_approval_flow_and_conflicts(client):
    run = client.post("/runs", json={"task": "cancel-02", "wait": True}).json()
    assert run["status"] == "waiting_approval" and run["pending"]["tool"] == "cancel_booking"
    done = client.post(f"/runs/{run['id']}/approve?wait=true").json()
    assert done["status"] == "completed"
    again = client.post(f"/runs/{run['id']}/reject")
    assert again.status_code == 409 and again.json()["error"]["type"] == "not_waiting"


def test_reject_compensates(client):
    run = client.post("/runs", json={"task": "book-14", "wait": True}).json()
    assert run["pending"]["tool"] == "pay"
    done = client.post(f"/runs/{run['id']}/reject?wait=true").json()
    assert done["status"] == "compensated" and len(done["compensated"]) == 2


@pytest.mark.parametrize("body", [
    {"task": "book-01", "pattern": "swarm"}, {"task": "book-01", "budget": {"max_steps": -1}},
    {"task": "book-01", "budget": {"max_cost_usd": -0.5}}, {"task": ""}, {"task": "book-01", "deadline_s": 0},
    {"task": "book-01", "faults": {"tool_error_rate": 2}}])
def test_bad_run_requests_are_422(client, body):
    r = client.post("/runs", json=body)
    assert r.status_code == 422 and "error" in r.json()


def test_unknown_things_are_404(client):
    assert client.post("/runs", json={"task": "book-99"}).status_code == 404
    assert client.get("/runs/0123456789ab").status_code == 404
    assert client.post("/runs/0123456789ab/approve").status_code == 404
    assert client.get("/runs/Not An Id").status_code == 422


def test_client_chosen_id_is_used_once(client):
    assert client.post("/runs", json={"id": "my-run", "task": "policy-01", "wait": True}).json()["id"] == "my-run"
    again = client.post("/runs", json={"id": "my-run", "task": "policy-01"})
    assert again.status_code == 409 and again.json()["error"]["type"] == "run_exists"


def test_queue_full_is_429_with_retry_after(client):
    manager = client.app.state.manager
    manager.stop()  # no worker takes runs off the queue now
    for t in manager._threads:
        t.join(timeout=2)
    codes = [client.post("/runs", json={"task": "policy-01"}).status_code for _ in range(manager.queue.maxsize + 1)]
    assert codes[:-1] == [202] * manager.queue.maxsize
    last = client.post("/runs", json={"task": "policy-01"})
    assert last.status_code == 429 and last.headers["retry-after"] == "1"


def test_tools_breakers_patterns_tasks(client):
    tools = {t["name"]: t for t in client.get("/tools").json()}
    assert tools["pay"]["compensated_by"] == "refund" and tools["search_flights"]["side_effect"] is False
    client.post("/runs", json={"task": "policy-01", "wait": True})
    assert any(b["name"].startswith("model:") for b in client.get("/breakers").json())
    assert len(client.get("/tasks").json()) >= 30
    assert "rewoo" in client.get("/patterns").json()


def test_adhoc_task_text_runs(client):
    run = client.post("/runs", json={"task": "Look up the pets policy for customer C02.", "wait": True}).json()
    assert run["status"] == "completed" and "8 kg" in run["answer"]


def test_a_decision_refused_for_a_full_queue_is_not_recorded(client):
    manager = client.app.state.manager
    run = client.post("/runs", json={"task": "cancel-02", "wait": True}).json()
    assert run["status"] == "waiting_approval"
    manager.stop()
    for t in manager._threads:
        t.join(timeout=2)
    while not manager.queue.full():
        client.post("/runs", json={"task": "policy-01"})
    r = client.post(f"/runs/{run['id']}/approve")
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    after = client.get(f"/runs/{run['id']}").json()
    assert after["status"] == "waiting_approval" and "approved" not in after["pending"], "the client can retry"


def test_breakers_per_tool_and_per_model_over_http(client):
    client.post("/runs", json={"task": "book-01", "wait": True})
    breakers = {b["name"]: b for b in client.get("/breakers").json()}
    assert {"tool:search_flights", "tool:hold_flight", "tool:pay", "tool:book", "model:mock/agent"} <= set(breakers)
    assert all(b["state"] == "closed" and {"failures", "threshold", "opened"} <= set(b) for b in breakers.values())


def test_tot_over_http(client):
    run = client.post("/runs", json={"task": "policy-02", "pattern": "tot", "wait": True}).json()
    assert run["model"] == "mock/agent_tot" and run["status"] == "completed", run["reason"]
    search = [s for s in run["trajectory"] if s["kind"] == "search"]
    assert search and all({"candidates", "chosen"} <= set(s) for s in search)
    assert "tot" in client.get("/patterns").json()


def test_a_run_refused_with_429_is_not_kept(client):
    manager = client.app.state.manager
    manager.stop()
    for t in manager._threads:
        t.join(timeout=2)
    manager.queue.full = lambda: False  # lose the race: the slot is taken between the check and the put
    while client.post("/runs", json={"task": "policy-01"}).status_code == 202:
        pass
    assert client.post("/runs", json={"id": "late-run", "task": "policy-01"}).status_code == 429
    assert client.get("/runs/late-run").status_code == 404, "a refused run leaves nothing behind"
    assert client.post("/runs", json={"id": "late-run", "task": "policy-01"}).status_code == 429, "not a 409"
