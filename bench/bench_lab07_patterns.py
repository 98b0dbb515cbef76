"""Agent patterns side by side over the 33-task suite: clean, and under 30% model + tool faults.

    .venv/bin/python bench/bench_lab07_patterns.py            # ~4 min on a laptop CPU
    -> bench/results/lab07_patterns.json and .png

Per pattern: success rate (judged on final database state), steps, model calls, tokens and cost
per run, as ratios to the tool-use loop; under faults also pass^k over k repeated runs of every
task, the statuses the runs ended in, and the invariant violations found (the claim is zero:
no open hold, no unbooked charge, no duplicated payment, whatever the faults did).

Tree of Thoughts runs on `mock/agent_tot`, whose proposer puts the right step first only 60% of the
time; two ablations over the clean suite show what the search buys: the same proposer taken
greedily (breadth 1, no values), and the search valued by the model-free heuristic.
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
from labs.lab07_agents import suite
from labs.lab07_agents.patterns import PATTERNS
from labs.lab07_agents.suite import load_tasks, pass_hat_k, run_task
from labs.lab07_agents.tools import ToolFaults
from labs.lab07_agents.tot import TreeOfThoughts
from shared.config import REPO_ROOT
from shared.plots import plt, replot, save
from shared.resilience import Breakers

OUT = REPO_ROOT / "bench" / "results"
MODEL_FAULTS = {"error_rate": 0.3, "latency_ms": 1, "bad_tool_rate": 0.1}
TOT_ABLATIONS = {"tot_greedy": TreeOfThoughts(breadth=1, evaluator="none"),
                 "tot_heuristic": TreeOfThoughts(breadth=3, evaluator="heuristic")}


def clean_numbers(pattern: str, tmp: Path) -> dict:
    rows = [run_task(t, pattern, tmp / f"clean-{t['id']}") for t in load_tasks()]
    return {key: sum(r[key] for r in rows) / len(rows) for key in ("success", "steps", "model_calls", "tokens",
                                                                   "cost_usd")}


def measure(pattern: str, k: int, tmp: Path) -> dict:
    tasks = load_tasks()
    registry = Breakers(threshold=5, cooldown_s=0.05)
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
        "clean": clean_numbers(pattern, tmp),
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


def plot(result: dict, path: Path) -> None:
    """Success (clean, under tool faults) and tokens per pattern, and the ToT ablation, from the JSON."""
    results, ablations = result["patterns"], result["tot_ablation"]
    faults = f"{result['tool_faults']['error_rate']:.0%} tool faults"
    names = list(results)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4), gridspec_kw={"width_ratios": [3, 3, 2]})
    x = range(len(names))
    axes[0].bar([i - 0.2 for i in x], [results[n]["clean"]["success"] for n in names], 0.4, label="clean")
    axes[0].bar([i + 0.2 for i in x], [results[n]["faults"]["success"] for n in names], 0.4, label=faults)
    axes[0].set_title("success rate (judged on state)")
    axes[0].set_ylabel("share of tasks succeeded")
    axes[0].set_ylim(0, 1.05)
    # above the panel, not over the bars: success reaches 1.0 in some pattern at either end
    axes[0].legend(loc="lower center", bbox_to_anchor=(0.5, 1.08), ncols=2, fontsize=8)
    axes[1].bar(x, [results[n]["clean"]["tokens"] for n in names])
    axes[1].set_title("tokens per run (clean)")
    axes[1].set_ylabel("tokens per run")
    for ax in axes[:2]:
        ax.set_xticks(list(x), names, rotation=20)
        ax.set_xlabel("agent pattern")
    axes[2].bar(range(len(ablations)), [a["success"] for a in ablations.values()], color="tab:green")
    axes[2].set_xticks(range(len(ablations)), list(ablations), rotation=20)
    axes[2].set_title("ToT: same proposer, searched or not")
    axes[2].set_xlabel("tree-of-thoughts variant")
    axes[2].set_ylabel("share of tasks succeeded (clean)")
    axes[2].set_ylim(0, 1.05)
    fig.tight_layout()
    save(fig, path, dpi=110)


PLOTS = {"lab07_patterns.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=3, help="repeated runs per task under faults (pass^k)")
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    args = parser.parse_args()
    if args.replot:
        replot(OUT / "lab07_patterns.json", PLOTS)
        return
    start = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for pattern in tqdm(PATTERNS, desc="patterns"):
            results[pattern] = measure(pattern, args.k, Path(tmp) / pattern)
        ablations = {}
        for name, pattern in TOT_ABLATIONS.items():  # same proposer; only the search differs
            PATTERNS[name], suite.MOCK_BEHAVIOURS[name] = pattern, suite.MOCK_BEHAVIOURS["tot"]
            ablations[name] = clean_numbers(name, Path(tmp) / name)
        ablations["tot"] = results["tot"]["clean"]
    base = results["tool_loop"]["clean"]
    for r in results.values():
        r["ratio_to_tool_loop"] = {key: round(r["clean"][key] / base[key], 3) for key in
                                   ("model_calls", "tokens", "cost_usd", "steps")}
    OUT.mkdir(parents=True, exist_ok=True)
    out = {"tasks": len(load_tasks()), "k": args.k, "model_faults": MODEL_FAULTS,
           "tool_faults": {"error_rate": 0.3, "spike_rate": 0.1, "spike_ms": 40}, "patterns": results,
           "tot_ablation": ablations,
           "wall_s": round(time.perf_counter() - start, 1)}
    (OUT / "lab07_patterns.json").write_text(json.dumps(out, indent=2) + "\n")
    plot(out, OUT / "lab07_patterns.png")
    print(f"{'pattern':<13} {'ok':>5} {'ok@30%':>7} {'pass^k':>7} {'calls':>6} {'tokens':>7} {'cost $':>9} "
          f"{'tok x':>6} {'violations':>10}")
    for name, r in results.items():
        c, f = r["clean"], r["faults"]
        print(f"{name:<13} {c['success']:>5.2f} {f['success']:>7.2f} {f[f'pass^{args.k}']:>7.2f} "
              f"{c['model_calls']:>6.1f} {c['tokens']:>7.0f} {c['cost_usd']:>9.6f} "
              f"{r['ratio_to_tool_loop']['tokens']:>6.2f} {f['violations']:>10}")
    print(f"\n{'ToT ablation (clean)':<22} {'ok':>5} {'calls':>6} {'tokens':>7}")
    for name, c in ablations.items():
        print(f"{name:<22} {c['success']:>5.2f} {c['model_calls']:>6.1f} {c['tokens']:>7.0f}")


if __name__ == "__main__":
    main()
