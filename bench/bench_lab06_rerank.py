"""The cross-encoder trained on a generated corpus, measured on the fixture eval set it never saw.

    .venv/bin/python bench/bench_lab06_rerank.py      # trains the lab's reranker if missing or stale

Every answerable eval question is held out (the training pairs come from `generated.py`'s features,
none of which the fixture has). Reports ndcg@5 / mrr / recall@5 of hybrid and hybrid+rerank as the
cross-encoder's share w goes from 0 to 1 (kb.py: w · p_cross + (1 − w) · (1 − r/n)), per slice, and
how often the reranker puts a gold document above the first stage's hard negatives. Writes
bench/results/lab06_rerank.json and the table between the `rerank` markers of labs/lab06_rag/README.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from labs.lab06_rag.corpus import load
from labs.lab06_rag.evaluate import evaluate, readme_block
from labs.lab06_rag.kb import RERANK_WEIGHT, fixture_kb
from labs.lab06_rag.rerank import SUBDIR, load_reranker
from shared.config import get_settings

OUT = Path(__file__).resolve().parent / "results"
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


class Memo:
    """The reranker's scores, computed once per (query, text): the weight sweep re-blends, never re-reads."""

    def __init__(self, model):
        self.model, self.seen = model, {}

    def predict(self, pairs):
        todo = [p for p in dict.fromkeys(map(tuple, pairs)) if p not in self.seen]
        if todo:
            self.seen.update(zip(todo, np.asarray(self.model.predict(todo), float).tolist(), strict=True))
        return np.array([self.seen[tuple(p)] for p in pairs])


def gold_over_negatives(kb, model, questions) -> float:
    """Share of (gold, hard negative) pairs ranked right: negatives are the first stage's top unrelated hits."""
    docs = {d["id"]: f"{d['title']}. {d['text']}" for d in load("corpus")}
    wins = []
    for q in questions:
        gold = [d for d, g in q["relevant"].items() if g == 2]
        negatives = [h["doc_id"] for h in kb.search(q["question"], 10, "hybrid") if h["doc_id"] not in q["relevant"]][:3]
        s = model.predict([(q["question"], docs[d]) for d in gold + negatives])
        wins += [g > n for g in s[:len(gold)] for n in s[len(gold):]]
    return float(np.mean(wins))


def main() -> None:
    lab = get_settings().lab_dir("lab06")
    t0 = time.perf_counter()
    model = load_reranker(lab, train_if_missing=True)
    train_s = round(time.perf_counter() - t0, 1)
    trained = json.loads((lab / SUBDIR / "trained.json").read_text())
    memo = Memo(model)
    kb = fixture_kb(lab / "eval", reranker=memo)
    questions = [q for q in load("eval") if q["relevant"]]
    rows = {"hybrid": evaluate(kb, "hybrid", questions, with_answers=False)}
    for w in WEIGHTS:
        kb.rerank_weight = w
        rows[f"rerank w={w}"] = evaluate(kb, "hybrid+rerank", questions, with_answers=False)
        print(w, json.dumps(rows[f"rerank w={w}"]["overall"]))
    kb.rerank_weight = RERANK_WEIGHT
    wins = gold_over_negatives(kb, memo, questions)
    result = {"questions": len(questions), "trained": trained, "train_or_load_s": train_s,
              "gold_over_hard_negatives": wins, "rerank_weight": RERANK_WEIGHT,
              "rows": {k: {"overall": v["overall"], "slices": v["slices"]} for k, v in rows.items()}}
    OUT.mkdir(exist_ok=True)
    (OUT / "lab06_rerank.json").write_text(json.dumps(result, indent=2) + "\n")
    slices = sorted(rows["hybrid"]["slices"])
    head = ("| all 55 answerable questions, held out | ndcg@5 | mrr | recall@5 | " +
            " | ".join(f"ndcg@5 {s}" for s in slices) + " |\n|---|" + "---|" * (3 + len(slices)) + "\n")
    lines = [f"| {name} | {r['overall']['ndcg@5']:.3f} | {r['overall']['mrr']:.3f} | {r['overall']['recall@5']:.3f} | "
             + " | ".join(f"{r['slices'][s]['ndcg@5']:.3f}" for s in slices) + " |" for name, r in rows.items()]
    body = (head + "\n".join(lines) + f"\n\nTrained on {trained['pairs']} generated pairs, {trained['epochs']} "
            f"epoch(s); gold above the hybrid first stage's hard negatives: {wins:.2f} of pairs.")
    readme_block("rerank", body)
    print(body)


if __name__ == "__main__":
    main()
