"""The structured-output reliability ladder, measured: 200 inputs at every level against mock/fallible.

    .venv/bin/python bench/bench_lab05_ladder.py            # ~1 min on a laptop CPU
    -> bench/results/lab05_ladder.json and .png

For each level: the share of inputs valid on the first attempt, valid within 2 re-asks, the
attempts spent per input, and the share whose four fields are all right (valid is not correct).
mock/fallible fails a first answer at the mock's realistic rates (prompt 30% > JSON mode 12% >
tools 4% > strict 0%) and answers a re-ask correctly; the grammar level never needs one.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from tqdm import tqdm

import shared  # noqa: F401  (offline environment first)
from labs.lab05_patterns.structured import LEVELS, extract
from shared.config import FIXTURES, REPO_ROOT, get_settings
from shared.llm import Model
from shared.plots import plt, replot, save

OUT = REPO_ROOT / "bench" / "results"


def run(n: int, model: str, max_retries: int) -> dict:
    handle = Model.from_settings(get_settings(), model)
    rows = [json.loads(line) for line in (FIXTURES / "lab05" / "people.jsonl").read_text().splitlines()][:n]
    results = {}
    for level in LEVELS:
        first = final = attempts = correct = 0
        cost = 0.0
        start = time.perf_counter()
        for row in tqdm(rows, desc=f"{level:>11}", leave=False):
            r = extract(row["text"], level, max_retries=max_retries, model=handle)
            first += r.ok and r.attempts == 1
            final += r.ok
            attempts += r.attempts
            correct += r.ok and r.value == row["expected"]
            cost += r.cost_usd
        results[level] = {"first_attempt_success": first / n, "success_with_reasks": final / n,
                          "attempts_per_input": attempts / n, "retries": attempts - n,
                          "all_fields_correct": correct / n, "cost_usd": cost,
                          "seconds": round(time.perf_counter() - start, 2)}
    base = results["prompt"]["first_attempt_success"]
    for level in LEVELS:
        results[level]["first_attempt_success_vs_prompt"] = results[level]["first_attempt_success"] / base
    return {"inputs": n, "model": model, "max_retries": max_retries, "levels": results}


def plot(report: dict, path: Path) -> None:
    """Per structured-output level: first-attempt validity and re-asks, from the JSON's "levels"."""
    levels = list(report["levels"])
    first = [report["levels"][lv]["first_attempt_success"] for lv in levels]
    retries = [report["levels"][lv]["retries"] for lv in levels]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11.5, 3.6))
    a.bar(levels, first, color="#4878a8")
    a.set_ylim(0, 1.05)
    a.set_title("valid on the first attempt")
    a.set_xlabel("structured-output level")
    a.set_ylabel("share of inputs valid on attempt 1")
    b.bar(levels, retries, color="#c8553d")
    b.set_title(f"re-asks over {report['inputs']} inputs")
    b.set_xlabel("structured-output level")
    b.set_ylabel("re-asks (count)")
    for ax in (a, b):
        ax.tick_params(axis="x", labelsize=9)  # "json_schema" and "grammar" side by side need the room
    fig.tight_layout()
    save(fig, path, dpi=120)


PLOTS = {"lab05_ladder.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--model", default="mock/fallible")
    parser.add_argument("--max-retries", type=int, default=2)
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    args = parser.parse_args()
    if args.replot:
        replot(OUT / "lab05_ladder.json", PLOTS)
        return
    logging.getLogger("instructor").setLevel(logging.CRITICAL)  # failed attempts are counted, not logged
    report = run(args.n, args.model, args.max_retries)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lab05_ladder.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, OUT / "lab05_ladder.png")
    print(f"{'level':>12} {'first try':>10} {'w/ re-asks':>10} {'attempts':>9} {'retries':>8} {'correct':>8}")
    for level, r in report["levels"].items():
        print(f"{level:>12} {r['first_attempt_success']:>10.3f} {r['success_with_reasks']:>10.3f} "
              f"{r['attempts_per_input']:>9.3f} {r['retries']:>8d} {r['all_fields_correct']:>8.3f}")


if __name__ == "__main__":
    main()
