"""The cross-encoder trained on a generated corpus, measured on the fixture eval set it never saw.

    .venv/bin/python bench/bench_lab06_rerank.py      # trains the lab's reranker if missing or stale

Every answerable eval question is held out (the training pairs come from `generated.py`'s features,
none of which the fixture has). Reports ndcg@5 / mrr / recall@5 of hybrid and hybrid+rerank as the
cross-encoder's share w goes from 0 to 1 (kb.py: w · p_cross + (1 − w) · (1 − r/n)), per slice, and
how often the reranker puts a gold document above the first stage's hard negatives, and the spread
of its probabilities (a collapsed model outputs one number for every pair). Beside the fixture, the
same separation on a generated held-out split (`rerank.held_out_groups`: features the training
corpus lacks, mined exactly as the training pairs are). Writes
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
from labs.lab06_rag.rerank import SUBDIR, held_out_groups, load_reranker, separation
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
    p = np.array(list(memo.seen.values()))  # every (question, candidate) the sweep scored
    spread = {"std": float(p.std()), "min": float(p.min()), "p10": float(np.percentile(p, 10)),
              "median": float(np.median(p)), "p90": float(np.percentile(p, 90)), "max": float(p.max())}
    generated_held_out = separation(model, held_out_groups())
    print("generated held-out", json.dumps(generated_held_out))
    result = {"questions": len(questions), "trained": trained, "train_or_load_s": train_s,
              "gold_over_hard_negatives": wins, "rerank_weight": RERANK_WEIGHT, "probability_spread": spread,
              "generated_held_out": generated_held_out,
              "rows": {k: {"overall": v["overall"], "slices": v["slices"]} for k, v in rows.items()}}
    OUT.mkdir(exist_ok=True)
    (OUT / "lab06_rerank.json").write_text(json.dumps(result, indent=2) + "\n")
    slices = sorted(rows["hybrid"]["slices"])
    head = ("| all 55 answerable questions, held out | ndcg@5 | mrr | recall@5 | " +
            " | ".join(f"ndcg@5 {s}" for s in slices) + " |\n|---|" + "---|" * (3 + len(slices)) + "\n")
    lines = [f"| {name} | {r['overall']['ndcg@5']:.3f} | {r['overall']['mrr']:.3f} | {r['overall']['recall@5']:.3f} | "
             + " | ".join(f"{r['slices'][s]['ndcg@5']:.3f}" for s in slices) + " |" for name, r in rows.items()]
    g = generated_held_out
    body = (head + "\n".join(lines) + f"\n\nTrained on {trained['pairs']} generated pairs ({trained.get('pooling', 'cls')} "
            f"pooling, binary cross-entropy, {trained['epochs']} epoch(s), {trained.get('steps', '?')} steps, lr {trained.get('lr', '?')}, "
            f"{trained['layers']} layers, {trained.get('max_length', '?')} tokens; trained or loaded in {train_s:.0f} s). Fixture: gold above "
            f"the hybrid first stage's hard negatives on {wins:.2f} of pairs; its probabilities over every scored "
            f"candidate span {spread['min']:.3f}–{spread['max']:.3f} (p10 {spread['p10']:.3f}, median "
            f"{spread['median']:.3f}, p90 {spread['p90']:.3f}, std {spread['std']:.3f}). Generated held-out split "
            f"({g['queries']} queries on features it never trained on): gold above its mined negatives on "
            f"{g['gold_over_negatives']:.2f} of pairs, above another version of itself on "
            f"{g['gold_over_other_versions']:.2f}, ndcg@5 within each query's list {g['ndcg@5']:.3f}, score std "
            f"{g['score_std']:.3f} (p gold {g['p_gold']:.3f}, p negative {g['p_negative']:.3f}).")
    readme_block("rerank", body)
    print(body)


if __name__ == "__main__":
    main()
