"""Retrieval and answer quality on the fixture eval set, per configuration, and lost-in-the-middle.

    .venv/bin/python bench/bench_lab06_quality.py      # ~5 minutes first time (trains the reranker,
                                                       # writes contextual prefixes); cached after

Rows: bm25 / dense / hybrid / hybrid+rerank / with contextual chunks. The reranker is trained on the
even-numbered features' questions, so the rerank rows also report the held-out (odd) questions apart.
Writes bench/results/lab06_quality.json and the tables between the markers in labs/lab06_rag/README.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from labs.lab06_rag.answer import lost_in_the_middle
from labs.lab06_rag.corpus import load
from labs.lab06_rag.dense import Embedder
from labs.lab06_rag.evaluate import CONFIGS, evaluate, fixture_kb, readme_block
from labs.lab06_rag.rerank import held_in, load_reranker
from shared.config import get_settings

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


def main() -> None:
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
    litm = {m: lost_in_the_middle(20, m) for m in (0.3, 1.0)}
    result = {"k": 5, "questions": len(questions), "held_out_questions": len(held_out),
              "reranker_train_or_load_s": round(train_s, 1), "configs": rows, "lost_in_the_middle": litm}
    OUT.mkdir(exist_ok=True)
    (OUT / "lab06_quality.json").write_text(json.dumps(result, indent=2) + "\n")
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
    print(table(rows))
    print(litm_md)


if __name__ == "__main__":
    main()
