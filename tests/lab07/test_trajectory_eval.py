"""Trajectory eval: the LCS alignment against brute force, each metric on runs whose flaw we know,
the reference fixture against the task suite, and the /runs/{id}/score route."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.lab07_agents import trajectory_eval as te
from labs.lab07_agents.suite import load_tasks, run_task, task_by_id
from shared.llm import Model

TOOLS = st.lists(st.sampled_from("abcd"), max_size=7)


@pytest.fixture(scope="module", autouse=True)
def warm_model():
    """Load the model layer once before any run: a cold import must not eat a run's deadline."""
    Model.from_settings().warm()


def brute_lcs(a: list[str], b: list[str]) -> int:
    """The definition: the longest subsequence of a that is also a subsequence of b."""
    def is_sub(x, y):
        it = iter(y)
        return all(c in it for c in x)

    return max((k for k in range(len(a) + 1) for sub in itertools.combinations(a, k) if is_sub(sub, b)), default=0)


@settings(max_examples=40, deadline=None)
@given(TOOLS, TOOLS)
def test_lcs_alignment_is_a_longest_common_subsequence(a, b):
    pairs = te.lcs_pairs(a, b)
    assert len(pairs) == brute_lcs(a, b)
    assert all(a[i] == b[j] for i, j in pairs)
    assert all(i1 < i2 and j1 < j2 for (i1, j1), (i2, j2) in itertools.pairwise(pairs))


@settings(max_examples=40, deadline=None)
@given(TOOLS, TOOLS)
def test_metrics_against_their_definitions(a, r):
    s = te.score([{"tool": t, "args": {}} for t in a], [{"tool": t, "args": {}} for t in r])
    common = sum((Counter(a) & Counter(r)).values())
    assert s["exact"] == float(a == r)
    assert s["any_order"] == float(all(a.count(t) >= r.count(t) for t in set(r)))
    assert s["in_order"] == float(brute_lcs(r, a) == len(r))
    if a and r:
        assert s["precision"] == common / len(a) and s["recall"] == common / len(r)
    assert s["failed"] + s["redundant"] + s["off_path"] == len(a) - brute_lcs(a, r)
    assert all(0 <= s[k] <= 1 for k in te.METRICS)


def test_redundant_failed_and_off_path_are_told_apart():
    ref = [{"tool": "search_flights", "args": {"origin": "LON"}}, {"tool": "hold_flight", "args": {"flight_id": "F1"}}]
    actual = [{"tool": "search_flights", "args": {"origin": "LON"}, "ok": True},
              {"tool": "search_flights", "args": {"origin": "LON"}, "ok": True},   # done already: redundant
              {"tool": "search_flight", "args": {}, "ok": False},                  # hallucinated: failed
              {"tool": "get_policy", "args": {"topic": "pets"}, "ok": True},        # the wrong tool: off path
              {"tool": "hold_flight", "args": {"flight_id": "F2"}, "ok": True}]     # right tool, wrong flight
    s = te.score(actual, ref)
    assert (s["failed"], s["redundant"], s["off_path"]) == (1, 1, 1)
    assert s["in_order"] == 1.0 and s["exact"] == 0.0 and s["efficiency"] == 2 / 5 and s["args_ok"] == 0.5
    assert s["first_divergence"] == 1


def test_generated_ids_are_compared_by_count():
    assert te.fixed_args({"customer_id": "C01", "hold_ids": ["HF0003", "HH0001"], "payment_id": "PY7"}) == \
        {"customer_id": "C01", "hold_ids": 2, "payment_id": 1}


def test_every_task_has_a_reference_that_starts_with_a_look():
    refs, tasks = te.load_references(), load_tasks()
    assert set(refs) == {t["id"] for t in tasks}
    assert all(refs[t["id"]][0]["tool"].startswith(("search_", "get_")) for t in tasks)
    assert [c["tool"] for c in refs["cancel-05"]] == ["get_booking"]  # not C01's booking: look, then stop


def test_outcome_and_trajectory_disagree_where_the_chapter_says(tmp_path):
    clean = run_task(task_by_id("book-13"), "tool_loop", tmp_path / "a")
    s = te.score_run("book-13", clean["run"].trajectory)
    assert clean["success"] and s["exact"] == 1.0 and s["args_ok"] == 1.0
    # ReWOO plans blind: its trajectory contains the reference, in order, and the outcome is wrong
    blind = run_task(task_by_id("cancel-05"), "rewoo", tmp_path / "b")
    s = te.score_run("cancel-05", blind["run"].trajectory)
    assert not blind["success"] and s["in_order"] == 1.0 and s["off_path"] == 1 and s["precision"] == 0.5


def test_score_route(shared_client):
    client = shared_client
    r = client.post("/runs", json={"id": "score-me", "task": "book-01", "pattern": "react", "wait": True})
    assert r.json()["status"] == "completed"
    out = client.get("/runs/score-me/score").json()
    assert out["trajectory"]["exact"] == 1.0 and out["trajectory"]["actual"] == ["search_flights", "hold_flight",
                                                                                    "pay", "book"]
    assert client.get("/runs/no-such-run/score").status_code == 404
    adhoc = client.post("/runs", json={"id": "adhoc-run", "task": "Look up the pets policy.", "wait": True}).json()
    missing = client.get(f"/runs/{adhoc['id']}/score")
    assert missing.status_code == 404 and "reference" in json.dumps(missing.json())
