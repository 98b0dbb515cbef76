"""The lab-06 service: documents in, hybrid search, cited answers, index versions, evals.

    make lab-06        # serves on 127.0.0.1:8006; README.md has a curl example for every route
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query
from pydantic import Field, field_validator

from labs.lab06_rag import answer as answer_mod
from labs.lab06_rag import freshness as fresh
from labs.lab06_rag import vectorstore
from labs.lab06_rag.corpus import load
from labs.lab06_rag.dense import INDEX_KINDS, Embedder
from labs.lab06_rag.evaluate import CONFIGS, STRATEGIES, evaluate
from labs.lab06_rag.kb import (
    CHUNKERS,
    MIN_PQ_CHUNKS,
    KnowledgeBase,
    TenantConflict,
    fixture_kb,
)
from labs.lab06_rag.rerank import load_reranker
from labs.lab06_rag.rewrite import PROMPTS
from labs.lab06_rag.routes_reasoning import QueryText, reasoning_router, search_errors
from labs.lab06_rag.routes_training import training_router
from labs.lab06_rag.routes_vectordb import vectordb_router
from shared.config import Settings, get_settings
from shared.jobs import JobStore, jobs_router
from shared.llm import Model
from shared.schemas import IsoDate, StrictModel, Text
from shared.service import ServiceError, create_service, not_found

MAX_TEXT = 20_000  # characters; a support article, not a book
DocId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class Document(StrictModel):
    id: DocId
    text: Text = Field(min_length=1, max_length=MAX_TEXT)
    title: str = Field("", max_length=300)
    tenant: Name = "public"
    product: str = Field("Tessera", max_length=64)
    version: str = Field("all", max_length=32)
    section: str = Field("General", max_length=64)
    updated: IsoDate = "2025-01-01"


class DocumentsIn(StrictModel):
    documents: list[Document] = Field(min_length=1, max_length=500)

    @field_validator("documents")
    @classmethod
    def _unique(cls, v: list[Document]) -> list[Document]:
        if len({d.id for d in v}) != len(v):
            raise ValueError("document ids must be unique within a batch")
        return v


class SearchIn(StrictModel):
    query: QueryText
    k: int = Field(5, ge=1, le=100)
    mode: Literal["bm25", "dense", "hybrid"] = "hybrid"
    fusion: Literal["rrf", "weighted"] = "rrf"
    rerank: bool = False
    rerank_weight: float | None = Field(None, ge=0, le=1, description="cross-encoder share of the reranked "
                                        "score; the rest is the first-stage rank (default: the lab's)")
    rewrite: Literal["none", "hyde", "multi_query", "step_back"] = "none"
    filters: dict[str, str | list[str]] = Field(default_factory=dict, max_length=10)
    tenant: Name = "public"
    freshness: Literal["off", "recency", "version"] = Field("off", description="recency-aware ranking, or "
                                                            "version-aware: resolve the version asked about")
    half_life_days: float = Field(fresh.HALF_LIFE_DAYS, gt=0, le=36500, description="for freshness=recency")


class AnswerIn(SearchIn):
    reorder: bool = Field(False, description="best sources at both ends of the prompt (lost-in-the-middle fix)")
    middle_attention: float | None = Field(None, ge=0, le=1, description="mock answerer only")


class RebuildIn(StrictModel):
    index: Literal["flat", "hnsw", "ivf", "ivfpq"] | None = None
    chunker: Literal["fixed", "semantic", "hierarchical", "late"] | None = None
    chunk_tokens: int | None = Field(None, ge=8, le=512)
    overlap: int | None = Field(None, ge=0, le=256)
    contextual: bool | None = None
    dim: int | None = Field(None, ge=16, le=384, description="Matryoshka-style truncation")
    wait: bool = False


class EvalIn(StrictModel):
    config: Literal[tuple(CONFIGS)] = "hybrid"  # type: ignore[valid-type]
    limit: int | None = Field(None, ge=1, le=500, description="first N questions only")
    answers: bool = True
    strategy: Literal[STRATEGIES] = "single"  # type: ignore[valid-type]


TenantQuery = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                                    description="the tenant asking; another tenant's document is a 404")]
DocPath = Annotated[str, Path(max_length=80)]


class Lab06:
    """The lab's state: one model handle, the serving knowledge base (built on first use), jobs."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.dir = settings.lab_dir("lab06")
        self.model = Model.from_settings(settings)
        self.jobs = JobStore(self.dir / "jobs.sqlite", url=settings.database_url)
        self.vectors = vectorstore.from_settings(settings)  # VECTOR_STORE: faiss (default) or qdrant
        self._kb: KnowledgeBase | None = None
        self._lock = threading.Lock()

    def kb(self) -> KnowledgeBase:
        with self._lock:
            if self._kb is None:
                self._kb = KnowledgeBase(self.dir / "service", model=answer_mod.rag_model(self.model),
                                         reranker=load_reranker(self.dir), vectors=self.vectors)
            return self._kb

    def search(self, body: SearchIn) -> tuple[list[dict], dict[str, Any]]:
        """The hits, and {"queries": the rewrites retrieved with, "freshness": what that policy did}."""
        with search_errors():
            return fresh.search(self.kb(), body.query, body.freshness, body.k, body.half_life_days,
                               rewrite_kind=body.rewrite, mode=body.mode, tenant=body.tenant,
                               filters=body.filters, rerank=body.rerank, rerank_weight=body.rerank_weight,
                               fusion=body.fusion)

    def warm(self) -> str:
        """Load the index (and the embedding model it needs) before the first request does."""
        try:
            return f"index version {self.kb().snap.version}"
        except vectorstore.VectorStoreUnavailable as exc:  # `vectors` says 503 until Qdrant answers
            return f"index deferred to the first request: {exc.reason}"


def documents_router(lab: Lab06) -> APIRouter:
    router = APIRouter(prefix="/documents", tags=["documents"])

    @router.post("")
    def upsert(body: DocumentsIn) -> dict[str, Any]:
        """Add or replace documents (batch); they are searchable on return."""
        try:
            return lab.kb().upsert([d.model_dump() for d in body.documents]) | {"version": lab.kb().snap.version}
        except TenantConflict as exc:
            raise ServiceError(409, str(exc), type="tenant_conflict") from exc

    @router.get("/{doc_id}")
    def get_document(doc_id: DocPath, tenant: TenantQuery = "public") -> dict[str, Any]:
        """One stored document, if the asking tenant may see it (its own, or a public one)."""
        doc = lab.kb().document(doc_id, tenant)
        if not doc:
            raise not_found("document", doc_id)
        return doc

    @router.delete("/{doc_id}")
    def delete(doc_id: DocPath, tenant: TenantQuery = "public") -> dict[str, Any]:
        """Delete the asking tenant's own document; its chunks stop matching at once (tombstoned)."""
        if not lab.kb().delete(doc_id, tenant):
            raise not_found("document", doc_id)
        return {"deleted": doc_id}

    return router


def index_router(lab: Lab06) -> APIRouter:
    router = APIRouter(prefix="/index", tags=["index"])

    @router.get("/stats")
    def stats() -> dict[str, Any]:
        """The serving version: config, documents, chunks, tombstones, tenants."""
        return lab.kb().stats()

    @router.post("/rebuild")
    def rebuild(body: RebuildIn | None = None) -> dict[str, Any]:
        """Build the next index version as a job; the current one serves until the swap."""
        body = body or RebuildIn()
        changes = {k: v for k, v in body.model_dump(exclude={"wait"}).items() if v is not None}
        try:
            config = lab.kb().with_config(**changes)
        except ValueError as exc:
            raise ServiceError(422, str(exc), type="invalid_config") from exc
        if config.index == "ivfpq" and lab.kb().stats()["chunks"] < MIN_PQ_CHUNKS:
            raise ServiceError(422, f"ivfpq needs at least {MIN_PQ_CHUNKS} chunks to train its codebooks",
                               type="invalid_config")

        def run(ctx) -> dict[str, Any]:
            version = lab.kb().rebuild(config, progress=lambda s, t, m: ctx.progress(s, t, m))
            return {"version": version, "config": asdict(config)}

        job_id = lab.jobs.submit("rebuild", asdict(config), run)
        return lab.jobs.wait(job_id, timeout_s=600) if body.wait else lab.jobs.get(job_id)

    return router


def retrieval_router(lab: Lab06) -> APIRouter:
    router = APIRouter(tags=["retrieval"])

    @router.post("/search")
    def do_search(body: SearchIn) -> dict[str, Any]:
        """Retrieve the top k chunks (bm25 | dense | hybrid, optional rerank, filters, tenant)."""
        hits, how = lab.search(body)
        return {"query": body.query, "mode": body.mode, "version": lab.kb().snap.version, "results": hits} | how

    @router.post("/answer")
    def do_answer(body: AnswerIn) -> dict[str, Any]:
        """Retrieve, then answer from numbered sources with [doc-id] citations (or say it doesn't know)."""
        hits, how = lab.search(body)
        mock = {"middle_attention": body.middle_attention} if body.middle_attention is not None else None
        asked = how.get("freshness", {}).get("query", body.query)  # version-aware: the question naming its version
        return answer_mod.answer(asked, hits, lab.model, body.reorder, mock) | {"query": body.query} | how

    @router.post("/eval")
    def do_eval(body: EvalIn) -> dict[str, Any]:
        """Run the fixture eval set over a named configuration; metrics per slice."""
        spec = CONFIGS[body.config]
        reranker = load_reranker(lab.dir) if spec.get("rerank") else None
        if spec.get("rerank") and reranker is None:
            raise ServiceError(409, "no cross-encoder: train one with `python -m labs.lab06_rag.rerank`",
                               type="no_reranker")
        eval_kb = fixture_kb(lab.dir / "eval", spec.get("contextual", False), reranker, lab.model)
        questions = load("eval")[:body.limit] if body.limit else None
        embed = Embedder(lab.dir / "eval" / "embeddings.sqlite").embed if body.answers else None
        return evaluate(eval_kb, body.config, questions, with_answers=body.answers, embed=embed,
                        model=lab.model, progress=lambda *_: None, strategy=body.strategy)

    @router.get("/configs")
    def configs() -> dict[str, Any]:
        """What can be chosen: eval configurations, index kinds, chunkers, rewrites."""
        return {"eval_configs": CONFIGS, "index_kinds": list(INDEX_KINDS), "chunkers": list(CHUNKERS),
                "rewrites": ["none", *PROMPTS]}

    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    lab = Lab06(settings or get_settings())
    app = create_service("lab-06 retrieval and RAG", lab="lab06", settings=lab.settings,
                         readiness={"jobs_db": lab.jobs.store.ping, "vectors": lab.vectors.ping},
                         warmup={"model": lab.model.warm, "index": lab.warm})
    for router in (documents_router(lab), index_router(lab), retrieval_router(lab), reasoning_router(lab),
                   training_router(lab), vectordb_router(), jobs_router(lab.jobs)):
        app.include_router(router)
    app.state.lab06 = lab
    return app
