"""Retrieval and answer quality on the fixture eval set, per configuration, and lost-in-the-middle.

    .venv/bin/python bench/bench_lab06_quality.py      # ~5 minutes first time (trains the reranker,
                                                       # writes contextual prefixes); cached after

Rows: bm25 / dense / hybrid / hybrid+rerank / with contextual chunks. The reranker is trained on the
even-numbered features' questions, so the rerank rows also report the held-out (odd) questions apart.
Also sweeps the reranker's weight w (kb.py: w · cross-encoder + (1 − w) · first-stage rank) on the
held-in and held-out questions. Writes bench/results/lab06_quality.{json,png} and the tables between
the markers in labs/lab06_rag/README.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from labs.lab06_rag.answer import lost_in_the_middle
from labs.lab06_rag.corpus import load
from labs.lab06_rag.dense import Embedder
from labs.lab06_rag.evaluate import CONFIGS, evaluate, readme_block
from labs.lab06_rag.kb import RERANK_WEIGHT, fixture_kb
from labs.lab06_rag.rerank import held_in, load_reranker
from shared.config import get_settings
from shared.plots import plt, replot, save

OUT = Path(__file__).resolve().parent / "results"
COLUMNS = ["recall@5", "precision@5", "mrr", "ndcg@5", "answer_ok", "faithfulness", "answer_relevancy",
           "context_precision", "context_recall"]


def table(rows: dict[str, dict]) -> str:
    head = "| config | " + " | ".join(COLUMNS) + " | held-out ndcg@5 |\n|" + "---|" * (len(COLUMNS) + 2) + "\n"
    lines = []
    for name, r in rows.items():
        cells = [f"{r['overall'].get(c, float('nan')):.3f}" for c in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {r['held_out']['ndcg@5']:.3f} |")
    return head + "\n".join(lines)


def slice_table(rows: dict[str, dict], metric: str) -> str:
    slices = sorted(next(iter(rows.values()))["slices"])
    head = f"| {metric} by slice | " + " | ".join(slices) + " |\n|" + "---|" * (len(slices) + 1) + "\n"
    return head + "\n".join(f"| {name} | " + " | ".join(
        f"{r['slices'][s].get(metric, float('nan')):.3f}" for s in slices) + " |" for name, r in rows.items())


WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def rerank_sweep(kb, held: list[dict], held_out: list[dict]) -> dict[str, dict[str, float]]:
    """ndcg@5 of hybrid+rerank as the cross-encoder's weight w goes from 0 (first stage alone) to 1."""
    out = {}
    for w in WEIGHTS:
        kb.rerank_weight = w
        out[str(w)] = {part: evaluate(kb, "hybrid+rerank", qs, with_answers=False)["overall"]["ndcg@5"]
                       for part, qs in (("held_in", held), ("held_out", held_out))}
    kb.rerank_weight = RERANK_WEIGHT
    return out


def plot(result: dict, path: Path) -> None:
    """ndcg@5 per configuration (all and held-out questions) and against the rerank weight, from the JSON."""
    rows, sweep = result["configs"], result["rerank_weight_sweep"]
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    names = list(rows)
    x = np.arange(len(names))
    ax[0].bar(x - 0.2, [rows[n]["overall"]["ndcg@5"] for n in names], 0.4, label="all questions")
    ax[0].bar(x + 0.2, [rows[n]["held_out"]["ndcg@5"] for n in names], 0.4, label="held-out (reranker never saw)")
    ax[0].set_xticks(x, names, rotation=20, ha="right", fontsize=8)
    ax[0].set_ylim(0.5, 1)
    ax[0].set_title("ndcg@5 by configuration")
    ax[0].set_xlabel("retrieval configuration")
    ax[0].set_ylabel(f"ndcg@{result['k']}")
    ax[0].legend(fontsize=8)
    ws = [float(w) for w in sweep]
    for part in ("held_in", "held_out"):
        ax[1].plot(ws, [sweep[w][part] for w in sweep], marker="o", label=part.replace("_", "-"))
    ax[1].set_xlabel("w: cross-encoder share of the score")
    ax[1].set_ylabel(f"hybrid+rerank ndcg@{result['k']}")
    ax[1].set_title("hybrid+rerank ndcg@5 vs w")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    save(fig, path)


PLOTS = {"lab06_quality.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab06_quality.json", PLOTS)
        return
    lab = get_settings().lab_dir("lab06")
    folder = lab / "eval"
    t0 = time.perf_counter()
    reranker = load_reranker(lab, train_if_missing=True)
    train_s = time.perf_counter() - t0
    embed = Embedder(folder / "embeddings.sqlite").embed
    questions = load("eval")
    held_out = [q for q in questions if q["relevant"] and not held_in(q)]
    rows = {}
    for name, spec in CONFIGS.items():
        kb = fixture_kb(folder, spec.get("contextual", False), reranker)
        t = time.perf_counter()
        rows[name] = evaluate(kb, name, questions, embed=embed)
        rows[name]["held_out"] = evaluate(kb, name, held_out, with_answers=False)["overall"]
        rows[name]["seconds"] = round(time.perf_counter() - t, 1)
        print(name, json.dumps(rows[name]["overall"]))
    held = [q for q in questions if q["relevant"] and held_in(q)]
    sweep = rerank_sweep(fixture_kb(folder, False, reranker), held, held_out)
    print("rerank weight sweep", json.dumps(sweep))
    litm = {m: lost_in_the_middle(20, m) for m in (0.3, 1.0)}
    result = {"k": 5, "questions": len(questions), "held_out_questions": len(held_out),
              "reranker_train_or_load_s": round(train_s, 1), "rerank_weight": RERANK_WEIGHT,
              "configs": rows, "rerank_weight_sweep": sweep, "lost_in_the_middle": litm}
    OUT.mkdir(exist_ok=True)
    (OUT / "lab06_quality.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, OUT / "lab06_quality.png")
    a = litm[0.3]
    litm_md = ("| sources = 20, middle_attention = 0.3 | accuracy |\n|---|---|\n"
               f"| gold source first or last | {a['accuracy_at_ends']:.2f} |\n"
               f"| gold source in the middle half | {a['accuracy_in_middle']:.2f} |\n"
               f"| gold in the exact middle (position 10) | {a['gold_in_middle_unordered']:.2f} |\n"
               f"| gold ranked 1st, sources reordered best-at-ends | {a['gold_ranked_first_reordered']:.2f} |\n"
               f"| flat attention (middle_attention = 1): ends vs middle | {litm[1.0]['accuracy_at_ends']:.2f} vs "
               f"{litm[1.0]['accuracy_in_middle']:.2f} |")
    readme_block("quality", table(rows) + "\n\n" + slice_table(rows, "ndcg@5") + "\n\n" +
                 slice_table(rows, "answer_ok"))
    readme_block("litm", litm_md)
    readme_block("sweep", "| w (cross-encoder share) | " + " | ".join(sweep) + " |\n|---|" + "---|" * len(sweep) +
                 "\n" + "\n".join(f"| ndcg@5, {part.replace('_', '-')} | " + " | ".join(
                     f"{sweep[w][part]:.3f}" for w in sweep) + " |" for part in ("held_in", "held_out")))
    print(table(rows))
    print(litm_md)


if __name__ == "__main__":
    main()
