"""Sequential vs asyncio.gather: the speed-up of a fan-out of model calls, as a ratio (never a test).

    .venv/bin/python bench/bench_lab05_parallel.py      # under a minute (most of it importing LiteLLM)
    -> bench/results/lab05_parallel.json and .png

n questions (n = 2, 4, 8, 16) to the in-process mock with 100 ms of latency per call, sent one after
another (orchestration's `sequential` pattern) and all at once (a Caller under asyncio.gather), each
way `--repeats` times. Reported per n: median wall time of each, the speed-up sequential / parallel
(n in theory: the fan-out costs about one call), and the most calls in flight at once, from the
calls' recorded start and end (what tests/lab05 asserts instead of a speed-up, since how close the
ratio comes to n depends on how busy the machine is).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import shared  # noqa: F401  (offline environment first)
from labs.lab05_patterns.orchestration import Caller, max_in_flight, run_pattern
from shared.config import REPO_ROOT, get_settings
from shared.llm import Model
from shared.plots import plt, replot, save

OUT = REPO_ROOT / "bench" / "results"
NS = (2, 4, 8, 16)
LATENCY_MS = 100


async def one(model: Model, n: int) -> dict:
    questions = [f"What is {i} * 7?" for i in range(2, 2 + n)]
    mock = {"latency_ms": LATENCY_MS}
    seq = await run_pattern("sequential", questions, model=model, mock=mock)
    caller = Caller(model, mock)
    start = time.perf_counter()
    await asyncio.gather(*(caller(f"q{i}", q) for i, q in enumerate(questions)))
    return {"sequential_s": seq.wall_s, "parallel_s": time.perf_counter() - start,
            "sequential_in_flight": seq.max_in_flight, "parallel_in_flight": max_in_flight(caller.calls)}


def run(repeats: int) -> dict:
    model = Model.from_settings(get_settings()).for_behaviour("assistant")
    model.warm()
    asyncio.run(one(model, 2))  # the first calls pay the tokenizer's and the mock's start-up
    rows = {}
    for n in NS:
        runs = [asyncio.run(one(model, n)) for _ in range(repeats)]
        seq = statistics.median(r["sequential_s"] for r in runs)
        par = statistics.median(r["parallel_s"] for r in runs)
        rows[str(n)] = {"sequential_s": round(seq, 4), "parallel_s": round(par, 4), "speedup": round(seq / par, 2),
                        "ideal_speedup": n,
                        "sequential_max_in_flight": max(r["sequential_in_flight"] for r in runs),
                        "parallel_max_in_flight": min(r["parallel_in_flight"] for r in runs)}
    return {"latency_ms": LATENCY_MS, "repeats": repeats, "model": model.id, "by_n": rows}


def plot(report: dict, path: Path) -> None:
    """Measured speed-up of asyncio.gather against n, beside the ideal, from the JSON's "by_n"."""
    ns = [int(n) for n in report["by_n"]]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(ns, [report["by_n"][str(n)]["speedup"] for n in ns], marker="o", label="measured")
    ax.plot(ns, ns, "k--", label="ideal (n)")
    ax.set_xlabel("calls fanned out, n")
    ax.set_ylabel("speed-up, sequential / gather (x)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    save(fig, path, dpi=120)


PLOTS = {"lab05_parallel.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    args = parser.parse_args()
    if args.replot:
        replot(OUT / "lab05_parallel.json", PLOTS)
        return
    report = run(args.repeats)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lab05_parallel.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, OUT / "lab05_parallel.png")
    for n, row in report["by_n"].items():
        print(f"n={n:>2}: sequential {row['sequential_s']:.3f}s  gather {row['parallel_s']:.3f}s  "
              f"speed-up {row['speedup']:.2f} (ideal {n})  in flight {row['parallel_max_in_flight']}")


if __name__ == "__main__":
    main()
