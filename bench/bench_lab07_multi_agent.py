"""Supervisor over specialised agents vs one agent with every tool: the same 33 tasks, same model.

    .venv/bin/python bench/bench_lab07_multi_agent.py          # ~2 min on a laptop CPU
    -> bench/results/lab07_multi_agent.json

Per architecture and condition: success (judged on state), model calls, tokens and cost per run,
wall time, and trajectory precision; then the cost ratio by task kind (one specialist for a policy
look-up, three for a flight + hotel trip), which is where the hand-offs add up. Conditions: clean,
and 30% model + tool faults (the benches' usual mix).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import shared  # noqa: F401  (offline environment first)
from labs.lab07_agents.suite import load_tasks, run_task
from labs.lab07_agents.tools import ToolFaults
from labs.lab07_agents.trajectory_eval import score_run
from shared.config import REPO_ROOT
from shared.llm import Model
from shared.resilience import Breakers

OUT = REPO_ROOT / "bench" / "results"
ARCHITECTURES = {"single agent (tool_loop)": "tool_loop", "supervisor + 4 specialists": "supervisor"}
MODEL_FAULTS = {"error_rate": 0.3, "latency_ms": 1, "bad_tool_rate": 0.1}
KEYS = ("success", "model_calls", "tokens", "cost_usd", "wall_s", "precision")


def kind(task: dict) -> str:
    if task["kind"] != "book":
        return task["kind"]
    return "flight + hotel" if {"flight", "hotel"} <= set(task["spec"]) else "flight or hotel"


def measure(pattern: str, tmp: Path, faulty: bool, k: int) -> dict:
    rows = []
    registry = Breakers(threshold=5, cooldown_s=0.05)
    for j in range(k if faulty else 1):
        for i, task in enumerate(load_tasks()):
            r = run_task(task, pattern, tmp / f"{pattern}-{faulty}-{j}-{task['id']}", registry=registry,
                         mock=MODEL_FAULTS if faulty else None, deadline_s=10,
                         faults=ToolFaults(error_rate=0.3, spike_rate=0.1, spike_ms=40, seed=1000 * j + i)
                         if faulty else None)
            rows.append({"kind": kind(task), "precision": score_run(task["id"], r["run"].trajectory)["precision"],
                         **{key: r[key] for key in KEYS if key != "precision"}})

    def mean(rs):
        return {key: sum(float(r[key]) for r in rs) / len(rs) for key in KEYS}

    kinds = sorted({r["kind"] for r in rows})
    return {**mean(rows), "runs": len(rows), "by_kind": {kd: mean([r for r in rows if r["kind"] == kd]) for kd in kinds}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=2, help="repeats of every task under faults")
    args = parser.parse_args()
    Model.from_settings().warm()  # a cold LiteLLM import must not eat the first run's deadline
    start = time.perf_counter()
    out: dict = {"tasks": len(load_tasks()), "k": args.k, "model_faults": MODEL_FAULTS, "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for cond, faulty in (("clean", False), ("faults", True)):
            out["results"][cond] = {name: measure(p, Path(tmp), faulty, args.k) for name, p in ARCHITECTURES.items()}
    single, sup = (out["results"]["clean"][n] for n in ARCHITECTURES)
    out["ratio_supervisor_to_single_clean"] = {key: round(sup[key] / single[key], 3) for key in
                                               ("model_calls", "tokens", "cost_usd", "wall_s")}
    out["cost_ratio_by_kind"] = {kd: round(sup["by_kind"][kd]["cost_usd"] / single["by_kind"][kd]["cost_usd"], 3)
                                 for kd in single["by_kind"]}
    out["wall_s"] = round(time.perf_counter() - start, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lab07_multi_agent.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'condition':<9} {'architecture':<28} {'success':>7} {'calls':>6} {'tokens':>7} {'cost $':>9} "
          f"{'wall s':>7} {'precision':>9}")
    for cond, res in out["results"].items():
        for name, m in res.items():
            print(f"{cond:<9} {name:<28} {m['success']:>7.2f} {m['model_calls']:>6.1f} {m['tokens']:>7.0f} "
                  f"{m['cost_usd']:>9.6f} {m['wall_s']:>7.3f} {m['precision']:>9.2f}")
    print("supervisor / single (clean):", out["ratio_supervisor_to_single_clean"])
    print("cost ratio by task kind:", out["cost_ratio_by_kind"])


if __name__ == "__main__":
    main()
