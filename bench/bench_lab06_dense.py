"""Vector indexes: recall@10 vs latency of HNSW (efSearch sweep), IVF and IVF-PQ (nprobe sweep) against Flat.

    .venv/bin/python bench/bench_lab06_dense.py        # ~3-5 minutes on 2 cores (HNSW build dominates)
    .venv/bin/python bench/bench_lab06_dense.py --matryoshka-only   # after regenerating the fixture

100k clustered synthetic 384-d unit vectors (50 broad clusters, so one cluster spans many IVF lists; MiniLM would need ~8 minutes to embed
this many sentences here, and index speed depends only on the geometry). One query at a time, one
thread, so latencies compare like for like. recall@10 = |approx top-10 ∩ exact top-10| / 10, exact =
Flat. Also the Matryoshka row: truncating MiniLM to m dims on the fixture, its recall of the 384-d
neighbours. Writes bench/results/lab06_dense.json + .png.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from labs.lab06_rag.dense import make_faiss, normalise
from labs.lab06_rag.evaluate import readme_block

OUT = Path(__file__).resolve().parent / "results"
N, DIM, CLUSTERS, QUERIES = 100_000, 384, 50, 200


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = normalise(rng.standard_normal((CLUSTERS, DIM)).astype(np.float32))
    def draw(n):
        return normalise(centres[rng.integers(0, CLUSTERS, n)] + 0.05 * rng.standard_normal((n, DIM)).astype(np.float32))
    return draw(N), draw(QUERIES)


def run(index, Q: np.ndarray) -> tuple[np.ndarray, float]:
    out = np.zeros((len(Q), 10), dtype=np.int64)
    t = time.perf_counter()
    for i, q in enumerate(Q):
        out[i] = index.search(q.reshape(1, -1), 10)[1][0]
    return out, (time.perf_counter() - t) / len(Q) * 1e3


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))


def matryoshka() -> list[dict]:
    from labs.lab06_rag.corpus import load
    from labs.lab06_rag.dense import sentence_model, truncate

    docs = load("corpus")
    full = np.asarray(sentence_model().encode([f"{d['title']}. {d['text']}" for d in docs], normalize_embeddings=True))
    qs = np.asarray(sentence_model().encode([q["question"] for q in load("eval")], normalize_embeddings=True))
    truth = np.argsort(-(qs @ full.T), axis=1)[:, :10]
    rows = []
    for m in (384, 256, 128, 64, 32):
        sims = truncate(qs, m) @ truncate(full, m).T
        rows.append({"dims": m, "bytes_per_vector": m * 4,
                     "recall@10_of_full": recall(np.argsort(-sims, axis=1)[:, :10], truth)})
    return rows


def matryoshka_only() -> None:
    """Refresh only the fixture-dependent Matryoshka row (after the fixture is regenerated), keeping the
    stored index curves: those use synthetic vectors and do not depend on the fixture."""
    path = OUT / "lab06_dense.json"
    result = json.loads(path.read_text())
    result["matryoshka_minilm_fixture"] = matryoshka()
    path.write_text(json.dumps(result, indent=2) + "\n")
    write_readme(result)
    print(json.dumps(result["matryoshka_minilm_fixture"], indent=2))


def write_readme(result: dict) -> None:
    flat_ms, curves, build = result["flat_ms"], result["curves"], result["build_s"]
    lines = ["| index | setting | recall@10 | ms/query | speed vs flat |", "|---|---|---|---|---|",
             f"| flat | exact | 1.000 | {flat_ms:.2f} | 1x |"]
    for kind, points in curves.items():
        knob = "efSearch" if kind == "hnsw" else "nprobe"
        for p in points:
            lines.append(f"| {kind} | {knob}={p[knob]} | {p['recall@10']:.3f} | {p['ms']:.3f} | {flat_ms / p['ms']:.1f}x |")
    mat = " · ".join(f"{r['dims']}d: {r['recall@10_of_full']:.2f}" for r in result["matryoshka_minilm_fixture"])
    readme_block("dense", "\n".join(lines) + f"\n\nTarget recall@10 ≥ 0.95 at ≥ 10x flat: "
                 f"{'met' if result['target_met'] else 'not met'}. Build time (s): "
                 + ", ".join(f"{k} {v:.0f}" for k, v in build.items())
                 + f".\n\nMatryoshka-style truncation of MiniLM (not trained for it), recall@10 of the 384-d "
                 f"neighbours on the fixture: {mat}.")


def main() -> None:
    if "--matryoshka-only" in sys.argv[1:]:
        matryoshka_only()
        return
    faiss.omp_set_num_threads(1)
    X, Q = data()
    flat = make_faiss("flat", DIM, N)
    flat.add(X)
    truth, flat_ms = run(flat, Q)
    curves: dict[str, list[dict]] = {}
    build: dict[str, float] = {}

    t = time.perf_counter()
    hnsw = make_faiss("hnsw", DIM, N, M=16)
    hnsw.hnsw.efConstruction = 64
    faiss.omp_set_num_threads(2)
    hnsw.add(X)
    faiss.omp_set_num_threads(1)
    build["hnsw"] = time.perf_counter() - t
    curves["hnsw"] = []
    for ef in (10, 16, 32, 64, 128, 256):
        hnsw.hnsw.efSearch = ef
        found, ms = run(hnsw, Q)
        curves["hnsw"].append({"efSearch": ef, "recall@10": recall(found, truth), "ms": ms})

    for kind in ("ivf", "ivfpq"):
        t = time.perf_counter()
        index = make_faiss(kind, DIM, N, nlist=1024, pq_m=48)
        faiss.omp_set_num_threads(2)
        index.train(X[:40_000])
        index.add(X)
        faiss.omp_set_num_threads(1)
        build[kind] = time.perf_counter() - t
        curves[kind] = []
        for nprobe in (1, 2, 4, 8, 16, 32, 64):
            index.nprobe = nprobe
            found, ms = run(index, Q)
            curves[kind].append({"nprobe": nprobe, "recall@10": recall(found, truth), "ms": ms})

    best = {}
    for kind, points in curves.items():
        ok = [p for p in points if p["recall@10"] >= 0.95]
        fastest = min(ok, key=lambda p: p["ms"]) if ok else None
        best[kind] = fastest and {**fastest, "speedup_vs_flat": round(flat_ms / fastest["ms"], 1)}
    result = {"vectors": N, "dim": DIM, "queries": QUERIES, "flat_ms": flat_ms, "build_s": build, "curves": curves,
              "fastest_at_recall_0.95": best,
              "target_met": any(b and b["speedup_vs_flat"] >= 10 for b in best.values()),
              "matryoshka_minilm_fixture": matryoshka()}
    OUT.mkdir(exist_ok=True)
    (OUT / "lab06_dense.json").write_text(json.dumps(result, indent=2) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for kind, points in curves.items():
        ax.plot([p["ms"] for p in points], [p["recall@10"] for p in points], "o-", label=kind)
    ax.axvline(flat_ms, color="k", ls="--", label=f"flat ({flat_ms:.1f} ms)")
    ax.axvline(flat_ms / 10, color="grey", ls=":", label="10x faster than flat")
    ax.axhline(0.95, color="grey", ls="-.", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("ms per query (1 thread)")
    ax.set_ylabel("recall@10 vs flat")
    ax.set_title(f"{N // 1000}k x {DIM}-d clustered vectors")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "lab06_dense.png", dpi=100)
    write_readme(result)
    print(json.dumps({k: v for k, v in result.items() if k != "curves"}, indent=2))


if __name__ == "__main__":
    main()
