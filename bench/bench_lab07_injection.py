"""Attack-success rate of prompt injections planted in tool outputs, per defense and all together.

    .venv/bin/python bench/bench_lab07_injection.py           # ~30 s on a laptop CPU
    -> bench/results/lab07_injection.json and .png

The model is mock/gullible (base: the lab's agent), which obeys instructions it finds in tool
output with probability `obedience`, less when they are spotlighted. Six attacks (cancel or refund
someone else's booking, hold seats or rooms for another customer) are planted in the results of
search tools during three flight + hotel bookings. ASR = attacks whose goal reached the database;
task success = the user's own booking still came out right (a defense that blocks everything is
not a defense).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

import shared  # noqa: F401  (offline environment first)
from labs.lab07_agents.injection import ATTACKS, Defenses
from labs.lab07_agents.suite import attack_success_rate, task_by_id
from shared.config import REPO_ROOT
from shared.plots import plt, replot, save

OUT = REPO_ROOT / "bench" / "results"
TASKS = ["book-13", "book-14", "book-19"]
ONLY = {name: Defenses(**{**Defenses.none().as_dict(), name: True}) for name in Defenses.none().as_dict()}
CONFIGS = {"none": Defenses.none(), **{f"only_{k}": v for k, v in ONLY.items()}, "all": Defenses.all()}


def plot(result: dict, path: Path) -> None:
    """Attack success and task success per defence configuration, from the JSON's "results"."""
    results = result["results"]
    fig, ax = plt.subplots(figsize=(9, 4))
    names = list(results)
    ax.bar([i - 0.2 for i in range(len(names))], [results[n]["asr"] for n in names], 0.4, label="attack success")
    ax.bar([i + 0.2 for i in range(len(names))], [results[n]["task_success"] for n in names], 0.4,
           label="task success")
    ax.set_xticks(range(len(names)), names, rotation=25)
    ax.set_xlabel("defences on")
    ax.set_ylabel("share of runs")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title("prompt injection via tool outputs (mock/gullible)")
    fig.tight_layout()
    save(fig, path, dpi=110)


PLOTS = {"lab07_injection.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab07_injection.json", PLOTS)
        return
    start = time.perf_counter()
    tasks = [task_by_id(t) for t in TASKS]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, defenses in tqdm(CONFIGS.items(), desc="defenses"):
            results[name] = attack_success_rate(defenses, Path(tmp) / name, tasks)
    none = results["none"]["asr"]
    for r in results.values():
        r["asr_ratio_to_none"] = round(r["asr"] / none, 3) if none else None
    OUT.mkdir(parents=True, exist_ok=True)
    out = {"attacks": len(ATTACKS), "tasks": TASKS, "model": "mock/gullible (base agent, obedience 0.9, "
           "spotlight_resistance 0.7)", "results": results, "wall_s": round(time.perf_counter() - start, 1)}
    (OUT / "lab07_injection.json").write_text(json.dumps(out, indent=2) + "\n")
    plot(out, OUT / "lab07_injection.png")
    print(f"{'defenses':<16} {'ASR':>6} {'x none':>7} {'task ok':>8}")
    for name, r in results.items():
        print(f"{name:<16} {r['asr']:>6.2f} {r['asr_ratio_to_none'] or 0:>7.2f} {r['task_success']:>8.2f}")


if __name__ == "__main__":
    main()
