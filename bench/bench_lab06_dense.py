"""Vector indexes: the recall@10-latency Pareto front of HNSW (efSearch) and IVF (nprobe), and the service defaults.

    PYTHONPATH=. .venv/bin/python bench/bench_lab06_dense.py        # ~3 minutes on 2 cores (HNSW build dominates)
    PYTHONPATH=. .venv/bin/python bench/bench_lab06_dense.py --ivfpq   # adds IVF-PQ on 100k (~1.5 minutes more)
    PYTHONPATH=. .venv/bin/python bench/bench_lab06_dense.py --matryoshka-only   # after regenerating the fixture

Two data sets, each indexed exactly as the service indexes (dense.make_faiss: HNSW M=32 efConstruction=80,
IVF nlist = min(4√n, n/39); the 100k IVF is trained on a 40k sample to keep the run short):
the project's own MiniLM embeddings of fixtures/lab06 (304 documents, its 67 eval questions), and 100k
clustered synthetic 384-d unit vectors (50 broad clusters, 200 queries; MiniLM would need ~8 minutes to
embed that many sentences here, and index speed depends only on the geometry). One query at a time, one
thread. Every setting is timed REPEATS times, the settings interleaved (order rotated each round), and
the median taken, so a noisy moment on a shared machine does not fold the curve back. recall@10 =
|approx top-10 ∩ exact top-10| / 10, exact = Flat. The front per index kind = settings no other setting
of that kind beats on both recall and median latency. The default per kind = the cheapest setting
with recall@10 ≥ TARGET on both data sets; dense.DEFAULT_EF_SEARCH / DEFAULT_NPROBE must equal it (the
JSON says whether they do). With --ivfpq, IVF-PQ (48 sub-quantisers, nlist 1024) is swept on the 100k set.
Also the Matryoshka row: truncating MiniLM to m dims on the fixture, its recall of the 384-d
neighbours. Writes bench/results/lab06_dense.json + .png.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from labs.lab06_rag.dense import DEFAULT_EF_SEARCH, DEFAULT_NPROBE, make_faiss, normalise
from labs.lab06_rag.evaluate import readme_block
from shared.plots import plt, replot, save

OUT = Path(__file__).resolve().parent / "results"
N, DIM, CLUSTERS, QUERIES, REPEATS, TARGET = 100_000, 384, 50, 200, 5, 0.95
KNOBS = {"hnsw": ("efSearch", (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)),
         "ivf": ("nprobe", (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)), "ivfpq": ("nprobe", (1, 4, 16, 64))}


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = normalise(rng.standard_normal((CLUSTERS, DIM)).astype(np.float32))
    def draw(n):
        return normalise(centres[rng.integers(0, CLUSTERS, n)] + 0.05 * rng.standard_normal((n, DIM)).astype(np.float32))
    return draw(N), draw(QUERIES)


def run(index, Q: np.ndarray, passes: int = 1) -> tuple[np.ndarray, float]:
    Q = np.ascontiguousarray(Q, dtype=np.float32)
    out = np.zeros((len(Q), 10), dtype=np.int64)
    t = time.perf_counter()
    for _ in range(passes):  # few, fast queries: several passes so one timing spans milliseconds
        for i, q in enumerate(Q):
            out[i] = index.search(q.reshape(1, -1), 10)[1][0]
    return out, (time.perf_counter() - t) / len(Q) / passes * 1e3


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))


def fixture_embeddings() -> tuple[np.ndarray, np.ndarray]:
    """MiniLM vectors of the lab's own corpus and eval questions (the service embeds the same texts)."""
    from labs.lab06_rag.corpus import load
    from labs.lab06_rag.dense import sentence_model

    docs = load("corpus")
    full = np.asarray(sentence_model().encode([f"{d['title']}. {d['text']}" for d in docs], normalize_embeddings=True))
    qs = np.asarray(sentence_model().encode([q["question"] for q in load("eval")], normalize_embeddings=True))
    return full.astype(np.float32), qs.astype(np.float32)


def matryoshka(full: np.ndarray | None = None, qs: np.ndarray | None = None) -> list[dict]:
    from labs.lab06_rag.dense import truncate

    if full is None or qs is None:
        full, qs = fixture_embeddings()
    truth = np.argsort(-(qs @ full.T), axis=1)[:, :10]
    rows = []
    for m in (384, 256, 128, 64, 32):
        sims = truncate(qs, m) @ truncate(full, m).T
        rows.append({"dims": m, "bytes_per_vector": m * 4,
                     "recall@10_of_full": recall(np.argsort(-sims, axis=1)[:, :10], truth)})
    return rows


def matryoshka_only() -> None:
    """Refresh only the fixture-dependent Matryoshka row (after the fixture is regenerated), keeping the
    stored index curves (a full run refreshes the fixture's front too)."""
    path = OUT / "lab06_dense.json"
    result = json.loads(path.read_text())
    result["matryoshka_minilm_fixture"] = matryoshka()
    path.write_text(json.dumps(result, indent=2) + "\n")
    write_readme(result)
    print(json.dumps(result["matryoshka_minilm_fixture"], indent=2))


def write_readme(result: dict) -> None:
    lines = ["The front of each index kind, and the chosen default:", "",
             "| data | index | setting | recall@10 | median ms/query | speed vs flat | on the front |",
             "|---|---|---|---|---|---|---|"]
    for name, d in result["data_sets"].items():
        lines.append(f"| {name} | flat | exact | 1.000 | {d['flat_ms']:.3f} | 1x | |")
        for kind, points in d["curves"].items():
            knob = KNOBS[kind][0]
            chosen = result["chosen_defaults"].get(kind, {}).get(knob)
            for p in points:
                if not p["pareto"] and p[knob] != chosen:  # the PNG and JSON hold every setting
                    continue
                mark = "yes" if p["pareto"] else ""
                star = " **(default)**" if p[knob] == chosen else ""
                lines.append(f"| {name} | {kind} | {knob}={p[knob]}{star} | {p['recall@10']:.3f} | {p['ms']:.3f} | "
                             f"{d['flat_ms'] / p['ms']:.1f}x | {mark} |")
    chosen = ", ".join(f"{k} {knob}={v}" for k, c in result["chosen_defaults"].items() for knob, v in c.items()
                       if knob in ("efSearch", "nprobe"))
    builds = "; ".join(f"{name}: " + ", ".join(f"{k} {v:.1f}" for k, v in d["build_s"].items())
                       for name, d in result["data_sets"].items())
    noise = ", ".join(f"{name} {d['noise_max_over_min_median']}x" for name, d in result["data_sets"].items())
    mat = " · ".join(f"{r['dims']}d: {r['recall@10_of_full']:.2f}" for r in result["matryoshka_minilm_fixture"])
    readme_block("dense", "\n".join(lines) + f"\n\nService defaults chosen from these fronts (cheapest setting with "
                 f"recall@10 ≥ {result['target_recall@10']} on both data sets): {chosen}; dense.py's defaults "
                 f"{'match' if result['service_defaults_match'] else 'DO NOT match'}. Target recall@10 ≥ 0.95 at ≥ 10x flat "
                 f"on 100k: {'met' if result['target_met'] else 'not met'}. Build time (s): {builds}. Timing noise "
                 f"(median over settings of slowest/fastest repeat): {noise}."
                 f"\n\nMatryoshka-style truncation of MiniLM (not trained for it), recall@10 of the 384-d "
                 f"neighbours on the fixture: {mat}.")


def build(kind: str, X: np.ndarray) -> tuple[object, float]:
    """The index the service builds for n vectors (make_faiss defaults), trained on ≤ 40k of them."""
    t = time.perf_counter()
    faiss.omp_set_num_threads(2)
    if kind == "ivfpq":
        index = make_faiss(kind, X.shape[1], len(X), nlist=1024, pq_m=48)
    else:
        index = make_faiss(kind, X.shape[1], len(X))
    if kind != "hnsw":
        index.train(X[:40_000])
    index.add(X)
    faiss.omp_set_num_threads(1)
    return index, time.perf_counter() - t


def set_knob(index, kind: str, value: int) -> None:
    if kind == "hnsw":
        index.hnsw.efSearch = value
    else:
        index.nprobe = value


def pareto(points: list[dict]) -> list[dict]:
    """Points no other point beats on both axes: walking up in median latency, recall must rise."""
    front, best = [], -1.0
    for p in sorted(points, key=lambda p: (p["ms"], -p["recall@10"])):
        if p["recall@10"] > best:
            front.append(p)
            best = p["recall@10"]
    return front


def sweep(X: np.ndarray, Q: np.ndarray, kinds: tuple[str, ...], passes: int = 1) -> dict:
    flat = make_faiss("flat", X.shape[1], len(X))
    flat.add(X)
    truth, _ = run(flat, Q)
    indexes, build_s = {"flat": flat}, {}
    for kind in kinds:
        indexes[kind], build_s[kind] = build(kind, X)
    settings = [("flat", None)] + [(k, v) for k in kinds for v in KNOBS[k][1]]
    ms: dict[tuple, list[float]] = {s: [] for s in settings}
    found: dict[tuple, np.ndarray] = {}
    for r in range(REPEATS):  # interleaved rounds, order rotated: noise hits every setting alike
        shift = r * len(settings) // REPEATS
        for kind, value in settings[shift:] + settings[:shift]:
            if value is not None:
                set_knob(indexes[kind], kind, value)
            found[(kind, value)], t = run(indexes[kind], Q, passes)
            ms[(kind, value)].append(t)
    flat_ms = float(np.median(ms[("flat", None)]))
    curves = {}
    for kind in kinds:
        knob = KNOBS[kind][0]
        points = [{knob: v, "recall@10": round(recall(found[(kind, v)], truth), 4),
                   "ms": round(float(np.median(ms[(kind, v)])), 4),
                   "ms_range": [round(min(ms[(kind, v)]), 4), round(max(ms[(kind, v)]), 4)]} for v in KNOBS[kind][1]]
        on_front = {p[knob] for p in pareto(points)}
        for p in points:
            p["pareto"] = p[knob] in on_front
        curves[kind] = points
    spread = [max(v) / min(v) for v in ms.values()]
    return {"vectors": len(X), "queries": len(Q), "flat_ms": round(flat_ms, 4), "build_s": build_s, "curves": curves,
            "noise_max_over_min_median": round(float(np.median(spread)), 2)}


def choose_defaults(sets: dict[str, dict]) -> dict:
    """Per kind: the smallest knob (least work: efSearch and nprobe only add work) reaching TARGET recall
    on every data set. Its place on each front is reported: on a few hundred vectors every setting past
    a small one reaches 1.0 and sub-0.03 ms timings differ by noise, so the 100k front decides."""
    out = {}
    for kind in ("hnsw", "ivf"):
        knob = KNOBS[kind][0]
        ok = []
        for v in KNOBS[kind][1]:
            pts = [next(p for p in d["curves"][kind] if p[knob] == v) for d in sets.values()]
            if all(p["recall@10"] >= TARGET for p in pts):
                ok.append((v, pts))
        if ok:
            v, pts = ok[0]
            out[kind] = {knob: v, **{f"{name}_recall@10": p["recall@10"] for name, p in zip(sets, pts, strict=True)},
                         **{f"{name}_ms": p["ms"] for name, p in zip(sets, pts, strict=True)},
                         **{f"{name}_on_front": p["pareto"] for name, p in zip(sets, pts, strict=True)}}
    return out


def main() -> None:
    if "--replot" in sys.argv[1:]:  # re-draw the PNG from the committed JSON; measure nothing
        replot(OUT / "lab06_dense.json", PLOTS)
        return
    if "--matryoshka-only" in sys.argv[1:]:
        matryoshka_only()
        return
    faiss.omp_set_num_threads(1)
    full, qs = fixture_embeddings()
    X, Q = data()
    big_kinds = ("hnsw", "ivf", "ivfpq") if "--ivfpq" in sys.argv[1:] else ("hnsw", "ivf")
    sets = {"fixture_minilm": sweep(full, qs, ("hnsw", "ivf"), passes=20),
            "clustered_100k": sweep(X, Q, big_kinds)}
    defaults = choose_defaults(sets)
    service = {"hnsw": {"efSearch": DEFAULT_EF_SEARCH}, "ivf": {"nprobe": DEFAULT_NPROBE}}
    big = sets["clustered_100k"]
    best = {}
    for kind, points in big["curves"].items():
        ok = [p for p in points if p["recall@10"] >= TARGET]
        fastest = min(ok, key=lambda p: p["ms"]) if ok else None
        best[kind] = fastest and {**fastest, "speedup_vs_flat": round(big["flat_ms"] / fastest["ms"], 1)}
    result = {"dim": DIM, "repeats": REPEATS, "target_recall@10": TARGET, "data_sets": sets,
              "chosen_defaults": defaults, "service_defaults": service,
              "service_defaults_match": all(defaults.get(k, {}).get(knob) == v for k, d in service.items()
                                            for knob, v in d.items()),
              "fastest_at_recall_0.95_100k": best,
              "target_met": any(b and b["speedup_vs_flat"] >= 10 for b in best.values()),
              "matryoshka_minilm_fixture": matryoshka(full, qs)}
    OUT.mkdir(exist_ok=True)
    (OUT / "lab06_dense.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, OUT / "lab06_dense.png")
    write_readme(result)
    print(json.dumps({k: v for k, v in result.items() if k != "data_sets"}, indent=2))


def plot(result: dict, path: Path) -> None:
    """Recall@10 against median latency per index kind and data set, fronts and defaults, from the JSON."""
    fig, axes = plt.subplots(1, len(result["data_sets"]), figsize=(12, 4.2))
    for ax, (name, d) in zip(axes, result["data_sets"].items(), strict=True):
        for (kind, points), colour in zip(d["curves"].items(), ("C0", "C1", "C2"), strict=False):
            knob = KNOBS[kind][0]
            ax.plot([p["ms"] for p in points], [p["recall@10"] for p in points], "o", color=colour, alpha=.35, ms=4)
            front = [p for p in points if p["pareto"]]
            ax.plot([p["ms"] for p in front], [p["recall@10"] for p in front], "o-", color=colour,
                    label=f"{kind} front ({knob})")
            for p in front:
                ax.annotate(str(p[knob]), (p["ms"], p["recall@10"]), fontsize=7, xytext=(3, -9), textcoords="offset points")
            chosen = result["chosen_defaults"].get(kind)
            if chosen:
                p = next(p for p in points if p[knob] == chosen[knob])
                ax.plot(p["ms"], p["recall@10"], "*", color=colour, ms=16, mec="k", label=f"{kind} default {knob}={p[knob]}")
        ax.axvline(d["flat_ms"], color="k", ls="--", label=f"flat ({d['flat_ms']:.2f} ms)")
        ax.axhline(result["target_recall@10"], color="grey", ls="-.", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(f"median ms per query, 1 thread ({result['repeats']} interleaved repeats)")
        ax.set_ylabel("recall@10 vs flat")
        ax.set_title(f"{name}: {d['vectors']} x {result['dim']}-d, {d['queries']} queries")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save(fig, path)


PLOTS = {"lab06_dense.png": plot}


if __name__ == "__main__":
    main()
