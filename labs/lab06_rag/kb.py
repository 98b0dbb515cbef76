"""The knowledge base: documents, chunk index versions, filters, tenants, upsert/delete, persistence.

    python -c "from labs.lab06_rag.kb import KnowledgeBase; ..."   (the service in app.py wraps it)

Documents live in SQLite (the source of truth). An index *version* is an immutable snapshot built
from them: chunks, a BM25 matrix and a FAISS index of the configured kind. A rebuild builds the next
version off to the side and swaps one reference (readers never see half an index), then writes it to
DATA_DIR and flips the CURRENT pointer with os.replace (atomic on POSIX), so a crash mid-write leaves
the previous version on disk. A failed rebuild changes nothing.

Between rebuilds, upserts and deletes are applied to the live version: new chunks are appended,
replaced or deleted chunks are tombstoned (HNSW has no delete), BM25 statistics are recomputed
(N, avgdl and idf all move when one document does; for thousands of chunks this is milliseconds).

Tenant isolation is a filter applied before ranking, in every mode: a query for tenant T only ever
scores rows whose tenant is T or "public". There is no code path that skips it.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from labs.lab06_rag import chunking, hybrid
from labs.lab06_rag.bm25 import BM25, tokenize
from labs.lab06_rag.corpus import load
from labs.lab06_rag.dense import INDEX_KINDS, Embedder, VectorIndex
from labs.lab06_rag.rewrite import rewrite
from labs.lab06_rag.vectorstore import FaissVectors, QdrantVectors
from shared.llm import Model
from shared.schemas import check_date
from shared.store import Store

CHUNKERS = ("fixed", "semantic", "hierarchical", "late")
MODES = ("bm25", "dense", "hybrid")
FILTER_KEYS = {"product", "version", "section", "doc_id", "updated_after", "updated_before"}
PUBLIC = "public"
RERANK_WEIGHT = 0.5  # w in search(): the cross-encoder's share of a reranked score (set a priori: equal shares)
MIN_PQ_CHUNKS = 64  # product quantisation trains 16+ centroids per sub-space: too few vectors cannot
MIGRATIONS = ["CREATE TABLE documents (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, body TEXT NOT NULL, "
              "stored_at REAL NOT NULL)"]


class FilterError(ValueError):
    """Malformed filters."""


class UnknownTenant(LookupError):
    """A tenant with no documents and not `public`."""


class TenantConflict(ValueError):
    """An upsert would move a document id into another tenant (it would overwrite their document)."""


class NoReranker(RuntimeError):
    """rerank asked for before a cross-encoder was trained or configured."""


@dataclass(frozen=True)
class RetrievalConfig:
    index: str = "hnsw"
    chunker: str = "fixed"
    chunk_tokens: int = 128
    overlap: int = 32
    contextual: bool = False
    embed_model: str = "minilm"
    dim: int | None = None  # Matryoshka-style truncation of the embedding

    def check(self) -> RetrievalConfig:
        if self.index not in INDEX_KINDS:
            raise ValueError(f"index must be one of {INDEX_KINDS}")
        if self.chunker not in CHUNKERS:
            raise ValueError(f"chunker must be one of {CHUNKERS}")
        if not 0 <= self.overlap < self.chunk_tokens:
            raise ValueError("need 0 <= overlap < chunk_tokens")
        return self


@dataclass
class Snapshot:
    version: int
    config: RetrievalConfig
    chunks: list[dict]
    vindex: VectorIndex
    dead: set[int] = field(default_factory=set)
    bm25: BM25 | None = None
    built_at: float = field(default_factory=time.time)

    def refresh_bm25(self) -> None:
        self.bm25 = BM25([tokenize(c["index_text"]) for c in self.chunks])

    def rows_of(self, doc_id: str) -> list[int]:
        return [i for i, c in enumerate(self.chunks) if c["doc_id"] == doc_id and i not in self.dead]


def check_filters(filters: dict[str, Any] | None) -> dict[str, Any]:
    filters = filters or {}
    if not isinstance(filters, dict):
        raise FilterError("filters must be an object")
    bad = set(filters) - FILTER_KEYS
    if bad:
        raise FilterError(f"unknown filter keys {sorted(bad)}; allowed: {sorted(FILTER_KEYS)}")
    for key, value in filters.items():
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) and v for v in values):
            raise FilterError(f"filter {key!r} needs a non-empty string or list of strings")
        if key.startswith("updated_"):
            try:
                for v in values:
                    check_date(v)
            except ValueError as exc:
                raise FilterError(f"filter {key!r} needs a date YYYY-MM-DD: {exc}") from None
    return filters


def matches(meta: dict, filters: dict[str, Any]) -> bool:
    for key, value in filters.items():
        if key == "updated_after":
            if meta.get("updated", "") < value:
                return False
        elif key == "updated_before":
            if meta.get("updated", "") > value:
                return False
        elif meta.get(key) not in (value if isinstance(value, list) else [value]):
            return False
    return True


class KnowledgeBase:
    def __init__(self, folder: Path, config: RetrievalConfig | None = None, model: Model | None = None,
                 reranker=None, vectors: FaissVectors | QdrantVectors | None = None):
        self.folder = Path(folder)
        self.vectors = vectors or FaissVectors()  # where the dense index lives (vectorstore.py)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.folder / "kb.sqlite", migrations=MIGRATIONS)
        self.model = model or Model.from_settings()  # contextual prefixes and query rewrites
        self.reranker = reranker
        self.rerank_weight = RERANK_WEIGHT
        self._embedders: dict[tuple, Embedder] = {}
        self._write = threading.RLock()
        self.snap: Snapshot | None = None
        self._load_current() or self._swap(self._build(config or RetrievalConfig(), None, 1))

    # --- documents -------------------------------------------------------------------------------
    def embedder(self, config: RetrievalConfig) -> Embedder:
        key = (config.embed_model, config.dim)
        if key not in self._embedders:
            self._embedders[key] = Embedder(self.folder / "embeddings.sqlite", config.embed_model, config.dim)
        return self._embedders[key]

    def documents(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.store.query("SELECT body FROM documents ORDER BY id")]

    def document(self, doc_id: str, tenant: str | None = None) -> dict | None:
        """A stored document; with `tenant`, only when it is that tenant's (or public, for reading).

        A tenant asking for another tenant's document gets None, exactly as for a missing id, so the
        answer does not even tell it the id exists.
        """
        row = self.store.one("SELECT tenant, body FROM documents WHERE id = ?", (doc_id,))
        if row is None or (tenant is not None and row["tenant"] not in (tenant, PUBLIC)):
            return None
        return json.loads(row["body"])

    def tenants(self) -> set[str]:
        return {PUBLIC} | {r["tenant"] for r in self.store.query("SELECT DISTINCT tenant FROM documents")}

    def upsert(self, docs: list[dict]) -> dict[str, int]:
        """Store and index documents; an existing id is replaced (old chunks tombstoned)."""
        with self._write:
            for d in docs:
                old = self.document(d["id"])
                if old and old["tenant"] != d["tenant"]:
                    raise TenantConflict(f"document {d['id']!r} belongs to another tenant")
            snap = self.snap
            new_chunks = [c for d in docs for c in self._chunk(d, snap.config)]
            vectors = self._vectors(new_chunks, snap.config, docs)
            existing = {d["id"] for d in docs if self.document(d["id"])}
            with self.store.tx() as db:
                for d in docs:
                    db.execute("INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?)",
                               (d["id"], d["tenant"], json.dumps(d), time.time()))
            for d in docs:
                snap.dead.update(snap.rows_of(d["id"]))
            snap.vindex.remove(sorted(snap.dead))
            snap.vindex.add(vectors, new_chunks)
            snap.chunks.extend(new_chunks)
            snap.refresh_bm25()
            self._persist(snap)
            return {"added": len(docs) - len(existing), "updated": len(existing), "chunks": len(new_chunks)}

    def delete(self, doc_id: str, tenant: str | None = None) -> bool:
        """Delete a document; with `tenant`, only that tenant's own (a public one needs tenant `public`)."""
        with self._write:
            doc = self.document(doc_id)
            if not doc or (tenant is not None and doc["tenant"] != tenant):
                return False
            with self.store.tx() as db:
                db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
            snap = self.snap
            rows = snap.rows_of(doc_id)
            snap.dead.update(rows)
            snap.vindex.remove(rows)
            self._persist(snap)
            return True

    # --- versions --------------------------------------------------------------------------------
    def rebuild(self, config: RetrievalConfig | None = None, progress=None) -> int:
        """Build the next version from the stored documents and swap it in (unchanged on failure)."""
        with self._write:
            config = (config or self.snap.config).check()
            snap = self._build(config, progress, self.snap.version + 1)
            self._swap(snap)
            return snap.version

    def _build(self, config: RetrievalConfig, progress, version: int) -> Snapshot:
        config.check()
        docs = self.documents()
        chunks: list[dict] = []
        for i, d in enumerate(docs):
            chunks.extend(self._chunk(d, config))
            if progress and (i % 50 == 0 or i == len(docs) - 1):
                progress(i + 1, len(docs) * 2, "chunking")
        if config.index == "ivfpq" and len(chunks) < MIN_PQ_CHUNKS:
            raise ValueError(f"ivfpq needs at least {MIN_PQ_CHUNKS} chunks to train; this corpus has {len(chunks)}")
        vectors = self._vectors(chunks, config, docs, progress=progress, offset=len(docs), total=len(docs) * 2)
        snap = Snapshot(version, config, chunks, self.vectors.create(config.index, vectors.shape[1], vectors, chunks,
                                                                     f"{self.folder.name}_v{version}"))
        snap.refresh_bm25()
        return snap

    def _chunk(self, doc: dict, config: RetrievalConfig) -> list[dict]:
        meta = {k: doc.get(k) for k in ("tenant", "product", "version", "section", "updated", "title")}
        if config.chunker == "hierarchical":
            pieces = chunking.hierarchical(doc, max(8, config.chunk_tokens // 4))
        elif config.chunker == "semantic":
            pieces = [{"text": t} for t in chunking.semantic(doc["text"], self.embedder(config).embed)]
        else:
            pieces = [{"text": t} for t in chunking.fixed(doc["text"], config.chunk_tokens, config.overlap)]
        out = []
        for j, piece in enumerate(pieces):
            prefix = chunking.contextual_prefix(doc, piece["text"], self.model) + " " if config.contextual else ""
            out.append({"id": f"{doc['id']}#{j}", "doc_id": doc["id"], "text": piece["text"],
                        "parent": piece.get("parent"),
                        "index_text": f"{prefix}{doc.get('title', '')}. {piece['text']}", **meta})
        return out

    def _vectors(self, chunks: list[dict], config: RetrievalConfig, docs: list[dict], progress=None,
                 offset: int = 0, total: int = 0) -> np.ndarray:
        if config.chunker == "late":
            by_doc = {d["id"]: d for d in docs}
            out = []
            for doc_id in dict.fromkeys(c["doc_id"] for c in chunks):
                mine = [c for c in chunks if c["doc_id"] == doc_id]
                title = by_doc[doc_id].get("title", "")
                out.append(chunking.late_chunk_embeddings(f"{title}. {by_doc[doc_id]['text']}",
                                                          [c["text"] for c in mine]))
            return np.vstack(out) if out else np.zeros((0, 384), dtype=np.float32)
        emb = self.embedder(config)
        texts = [c["index_text"] for c in chunks]
        parts = []
        for i in range(0, len(texts), 128):
            parts.append(emb.embed(texts[i:i + 128]))
            if progress:
                progress(offset + min(total - offset, (i + 128) * (total - offset) // max(len(texts), 1)), total,
                         "embedding")
        if parts:
            return np.vstack(parts)
        dim = config.dim or (384 if config.embed_model == "minilm" else emb.embed(["x"]).shape[1])
        return np.zeros((0, dim), dtype=np.float32)

    def _swap(self, snap: Snapshot) -> None:
        self._persist(snap)
        old, self.snap = self.snap, snap
        if old is not None:
            self.vectors.retire(old.vindex)  # Qdrant: drop the old version's collection

    def _persist(self, snap: Snapshot) -> None:
        root = self.folder / "index"
        root.mkdir(exist_ok=True)
        name = f"v{snap.version}-{time.time_ns()}"
        tmp = root / (name + ".tmp")
        tmp.mkdir()
        snap.vindex.save(tmp)
        (tmp / "meta.json").write_text(json.dumps({"version": snap.version, "config": asdict(snap.config),
                                                   "chunks": snap.chunks, "dead": sorted(snap.dead),
                                                   "vectors": self.vectors.name,
                                                   "built_at": snap.built_at}))
        tmp.rename(root / name)
        pointer = root / "CURRENT.tmp"
        pointer.write_text(name)
        os.replace(pointer, root / "CURRENT")
        for old in root.iterdir():
            if old.is_dir() and old.name != name:
                shutil.rmtree(old, ignore_errors=True)

    def _load_current(self) -> bool:
        pointer = self.folder / "index" / "CURRENT"
        if not pointer.exists():
            return False
        folder = self.folder / "index" / pointer.read_text().strip()
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("vectors", "faiss") != self.vectors.name:
            return False  # VECTOR_STORE changed: build the index anew from the stored documents
        config = RetrievalConfig(**meta["config"])
        dead = set(meta["dead"])
        snap = Snapshot(meta["version"], config, meta["chunks"], self.vectors.load(folder, config.index, dead), dead,
                        built_at=meta["built_at"])
        snap.refresh_bm25()
        self.snap = snap
        return True

    def stats(self) -> dict[str, Any]:
        snap = self.snap
        return {"version": snap.version, "config": asdict(snap.config), "documents": self.store.one(
            "SELECT COUNT(*) AS n FROM documents")["n"], "chunks": len(snap.chunks) - len(snap.dead),
            "tombstones": len(snap.dead), "vectors": snap.vindex.size, "tenants": sorted(self.tenants()),
            "built_at": snap.built_at}

    # --- search ----------------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, mode: str = "hybrid", tenant: str = PUBLIC,
               filters: dict[str, Any] | None = None, rerank: bool = False, fusion: str = "rrf",
               rewrite_kind: str = "none", candidates: int = 30, rerank_weight: float | None = None,
               queries: list[str] | None = None) -> list[dict]:
        """The top k chunks. With `rerank`, the first stage's best `candidates` are rescored by the
        cross-encoder and blended with their first-stage rank r (0-based, of n):

            score = w · p_cross(query, chunk) + (1 − w) · (1 − r / n)       w = rerank_weight

        w = 1 is the reranker alone; lower w lets the first stage's order break the reranker's
        mistakes (a reranker trained on a few hundred pairs makes some). `queries`: the rewrites
        already made (rewrite.rewrite), so a caller can show them; else made here from rewrite_kind."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        filters = check_filters(filters)
        if tenant not in self.tenants():
            raise UnknownTenant(tenant)
        if rerank and self.reranker is None:
            raise NoReranker("no cross-encoder: train one with `python -m labs.lab06_rag.rerank`")
        snap = self.snap
        n = len(snap.chunks)
        allowed = np.array([i not in snap.dead and c["tenant"] in (tenant, PUBLIC) and matches(c, filters)
                            for i, c in enumerate(snap.chunks)], dtype=bool)
        allowed_rows = set(np.flatnonzero(allowed).tolist())
        depth = max(k, candidates) if (rerank or mode == "hybrid") else k
        rankings: list[list[int]] = []
        dense_scores: dict[int, float] = {}
        sparse_scores: dict[int, float] = {}
        for q in queries or rewrite(rewrite_kind, query, self.model):
            if mode in {"bm25", "hybrid"} and n:
                idx, s = snap.bm25.top_k(tokenize(q), depth, mask=allowed)
                rankings.append(idx.tolist())
                sparse_scores.update({int(i): float(v) for i, v in zip(idx, s, strict=True)})
            if mode in {"dense", "hybrid"} and n:
                v = self.embedder(snap.config).embed([q])[0]
                # FAISS searches the allowed rows; Qdrant applies the same rule as a payload filter
                hits = snap.vindex.search(v, depth, allowed_rows, scope={"tenant": tenant, "filters": filters})
                rankings.append([h for h, _ in hits])
                dense_scores.update(dict(hits))
        if fusion == "weighted" and mode == "hybrid":
            fused = hybrid.weighted({str(i): s for i, s in dense_scores.items()},
                                    {str(i): s for i, s in sparse_scores.items()})
        else:
            fused = hybrid.rrf([[str(i) for i in r] for r in rankings]) if len(rankings) > 1 else \
                [(str(i), sparse_scores.get(i, dense_scores.get(i, 0.0))) for i in (rankings[0] if rankings else [])]
        rows = [(int(i), s) for i, s in fused[:depth]]
        if rerank and rows:
            w = self.rerank_weight if rerank_weight is None else rerank_weight
            if not 0 <= w <= 1:
                raise ValueError("rerank_weight must be between 0 and 1")
            # the cross-encoder reads "title. text", as it was trained: a contextual prefix is an aid to
            # the first stage's index, and text it never saw in training only shifts its scores
            texts = [f"{snap.chunks[i].get('title') or ''}. {snap.chunks[i]['text']}" for i, _ in rows]
            p = np.asarray(self.reranker.predict([(query, t) for t in texts]), float)
            blended = w * p + (1 - w) * (1 - np.arange(len(rows)) / len(rows))
            order = np.argsort(-blended, kind="stable")
            rows = [(rows[j][0], float(blended[j])) for j in order]
        out = []
        for i, score in rows[:k]:
            c = snap.chunks[i]
            out.append({"id": c["id"], "doc_id": c["doc_id"], "title": c["title"], "text": c.get("parent") or c["text"],
                        "score": round(float(score), 6), "tenant": c["tenant"], "version": c["version"],
                        "section": c["section"], "updated": c["updated"]})
        return out

    def with_config(self, **changes) -> RetrievalConfig:
        return replace(self.snap.config, **changes).check()


def fixture_kb(folder: Path, contextual: bool = False, reranker=None, model: Model | None = None) -> KnowledgeBase:
    """The fixture corpus indexed once per variant under `folder` (embeddings cached there too).

    The model writes contextual prefixes and rewrites: the mock's `rag` skill when the model is the mock.
    """
    kb = KnowledgeBase(folder / ("contextual" if contextual else "plain"),
                       RetrievalConfig(index="flat", contextual=contextual),
                       model=(model or Model.from_settings()).for_behaviour("rag"), reranker=reranker)
    docs = {d["id"]: d for d in load("corpus")}
    stored = {d["id"]: d for d in kb.documents()}
    if stored != docs:  # first use, or the fixture was regenerated since: bring the index up to date
        for doc_id in set(stored) - set(docs):
            kb.delete(doc_id)
        kb.upsert([d for i, d in docs.items() if stored.get(i) != d])
    return kb
