"""BM25 speed: this lab's sparse-matrix BM25 vs rank-bm25 vs bm25s on one 20k-document Zipfian corpus.

    .venv/bin/python bench/bench_lab06_bm25.py          # ~1 minute

Index time and single-query latency (one query at a time, top-10) for each, as ratios to rank-bm25,
plus top-10 agreement with rank-bm25 (scores differ by nothing: same formula; bm25s's lucene idf
differs, so its agreement is with our idf="lucene" variant). Writes bench/results/lab06_bm25.json + .png.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import bm25s
import numpy as np
from rank_bm25 import BM25Okapi

from labs.lab06_rag.bm25 import BM25
from labs.lab06_rag.corpus import synthetic
from labs.lab06_rag.evaluate import readme_block

OUT = Path(__file__).resolve().parent / "results"
N_DOCS, N_QUERIES, N_SLOW = 20_000, 1000, 100


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def top10(scores: np.ndarray) -> list[int]:
    idx = np.argpartition(-scores, 9)[:10]
    return sorted(idx[np.argsort(-scores[idx], kind="stable")].tolist())


def main() -> None:
    docs, queries = synthetic(N_DOCS, seed=0)
    ours, t_ours = timed(BM25, docs)
    ours_l, _ = timed(lambda d: BM25(d, idf="lucene"), docs)
    ref, t_ref = timed(BM25Okapi, docs)
    vocab = ours.vocab

    def index_bm25s():
        r = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
        r.index(bm25s.tokenization.Tokenized(ids=[[vocab[t] for t in d] for d in docs], vocab=dict(vocab)),
                show_progress=False)
        return r

    fast, t_fast = timed(index_bm25s)
    qids = [[vocab[t] for t in q if t in vocab] for q in queries]

    t = time.perf_counter()
    for q in queries:
        ours.top_k(q, 10)
    q_ours = (time.perf_counter() - t) / len(queries)
    t = time.perf_counter()
    for q in qids:
        s = fast.get_scores(q)
        np.argpartition(-s, 9)[:10]
    q_fast = (time.perf_counter() - t) / len(queries)
    t = time.perf_counter()
    agree_ref = []
    for q in queries[:N_SLOW]:
        ref_scores = ref.get_scores(q)
        agree_ref.append(top10(ref_scores))
    q_ref = (time.perf_counter() - t) / N_SLOW
    same_ref = np.mean([top10(ours.scores(q)) == a for q, a in zip(queries[:N_SLOW], agree_ref, strict=True)])
    same_fast = np.mean([top10(ours_l.scores(q)) == top10(fast.get_scores(i)) for q, i in zip(queries[:N_SLOW], qids[:N_SLOW],
                                                                                              strict=True)])
    result = {
        "corpus": {"docs": N_DOCS, "tokens": int(sum(map(len, docs))), "queries": len(queries), "zipf_s": 1.1},
        "index_s": {"ours": round(t_ours, 3), "rank_bm25": round(t_ref, 3), "bm25s": round(t_fast, 3)},
        "query_ms": {"ours": round(q_ours * 1e3, 4), "rank_bm25": round(q_ref * 1e3, 4), "bm25s": round(q_fast * 1e3, 4)},
        "queries_per_s": {"ours": round(1 / q_ours), "rank_bm25": round(1 / q_ref), "bm25s": round(1 / q_fast)},
        "speedup_vs_rank_bm25": {"ours": round(q_ref / q_ours, 1), "bm25s": round(q_ref / q_fast, 1)},
        "ours_vs_bm25s_throughput": round(q_fast / q_ours, 2),
        "top10_identical_to_rank_bm25": float(same_ref), "top10_identical_to_bm25s_lucene": float(same_fast),
        "target_met": bool(q_ours <= q_fast),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "lab06_bm25.json").write_text(json.dumps(result, indent=2) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    names = ["ours", "rank_bm25", "bm25s"]
    ax[0].bar(names, [result["queries_per_s"][n] for n in names])
    ax[0].set_yscale("log")
    ax[0].set_title(f"queries/s, top-10, {N_DOCS} docs")
    ax[1].bar(names, [result["index_s"][n] for n in names])
    ax[1].set_title("index time (s)")
    fig.tight_layout()
    fig.savefig(OUT / "lab06_bm25.png", dpi=100)
    q, ix = result["queries_per_s"], result["index_s"]
    readme_block("bm25", "| | this lab | rank-bm25 | bm25s |\n|---|---|---|---|\n"
                 f"| queries/s | {q['ours']} | {q['rank_bm25']} | {q['bm25s']} |\n"
                 f"| speed vs rank-bm25 | {result['speedup_vs_rank_bm25']['ours']}x | 1x | "
                 f"{result['speedup_vs_rank_bm25']['bm25s']}x |\n"
                 f"| index time (s) | {ix['ours']} | {ix['rank_bm25']} | {ix['bm25s']} |\n"
                 f"| top-10 identical | | {same_ref:.0%} | {same_fast:.0%} (lucene idf) |\n\n"
                 f"Throughput vs bm25s: {result['ours_vs_bm25s_throughput']}x "
                 f"(target ≥ 1: {'met' if result['target_met'] else 'not met'}).")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
