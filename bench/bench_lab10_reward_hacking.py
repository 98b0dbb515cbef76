"""Reward hacking and its two mitigations, measured with the lab's from-scratch PPO loop.

    python bench/bench_lab10_reward_hacking.py        # writes bench/results/lab10_reward_hacking.json and .png
    python bench/bench_lab10_reward_hacking.py --steps 10 --quick

One SFT+replay model is trained and merged (the policy that starts out answering with the sum), then
three PPO runs start from it with the same seed: the length-exploitable proxy reward at β = 0.04,
the same proxy at a large β (the KL penalty), and the length-penalised reward at β = 0.04 (the
reward fix). Each logs, per step, the reward it optimises, the true rule's reward and the length.
Finally the greedy answers of each trained policy on the held-out sums are scored under every reward.
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

OUT = Path(__file__).resolve().parent / "results"
RUNS = {"proxy, beta 0.04": {"reward": "length_biased", "beta": 0.04},
        "proxy, beta 1.0 (KL penalty)": {"reward": "length_biased", "beta": 1.0},
        "length-penalised, beta 0.04 (reward fix)": {"reward": "length_penalised", "beta": 0.04}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--quick", action="store_true", help="fewer SFT epochs (for a smoke run)")
    args = parser.parse_args(argv)
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
        runs = {}
        for name, hp in RUNS.items():
            out = ppo.train(merged, M.fixture("addition_train"), Path(tmp) / name.split(",")[0].replace(" ", "-"),
                            {**hp, "steps": args.steps, "lr": args.lr})
            runs[name] = {"hp": hp, "history": [{k: h[k] for k in ("step", "reward", "true_reward", "chars", "kl")}
                                                for h in out["history"]],
                          "summary": {k: v for k, v in out.items() if k not in ("history", "adapter", "base")},
                          "held_out_greedy": _greedy(merged, out["adapter"], held)}
    result = {"machine": f"{os.cpu_count()} CPU cores, device {M.pick_device()}",
              "load_average_1min_at_end": round(os.getloadavg()[0], 2), "wall_s": round(time.perf_counter() - t0, 1),
              "steps": args.steps, "lr": args.lr, "w_length": RH.W_LENGTH,
              "start_held_out_greedy": start, "runs": runs}
    OUT.mkdir(exist_ok=True)
    (OUT / "lab10_reward_hacking.json").write_text(json.dumps(result, indent=2) + "\n")
    _plot(result, OUT / "lab10_reward_hacking.png")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"} | {
        "runs": {n: {"summary": r["summary"], "held_out_greedy": r["held_out_greedy"]} for n, r in runs.items()}},
        indent=2))


def _greedy(path: str, adapter: str | None, rows) -> dict[str, float]:
    model, tok = M.load(path, adapter, device="cpu")
    got = M.generate(model, tok, [r["prompt"] for r in rows])
    return RH.scored(got, [r["completion"] for r in rows]) | {"samples": got[:4]}


def _plot(result, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, run in result["runs"].items():
        steps = [h["step"] for h in run["history"]]
        axes[0].plot(steps, [h["true_reward"] for h in run["history"]], label=name)
        axes[1].plot(steps, [h["chars"] for h in run["history"]], label=name)
    axes[0].set(xlabel="PPO step", ylabel="true reward (exact sum rule)", title="what we wanted")
    axes[1].set(xlabel="PPO step", ylabel="completion characters", title="what the proxy paid for")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
