"""Reasoning tokens, cost and latency per `reasoning_effort`, over the self-consistency questions.

    .venv/bin/python bench/bench_lab05_reasoning.py     # ~10 s
    -> bench/results/lab05_reasoning.json

20 questions of fixtures/lab05/questions.jsonl, each at every effort (3 seeds: the mock's thinking
budget has a seeded spread), through mock/reasoning; cost at openai/o3-mini's list price, latency
measured per call and modelled at 200 ms TTFT + 10 ms per output token.
"""

from __future__ import annotations

import json
import statistics

import shared  # noqa: F401  (offline environment first)
from labs.lab05_patterns import reasoning
from shared.config import FIXTURES, REPO_ROOT, get_settings
from shared.llm import Model

OUT = REPO_ROOT / "bench" / "results"
FIELDS = ("reasoning_tokens", "visible_tokens", "cost_usd", "latency_s", "modelled_latency_s", "reasoning_share")


def run(n: int = 20) -> dict:
    model = Model.from_settings(get_settings())
    rows = [json.loads(line) for line in (FIXTURES / "lab05" / "questions.jsonl").read_text().splitlines()][:n]
    per_effort: dict[str, list] = {e: [] for e in reasoning.EFFORTS}
    right = dict.fromkeys(reasoning.EFFORTS, 0)
    reasoning.effort_sweep(model, "warm-up", samples=1)  # the first call imports LiteLLM: keep it out of the timings
    for row in rows:
        for r in reasoning.effort_sweep(model, row["question"], samples=3):
            per_effort[r.effort].append(r)
            right[r.effort] += r.answer == row["answer"]
    return {"questions": len(rows), "price_as": "openai/o3-mini", "efforts": {
        e: {**{f: round(statistics.fmean(getattr(r, f) for r in rs), 6) for f in FIELDS},
            "accuracy": right[e] / len(rows)} for e, rs in per_effort.items()}}


def main() -> None:
    report = run()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lab05_reasoning.json").write_text(json.dumps(report, indent=2) + "\n")
    for effort, r in report["efforts"].items():
        print(f"{effort:8s} reasoning {r['reasoning_tokens']:8.1f}  visible {r['visible_tokens']:4.1f}  "
              f"${r['cost_usd'] * 1000:.3f} per 1k calls  latency {r['latency_s'] * 1000:.2f} ms "
              f"(modelled {r['modelled_latency_s']:.2f} s)  accuracy {r['accuracy']:.2f}")


if __name__ == "__main__":
    main()
