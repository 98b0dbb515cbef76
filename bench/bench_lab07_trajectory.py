"""Trajectory eval beside outcome eval: every pattern over the 33 tasks, clean and under faults.

    .venv/bin/python bench/bench_lab07_trajectory.py          # ~2 min on a laptop CPU
    -> bench/results/lab07_trajectory.json

Each run is judged twice: on outcome (the final database state, suite.judge) and on trajectory
(its tool calls against fixtures/lab07/reference_trajectories.json, trajectory_eval.score). The
two disagree in both directions, and the bench counts how often: runs that pass on outcome with a
trajectory that is not the reference one (a wasted, failed or repeated call on the way), and runs
that follow the reference in order yet fail on outcome.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

import shared  # noqa: F401  (offline environment first)
from labs.lab07_agents.patterns import PATTERNS
from labs.lab07_agents.suite import load_tasks, run_task
from labs.lab07_agents.tools import ToolFaults
from labs.lab07_agents.trajectory_eval import calls_of, mean_scores, score_run
from shared.config import REPO_ROOT
from shared.llm import Model
from shared.resilience import Breakers

OUT = REPO_ROOT / "bench" / "results"
MODEL_FAULTS = {"error_rate": 0.3, "latency_ms": 1, "bad_tool_rate": 0.1}


def measure(pattern: str, tmp: Path, faulty: bool) -> dict:
    rows = []
    registry = Breakers(threshold=5, cooldown_s=0.05)
    for i, task in enumerate(load_tasks()):
        r = run_task(task, pattern, tmp / f"{pattern}-{faulty}-{task['id']}", registry=registry,
                     mock=MODEL_FAULTS if faulty else None, deadline_s=10,
                     faults=ToolFaults(error_rate=0.3, spike_rate=0.1, spike_ms=40, seed=i) if faulty else None)
        s = score_run(task["id"], r["run"].trajectory)
        s["actual"] = [c["tool"] + ("" if c["ok"] else " (error)") for c in calls_of(r["run"].trajectory)]
        rows.append({"task": task["id"], "success": r["success"], **{k: s[k] for k in s if k not in ("task",)}})
    n = len(rows)
    return {"success": sum(r["success"] for r in rows) / n, **mean_scores(rows),
            "pass_but_not_exact": sum(r["success"] and not r["exact"] for r in rows) / n,
            "in_order_but_fail": sum(r["in_order"] and not r["success"] for r in rows) / n,
            "examples": [{k: r[k] for k in ("task", "success", "actual", "reference", "failed", "redundant",
                                            "off_path")} for r in rows if r["success"] != bool(r["exact"])][:4]}


def main() -> None:
    Model.from_settings().warm()  # a cold LiteLLM import must not eat the first run's deadline
    start = time.perf_counter()
    out = {"tasks": len(load_tasks()), "model_faults": MODEL_FAULTS,
           "tool_faults": {"error_rate": 0.3, "spike_rate": 0.1, "spike_ms": 40}, "patterns": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for pattern in tqdm(PATTERNS, desc="patterns"):
            out["patterns"][pattern] = {"clean": measure(pattern, Path(tmp), False),
                                        "faults": measure(pattern, Path(tmp), True)}
    out["wall_s"] = round(time.perf_counter() - start, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lab07_trajectory.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'pattern':<13} {'cond':<7} {'success':>7} {'exact':>6} {'in_ord':>6} {'prec':>5} {'recall':>6} "
          f"{'effic':>6} {'args':>5} {'fail/r':>6} {'redun/r':>7} {'off/r':>5} {'pass!ex':>7} {'ord!pass':>8}")
    for name, r in out["patterns"].items():
        for cond, m in r.items():
            print(f"{name:<13} {cond:<7} {m['success']:>7.2f} {m['exact']:>6.2f} {m['in_order']:>6.2f} "
                  f"{m['precision']:>5.2f} {m['recall']:>6.2f} {m['efficiency']:>6.2f} {m['args_ok']:>5.2f} "
                  f"{m['failed']:>6.2f} {m['redundant']:>7.2f} {m['off_path']:>5.2f} {m['pass_but_not_exact']:>7.2f} "
                  f"{m['in_order_but_fail']:>8.2f}")


if __name__ == "__main__":
    main()
