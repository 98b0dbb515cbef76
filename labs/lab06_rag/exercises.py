"""The chapter's worked exercises.

    python -m labs.lab06_rag.exercises          # readable
    python -m labs.lab06_rag.exercises --json   # one JSON object {exercise: {inputs..., answer...}}
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter

import torch

from labs.lab06_rag import vectordb
from labs.lab06_rag.bm25 import BM25, tokenize
from labs.lab06_rag.corpus import load
from labs.lab06_rag.hybrid import rrf
from labs.lab06_rag.infonce import infonce
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


def vector_db_choice() -> dict:
    """50M 768-d vectors, 200 QPS, filters, hybrid search, 20 tenants, a small team that prefers managed."""
    inputs = {"vectors": 50_000_000, "dim": 768, "qps": 200, "filters": True, "hybrid": True, "tenants": 20,
              "managed": "preferred", "ram_gb": 64, "max_nodes": 8}
    r = vectordb.decide(**inputs)
    return inputs | {"memory_gb": {i: m["gb"] for i, m in r["memory"].items()},
                     "ranking": [(row["option"], row["score"]) for row in r["matrix"] if not row["eliminated"]],
                     "eliminated": {row["option"]: row["eliminated"] for row in r["matrix"] if row["eliminated"]},
                     "answer": r["choice"],
                     "why": f"HNSW needs {r['memory']['hnsw']['gb']:.0f} GB for the vectors and links "
                            f"({r['memory']['hnsw']['nodes']} shards of 64 GB with headroom); IVF-PQ would fit "
                            f"{r['memory']['ivfpq']['nodes']} node at {r['memory']['ivfpq']['gb']:.1f} GB but loses "
                            "recall (dense.py's bench). The eliminated options miss a hard requirement."}


def self_host_vs_api() -> dict:
    """Embeddings for 2M documents of 500 tokens, 5% re-embedded a month: at what query volume does a GPU pay?"""
    inputs = {"documents": 2_000_000, "tokens_per_document": 500, "reembed_share": 0.05, "tokens_per_query": 20,
              "gpu_hour_usd": 1.2, "gpu_tokens_per_s": 20_000, "always_on_gpus": 1, "engineer_hours": 8,
              "engineer_hour_usd": 100}
    volumes = {q: vectordb.cost(queries_per_month=q, **inputs) for q in (3e7, 3e9, 3e10)}
    r = next(iter(volumes.values()))
    return inputs | {"api_price_per_m_tokens": r["api_price_per_m_tokens"],
                     "first_embedding_api_usd": r["first_embedding"]["api_usd"],
                     "monthly_usd": {f"{q:.0e} queries": v["monthly_usd"] | {"cheaper": v["cheaper"]}
                                     for q, v in volumes.items()},
                     "answer": r["break_even_queries_per_month"],
                     "why": "an always-on GPU and an engineer's hours are a fixed cost the API does not have; "
                            "self-hosting wins only once its per-token cost (g / tokens per GPU-hour) undercuts "
                            "the API's and the volume covers the fixed part"}


def infonce_exercise() -> dict:
    """InfoNCE of query 0 in a batch of three, as its positive's cosine c rises and the temperature τ changes.

    Query i is the unit vector e_i. Positive 0 is c·e_0 + √(1 − c²)·e_3; positives 1 and 2 have cosine
    0.9 with their own query and 0.3 with query 0, so they are query 0's in-batch negatives. Its term is
    then −log(e^(c/τ) / (e^(c/τ) + 2·e^(0.3/τ))) = log(1 + 2·e^((0.3 − c)/τ))."""
    def batch(c: float):
        q = torch.eye(3, 4, dtype=torch.float64)
        p = torch.tensor([[c, 0, 0, (1 - c * c) ** 0.5], [0.3, 0.9, 0, 0.1 ** 0.5], [0.3, 0, 0.9, 0.1 ** 0.5]],
                         dtype=torch.float64)
        return q, p

    rows = []
    for tau in (1.0, 0.1, 0.05):
        for c in (0.1, 0.3, 0.5, 0.9):
            q, p = batch(c)
            # query 0 alone, the other positives passed as its hard negatives: the same row of the loss
            own = infonce(q[:1], p[:1], p[1:].unsqueeze(0), scale=1 / tau).item()
            rows.append({"tau": tau, "scale": round(1 / tau, 1), "c": c, "query_0_loss": round(own, 4),
                         "by_hand": round(math.log(1 + 2 * math.exp((0.3 - c) / tau)), 4),
                         "batch_mean": round(infonce(q, p, scale=1 / tau).item(), 4)})
    span = {tau: (r[0]["query_0_loss"], r[-1]["query_0_loss"]) for tau in (1.0, 0.05)
            for r in [[x for x in rows if x["tau"] == tau]]}
    return {"batch": "queries e_0, e_1, e_2; positive 0 at cosine c, the other two at 0.9 with their own query "
                     "and 0.3 with query 0", "answer": rows,
            "why": f"the loss falls as c rises, and equals log 3 at c = 0.3 (the positive ties both negatives) "
                   f"whatever τ is. At τ = 1 it barely moves from c = 0.1 to 0.9 ({span[1.0][0]} → {span[1.0][1]}): "
                   f"a softmax over cosines in [−1, 1] is nearly flat. At τ = 0.05 (sentence-transformers' scale "
                   f"20) it runs {span[0.05][0]} → {span[0.05][1]}: a positive below a negative costs about "
                   f"(0.3 − c)/τ, one above them almost nothing"}


EXERCISES = {"bm25_by_hand": bm25_by_hand, "rrf": rrf_exercise, "ndcg": ndcg_exercise,
             "eval_set_design": eval_set_design, "vector_db_choice": vector_db_choice,
             "self_host_vs_api": self_host_vs_api, "infonce": infonce_exercise}


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
