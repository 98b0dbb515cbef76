"""The production checklist: the running service passes it, and every item fails on a config that breaks it."""

from __future__ import annotations

import pytest
from opentelemetry.trace import NoOpTracer

from labs.lab07_agents import checklist
from labs.lab07_agents.app import RunIn
from labs.lab07_agents.checklist import AgentConfig, audit, running_config
from labs.lab07_agents.checkpoint import RUNS_SCHEMA
from labs.lab07_agents.manager import RunManager
from shared.resilience import Breakers
from shared.store import Store

ITEMS = ["step_budget", "token_budget", "cost_budget", "wall_time", "loop_guards", "breakers_per_tool",
         "idempotency_keys", "approval_for_irreversible", "retries", "checkpointing", "injection_defenses",
         "tracing", "backpressure"]


@pytest.fixture
def manager(tmp_path, world) -> RunManager:
    return RunManager(world, Store(tmp_path / "runs.db", migrations=[RUNS_SCHEMA]), Breakers(threshold=5, cooldown_s=5))


@pytest.fixture
def good(manager) -> dict:
    return running_config(manager, RunIn.model_construct()).model_dump()


def failed(config: dict | AgentConfig) -> set[str]:
    cfg = config if isinstance(config, AgentConfig) else AgentConfig.model_validate(config)
    return {i.id for i in audit(cfg) if not i.ok}


def tool(cfg: dict, name: str) -> dict:
    return next(t for t in cfg["tools"] if t["name"] == name)


def test_the_running_service_passes_every_item(shared_client):
    r = shared_client.get("/checklist")
    assert r.status_code == 200
    body = r.json()
    assert [i["id"] for i in body["items"]] == ITEMS
    assert body["failed"] == 0 and body["passed"] == len(ITEMS), [i for i in body["items"] if not i["ok"]]
    assert all(i["evidence"] for i in body["items"])
    # its configuration, submitted back, is judged the same
    again = shared_client.post("/checklist", json=body["config"]).json()
    assert again["source"] == "submitted" and again["failed"] == 0


def test_an_empty_config_fails_every_item(shared_client):
    body = shared_client.post("/checklist", json={}).json()
    assert body["passed"] == 0 and {i["id"] for i in body["items"] if not i["ok"]} == set(ITEMS)


VIOLATIONS = {
    "step_budget": lambda c: c["budget"].update(max_steps=None),
    "token_budget": lambda c: c["budget"].update(max_tokens=None),
    "cost_budget": lambda c: c["budget"].update(max_cost_usd=None),
    "wall_time": lambda c: c.update(deadline_s=None),
    "loop_guards": lambda c: c["budget"].update(repeat_limit=None),
    "breakers_per_tool": lambda c: tool(c, "pay").update(breaker=False),
    "idempotency_keys": lambda c: tool(c, "pay").update(idempotency_key=False),
    "approval_for_irreversible": lambda c: tool(c, "cancel_booking").update(approval="never"),
    "retries": lambda c: c["retry"].update(only_retry_safe=False),
    "checkpointing": lambda c: c["checkpoint"].update(every="run"),
    "injection_defenses": lambda c: c["defenses"].update(spotlight=False),
    "tracing": lambda c: c["tracing"].update(per_step=False),
    "backpressure": lambda c: c.update(queue_size=None),
}


@pytest.mark.parametrize("item", ITEMS)
def test_each_item_fails_on_a_config_that_violates_it_and_only_it(good, item):
    assert failed(good) == set()
    VIOLATIONS[item](good)
    assert failed(good) == {item}


@pytest.mark.parametrize("change, why", [
    (lambda c: c["retry"].update(attempts=50), "attempts 50 > 10"),
    (lambda c: c["retry"].update(jitter="none"), "jitter is none"),
    (lambda c: c["retry"].update(attempts=1), "no retries"),
    (lambda c: c["breakers"].update(cooldown_s=None), "breakers.cooldown_s not set"),
    (lambda c: tool(c, "hold_flight").update(compensated_by="undo_everything"), "compensation is not a tool"),
    (lambda c: tool(c, "hold_flight").update(compensated_by=None), "irreversible, no approval: hold_flight"),
])
def test_the_evidence_names_what_is_wrong(good, change, why):
    change(good)
    bad = [i for i in audit(AgentConfig.model_validate(good)) if not i.ok]
    assert len(bad) == 1 and why in bad[0].evidence


def test_a_commit_or_a_compensation_needs_no_approval_but_an_action_does(good):
    tool(good, "book").update(approval="never")
    assert failed(good) == set()  # book ends a saga whose charge already passed pay's approval rule
    tool(good, "book").update(role="action")
    assert failed(good) == {"approval_for_irreversible"}


def test_the_running_config_is_probed_not_copied(manager, monkeypatch):
    """Turn things off in the live objects and the audit sees it."""
    no_approval = RunIn.model_construct()
    no_approval.defenses.approval = False  # the runtime then pauses for no one: cancel_booking is ungated
    assert failed(running_config(manager, no_approval)) == {"approval_for_irreversible", "injection_defenses"}

    def down():
        raise ConnectionError("runs database is down")

    monkeypatch.setattr(manager.runs, "ping", down)
    monkeypatch.setattr(checklist, "tracer", NoOpTracer)
    assert failed(running_config(manager, RunIn.model_construct())) == {"checkpointing", "tracing"}


def test_bad_configs_are_422(shared_client):
    for body in [{"budget": {"max_steps": 0}}, {"queue_size": -1}, {"tools": [{"name": "a b"}]},
                 {"retry": {"jitter": "some"}}, {"surprise": True}, {"tools": [{"name": "t"}] * 101}]:
        r = shared_client.post("/checklist", json=body)
        assert r.status_code == 422, body
