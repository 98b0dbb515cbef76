"""The whole path in one process: `python -m labs.lab10_finetune pipeline` (build → SFT → merge → DPO → generate,
plus a reward model and a few GRPO steps on the merged SFT model).

What the CI smoke test runs and asserts on: held-out addition exact match before/after SFT, the
successor skill before/after (forgetting) with and without replay, DPO held-out reward accuracy
and margin before/after, the from-scratch DPO loss against trl's, the merged model's answers, reward-model
pairwise accuracy, and GRPO reward (first vs last quarter of steps), its std, KL and completion length,
with the from-scratch group advantages checked against trl's on every group GRPO scored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labs.lab10_finetune import model as M
from labs.lab10_finetune import train as T

Stage = Callable[[str], Callable[[int, int, dict[str, Any]], None] | None]


def run(out_dir: str | Path, stage_progress: Stage | None = None, dpo_hp: dict[str, Any] | None = None
        ) -> dict[str, Any]:
    out = Path(out_dir)
    hook = stage_progress or (lambda name: None)
    report: dict[str, Any] = {"stages": {}}
    evals = {"addition": M.fixture("addition_test"), "successor": M.fixture("successor_test")}

    t0 = time.perf_counter()
    base = M.base_path(out)
    report["stages"]["build"] = {"wall_s": round(time.perf_counter() - t0, 2)}

    sft = T.sft(base, M.fixture("addition_train"), out / "sft", on_progress=hook("sft"), eval_sets=evals)
    replay = T.sft(base, M.fixture("addition_train"), out / "sft-replay", {"replay": 30},
                   on_progress=hook("sft+replay"), eval_sets=evals)
    for name, r in (("sft", sft), ("sft+replay", replay)):
        report["stages"][name] = {"wall_s": r["wall_s"], "tokens_per_s": r["history"][-1].get("tokens_per_s"),
                                  "before": r["exact_match_before"], "after": r["exact_match_after"]}

    t0 = time.perf_counter()
    merged = T.merge(base, replay["adapter"], out / "sft-merged")
    report["stages"]["merge"] = {"wall_s": round(time.perf_counter() - t0, 2)}

    dpo = T.dpo(merged, M.fixture("prefs_train"), out / "dpo", dpo_hp, on_progress=hook("dpo"),
                eval_rows=M.fixture("prefs_test"), eval_sets={"addition": evals["addition"]})
    report["stages"]["dpo"] = {"wall_s": dpo["wall_s"], "tokens_per_s": dpo["history"][-1].get("tokens_per_s"),
                               "heldout_before": dpo["heldout_before"], "heldout_after": dpo["heldout_after"],
                               "exact_match_before": dpo["exact_match_before"],
                               "exact_match_after": dpo["exact_match_after"], "loss_check": dpo["loss_check"]}

    rm = T.reward(merged, M.fixture("rm_train"), out / "reward", on_progress=hook("reward"),
                  eval_rows=M.fixture("prefs_test"))
    report["stages"]["reward"] = {"wall_s": rm["wall_s"], "tokens_per_s": rm["history"][-1].get("tokens_per_s"),
                                  "train_accuracy": rm["history"][-1].get("accuracy"),
                                  "heldout_before": rm["pairwise_accuracy_before"],
                                  "heldout_after": rm["pairwise_accuracy_after"]}
    grpo = T.grpo(merged, M.fixture("addition_train"), out / "grpo", on_progress=hook("grpo"))
    report["stages"]["grpo"] = {"tokens_per_s": grpo["history"][-1].get("tokens_per_s"),
                                **{k: v for k, v in grpo.items() if k not in ("history", "adapter", "base", "kind")}}

    t0 = time.perf_counter()
    model, tok = M.load(merged, dpo["adapter"])
    prompts = [r["prompt"] for r in evals["addition"][:5]]
    report["samples"] = dict(zip(prompts, M.generate(model, tok, prompts), strict=True))
    report["stages"]["generate"] = {"wall_s": round(time.perf_counter() - t0, 2)}
    return report
