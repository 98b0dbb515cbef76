"""Self-consistency's accuracy gain over one sample, measured with the mock's noisy solver.

    .venv/bin/python bench/bench_lab05_self_consistency.py     # ~10 s
    -> bench/results/lab05_self_consistency.json and .png

60 fixture questions (fixtures/lab05/questions.jsonl), mock/noisy right with probability p = 0.6
per sample. Nine samples per question at temperature 0.8 (seeds 0..8); the vote over the first k
of them for k = 1, 3, 5, 7, 9, beside the binomial bound P(more than k/2 right). A run at
temperature 0 shows the other half of the lesson: identical greedy samples, no gain from voting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from tqdm import tqdm

import shared  # noqa: F401  (offline environment first)
from labs.lab05_patterns.orchestration import Caller, final_answer, majority, majority_accuracy_bound
from shared.config import FIXTURES, REPO_ROOT, get_settings
from shared.llm import Model
from shared.plots import plt, replot, save

OUT = REPO_ROOT / "bench" / "results"
KS = (1, 3, 5, 7, 9)


async def samples(question: str, p: float, temperature: float, k: int) -> list[str | None]:
    call = Caller(Model.from_settings(get_settings()).for_behaviour("noisy"), mock={"p": p})
    texts = await asyncio.gather(*(call(f"s{i}", question, temperature=temperature, seed=i) for i in range(k)))
    return [final_answer(t) for t in texts]


def run(p: float) -> dict:
    rows = [json.loads(line) for line in (FIXTURES / "lab05" / "questions.jsonl").read_text().splitlines()]
    report: dict = {"questions": len(rows), "p": p, "by_temperature": {}}
    for temperature in (0.8, 0.0):
        right = dict.fromkeys(KS, 0)
        for row in tqdm(rows, desc=f"T={temperature}", leave=False):
            answers = asyncio.run(samples(row["question"], p, temperature, max(KS)))
            for k in KS:
                right[k] += majority(answers[:k])[0] == row["answer"]
        report["by_temperature"][str(temperature)] = {
            f"k={k}": {"accuracy": right[k] / len(rows), "gain_over_single": right[k] / max(right[1], 1),
                       "binomial_bound": majority_accuracy_bound(p, k)} for k in KS}
    return report


def plot(report: dict, path: Path) -> None:
    """Majority-vote accuracy against k per temperature, and the binomial bound, from the JSON."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for temperature, rows in report["by_temperature"].items():
        ks = [int(key.split("=")[1]) for key in rows]
        ax.plot(ks, [rows[f"k={k}"]["accuracy"] for k in ks], marker="o", label=f"measured, T={temperature}")
    ax.plot(ks, [majority_accuracy_bound(report["p"], k) for k in ks], "k--", label="binomial bound")
    ax.set_xlabel("samples k")
    ax.set_ylabel("majority-vote accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower right")
    fig.tight_layout()
    save(fig, path, dpi=120)


PLOTS = {"lab05_self_consistency.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p", type=float, default=0.6)
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    args = parser.parse_args()
    if args.replot:
        replot(OUT / "lab05_self_consistency.json", PLOTS)
        return
    report = run(args.p)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lab05_self_consistency.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, OUT / "lab05_self_consistency.png")
    for temperature, rows in report["by_temperature"].items():
        print(f"T={temperature}: " + "  ".join(f"k={k}: {rows[f'k={k}']['accuracy']:.3f}" for k in KS))
    print("bound:  " + "  ".join(f"k={k}: {majority_accuracy_bound(args.p, k):.3f}" for k in KS))


if __name__ == "__main__":
    main()
