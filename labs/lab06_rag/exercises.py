"""The chapter's worked exercises.

    python -m labs.lab06_rag.exercises          # readable
    python -m labs.lab06_rag.exercises --json   # one JSON object {exercise: {inputs..., answer...}}
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter

from labs.lab06_rag.bm25 import BM25, tokenize
from labs.lab06_rag.corpus import load
from labs.lab06_rag.hybrid import rrf
from labs.lab06_rag.metrics import ndcg_at_k


def bm25_by_hand() -> dict:
    """BM25 of the query "refund policy" on three documents, every term of the sum shown."""
    docs = ["refund policy for annual plans", "refund refund refund window", "sso policy and sso setup"]
    query, k1, b = "refund policy", 1.5, 0.75
    toks = [tokenize(d) for d in docs]
    N, avgdl = len(toks), sum(map(len, toks)) / len(toks)
    steps, totals = [], []
    for d, tok in enumerate(toks):
        tf = Counter(tok)
        total = 0.0
        for t in tokenize(query):
            n_t = sum(t in x for x in toks)
            idf = math.log((N - n_t + 0.5) / (n_t + 0.5))
            term = idf * tf[t] * (k1 + 1) / (tf[t] + k1 * (1 - b + b * len(tok) / avgdl)) if tf[t] else 0.0
            steps.append({"doc": d, "term": t, "tf": tf[t], "n_t": n_t, "idf": round(idf, 4), "|d|": len(tok),
                          "contribution": round(term, 4)})
            total += term
        totals.append(round(total, 4))
    library = [round(float(s), 4) for s in BM25(toks, k1, b).scores(tokenize(query))]
    return {"documents": docs, "query": query, "k1": k1, "b": b, "avgdl": round(avgdl, 4), "terms": steps,
            "answer": totals, "library_scores": library,
            "note": "n_t = 2 of N = 3 gives idf = ln(1.5/2.5) < 0: the formula punishes common terms. "
                    "rank-bm25 floors such idf at 0.25 x mean idf, which is what the library column shows."}


def rrf_exercise() -> dict:
    bm25 = ["d3", "d1", "d7", "d2"]
    dense = ["d1", "d5", "d3", "d9"]
    fused = rrf([bm25, dense], k=60)
    return {"bm25_ranking": bm25, "dense_ranking": dense, "k": 60,
            "answer": [{"doc": d, "score": round(s, 5)} for d, s in fused],
            "why": "d1 is 2nd and 1st: 1/62 + 1/61 beats d3's 1/61 + 1/63"}


def ndcg_exercise() -> dict:
    ranked = ["a", "b", "c", "d", "e"]
    grades = {"a": 1, "b": 0, "c": 2, "d": 0, "e": 1, "f": 2}
    dcg = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(grades.values(), reverse=True)[:5]))
    return {"ranked": ranked, "grades": grades, "k": 5, "dcg": round(dcg, 4), "idcg": round(ideal, 4),
            "answer": round(ndcg_at_k(ranked, grades, 5), 4)}


def eval_set_design() -> dict:
    questions = load("eval")
    slices = Counter(q["slice"] for q in questions)
    examples = {s: next(q for q in questions if q["slice"] == s) for s in slices}
    return {"questions": len(questions), "answer": dict(slices),
            "why": {"single-fact": "one document answers; paraphrased so lexical and dense fail differently",
                    "multi-hop": "needs the plan document and the feature document together",
                    "unanswerable": "nothing in the KB answers; the right output is 'I don't know'",
                    "freshness": "no version named: the newest document is the right one, older ones are "
                                 "graded 1 (related, stale)"},
            "examples": {s: {"question": q["question"], "relevant": q["relevant"], "answer": q["answer"]}
                         for s, q in examples.items()}}


EXERCISES = {"bm25_by_hand": bm25_by_hand, "rrf": rrf_exercise, "ndcg": ndcg_exercise,
             "eval_set_design": eval_set_design}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {name: fn() for name, fn in EXERCISES.items()}
    if args.json:
        print(json.dumps(results))
        return
    for name, result in results.items():
        print(f"== {name} ==")
        for key, value in result.items():
            if key == "terms":
                for step in value:
                    print("   ", step)
            else:
                print(f"  {key}: {json.dumps(value) if isinstance(value, dict | list) else value}")
        print()


if __name__ == "__main__":
    main()
