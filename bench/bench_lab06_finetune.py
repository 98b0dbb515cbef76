"""The MiniLM bi-encoder fine-tuned with InfoNCE on a generated corpus, measured on what it never saw.

    .venv/bin/python bench/bench_lab06_finetune.py      # retrains DATA_DIR/lab06/biencoder (a few minutes on 2 cores)

Trains `finetune.train` on the triples of the generated corpus's first 30 features (query, fully
relevant document, one mined hard negative; in-batch negatives from the rest of the batch), then
compares dense retrieval (exact cosine over whole documents) with the base MiniLM and the tuned one
on two held-out sets: the fixture's 55 answerable eval questions (another product's knowledge base,
never trained on) and the queries about the generated corpus's last 10 features (same corpus, unseen
features). Writes bench/results/lab06_finetune.json, lab06_finetune.png (loss curve, before/after
bars) and the table between the `finetune` markers of labs/lab06_rag/README.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from labs.lab06_rag.evaluate import readme_block
from labs.lab06_rag.finetune import HELD_OUT, N_FEATURES, SUBDIR, K, compare, generated_split, train
from shared import plots
from shared.config import get_settings
from shared.plots import plt  # pyplot on the Agg backend, chosen by shared.plots

OUT = Path(__file__).resolve().parent / "results"
RECIPE = {"epochs": 2, "batch_size": 16, "lr": 3e-5, "scale": 20.0, "max_length": 64, "hard": 1}


def figure(losses: list[float], results: dict) -> plt.Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    steps = np.arange(1, len(losses) + 1)
    left.plot(steps, losses, color="0.7", label="per step")
    window = 5
    if len(losses) >= window:
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        left.plot(steps[window - 1:], smooth, color="C0", label=f"mean of {window}")
    left.set_xlabel("training step (batch of 16 triples)")
    left.set_ylabel("InfoNCE loss")
    left.set_title("fine-tuning MiniLM on the generated corpus")
    left.legend(loc="upper right")
    labels, base, tuned = [], [], []
    for split, rows in results.items():
        for metric in (f"recall@{K}", f"ndcg@{K}"):
            labels.append(f"{split.split(' (')[0].split(',')[0]}\n{metric}")
            base.append(rows["base"][metric])
            tuned.append(rows["fine-tuned"][metric])
    x = np.arange(len(labels))
    right.bar(x - 0.2, base, 0.4, label="base MiniLM", color="0.6")
    right.bar(x + 0.2, tuned, 0.4, label="fine-tuned", color="C0")
    for xi, b, t in zip(x, base, tuned, strict=True):
        right.text(xi + 0.2, t + 0.01, f"{t - b:+.3f}", ha="center", fontsize=8)
    right.set_xticks(x, labels, fontsize=8)
    right.set_ylim(0, 1.12)
    right.set_xlabel("held-out set and metric")
    right.set_ylabel("score (dense retrieval, exact cosine)")
    right.set_title("before and after, on questions never trained on")
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2)
    fig.tight_layout()
    return fig


def plot(result: dict, path: Path) -> None:
    """The loss curve and the before/after bars, from the JSON's "losses" and "results"."""
    plots.save(figure(result["losses"], result["results"]), path)


PLOTS = {"lab06_finetune.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        plots.replot(OUT / "lab06_finetune.json", PLOTS)
        return
    out = get_settings().lab_dir("lab06") / SUBDIR
    t0 = time.perf_counter()
    examples, text, asked = generated_split(hard=RECIPE["hard"])
    mine_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model, losses = train(examples, text, out, epochs=RECIPE["epochs"], batch_size=RECIPE["batch_size"],
                          lr=RECIPE["lr"], scale=RECIPE["scale"], max_length=RECIPE["max_length"],
                          progress=lambda s, t, loss: print(f"step {s}/{t} loss {loss:.3f}", flush=True))
    train_s = time.perf_counter() - t0
    results = compare(model, text, asked)
    result = {"recipe": RECIPE, "features": {"mined": N_FEATURES, "trained": N_FEATURES - HELD_OUT,
                                             "held_out": HELD_OUT},
              "triples": len(examples), "steps": len(losses), "mine_s": round(mine_s, 1),
              "train_s": round(train_s, 1), "losses": [round(v, 4) for v in losses], "results": results}
    OUT.mkdir(exist_ok=True)
    (OUT / "lab06_finetune.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, OUT / "lab06_finetune.png")
    lines = [f"| held-out set | queries | recall@{K} base | recall@{K} fine-tuned | NDCG@{K} base | NDCG@{K} fine-tuned |",
             "|---|---|---|---|---|---|"]
    for split, rows in results.items():
        b, t = rows["base"], rows["fine-tuned"]
        lines.append(f"| {split} | {b['queries']} | {b[f'recall@{K}']:.3f} | {t[f'recall@{K}']:.3f} "
                     f"({t[f'recall@{K}'] - b[f'recall@{K}']:+.3f}) | {b[f'ndcg@{K}']:.3f} | {t[f'ndcg@{K}']:.3f} "
                     f"({t[f'ndcg@{K}'] - b[f'ndcg@{K}']:+.3f}) |")
    fixture = results["fixture eval"]
    lines += ["", f"| fixture eval, by slice | questions | NDCG@{K} base | NDCG@{K} fine-tuned |", "|---|---|---|---|"]
    for name, b in fixture["base"]["slices"].items():
        t = fixture["fine-tuned"]["slices"][name]
        lines.append(f"| {name} | {b['queries']} | {b[f'ndcg@{K}']:.3f} | {t[f'ndcg@{K}']:.3f} "
                     f"({t[f'ndcg@{K}'] - b[f'ndcg@{K}']:+.3f}) |")
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    body = "\n".join(lines) + (
        f"\n\n{len(examples)} triples from {N_FEATURES - HELD_OUT} generated features, {len(losses)} steps "
        f"({RECIPE['epochs']} epochs, batch {RECIPE['batch_size']}, lr {RECIPE['lr']}, scale {RECIPE['scale']}, "
        f"{RECIPE['max_length']} tokens) in {train_s:.0f} s on this machine's CPU; InfoNCE loss {first:.3f} "
        f"(mean of the first 5 steps) → {last:.3f} (last 5).")
    readme_block("finetune", body)
    print(body)


if __name__ == "__main__":
    main()
