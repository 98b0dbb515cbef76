"""The runtime: patterns, hallucinated calls, human approval, guards, deadlines, saga, spans, kill/resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labs.lab07_agents.checkpoint import RUNS_SCHEMA
from labs.lab07_agents.guards import Budget
from labs.lab07_agents.injection import Defenses
from labs.lab07_agents.patterns import PATTERNS, resolve
from labs.lab07_agents.runtime import Runtime
from labs.lab07_agents.suite import AGENT_MODEL, agent_model, judge, task_by_id
from labs.lab07_agents.tools import ToolBox, ToolFaults
from labs.lab07_agents.world import World
from shared.store import Store
from shared.telemetry import query_spans

REPO = Path(__file__).resolve().parents[2]
TRIP = task_by_id("book-13")  # flight + hotel: six tool calls


def _run(rt: Runtime, task=TRIP, pattern="tool_loop", budget=None, deadline_s=20.0, mock=None, auto=True):
    st = rt.create(task, pattern, agent_model(None, pattern), budget or Budget(), deadline_s, mock, auto_approve=auto)
    return rt.run(st.id)


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_every_pattern_books_the_trip(make_runtime, world, pattern):
    st = _run(make_runtime(), pattern=pattern)
    assert st.status == "completed", st.reason
    assert judge(world, TRIP, st.status)["success"]
    assert st.saga == [] and st.compensated == []


def test_patterns_differ_in_calls_and_tokens(tmp_path):
    numbers = {}
    for pattern in PATTERNS:
        world = World(tmp_path / f"{pattern}.db")
        rt = Runtime(Store(tmp_path / f"{pattern}-runs.db", migrations=[RUNS_SCHEMA]), ToolBox(world))
        st = _run(rt, pattern=pattern)
        numbers[pattern] = (st.counts["model_calls"], st.tokens)
    assert numbers["rewoo"][0] == 2 and numbers["rewoo"][1] < numbers["tool_loop"][1]
    assert numbers["plan_execute"][0] == numbers["tool_loop"][0] + 1
    assert numbers["react"][1] != numbers["tool_loop"][1]


def test_hallucinated_calls_are_answered_counted_and_survived(make_runtime, world):
    st = _run(make_runtime(), mock={"bad_tool_rate": 0.5})
    assert st.counts["hallucinated"] >= 1
    errors = [s["result"]["error"]["code"] for s in st.trajectory if s["kind"] == "tool" and "error" in s["result"]]
    assert set(errors) <= {"unknown_tool", "invalid_arguments"} and errors
    assert st.status == "completed" and judge(world, TRIP, st.status)["success"]


def test_sensitive_call_waits_for_a_human_then_resumes(make_runtime, world):
    rt = make_runtime()
    st = _run(rt, task=task_by_id("book-14"), auto=False)  # 1068 > the 1000 approval limit
    assert st.status == "waiting_approval" and st.pending["tool"] == "pay"
    assert rt.run(st.id).status == "waiting_approval", "a waiting run does not move by itself"
    rt.decide_pending(st.id, approve=True)
    st = rt.run(st.id)
    assert st.status == "completed" and judge(world, task_by_id("book-14"), st.status)["success"]


def test_rejection_undoes_the_saga(make_runtime, world):
    rt = make_runtime()
    st = _run(rt, task=task_by_id("book-14"), auto=False)
    rt.decide_pending(st.id, approve=False)
    st = rt.run(st.id)
    assert st.status == "compensated"
    assert [c["tool"] for c in st.compensated] == ["cancel_hold", "cancel_hold"]
    assert world.violations() == [] and world.outcome()["new_bookings"] == []


@pytest.mark.parametrize(("budget", "reason"), [
    (Budget(max_steps=3), "max_steps"), (Budget(max_cost_usd=0.0002), "max_cost"),
    (Budget(max_tokens=2500), "token_budget"), (Budget(max_wall_s=0.3), "max_wall_time")])
def test_guards_stop_the_run_and_undo_what_it_did(make_runtime, world, budget, reason):
    faults = ToolFaults(latency_ms=60) if reason == "max_wall_time" else None
    st = _run(make_runtime(faults), budget=budget)
    assert st.status == "stopped" and st.reason.startswith(reason), st.reason
    assert world.violations() == [] and world.outcome()["new_bookings"] == []


def test_repeated_action_and_no_progress_guards(make_runtime, world):
    # a tool that always fails: the agent repeats the call until a guard stops it
    rt = make_runtime(ToolFaults(error_rate=1.0, only={"search_flights"}))
    rt.attempts = 1
    st = _run(rt, budget=Budget(repeat_limit=2))
    assert st.reason.startswith("repeated_action")
    st = _run(rt, budget=Budget(repeat_limit=10, patience=2))
    assert st.reason.startswith("no_progress")


def test_deadline_cuts_a_slow_tool_and_the_run_still_ends(make_runtime, world):
    rt = make_runtime(ToolFaults(spike_rate=1.0, spike_ms=5000, only={"pay"}))
    start = time.monotonic()
    st = _run(rt, deadline_s=0.5)
    assert time.monotonic() - start < 4.5, "the 5 s tool spike was cut by the deadline"
    assert st.status in ("stopped", "compensated", "failed") and world.violations() == []


def test_lost_reply_is_retried_with_the_same_key(make_runtime, world):
    rt = make_runtime(ToolFaults(error_rate=0.9, seed=3, only={"pay"}))
    st = _run(rt)
    charges = [p for p in world.ledger() if p["kind"] == "charge" and p["id"].startswith("PY")]
    assert len(charges) <= 1 and world.violations() == []
    assert st.counts["retries"] >= 1


def test_one_trace_with_agent_chat_and_tool_spans(make_runtime):
    st = _run(make_runtime())
    trace_id = f"{st.trace['trace_id']:032x}"
    names = [s["name"] for s in query_spans(trace_id=trace_id, limit=500)]
    assert any(n.startswith("invoke_agent") for n in names)
    assert any(n.startswith("chat ") for n in names)
    assert {"execute_tool search_flights", "execute_tool pay", "execute_tool book"} <= set(names)


def test_rewoo_binds_references():
    evidence = {"E1": {"cheapest": {"flight_id": "F002"}}, "E2": {"hold_id": "HF1"}}
    assert resolve({"f": "#E1.cheapest.flight_id", "h": ["#E2.hold_id"], "n": 2}, evidence) == \
        {"f": "F002", "h": ["HF1"], "n": 2}
    with pytest.raises(KeyError):
        resolve("#E3.hold_id", evidence)


def test_killed_process_resumes_without_repeating_side_effects(tmp_path):
    """A real `kill -9` mid-run; a second process resumes the run from its checkpoint."""
    data = tmp_path / "cli"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "labs.lab07_agents.cli", "run", "--task", "book-13", "--data", str(data),
           "--tool-latency-ms", "250", "--deadline-s", "900"]  # the point is resume, not the wall-time budget
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    run_id = json.loads(proc.stdout.readline())["run_id"]
    world = World(data / "world.db")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and world.store.one("SELECT COUNT(*) AS n FROM holds WHERE id LIKE 'H%' "
                                                          "AND customer_id='C05'")["n"] < 1:
        time.sleep(0.05)
    time.sleep(0.3)  # inside a later step
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    runs = Store(data / "runs.db", migrations=[RUNS_SCHEMA])
    before = json.loads(runs.one("SELECT state FROM runs WHERE id=?", (run_id,))["state"])
    assert before["status"] == "running" and before["step"] >= 1
    done = subprocess.run([*cmd[:3], "resume", "--run", run_id, "--data", str(data)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    verdict = json.loads(done.stdout.strip().splitlines()[-1])
    assert verdict["status"] == "completed" and verdict["success"], done.stdout[-2000:]
    assert world.violations() == []
    assert world.store.one("SELECT COUNT(*) AS n FROM holds WHERE id LIKE 'H%'")["n"] == 2, "no hold repeated"
    assert world.store.one("SELECT COUNT(*) AS n FROM payments WHERE id LIKE 'PY%'")["n"] == 1, "one charge"


def test_defenses_all_still_complete_every_kind_of_task(tmp_path):
    for task_id in ("book-13", "cancel-01", "policy-02", "cancel-05", "book-25"):
        world = World(tmp_path / f"{task_id}.db")
        rt = Runtime(Store(tmp_path / f"{task_id}-runs.db", migrations=[RUNS_SCHEMA]), ToolBox(world),
                     defenses=Defenses.all())
        st = _run(rt, task=task_by_id(task_id))
        assert st.status == "completed" and judge(world, task_by_id(task_id), st.status)["success"], (task_id, st.reason)


def test_only_keyed_or_read_only_calls_are_retried(make_runtime, world):
    import dataclasses

    from labs.lab07_agents.tools import TOOLS
    from labs.lab07_agents.world import ToolError

    rt = make_runtime(ToolFaults(error_rate=1.0))
    st = rt.create(TRIP, "tool_loop", AGENT_MODEL, Budget(), 10)
    args = {"customer_id": "C05", "flight_id": "F008"}
    for keyed, expected_calls in ((True, rt.attempts), (False, 1)):
        rt.toolbox.counts["calls"] = 0
        tool = dataclasses.replace(TOOLS["hold_flight"], keyed=keyed)
        with pytest.raises(ToolError):
            rt._call_tool(st, tool, args, f"k-{keyed}")
        assert rt.toolbox.counts["calls"] == expected_calls, keyed


def test_a_reused_run_id_never_overwrites_a_run(make_runtime):
    from labs.lab07_agents.checkpoint import RunExists

    rt = make_runtime()
    first = rt.create(TRIP, "tool_loop", AGENT_MODEL, Budget(), 10, run_id="same-id")
    with pytest.raises(RunExists):
        rt.create(task_by_id("policy-01"), "react", AGENT_MODEL, Budget(), 10, run_id="same-id")
    assert rt.load("same-id").task == first.task and rt.load("same-id").pattern == "tool_loop"


def test_the_deadline_reaches_the_model_call(make_runtime):
    """A model that never answers: the call's timeout is what is left of the run's deadline."""
    start = time.monotonic()
    st = _run(make_runtime(), deadline_s=0.5, mock={"hang": True})
    assert time.monotonic() - start < 10, "the hanging call was cut at the run's deadline"
    assert st.status == "stopped" and st.reason.startswith("max_wall_time") and "timed out" in st.reason


def test_a_run_stopped_by_its_deadline_says_so(make_runtime, world):
    """Past the deadline every tool call fails fast with the same error; the run must report the deadline,
    not `repeated_action` or `no_progress` (what the guards would see next)."""
    rt = make_runtime(ToolFaults(spike_rate=1.0, spike_ms=5000, only={"search_flights"}))
    st = _run(rt, deadline_s=0.4, budget=Budget(max_wall_s=30, repeat_limit=2, patience=2))
    assert st.status in ("stopped", "compensated"), st.reason
    assert st.reason.startswith("max_wall_time"), st.reason
    assert world.violations() == []


def test_the_run_deadline_trips_the_wall_time_guard():
    from labs.lab07_agents import guards

    reason = guards.check(Budget(max_wall_s=30), steps=1, cost_usd=0, elapsed_s=2.0, tokens=0,
                          actions=["a", "a", "a"], fresh=[False], deadline_s=1.5)
    assert reason.startswith("max_wall_time") and "1.5s" in reason
    assert guards.check(Budget(max_wall_s=30), steps=1, cost_usd=0, elapsed_s=1.0, tokens=0, actions=[],
                        fresh=[], deadline_s=1.5) is None


def test_bulkhead_full_is_a_structured_error_and_the_run_still_ends(make_runtime, world):
    from shared.resilience import Breakers

    registry = Breakers(bulkhead=1)
    rt = make_runtime(registry=registry)
    bulkhead = registry.bulkhead("search_flights")
    assert bulkhead._slots.acquire(timeout=1)  # another run holds the only slot for this tool
    try:
        st = _run(rt, deadline_s=1.0, budget=Budget(max_wall_s=1.0))
    finally:
        bulkhead._slots.release()
    errors = [s["result"]["error"]["code"] for s in st.trajectory if s["kind"] == "tool" and "error" in s["result"]]
    assert errors and set(errors) <= {"BulkheadFull", "DeadlineExceeded"} and "BulkheadFull" in errors
    assert st.status in ("stopped", "failed", "compensated", "completed") and world.violations() == []
    assert world.outcome()["new_bookings"] == []


def test_a_run_resumed_after_approval_stays_in_one_trace(make_runtime):
    rt = make_runtime()
    st = _run(rt, task=task_by_id("book-14"), auto=False)
    rt.decide_pending(st.id, approve=True)
    st = rt.run(st.id)
    spans = query_spans(trace_id=f"{st.trace['trace_id']:032x}", limit=500)
    names = [s["name"] for s in spans]
    assert names.count("invoke_agent tool_loop") == 2, "one agent span per stretch of the run"
    assert {"execute_tool hold_hotel", "execute_tool pay", "execute_tool book"} <= set(names)


def test_every_task_passes_clean_so_the_expected_states_are_right(tmp_path):
    from labs.lab07_agents.suite import load_tasks, run_task

    failed = [t["id"] for t in load_tasks() if not run_task(t, "tool_loop", tmp_path / t["id"])["success"]]
    assert failed == []
