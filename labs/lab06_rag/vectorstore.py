"""Where the dense vectors live: FAISS in this process (the default) or a Qdrant collection.

    VECTOR_STORE=qdrant make lab-06                                   # Qdrant's embedded mode, .data/lab06/qdrant
    VECTOR_STORE=qdrant QDRANT_URL=http://localhost:6333 make lab-06  # a Qdrant server (docker compose runs one)

The knowledge base (kb.py) asks a backend for an index per version and talks to it through one surface:
`add(vectors, chunks) -> rows`, `remove(rows)`, `search(q, k, allowed, scope) -> [(row, score)]`, `size`,
`save(folder)`. A row is the chunk's position in the version's chunk list; in Qdrant it is the point id, so
an upsert writes points by id and a delete removes them by id (Qdrant deletes for real: no tombstones).

Isolation is the same rule on both backends, enforced where the vectors are searched. FAISS gets the rows
the tenant and the metadata filters allow (`allowed`, computed by kb.py before the search). Qdrant gets the
same rule as a payload filter (`scope`), evaluated inside Qdrant before ranking:

    tenant ∈ {T, public}  ∧  product/version/section/doc_id ∈ the listed values
                          ∧  updated_after ≤ updated_day ≤ updated_before   (days as YYYYMMDD integers)

so a query for tenant T never gets another tenant's point back, whatever k is. Index kinds: `flat` is an
exact search (`SearchParams(exact=True)`, no HNSW graph built: m = 0); `hnsw` is Qdrant's HNSW with
m, ef_construct and ef (search) from the settings QDRANT_HNSW_M, QDRANT_HNSW_EF_CONSTRUCT, QDRANT_HNSW_EF.
Qdrant has no IVF: `ivf` and `ivfpq` are refused with the reason.

One collection per index version (named after the knowledge base's folder, the version and a nonce), so
a rebuild fills the next collection while the current one serves, and the swap drops the old one.
An unreachable or failing Qdrant raises `VectorStoreUnavailable`: a 503 with the reason wherever it
surfaces, and the `vectors` readiness check says the same. Nothing falls back to FAISS behind your back
(the two would hold different documents).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from labs.lab06_rag.dense import VectorIndex
from shared.config import Settings
from shared.store import StoreUnavailable

BACKENDS = ("faiss", "qdrant")
QDRANT_KINDS = ("flat", "hnsw")
KEYWORDS = ("tenant", "doc_id", "product", "version", "section")  # payload fields a filter matches exactly
BATCH = 256  # points per upsert request
PUBLIC = "public"  # kb.PUBLIC (kb imports this module, so the name is repeated rather than imported)


class VectorStoreUnavailable(StoreUnavailable):
    """The configured vector store cannot be used: a 503 with the reason (shared.store's class)."""


class FaissIndex(VectorIndex):
    """dense.VectorIndex under the backend surface: payloads are not needed (kb.py passes `allowed` rows)."""

    def add(self, vectors: np.ndarray, chunks: list[dict] | None = None) -> list[int]:
        return super().add(vectors)

    def search(self, q: np.ndarray, k: int, allowed: set[int] | None = None,
               scope: dict[str, Any] | None = None) -> list[tuple[int, float]]:
        return super().search(q, k, allowed)


class FaissVectors:
    name = "faiss"

    def create(self, kind: str, dim: int, vectors: np.ndarray, chunks: list[dict], label: str) -> FaissIndex:
        return FaissIndex(kind, dim, vectors)

    def load(self, folder: Path, kind: str, dead: set[int]) -> FaissIndex:
        return FaissIndex.load(folder, kind, dead)

    def retire(self, index: Any) -> None:
        """Nothing to free: the old version's files are removed with its folder."""

    def ping(self) -> str:
        return "faiss (in process)"


def day(date: str | None) -> int:
    """'2024-03-01' -> 20240301 (a number Qdrant can range over); no date -> 0, which sorts before every
    date, as kb.matches treats a missing `updated` ('' < any date)."""
    return int(date.replace("-", "")) if date else 0


def payload(chunk: dict) -> dict[str, Any]:
    return {**{key: chunk.get(key) for key in KEYWORDS}, "updated": chunk.get("updated"),
            "updated_day": day(chunk.get("updated"))}


def payload_filter(tenant: str, filters: dict[str, Any]):
    """kb.matches and the tenant rule as one Qdrant filter (every condition must hold)."""
    from qdrant_client import models  # the client is imported only where Qdrant is used (see QdrantVectors)

    must = [models.FieldCondition(key="tenant", match=models.MatchAny(any=sorted({tenant, PUBLIC})))]
    for key, value in filters.items():
        if key == "updated_after":
            must.append(models.FieldCondition(key="updated_day", range=models.Range(gte=day(value))))
        elif key == "updated_before":
            must.append(models.FieldCondition(key="updated_day", range=models.Range(lte=day(value))))
        else:
            must.append(models.FieldCondition(key=key, match=models.MatchAny(
                any=list(value) if isinstance(value, list) else [value])))
    return models.Filter(must=must)


_LOCAL: dict[str, Any] = {}  # embedded Qdrant locks its folder: one client per folder and process
_LOCAL_LOCK = threading.Lock()


class QdrantVectors:
    """A Qdrant server (url) or Qdrant's embedded mode (path, or ":memory:"), with the HNSW parameters."""

    name = "qdrant"

    def __init__(self, url: str | None = None, path: str | Path | None = None, api_key: str | None = None,
                 m: int = 32, ef_construct: int = 80, ef: int = 64, timeout_s: float = 5.0,
                 client: Any = None):
        self.url, self.path, self.api_key = url, (str(path) if path else None), api_key
        self.m, self.ef_construct, self.ef, self.timeout_s = m, ef_construct, ef, timeout_s
        self.where = url or f"embedded {self.path or ':memory:'}"
        self._client = client
        # the embedded mode is plain Python over shared dicts: one call at a time (a server takes many)
        self._local_lock = threading.Lock() if url is None else None

    @classmethod
    def from_settings(cls, settings: Settings) -> QdrantVectors:
        path = None if settings.qdrant_url else settings.lab_dir("lab06") / "qdrant"
        return cls(settings.qdrant_url, path, settings.qdrant_api_key, settings.qdrant_hnsw_m,
                   settings.qdrant_hnsw_ef_construct, settings.qdrant_hnsw_ef)

    @property
    def client(self):
        if self._client is None:
            from qdrant_client import QdrantClient  # ~1 s to import: only a lab that chose Qdrant pays it

            if self.url:
                # the pinned server (docker-compose.yml) may be a few minor versions from this client; the
                # calls used here (collections, upsert, delete, query_points, payload indexes) exist in both
                self._client = QdrantClient(url=self.url, api_key=self.api_key, timeout=int(self.timeout_s),
                                            check_compatibility=False)
            else:
                key = self.path or ":memory:"
                with _LOCAL_LOCK:
                    if key == ":memory:" or key not in _LOCAL:
                        _LOCAL[key] = QdrantClient(location=":memory:") if key == ":memory:" else \
                            QdrantClient(path=key)
                    self._client = _LOCAL[key]
        return self._client

    @contextmanager
    def call(self) -> Iterator[Any]:
        """Every Qdrant call goes through here: a failure is a 503 naming Qdrant and the reason, never a 500."""
        from qdrant_client.http.exceptions import ApiException

        try:
            if self._local_lock is None:
                yield self.client
            else:
                with self._local_lock:
                    yield self.client
        except VectorStoreUnavailable:
            raise
        except (ApiException, OSError, RuntimeError) as exc:
            raise VectorStoreUnavailable(f"Qdrant unavailable ({self.where}): {' '.join(str(exc).split())}"[:300]) \
                from exc
        except ValueError as exc:  # the embedded mode's "collection ... not found"
            if "not found" not in str(exc):
                raise
            raise VectorStoreUnavailable(f"Qdrant ({self.where}): {exc}; rebuild the index (POST /index/rebuild)") \
                from exc

    def ping(self) -> str:
        with self.call() as client:
            n = len(client.get_collections().collections)
        return f"qdrant {self.where}: {n} collections"

    def create(self, kind: str, dim: int, vectors: np.ndarray, chunks: list[dict], label: str) -> QdrantIndex:
        """A new collection holding these vectors (row i = chunks[i]), with its payload indexes."""
        from qdrant_client import models

        if kind not in QDRANT_KINDS:
            raise ValueError(f"index {kind!r} is not offered by the qdrant vector store; one of {QDRANT_KINDS} "
                             "(IVF and PQ are FAISS index kinds)")
        name = f"{re.sub(r'[^A-Za-z0-9_]+', '_', label)[:40]}_{uuid.uuid4().hex[:8]}"
        hnsw = models.HnswConfigDiff(m=0 if kind == "flat" else self.m, ef_construct=self.ef_construct)
        with self.call() as client:
            client.create_collection(name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.DOT),
                                     hnsw_config=hnsw)
            if self.url:  # the embedded mode keeps no payload indexes (it scans); a server uses them to filter
                client.create_payload_index(name, "tenant", models.KeywordIndexParams(type="keyword", is_tenant=True))
                for key in KEYWORDS[1:]:
                    client.create_payload_index(name, key, models.PayloadSchemaType.KEYWORD)
                client.create_payload_index(name, "updated_day", models.PayloadSchemaType.INTEGER)
        index = QdrantIndex(self, name, kind, dim)
        index.add(vectors, chunks)
        return index

    def load(self, folder: Path, kind: str, dead: set[int]) -> QdrantIndex:
        meta = json.loads((folder / "qdrant.json").read_text())
        index = QdrantIndex(self, meta["collection"], kind, meta["dim"])
        index.total = meta["total"]
        return index

    def retire(self, index: QdrantIndex) -> None:
        """Drop a swapped-out version's collection (a search still holding it answers 503, then retries on the new)."""
        with self.call() as client:
            client.delete_collection(index.collection)


class QdrantIndex:
    """One version's vectors in one Qdrant collection; point id = row."""

    def __init__(self, backend: QdrantVectors, collection: str, kind: str, dim: int):
        self.backend, self.collection, self.kind, self.dim = backend, collection, kind, dim
        self.total = 0  # rows ever added, deleted ones included (FAISS's ntotal)

    @property
    def size(self) -> int:
        return self.total

    def add(self, vectors: np.ndarray, chunks: list[dict] | None = None) -> list[int]:
        """Upsert points by id: rows total .. total+n-1, each with its chunk's payload."""
        from qdrant_client import models

        chunks = chunks or [{} for _ in range(len(vectors))]
        if len(chunks) != len(vectors):
            raise ValueError("one chunk per vector")
        rows = list(range(self.total, self.total + len(vectors)))
        with self.backend.call() as client:
            for i in range(0, len(rows), BATCH):
                client.upsert(self.collection, wait=True, points=models.Batch(
                    ids=rows[i:i + BATCH], vectors=np.asarray(vectors[i:i + BATCH], dtype=np.float32).tolist(),
                    payloads=[payload(c) for c in chunks[i:i + BATCH]]))
        self.total += len(rows)
        return rows

    def remove(self, rows: list[int]) -> None:
        """Delete points by id (kb.py passes every row it has tombstoned: deleting one twice is a no-op)."""
        from qdrant_client import models

        if rows:
            with self.backend.call() as client:
                client.delete(self.collection, points_selector=models.PointIdsList(points=list(rows)), wait=True)

    def search(self, q: np.ndarray, k: int, allowed: set[int] | None = None,
               scope: dict[str, Any] | None = None) -> list[tuple[int, float]]:
        """The k best points that pass the scope's payload filter (tenant and metadata), inside Qdrant.

        `allowed` (FAISS's row set) is not used: isolation must hold in Qdrant's own answer."""
        from qdrant_client import models

        if k <= 0:
            return []
        scope = scope or {"tenant": PUBLIC, "filters": {}}
        params = models.SearchParams(exact=True) if self.kind == "flat" else models.SearchParams(hnsw_ef=max(
            self.backend.ef, k))
        with self.backend.call() as client:
            points = client.query_points(self.collection, query=np.asarray(q, dtype=np.float32).reshape(-1).tolist(),
                                         limit=k, query_filter=payload_filter(scope["tenant"], scope["filters"]),
                                         search_params=params, with_payload=False).points
        return [(int(p.id), float(p.score)) for p in points]

    def save(self, folder: Path) -> None:
        (folder / "qdrant.json").write_text(json.dumps({"collection": self.collection, "dim": self.dim,
                                                        "total": self.total, "where": self.backend.where}))


def from_settings(settings: Settings) -> FaissVectors | QdrantVectors:
    """The backend VECTOR_STORE names (faiss, the default; or qdrant)."""
    if settings.vector_store == "faiss":
        return FaissVectors()
    if settings.vector_store == "qdrant":
        return QdrantVectors.from_settings(settings)
    raise ValueError(f"VECTOR_STORE={settings.vector_store!r}: one of {BACKENDS}")

