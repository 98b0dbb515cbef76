"""Few-shot example selection and the bootstrapped prompt optimizer, measured with the mock's labeller.

    .venv/bin/python bench/bench_lab05_fewshot.py     # ~1 min
    -> bench/results/lab05_fewshot.json and .png

Every selection strategy (fewshot.STRATEGIES) at k = 2, 4, 8 demonstrations on the 80 held-out
tickets of fixtures/lab05/intents.jsonl, with the 96-ticket pool as the source of demonstrations;
then optimizer.optimize at full size (pool -> bootstrap, 64 dev tickets -> search, 80 test tickets).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import shared  # noqa: F401  (offline environment first)
from labs.lab05_patterns import fewshot, optimizer
from shared.config import REPO_ROOT, get_settings
from shared.llm import Model
from shared.plots import plt, replot, save

OUT = REPO_ROOT / "bench" / "results"
KS = (2, 4, 8)


def run() -> dict:
    model = Model.from_settings(get_settings())
    labeller = model.for_behaviour("labeller")
    pool, dev, test = fewshot.load("pool"), fewshot.load("dev"), fewshot.load("test")
    selector = fewshot.Selector(pool, model)
    report: dict = {"pool": len(pool), "dev": len(dev), "test": len(test), "selection": {}}
    for k in KS:
        report["selection"][f"k={k}"] = fewshot.report(fewshot.evaluate(labeller, selector, test, fewshot.STRATEGIES, k))
        print(f"k={k}: " + "  ".join(f"{s['strategy']} {s['accuracy']:.3f}" for s in report["selection"][f"k={k}"]))
    result = optimizer.optimize(labeller, pool, dev, test, k=8, candidates=8, max_bootstrapped=32, seed=0)
    report["optimizer"] = result.as_dict()
    print("optimizer:", json.dumps({"best_dev": report["optimizer"]["best"]["dev_score"], **report["optimizer"]["test"]}))
    return report


def plot(report: dict, path: Path) -> None:
    """Held-out accuracy against k, one line per selection strategy, from the JSON's "selection"."""
    ks = [int(key.split("=")[1]) for key in report["selection"]]
    strategies = [s["strategy"] for s in next(iter(report["selection"].values()))]
    fig, ax = plt.subplots(figsize=(7.5, 3.5))
    for strategy in strategies:
        acc = [next(s["accuracy"] for s in report["selection"][f"k={k}"] if s["strategy"] == strategy) for k in ks]
        ax.plot(ks, acc, marker="o", label=strategy)
    ax.set_xlabel("demonstrations k")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    save(fig, path, dpi=120)


PLOTS = {"lab05_fewshot.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab05_fewshot.json", PLOTS)
        return
    report = run()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lab05_fewshot.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, OUT / "lab05_fewshot.png")


if __name__ == "__main__":
    main()
