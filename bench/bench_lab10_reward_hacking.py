"""Reward hacking and its two mitigations, measured with the lab's from-scratch PPO loop.

    python bench/bench_lab10_reward_hacking.py        # writes bench/results/lab10_reward_hacking.json and .png
    python bench/bench_lab10_reward_hacking.py --steps 10 --quick
    python bench/bench_lab10_reward_hacking.py --lr 3e-3        # one learning rate instead of both

One SFT+replay model is trained and merged (the policy that starts out answering with the sum), then
three PPO runs start from it with the same seed: the length-exploitable proxy reward at β = 0.04,
the same proxy at a large β (the KL penalty), and the length-penalised reward at β = 0.04 (the
reward fix). Each logs, per step, the reward it optimises, the true rule's reward and the length.
Finally the greedy answers of each trained policy on the held-out sums are scored under every reward.
The three runs repeat at each learning rate (default 1e-2 and 3e-3), from the same merged model: at
too hot a rate PPO collapses whatever the reward, which hides what the mitigations do.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import datasets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from transformers.utils import logging  # noqa: E402

from labs.lab10_finetune import model as M  # noqa: E402
from labs.lab10_finetune import ppo  # noqa: E402
from labs.lab10_finetune import reward_hacking as RH  # noqa: E402
from labs.lab10_finetune import train as T  # noqa: E402
from shared.plots import replot, save  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
RUNS = {"proxy, beta 0.04": {"reward": "length_biased", "beta": 0.04},
        "proxy, beta 1.0 (KL penalty)": {"reward": "length_biased", "beta": 1.0},
        "length-penalised, beta 0.04 (reward fix)": {"reward": "length_penalised", "beta": 0.04}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--lr", type=float, nargs="+", default=[1e-2, 3e-3])
    parser.add_argument("--quick", action="store_true", help="fewer SFT epochs (for a smoke run)")
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    args = parser.parse_args(argv)
    if args.replot:
        replot(OUT / "lab10_reward_hacking.json", PLOTS)
        return
    datasets.disable_progress_bars()
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    held = M.fixture("addition_test")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        base = M.base_path(tmp)
        sft = T.sft(base, M.fixture("addition_train"), Path(tmp) / "sft",
                    {"replay": 30, "epochs": 10 if args.quick else 30})
        merged = T.merge(base, sft["adapter"], Path(tmp) / "merged")
        start = _greedy(merged, None, held)
        by_lr = {}
        for lr in args.lr:
            runs = by_lr[f"{lr:g}"] = {}
            for name, hp in RUNS.items():
                folder = f"lr{lr:g}-" + name.split(",")[0].replace(" ", "-")
                out = ppo.train(merged, M.fixture("addition_train"), Path(tmp) / folder,
                                {**hp, "steps": args.steps, "lr": lr})
                runs[name] = {"hp": hp, "history": [{k: h[k] for k in ("step", "reward", "true_reward", "chars", "kl")}
                                                    for h in out["history"]],
                              "summary": {k: v for k, v in out.items() if k not in ("history", "adapter", "base")},
                              "held_out_greedy": _greedy(merged, out["adapter"], held)}
                print(f"lr {lr:g}, {name}: held-out {runs[name]['held_out_greedy']}", flush=True)
    result = {"machine": f"{os.cpu_count()} CPU cores, device {M.pick_device()}",
              "load_average_1min_at_end": round(os.getloadavg()[0], 2), "wall_s": round(time.perf_counter() - t0, 1),
              "steps": args.steps, "lrs": args.lr, "w_length": RH.W_LENGTH,
              "start_held_out_greedy": start, "by_lr": by_lr}
    OUT.mkdir(exist_ok=True)
    (OUT / "lab10_reward_hacking.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, OUT / "lab10_reward_hacking.png")
    print(json.dumps({k: v for k, v in result.items() if k != "by_lr"} | {"by_lr": {
        lr: {n: {"summary": r["summary"], "held_out_greedy": r["held_out_greedy"]} for n, r in runs.items()}
        for lr, runs in by_lr.items()}}, indent=2))


def _greedy(path: str, adapter: str | None, rows) -> dict[str, float]:
    model, tok = M.load(path, adapter, device="cpu")
    got = M.generate(model, tok, [r["prompt"] for r in rows])
    return RH.scored(got, [r["completion"] for r in rows]) | {"samples": got[:4]}


def plot(result: dict, path: Path) -> None:
    """True reward and completion length per PPO step, one column per learning rate, from the JSON."""
    lrs = list(result["by_lr"])
    fig, axes = plt.subplots(2, len(lrs), figsize=(5 * len(lrs), 6.4), squeeze=False, sharex=True)
    for col, lr in enumerate(lrs):
        for name, run in result["by_lr"][lr].items():
            steps = [h["step"] for h in run["history"]]
            axes[0][col].plot(steps, [h["true_reward"] for h in run["history"]], label=name)
            axes[1][col].plot(steps, [h["chars"] for h in run["history"]], label=name)
        axes[0][col].set(ylabel="true reward (exact sum rule)", title=f"lr {lr}: what we wanted", ylim=(-0.05, 1.05))
        axes[1][col].set(xlabel="PPO step", ylabel="completion characters", title=f"lr {lr}: what the proxy paid for")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    save(fig, path)


PLOTS = {"lab10_reward_hacking.png": plot}


if __name__ == "__main__":
    main()
