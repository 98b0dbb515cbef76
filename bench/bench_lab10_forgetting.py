"""Forgetting mitigations, each measured: gain on the new task vs loss of the old one.

    python bench/bench_lab10_forgetting.py       # writes bench/results/lab10_forgetting.json

The base model knows one skill ("next n:" → n+1); SFT teaches addition. Every run starts from the same
base with the lab's SFT (30 epochs, batch 16, seed 0) and changes one thing: the learning rate, an
L2-SP pull towards the base weights, replay rows, or LoRA vs a full fine-tune. WiSE-FT needs no
training: the LoRA and full fine-tunes of the first runs are interpolated with the base at a few a.
Scored by greedy exact match on the 20 held-out rows of each task (one row is 5 points).
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

from labs.lab10_finetune import forgetting as F
from labs.lab10_finetune import model as M
from labs.lab10_finetune import train as T

OUT = Path(__file__).resolve().parent / "results"


def scores(model, tok) -> dict[str, float]:
    return {"addition": M.exact_match(model, tok, M.fixture("addition_test")),
            "next_n": M.exact_match(model, tok, M.fixture("successor_test"))}


def wise_ft(base: str, tuned: str, adapter: str | None, grid: list[float]) -> dict[str, dict[str, float]]:
    """Score θ(a) = (1 − a)·θ⁰ + a·θ¹ for each a; θ¹ is the merged adapter or the fully tuned checkpoint."""
    model, tok = M.load(base, device="cpu")
    theta0 = {k: v.clone() for k, v in model.state_dict().items()}
    tuned_model = M.load(base, adapter, device="cpu")[0].merge_and_unload() if adapter else M.load(tuned, device="cpu")[0]
    theta1 = tuned_model.state_dict()
    out = {}
    for a in grid:
        model.load_state_dict(F.interpolate(theta0, theta1, a))
        out[f"a={a}"] = scores(model.eval(), tok)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--l2sp-lora", type=float, nargs="+", default=[0.02, 0.1, 1.0],
                        help="λ values for LoRA (the penalty is on (α/r)·B·A)")
    parser.add_argument("--l2sp-full", type=float, nargs="+", default=[0.02, 0.1, 1.0],
                        help="λ values for the full fine-tune")
    parser.add_argument("--low-lr", type=float, default=1e-3)
    parser.add_argument("--grid", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    parser.add_argument("--only", nargs="*", help="run only these run names (for a quick probe)")
    args = parser.parse_args(argv)
    datasets.disable_progress_bars()
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    runs_hp = {
        "LoRA, lr 5e-3 (the lab's SFT)": {},
        f"LoRA, lr {args.low_lr:g} (lower lr)": {"lr": args.low_lr},
        **{f"LoRA + L2-SP λ={lam:g}": {"l2sp": lam} for lam in args.l2sp_lora},
        "LoRA + replay 30": {"replay": 30},
        "full, lr 5e-3": {"method": "full"},
        f"full, lr {args.low_lr:g} (lower lr)": {"method": "full", "lr": args.low_lr},
        **{f"full + L2-SP λ={lam:g}": {"method": "full", "l2sp": lam} for lam in args.l2sp_full},
    }
    if args.only:
        runs_hp = {k: v for k, v in runs_hp.items() if any(o in k for o in args.only)}
    evals = {"addition": M.fixture("addition_test"), "next_n": M.fixture("successor_test")}
    t0 = time.perf_counter()
    runs, wise = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        base = M.base_path(tmp)
        for i, (name, hp) in enumerate(runs_hp.items()):
            out = T.sft(base, M.fixture("addition_train"), Path(tmp) / f"run{i}", hp, eval_sets=evals)
            runs[name] = {"hp": hp, "before": out["exact_match_before"], "after": out["exact_match_after"],
                          "trainable_params": out["trainable_params"], "wall_s": out["wall_s"],
                          "final_loss": out["history"][-1]["loss"] if out["history"] else None}
            print(name, runs[name]["after"], flush=True)
            if name.startswith("LoRA, lr 5e-3"):
                wise["LoRA, lr 5e-3"] = wise_ft(base, base, out["adapter"], args.grid)
            if name == "full, lr 5e-3":
                wise["full, lr 5e-3"] = wise_ft(base, out["adapter"], None, args.grid)
    result = {"machine": f"{os.cpu_count()} CPU cores, device {M.pick_device()}",
              "load_average_1min_at_end": round(os.getloadavg()[0], 2), "wall_s": round(time.perf_counter() - t0, 1),
              "runs": runs, "wise_ft": wise}
    OUT.mkdir(exist_ok=True)
    if not args.only:
        (OUT / "lab10_forgetting.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
