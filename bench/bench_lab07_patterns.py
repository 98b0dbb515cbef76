"""Agent patterns side by side over the 33-task suite: clean, and under 30% model + tool faults.

    .venv/bin/python bench/bench_lab07_patterns.py            # ~2 min on a laptop CPU
    -> bench/results/lab07_patterns.json and .png

Per pattern: success rate (judged on final database state), steps, model calls, tokens and cost
per run, as ratios to the tool-use loop; under faults also pass^k over k repeated runs of every
task, the statuses the runs ended in, and the invariant violations found (the claim is zero:
no open hold, no unbooked charge, no duplicated payment, whatever the faults did).
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

import shared  # noqa: F401  (offline environment first)
from labs.lab07_agents.patterns import PATTERNS
from labs.lab07_agents.resilience import Registry
from labs.lab07_agents.suite import load_tasks, pass_hat_k, run_task
from labs.lab07_agents.tools import ToolFaults
from shared.config import REPO_ROOT

OUT = REPO_ROOT / "bench" / "results"
MODEL_FAULTS = {"error_rate": 0.3, "latency_ms": 1, "bad_tool_rate": 0.1}


def measure(pattern: str, k: int, tmp: Path) -> dict:
    tasks = load_tasks()
    registry = Registry(threshold=5, cooldown_s=0.05)
    clean = [run_task(t, pattern, tmp / f"clean-{t['id']}") for t in tasks]
    faulty, passes, statuses, violations = [], [], collections.Counter(), 0
    for i, task in enumerate(tasks):
        c = 0
        for j in range(k):
            r = run_task(task, pattern, tmp / f"fault-{task['id']}-{j}", mock=MODEL_FAULTS, registry=registry,
                         faults=ToolFaults(error_rate=0.3, spike_rate=0.1, spike_ms=40, seed=1000 * j + i),
                         deadline_s=10)
            faulty.append(r)
            c += r["success"]
            statuses[r["status"]] += 1
            violations += len(r["violations"])
        passes.append(c)

    def mean(rows, key):
        return sum(r[key] for r in rows) / len(rows)

    breakers = registry.snapshot()
    return {
        "clean": {"success": mean(clean, "success"), "steps": mean(clean, "steps"),
                  "model_calls": mean(clean, "model_calls"), "tokens": mean(clean, "tokens"),
                  "cost_usd": mean(clean, "cost_usd")},
        "faults": {"success": mean(faulty, "success"), "steps": mean(faulty, "steps"),
                   "tokens": mean(faulty, "tokens"), "cost_usd": mean(faulty, "cost_usd"),
                   f"pass^{k}": sum(pass_hat_k(k, c, k) for c in passes) / len(passes),
                   "pass^1": sum(pass_hat_k(k, c, 1) for c in passes) / len(passes),
                   "statuses": dict(statuses), "violations": violations,
                   "retries_per_run": sum(r["counts"]["retries"] for r in faulty) / len(faulty),
                   "hallucinated_per_run": sum(r["counts"]["hallucinated"] for r in faulty) / len(faulty),
                   "breakers_opened": sum(b["opened"] for b in breakers),
                   "breakers_recovered": sum(b["closed_again"] for b in breakers),
                   "max_wall_s": max(r["wall_s"] for r in faulty)},
    }


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    x = range(len(names))
    axes[0].bar([i - 0.2 for i in x], [results[n]["clean"]["success"] for n in names], 0.4, label="clean")
    axes[0].bar([i + 0.2 for i in x], [results[n]["faults"]["success"] for n in names], 0.4, label="30% faults")
    axes[0].set_title("success rate (judged on state)")
    axes[1].bar(x, [results[n]["clean"]["tokens"] for n in names])
    axes[1].set_title("tokens per run (clean)")
    for ax in axes:
        ax.set_xticks(list(x), names, rotation=20)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=3, help="repeated runs per task under faults (pass^k)")
    args = parser.parse_args()
    start = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for pattern in tqdm(PATTERNS, desc="patterns"):
            results[pattern] = measure(pattern, args.k, Path(tmp) / pattern)
    base = results["tool_loop"]["clean"]
    for r in results.values():
        r["ratio_to_tool_loop"] = {key: round(r["clean"][key] / base[key], 3) for key in
                                   ("model_calls", "tokens", "cost_usd", "steps")}
    OUT.mkdir(parents=True, exist_ok=True)
    out = {"tasks": len(load_tasks()), "k": args.k, "model_faults": MODEL_FAULTS,
           "tool_faults": {"error_rate": 0.3, "spike_rate": 0.1, "spike_ms": 40}, "patterns": results,
           "wall_s": round(time.perf_counter() - start, 1)}
    (OUT / "lab07_patterns.json").write_text(json.dumps(out, indent=2) + "\n")
    plot(results, OUT / "lab07_patterns.png")
    print(f"{'pattern':<13} {'ok':>5} {'ok@30%':>7} {'pass^k':>7} {'calls':>6} {'tokens':>7} {'cost $':>9} "
          f"{'tok x':>6} {'violations':>10}")
    for name, r in results.items():
        c, f = r["clean"], r["faults"]
        print(f"{name:<13} {c['success']:>5.2f} {f['success']:>7.2f} {f[f'pass^{args.k}']:>7.2f} "
              f"{c['model_calls']:>6.1f} {c['tokens']:>7.0f} {c['cost_usd']:>9.6f} "
              f"{r['ratio_to_tool_loop']['tokens']:>6.2f} {f['violations']:>10}")


if __name__ == "__main__":
    main()
