"""The tool zoo: the mock's tool choice is softmax(similarity / T) (checked against scipy), near-duplicates
lower accuracy, and namespacing restores it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import chisquare

from labs.lab07_agents import mock_agent
from labs.lab07_agents.suite import run_task, task_by_id
from labs.lab07_agents.tool_zoo import MAX_TOOLS, ZooToolBox, display_name, offered, selection_accuracy
from labs.lab07_agents.trajectory_eval import calls_of
from labs.lab07_agents.world import World
from shared.llm import Model
from shared.mockllm.embeddings import embed_text
from shared.mockllm.engine import MockRequest


@pytest.fixture(scope="module", autouse=True)
def warm_model():
    Model.from_settings().warm()


def _request(schemas, seed, T=0.05):
    return MockRequest.from_openai({"model": "agent", "tools": schemas, "mock": {"seed": seed, "choice_temperature": T},
                                    "messages": [{"role": "user", "content": "Task: Look up the pets policy."}]})


def test_choice_frequencies_follow_the_softmax_of_similarities(tmp_path):
    box = ZooToolBox(World(tmp_path / "w.db"), offered(task_by_id("policy-01"), 50))
    schemas = [s for s in box.schemas() if "polic" in s["function"]["name"]]  # the near-duplicates of get_policy
    names = [s["function"]["name"] for s in schemas]
    q = np.array(embed_text("get_policy " + mock_agent.NEEDS["get_policy"]))
    s = np.array([embed_text(f"{f['function']['name']} {f['function']['description']}") for f in schemas]) @ q
    p = softmax(s / 0.05)
    picks = [mock_agent.choose_tool(_request(schemas, seed), "get_policy") for seed in range(600)]
    observed = np.array([picks.count(n) for n in names])
    assert p[names.index("get_policy")] == p.max() < 0.99  # right most often, not always
    keep = p * 600 >= 5  # rare options pooled into one bin, as a chi-square test needs
    f_exp, f_obs = p[keep] * 600, observed[keep]
    if (~keep).any():
        f_exp, f_obs = np.append(f_exp, max(p[~keep].sum() * 600, 1e-9)), np.append(f_obs, observed[~keep].sum())
    assert chisquare(f_obs, f_exp * f_obs.sum() / f_exp.sum()).pvalue > 0.001


def test_distinct_tools_are_never_confused_and_temperature_zero_is_exact():
    schemas = [{"type": "function", "function": {"name": n, "description": t}} for n, t in
               (("search_flights", "Search flights"), ("get_policy", "Look up a travel policy"), ("pay", "Charge"))]
    assert {mock_agent.choose_tool(_request(schemas, seed, T=0.02), "get_policy") for seed in range(50)} == {"get_policy"}
    assert mock_agent.choose_tool(_request(schemas, 1, T=0.0), "pay") == "pay"
    assert mock_agent.choose_tool(_request(schemas, 1), "book") is None  # not offered: the agent says so


def test_offered_sizes_and_names():
    task = task_by_id("book-13")
    assert len(offered(task, 5)) == 6 and len(offered(task, MAX_TOOLS)) == 49  # never fewer than its own tools
    entries = offered(task, MAX_TOOLS)
    flat = {display_name(e, entries, False) for e in entries}
    assert "search_flights" in flat and "search_flights_legacy" in flat and len(flat) == len(entries)
    assert {display_name(e, entries, True) for e in entries} >= {"booking__pay", "billing__pay", "legacy__pay"}
    assert selection_accuracy(["get_policy_hr", "get_policy"], ["get_policy"]) == (1, 2)


def test_namespacing_recovers_what_the_flat_zoo_loses(tmp_path):
    """Chance of the right call for every step of the suite's tasks with 50 tools offered, flat vs namespaced."""
    world = World(tmp_path / "w.db")
    right = {False: [], True: []}
    for tid in ("book-13", "book-21", "cancel-01", "policy-01"):
        task = task_by_id(tid)
        for ns in (False, True):
            box = ZooToolBox(world, offered(task, 50), ns)
            system = "ROLE: actor\n" + box.note
            for tool in task["tools"]:
                req = MockRequest.from_openai({"model": "agent", "tools": box.schemas(), "messages": [
                    {"role": "system", "content": system}, {"role": "user", "content": f"Task: {task['text']}"}]})
                names, p = mock_agent.choice_probabilities(req, tool)
                right[ns].append(p[names.index(f"booking__{tool}" if ns else tool)])
    flat, spaced = np.mean(right[False]), np.mean(right[True])
    assert flat < 0.99 and spaced > flat and min(right[True]) > min(right[False]), (flat, spaced)


def test_a_namespaced_run_records_the_tools_it_named(tmp_path):
    task = task_by_id("policy-02")
    r = run_task(task, "tool_loop", tmp_path, toolbox=lambda w: ZooToolBox(w, offered(task, 50), True))
    assert r["success"] and [c["tool"] for c in calls_of(r["run"].trajectory)][-1] == "get_policy"
