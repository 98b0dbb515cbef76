"""Tree of Thoughts: candidates parsed and valued, the search beats its own proposer, budgets hold mid-step."""

from __future__ import annotations

import json

import pytest

import labs.lab07_agents.mock_plugin  # noqa: F401  (registers the behaviours these tests call)
from labs.lab07_agents import suite
from labs.lab07_agents.guards import Budget
from labs.lab07_agents.patterns import PATTERNS
from labs.lab07_agents.suite import judge, load_tasks, run_task, task_by_id
from labs.lab07_agents.tot import PRUNE, VALUES, TreeOfThoughts, heuristic_value, parse_candidates
from shared.mockllm.engine import MockEngine, MockRequest

TRIP = task_by_id("book-13")


@pytest.fixture
def variants(monkeypatch):
    """The proposer alone (greedy) and the search with the model-free value, as extra patterns."""
    for name, pattern in {"tot_greedy": TreeOfThoughts(1, "none"), "tot_heuristic": TreeOfThoughts(3, "heuristic")}.items():
        monkeypatch.setitem(PATTERNS, name, pattern)
        monkeypatch.setitem(suite.MOCK_BEHAVIOURS, name, "agent_tot")


def test_parse_candidates_dedupes_caps_and_falls_back_to_react():
    text = json.dumps({"candidates": [
        {"thought": "a", "tool": "get_policy", "args": {"topic": "pets"}},
        {"thought": "same call again", "tool": "get_policy", "args": {"topic": "pets"}},
        {"thought": "b", "tool": "get_policy", "args": '{"topic": "refund"}'},
        "junk", {"thought": "no tool"}, {"final": "done"}]})
    got = parse_candidates("```json\n" + text + "\n```", k=3)
    assert [c.get("args", c.get("final")) for c in got] == [{"topic": "pets"}, {"topic": "refund"}, "done"]
    assert parse_candidates(text, k=1) == [{"thought": "a", "tool": "get_policy", "args": {"topic": "pets"}}]
    react = parse_candidates('Thought: x\nAction: get_policy\nAction Input: {"topic": "pets"}', k=3)
    assert react == [{"thought": "", "tool": "get_policy", "args": {"topic": "pets"}}]
    assert parse_candidates("Thought: x\nFinal Answer: no", k=3) == [{"thought": "", "final": "no"}]
    assert parse_candidates("I am not sure", k=3) == []


def test_heuristic_value_catches_only_what_is_checkable(make_runtime):
    rt = make_runtime()
    st = rt.create(TRIP, "tot", "mock/agent_tot", Budget(), 10)
    ok = {"tool": "search_flights", "args": {"origin": "LON", "destination": "NYC", "date": "2026-05-02"}}
    assert heuristic_value(rt, st, ok) == VALUES["likely"], "a wrong date is not checkable without a model"
    assert heuristic_value(rt, st, {"tool": "teleport", "args": {}}) == PRUNE
    assert heuristic_value(rt, st, {"tool": "search_flights", "args": {"origin": "London"}}) == PRUNE
    st.seen.append('search_flights{"date": "2026-05-02", "destination": "NYC", "origin": "LON"}')
    assert heuristic_value(rt, st, ok) == PRUNE, "a call that already succeeded is no progress"
    assert heuristic_value(rt, st, {"final": "Booked."}) == VALUES["likely"]
    st.saga.append(["pay", {}, "k"])
    assert heuristic_value(rt, st, {"final": "Booked."}) == PRUNE, "finishing with uncommitted side effects"


def test_mock_proposer_and_evaluator():
    def ask(role: str, user: str, seed: int, **mock):
        body = {"model": "agent_tot", "seed": seed, "mock": mock, "messages": [
            {"role": "system", "content": f"ROLE: {role}. Propose up to 3 candidate next steps."},
            {"role": "user", "content": "Task: Book the cheapest flight from LON to NYC on 2026-05-01 for customer C01."},
            *([{"role": "user", "content": user}] if user else [])]}
        return MockEngine().complete(MockRequest.from_openai(body))["choices"][0]["message"]["content"]

    right = {"origin": "LON", "destination": "NYC", "date": "2026-05-01"}
    firsts = [json.loads(ask("proposer", "", s))["candidates"][0]["args"] == right for s in range(200)]
    assert 0.5 < sum(firsts) / 200 < 0.7, "the right step comes first with p = 0.6"
    assert all(right in [c["args"] for c in json.loads(ask("proposer", "", s, p=1))["candidates"][:1]] for s in range(5))
    assert all(right not in [c["args"] for c in json.loads(ask("proposer", "", s, p=0))["candidates"]] for s in range(5))
    action = 'Candidate:\nAction: search_flights\nAction Input: {}'
    assert ask("evaluator", action.replace("{}", json.dumps(right)), 0).startswith("Value: sure")
    assert ask("evaluator", action.replace("{}", json.dumps({**right, "date": "2026-05-02"})), 0).startswith(
        "Value: likely")
    assert ask("evaluator", "Candidate:\nFinal Answer: Booked.", 0).startswith("Value: impossible")


def test_tot_trajectory_shows_the_search(make_runtime, world):
    rt = make_runtime()
    st = rt.create(TRIP, "tot", "mock/agent_tot", Budget(), 20, auto_approve=True)
    st = rt.run(st.id)
    assert st.status == "completed" and judge(world, TRIP, st.status)["success"], st.reason
    searches = [s for s in st.trajectory if s["kind"] == "search"]
    tools = [s["tool"] for s in st.trajectory if s["kind"] == "tool"]
    assert tools == ["search_flights", "hold_flight", "search_hotels", "hold_hotel", "pay", "book"]
    assert len(searches) == len(tools) + 1  # one search per step, the last one chose the final answer
    for s in searches:
        chosen = s["candidates"][s["chosen"]]
        assert chosen["value"] == max(c["value"] for c in s["candidates"]) == VALUES["sure"]
    kinds = [s["kind"] for s in st.trajectory if s["kind"] in ("propose", "evaluate")]
    assert len(searches) <= kinds.count("propose") <= 2 * len(searches), "at most `rounds` proposals a step"
    assert kinds.count("evaluate") >= len(searches)
    assert st.counts["model_calls"] == len(kinds)


def test_search_beats_its_own_proposer(tmp_path, variants):
    """Same unreliable proposer (right first w.p. 0.6): choosing by value books what was asked, greedily it does not."""
    tasks = [t for t in load_tasks() if t["id"].startswith("book-")][:12]
    rate = {}
    for name in ("tot", "tot_greedy", "tot_heuristic"):
        runs = [run_task(t, name, tmp_path / name / t["id"]) for t in tasks]
        assert all(r["violations"] == [] for r in runs), "a wrong branch must still leave a clean ledger"
        rate[name] = sum(r["success"] for r in runs) / len(runs)
    assert rate["tot"] >= 10 / 12, rate
    assert rate["tot_greedy"] <= rate["tot"] - 0.3 and rate["tot_heuristic"] < rate["tot"], rate


def test_dead_end_answers_and_undoes(make_runtime, world):
    """p = 0: the right step is never proposed; at `pay` only a premature "Done" is left, valued impossible."""
    rt = make_runtime()
    st = rt.create(task_by_id("book-01"), "tot", "mock/agent_tot", Budget(), 20, mock={"p": 0}, auto_approve=True)
    st = rt.run(st.id)
    assert st.status == "compensated" and "judged impossible" in st.answer
    assert [c["tool"] for c in st.compensated] == ["cancel_hold"] and world.violations() == []


def test_value_calls_stop_at_the_token_budget(make_runtime, world):
    rt = make_runtime()
    st = rt.create(TRIP, "tot", "mock/agent_tot", Budget(max_tokens=6000), 20, auto_approve=True)
    st = rt.run(st.id)
    assert st.status in ("stopped", "compensated") and st.reason.startswith("token_budget"), st.reason
    assert world.violations() == []


def test_no_value_call_starts_once_the_budget_is_spent(make_runtime):
    """One proposal spends the whole budget: the step ends there instead of valuing three candidates."""
    rt = make_runtime()
    st = rt.create(TRIP, "tot", "mock/agent_tot", Budget(max_tokens=300), 20, auto_approve=True)
    assert PATTERNS["tot"].decide(rt, st) == []
    assert st.counts["model_calls"] == 1 and st.tokens >= 300
    roomy = rt.create(TRIP, "tot", "mock/agent_tot", Budget(), 20, auto_approve=True)
    assert PATTERNS["tot"].decide(rt, roomy) != [] and roomy.counts["model_calls"] > 1


def test_bad_settings_are_refused():
    for kwargs in ({"breadth": 0}, {"evaluator": "vibes"}, {"rounds": 0}):
        with pytest.raises(ValueError):
            TreeOfThoughts(**kwargs)
