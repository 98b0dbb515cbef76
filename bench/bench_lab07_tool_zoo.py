"""The tool-zoo problem, measured: selection accuracy, success and tokens as 5 -> 50 similar tools are offered.

    .venv/bin/python bench/bench_lab07_tool_zoo.py           # ~4 min on a laptop CPU
    -> bench/results/lab07_tool_zoo.json and .png

The single tool-loop agent runs the 33 tasks with N tools offered (the task's own, then the other
real tools and near-duplicates from other services in a seeded order: tool_zoo.offered), once with
flat names and once namespaced (`booking__search_flights`, and the system prompt names our
namespace). Selection accuracy: the share of tool calls that named the step the reference
trajectory needs next. The mock's choice is softmax(similarity / T) at its default T (0.02).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import shared  # noqa: F401  (offline environment first)
from labs.lab07_agents.suite import load_tasks, run_task
from labs.lab07_agents.tool_zoo import ZooToolBox, offered, selection_accuracy
from labs.lab07_agents.trajectory_eval import calls_of, reference_for
from shared.config import REPO_ROOT
from shared.llm import Model
from shared.plots import plt, replot, save

OUT = REPO_ROOT / "bench" / "results"
SIZES = (5, 10, 20, 35, 50)


def measure(n_tools: int, namespaced: bool, tmp: Path) -> dict:
    right = total = success = tokens = 0
    cost = 0.0
    tasks = load_tasks()
    for task in tasks:
        r = run_task(task, "tool_loop", tmp / f"{n_tools}-{namespaced}-{task['id']}",
                     toolbox=lambda w, task=task: ZooToolBox(w, offered(task, n_tools), namespaced))
        a, b = selection_accuracy([c["tool"] for c in calls_of(r["run"].trajectory)],
                                  [c["tool"] for c in reference_for(task["id"])])
        right, total = right + a, total + b
        success, tokens, cost = success + r["success"], tokens + r["tokens"], cost + r["cost_usd"]
    n = len(tasks)
    return {"tools": n_tools, "namespaced": namespaced, "selection_accuracy": right / total,
            "wrong_calls_per_run": (total - right) / n, "success": success / n, "tokens": tokens / n,
            "cost_usd": cost / n}


def plot(result: dict, path: Path) -> None:
    """Selection accuracy and tokens against the number of tools offered, flat vs namespaced, from the JSON."""
    rows = result["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ns, label in ((False, "flat names"), (True, "namespaced")):
        rs = [r for r in rows if r["namespaced"] == ns]
        axes[0].plot([r["tools"] for r in rs], [r["selection_accuracy"] for r in rs], marker="o", label=label)
        axes[1].plot([r["tools"] for r in rs], [r["tokens"] for r in rs], marker="o", label=label)
    axes[0].set_title("tool-selection accuracy")
    axes[0].set_ylabel("share of calls to the right tool")
    axes[1].set_title("tokens per run")
    axes[1].set_ylabel("tokens per run")
    for ax in axes:
        ax.set_xlabel("tools offered")
        ax.legend()
    fig.tight_layout()
    save(fig, path, dpi=110)


PLOTS = {"lab07_tool_zoo.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab07_tool_zoo.json", PLOTS)
        return
    Model.from_settings().warm()  # a cold LiteLLM import must not eat the first run's deadline
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(n, ns, Path(tmp)) for ns in (False, True) for n in SIZES]
    OUT.mkdir(parents=True, exist_ok=True)
    out = {"tasks": len(load_tasks()), "pattern": "tool_loop", "choice_temperature": 0.02, "rows": rows,
           "wall_s": round(time.perf_counter() - start, 1)}
    (OUT / "lab07_tool_zoo.json").write_text(json.dumps(out, indent=2) + "\n")
    plot(out, OUT / "lab07_tool_zoo.png")
    print(f"{'tools':>5} {'naming':<11} {'accuracy':>8} {'wrong/run':>9} {'success':>7} {'tokens':>7} {'cost $':>9}")
    for r in rows:
        print(f"{r['tools']:>5} {'namespaced' if r['namespaced'] else 'flat':<11} {r['selection_accuracy']:>8.3f} "
              f"{r['wrong_calls_per_run']:>9.2f} {r['success']:>7.2f} {r['tokens']:>7.0f} {r['cost_usd']:>9.6f}")


if __name__ == "__main__":
    main()
