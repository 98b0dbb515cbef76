"""The chapter's worked exercises: `python -m labs.lab10_finetune.exercises` (`--json` for one JSON object)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from labs.lab10_finetune import budget, decide, objectives

PREFERENCE_SPEC = {
    "columns": {"prompt": "str", "chosen": "str", "rejected": "str"},
    "rules": ["chosen and rejected answer the same prompt", "pairs differ in the judged quality, not in length alone",
              "no prompt appears in both train and held-out splits", "rater agreement recorded per pair"],
    "example": {"prompt": "4+6=", "chosen": "10", "rejected": "11"},
}


def solve() -> dict[str, dict[str, Any]]:
    a = budget.LLAMA_7B
    lora = budget.lora_params(a, 16, ["q_proj", "v_proj"])
    return {
        "llama_7b_params": {"V": a.V, "d": a.d, "L": a.L, "f": a.f, "answer": a.n_params()},
        "lora_share": {"r": 16, "targets": ["q_proj", "v_proj"], "trainable": lora["trainable_params"],
                       "answer_pct": lora["trainable_pct"]},
        "dpo_worked_batch": {"beta": 0.1, "pi_w": [-4.0, -6.0], "pi_l": [-7.0, -6.5], "ref_w": [-5.0, -6.0],
                             "ref_l": [-6.0, -6.0], "answer": objectives.dpo_worked_batch(0.1)},
        "budget_70b_on_48gb": {"params": budget.LLAMA_70B.n_params(), "gpu_gb": 48, "activations_gb": 4,
                               "answer": budget.memory(budget.LLAMA_70B, gpu_gb=48)},
        "preference_data_spec": {"answer": PREFERENCE_SPEC},
        "grpo_advantages": grpo_exercise([0.8, 0.5, 0.3, 0.7]),
        "prompt_rag_finetune": {name: {"inputs": kw, "answer": decide.decide(**kw)["ranking"]}
                                for name, kw in DECISION_CASES.items()},
        "finetune_eval_matrix": eval_matrix(EVAL_SCORES, "base", EVAL_GATES),
    }


# Three teams, three answers (POST /calc/decide takes the same inputs and shows the whole matrix)
DECISION_CASES: dict[str, dict[str, Any]] = {
    "support bot over a product catalogue that changes daily, answers must cite": {
        "knowledge_changes": "daily", "knowledge_tokens": 2_000_000, "needs_citations": True},
    "invoice fields to strict JSON, 5,000 labelled invoices, 10M calls a month, 200 ms budget": {
        "knowledge_changes": "never", "knowledge_tokens": 0, "format_need": "strict", "labeled_examples": 5_000,
        "queries_per_month": 10_000_000, "latency_budget_ms": 200},
    "an internal FAQ of 3,000 tokens that changes once a year": {
        "knowledge_changes": "yearly", "knowledge_tokens": 3_000},
}


# Held-out exact match (20 rows each, one row = 0.05) of the base and its SFT variants, as measured by
# `python bench/bench_lab10_forgetting.py` (bench/results/lab10_forgetting.json); the gates are the team's.
EVAL_SCORES: dict[str, dict[str, float]] = {
    "base": {"addition": 0.0, "next_n": 1.0},
    "LoRA, lr 5e-3": {"addition": 0.7, "next_n": 0.8},
    "LoRA, lr 1e-3": {"addition": 0.45, "next_n": 1.0},
    "LoRA + L2-SP λ=0.02": {"addition": 0.65, "next_n": 1.0},
    "LoRA + replay 30": {"addition": 0.75, "next_n": 1.0},
    "LoRA, WiSE-FT a=0.5": {"addition": 0.55, "next_n": 1.0},
    "full, lr 5e-3": {"addition": 0.7, "next_n": 0.0},
    "full + L2-SP λ=0.02": {"addition": 0.8, "next_n": 1.0},
}
EVAL_GATES = {"addition": {"min": 0.6}, "next_n": {"max_drop": 0.05}}


def eval_matrix(scores: dict[str, dict[str, float]], base: str, gates: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Every candidate against every suite: its score, the change from the base, pass or fail by the suite's
    gate ("min": an absolute floor for the new task; "max_drop": the regression allowed on an old skill).
    A candidate ships only if it passes every suite; the best of those on the first suite is chosen."""
    cells: dict[str, dict[str, Any]] = {}
    for name, row in scores.items():
        if name == base:
            continue
        cells[name] = {}
        for suite, gate in gates.items():
            delta = row[suite] - scores[base][suite]
            ok = row[suite] >= gate["min"] if "min" in gate else -delta <= gate["max_drop"] + 1e-12
            cells[name][suite] = {"score": row[suite], "delta": round(delta, 4), "pass": ok}
        cells[name]["ship"] = all(c["pass"] for c in cells[name].values())
    target = next(iter(gates))
    passing = [n for n in cells if cells[n]["ship"]]
    pick = max(passing, key=lambda n: scores[n][target]) if passing else None
    return {"scores": scores, "base": base, "gates": gates, "matrix": cells, "answer": pick}


def grpo_exercise(rewards: list[float]) -> dict[str, Any]:
    """The chapter's convention is the answer; trl's, which the trainer uses, is shown beside it, labelled."""
    by = {name: [round(a, 4) for a in objectives.grpo_advantages(rewards, name)] for name in objectives.GRPO_CONVENTIONS}
    return {"rewards": rewards, "convention": objectives.GRPO_CONVENTIONS["chapter"]["label"], "answer": by["chapter"],
            "trl_trainer": {"convention": objectives.GRPO_CONVENTIONS["trl"]["label"], "advantages": by["trl"]}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    out = solve()
    if args.json:
        print(json.dumps(out))
        return 0
    for name, ex in out.items():
        print(f"== {name}")
        for key, value in ex.items():
            print(f"   {key}: {json.dumps(value, ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
