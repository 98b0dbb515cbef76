"""The task suite, judged on final database state, and pass^k over repeated runs.

    python -m labs.lab07_agents.suite --pattern tool_loop --k 2        # success and pass^k per task

A task passes when the run completed, the world's `outcome()` equals the expected state written
in fixtures/lab07/tasks.json, AND no invariant is violated (tau-bench judges the same way: on state,
not on the agent's text). pass^k is the chance that k runs of a task ALL pass; from n runs with c
passes its unbiased estimate is

    pass^k = C(c, k) / C(n, k)

averaged over tasks. pass@k asks "at least one of k"; pass^k asks "every one of k", which is what a
customer who books k times experiences.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from math import comb
from pathlib import Path
from typing import Any

from labs.lab07_agents import (
    injection,
    mock_plugin,  # noqa: F401  (registers mock/agent and mock/agent_tot)
)
from labs.lab07_agents.checkpoint import RUNS_SCHEMA
from labs.lab07_agents.guards import Budget
from labs.lab07_agents.injection import Defenses
from labs.lab07_agents.runtime import Runtime
from labs.lab07_agents.tools import ToolBox, ToolFaults
from labs.lab07_agents.world import World
from shared.llm import Model
from shared.resilience import Breakers
from shared.store import Store

TASKS_PATH = Path(__file__).resolve().parents[2] / "fixtures" / "lab07" / "tasks.json"
AGENT_MODEL = "mock/agent"
# ToT asks the model for things no other pattern asks for (k proposals, a value per proposal); `agent`
# only ever knows the one right step, so on the mock ToT runs on `agent_tot`: the same agent as an
# unreliable proposer (right first with p = 0.6) and a value judge.
MOCK_BEHAVIOURS = {"tot": "agent_tot"}


def agent_model(model: Model | None, pattern: str) -> str:
    """The model id a run of this pattern uses: the lab's own mock behaviour when the model is the mock
    (in-process `mock/agent` or over HTTP `openai/mock/agent`), otherwise the configured model."""
    return (model or Model.from_settings()).for_behaviour(MOCK_BEHAVIOURS.get(pattern, "agent")).id


def load_tasks() -> list[dict[str, Any]]:
    return json.loads(TASKS_PATH.read_text())["tasks"]


def task_by_id(task_id: str) -> dict[str, Any] | None:
    return next((t for t in load_tasks() if t["id"] == task_id), None)


def judge(world: World, task: dict[str, Any], status: str) -> dict[str, Any]:
    """Success: the run completed, the state is the expected one, and no invariant is broken.

    (The status matters for tasks whose expected state is "nothing changed": a run that crashed
    changes nothing too, and must not count as a pass.)
    """
    outcome, violations = world.outcome(), world.violations()
    return {"success": status == "completed" and outcome == task["expected"] and not violations,
            "outcome": outcome, "violations": violations}


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Unbiased pass^k from n runs with c passes: C(c, k) / C(n, k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError("need 0 <= c <= n and 1 <= k <= n")
    return comb(c, k) / comb(n, k)


def run_task(task: dict[str, Any], pattern: str, workdir: Path, *, model: str | None = None,
             mock: dict[str, Any] | None = None, faults: ToolFaults | None = None,
             registry: Breakers | None = None, defenses: Defenses | None = None,
             injections: dict[str, str] | None = None, budget: Budget | None = None,
             deadline_s: float = 30.0, reviewer=None,
             toolbox: Callable[[World], ToolBox] | None = None) -> dict[str, Any]:
    """One run of one task on a fresh world; returns the run's numbers and the judge's verdict.

    Sensitive calls are approved automatically, or put to `reviewer(task, call) -> bool` if given.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    world = World(workdir / "world.db")
    box = toolbox(world) if toolbox else ToolBox(world, faults, injections)  # tool_zoo passes its own
    rt = Runtime(Store(workdir / "runs.db", migrations=[RUNS_SCHEMA]), box, registry, defenses)
    start = time.perf_counter()
    st = rt.create(task, pattern, model or agent_model(None, pattern), budget or Budget(), deadline_s, mock, auto_approve=reviewer is None)
    st = rt.run(st.id)
    while st.status == "waiting_approval":
        rt.decide_pending(st.id, reviewer(task, st.pending))
        st = rt.run(st.id)
    verdict = judge(world, task, st.status)
    return {"task": task["id"], "pattern": pattern, "status": st.status, "reason": st.reason,
            "success": verdict["success"], "violations": verdict["violations"], "steps": st.step,
            "model_calls": st.counts["model_calls"], "tool_calls": st.counts["tool_calls"], "tokens": st.tokens,
            "cost_usd": st.cost_usd, "wall_s": time.perf_counter() - start, "counts": st.counts,
            "compensations": len(st.compensated), "world": world, "run": st}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pattern", default="tool_loop")
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--error-rate", type=float, default=0.0)
    args = parser.parse_args()
    mock = {"error_rate": args.error_rate} if args.error_rate else None
    scores = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in load_tasks():
            passes = 0
            for i in range(args.k):
                r = run_task(task, args.pattern, Path(tmp) / f"{task['id']}-{i}", mock=mock,
                             faults=ToolFaults(error_rate=args.error_rate, seed=i))
                passes += r["success"]
            scores.append(pass_hat_k(args.k, passes, args.k))
            print(f"{task['id']:<12} {passes}/{args.k} passed  {task['text']}")
    print(f"pass^{args.k} = {sum(scores) / len(scores):.3f} over {len(scores)} tasks ({args.pattern})")


if __name__ == "__main__":
    main()


def attack_success_rate(defenses: Defenses, workdir, tasks: list[dict[str, Any]], pattern: str = "tool_loop",
                        obedience: float = 0.9, attacks: list[dict[str, Any]] | None = None,
                        model: Model | None = None) -> dict[str, Any]:
    """Run every (attack, task) pair with the gullible model; ASR = attacks whose goal reached the state."""
    hits = runs = useful = 0
    for attack in attacks or injection.ATTACKS:
        for task in tasks:
            r = run_task(task, pattern, workdir / f"{attack['id']}-{task['id']}", model=(model or Model.from_settings()).for_behaviour("gullible").id,
                         mock={"base": "agent", "obedience": obedience}, defenses=defenses,
                         injections={attack["tool"]: attack["text"]}, reviewer=injection.reviewer if defenses.approval else None)
            runs += 1
            hits += injection.attack_succeeded(r["world"], attack["goal"])
            useful += r["success"]
    return {"asr": hits / runs, "task_success": useful / runs, "runs": runs, "defenses": defenses.as_dict()}

