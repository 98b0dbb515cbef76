"""The supervisor pattern: routing, specialists that see only their tools, and its cost against one agent."""

from __future__ import annotations

import pytest

from labs.lab07_agents.multi_agent import AGENTS
from labs.lab07_agents.suite import run_task, task_by_id
from shared.llm import Model


@pytest.fixture(scope="module", autouse=True)
def warm_model():
    Model.from_settings().warm()  # a cold import must not eat a run's deadline


@pytest.fixture(scope="module")
def trip(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trip")
    return {p: run_task(task_by_id("book-13"), p, tmp / p) for p in ("tool_loop", "supervisor")}


def test_the_supervisor_routes_each_part_to_its_specialist(trip):
    r = trip["supervisor"]
    assert r["success"]
    handoffs = [h["agent"] for h in r["run"].memo["handoffs"]]
    assert handoffs == ["flights", "hotels", "payments"]
    for step in r["run"].trajectory:  # every call a specialist made is one of its own tools
        if step["kind"].startswith("agent:") and step["tool_calls"]:
            assert {c["tool"] for c in step["tool_calls"]} <= set(AGENTS[step["kind"][6:]][1])
    assert sum(s["kind"] == "route" for s in r["run"].trajectory) == len(handoffs) + 1  # + the FINISH


def test_more_calls_but_smaller_calls_than_one_agent(trip):
    single, sup = trip["tool_loop"], trip["supervisor"]
    assert sup["model_calls"] > single["model_calls"]
    assert sup["tokens"] / sup["model_calls"] < single["tokens"] / single["model_calls"]  # fewer schemas per call


def test_a_booking_that_is_not_the_customers_is_refused_through_support(tmp_path):
    r = run_task(task_by_id("cancel-05"), "supervisor", tmp_path)
    assert r["success"] and "does not belong" in r["run"].answer
    assert [h["agent"] for h in r["run"].memo["handoffs"]] == ["support"]


def test_the_mock_supervisor_reads_the_roster():
    from labs.lab07_agents.mock_agent import route
    from shared.mockllm.engine import MockRequest

    req = MockRequest.from_openai({"model": "agent", "messages": [
        {"role": "system", "content": "ROLE: supervisor\nAgents:\n- a: x Tools: get_policy\n- b: y Tools: pay, book"},
        {"role": "user", "content": "Task: Look up the pets policy."}]})
    assert route(req, ("pay", {})) == "NEXT: b" and route(req, ("get_policy", {})) == "NEXT: a"
    assert route(req, "All done.") == "FINISH: All done." and route(req, ("refund", {})).startswith("FINISH: I could not")
