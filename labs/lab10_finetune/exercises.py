"""The chapter's worked exercises: `python -m labs.lab10_finetune.exercises` (`--json` for one JSON object)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from labs.lab10_finetune import budget, objectives

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
    }


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
