"""Proof under faults: 30% model and tool failures plus latency spikes, over the whole task suite.

Every run ends (completed, compensated, stopped by a guard, or failed after retries: never hung),
no partial booking or unbooked charge remains, no payment is duplicated, breakers open and recover.
"""

from __future__ import annotations

import time

import pytest

from labs.lab07_agents.guards import Budget
from labs.lab07_agents.runtime import TERMINAL
from labs.lab07_agents.suite import AGENT_MODEL, load_tasks, pass_hat_k, run_task
from labs.lab07_agents.tools import ToolFaults
from shared.resilience import Breakers

FAULTS = {"error_rate": 0.3, "latency_ms": 1, "bad_tool_rate": 0.1}


def _faulty(seed: int) -> ToolFaults:
    return ToolFaults(error_rate=0.3, spike_rate=0.1, spike_ms=40, seed=seed)


@pytest.mark.parametrize("pattern", ["tool_loop", "rewoo"])
def test_every_run_ends_clean_under_30_percent_faults(tmp_path, pattern):
    registry = Breakers(threshold=5, cooldown_s=0.05)
    results = []
    for i, task in enumerate(load_tasks()):
        start = time.monotonic()
        r = run_task(task, pattern, tmp_path / f"{task['id']}", mock=FAULTS, faults=_faulty(i), registry=registry,
                     deadline_s=10)
        assert time.monotonic() - start < 15, "a run outlived its deadline"
        assert r["status"] in TERMINAL, r["status"]
        assert r["violations"] == [], (task["id"], r["violations"])
        charges = [p["ref"] for p in r["world"].ledger() if p["kind"] == "charge"]
        assert len(charges) == len(set(charges)), "a payment was duplicated"
        results.append(r)
    rate = sum(r["success"] for r in results) / len(results)
    assert rate >= 0.6, f"success {rate:.2f} under faults"
    assert sum(r["counts"]["retries"] for r in results) > 0


def test_tot_under_30_percent_faults_ends_clean(tmp_path):
    """ToT makes ~3x the model calls, so more runs fail on the model; none may leave a mess behind."""
    registry = Breakers(threshold=5, cooldown_s=0.05)
    for i, task in enumerate(load_tasks()[::3]):
        r = run_task(task, "tot", tmp_path / task["id"], mock=FAULTS, faults=_faulty(i), registry=registry,
                     deadline_s=10)
        assert r["status"] in TERMINAL and r["violations"] == [], (task["id"], r["status"], r["violations"])
        charges = [p["ref"] for p in r["world"].ledger() if p["kind"] == "charge"]
        assert len(charges) == len(set(charges)), "a payment was duplicated"


def test_pass_hat_k_over_repeated_runs(tmp_path):
    """pass^k over k=3 runs of a few tasks under faults is at most pass^1 (it only falls with k)."""
    tasks = load_tasks()[::6]
    per_task = []
    for task in tasks:
        passes = sum(run_task(task, "tool_loop", tmp_path / f"{task['id']}-{s}", mock=FAULTS,
                              faults=_faulty(100 + s), deadline_s=10)["success"] for s in range(3))
        per_task.append(passes)
    p1 = sum(pass_hat_k(3, c, 1) for c in per_task) / len(tasks)
    p3 = sum(pass_hat_k(3, c, 3) for c in per_task) / len(tasks)
    assert 0 <= p3 <= p1 <= 1 and p1 > 0


def test_breaker_opens_in_an_outage_and_recovers(tmp_path):
    registry = Breakers(threshold=3, cooldown_s=0.2)
    task = load_tasks()[0]
    outage = run_task(task, "tool_loop", tmp_path / "down", registry=registry, deadline_s=5,
                      faults=ToolFaults(error_rate=1.0, only={"search_flights"}))
    breaker = registry.breaker("tool:search_flights")
    assert breaker.state == "open" and outage["status"] in TERMINAL and not outage["success"]
    assert any("BreakerOpen" in str(s.get("result")) for s in outage["run"].trajectory)
    time.sleep(0.25)
    healed = run_task(task, "tool_loop", tmp_path / "up", registry=registry, deadline_s=5)
    assert healed["success"] and breaker.state == "closed"
    assert ("open", "half_open") in breaker.transitions and ("half_open", "closed") in breaker.transitions


def test_model_breaker_opens_when_the_model_is_down(tmp_path):
    registry = Breakers(threshold=2, cooldown_s=60)
    r = run_task(load_tasks()[0], "tool_loop", tmp_path / "m", registry=registry, mock={"error_rate": 1.0},
                 budget=Budget(), deadline_s=5)
    assert r["status"] == "failed" and r["reason"].startswith("model_unavailable")
    assert registry.breaker(f"model:{AGENT_MODEL}").state == "open"
