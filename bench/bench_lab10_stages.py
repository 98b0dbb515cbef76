"""Wall time and tokens/s per fine-tuning stage, and LoRA vs full fine-tune side by side.

    python bench/bench_lab10_stages.py        # writes bench/results/lab10_stages.json and .png

One process, the default (CI smoke) configuration: build → SFT → SFT+replay → merge → DPO → reward
model → GRPO → generate, then the same SFT as a full fine-tune. Ratios are against LoRA SFT.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import datasets
from transformers.utils import logging

from labs.lab10_finetune import model as M
from labs.lab10_finetune import pipeline
from labs.lab10_finetune import train as T
from shared.plots import plt, replot, save

OUT = Path(__file__).resolve().parent / "results"


def plot(result: dict, path: Path) -> None:
    """Wall time per pipeline stage, from the JSON's "stages"."""
    names = list(result["stages"])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(names, [result["stages"][n]["wall_s"] for n in names])
    ax.set(xlabel="pipeline stage", ylabel="wall time (s)", title=f"lab-10 pipeline stages ({result['machine']})")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    save(fig, path)


PLOTS = {"lab10_stages.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab10_stages.json", PLOTS)
        return
    datasets.disable_progress_bars()
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report = pipeline.run(tmp)
        total = time.perf_counter() - t0
        evals = {"addition": M.fixture("addition_test"), "successor": M.fixture("successor_test")}
        full = T.sft(M.base_path(tmp), M.fixture("addition_train"), Path(tmp) / "full", {"method": "full"},
                     eval_sets=evals)
    stages = report["stages"]
    lora = stages["sft"]
    result = {
        "machine": f"{os.cpu_count()} CPU cores, device {M.pick_device()}",
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "pipeline_wall_s": round(total, 2),
        "stages": {k: {"wall_s": v["wall_s"], "tokens_per_s": v.get("tokens_per_s"),
                       "wall_vs_lora_sft": round(v["wall_s"] / lora["wall_s"], 2)} for k, v in stages.items()},
        "lora_vs_full": {
            "lora": {"wall_s": lora["wall_s"], "tokens_per_s": lora["tokens_per_s"], "after": lora["after"]},
            "full": {"wall_s": full["wall_s"], "tokens_per_s": full["history"][-1]["tokens_per_s"],
                     "trainable_params": full["trainable_params"], "after": full["exact_match_after"]},
            "full_wall_over_lora": round(full["wall_s"] / lora["wall_s"], 2),
        },
        "gains": {k: stages[k] for k in ("sft", "sft+replay")} | {
            "dpo_heldout_before": stages["dpo"]["heldout_before"],
            "dpo_heldout_after": stages["dpo"]["heldout_after"], "dpo_loss_check": stages["dpo"]["loss_check"],
            "reward": stages["reward"],
            "grpo": stages["grpo"]},
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "lab10_stages.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, OUT / "lab10_stages.png")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
