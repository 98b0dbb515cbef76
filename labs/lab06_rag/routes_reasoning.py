"""Routes for multi-hop answering (decomposition, agentic RAG), GraphRAG, and the errors every search shares.

    curl -s localhost:8006/answer/multihop -d '{"query": "...", "strategy": "decompose"}'   # or "agentic"
    curl -s localhost:8006/graph                                                             # communities
    curl -s localhost:8006/graph/ask -d '{"query": "Which features are included from the Starter plan upward?"}'
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter
from pydantic import AfterValidator, Field

from labs.lab06_rag.agentic import agentic
from labs.lab06_rag.decompose import multihop
from labs.lab06_rag.graphrag import GraphIndex, ask
from labs.lab06_rag.kb import FilterError, KnowledgeBase, NoReranker, UnknownTenant
from shared.llm import Model
from shared.schemas import StrictModel, check_text
from shared.service import ServiceError

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class Lab(Protocol):
    model: Model

    def kb(self) -> KnowledgeBase: ...


@contextmanager
def search_errors() -> Iterator[None]:
    """The 4xx answers for what a search can reject: bad filters, an unknown tenant, no reranker."""
    try:
        yield
    except FilterError as exc:
        raise ServiceError(422, str(exc), type="invalid_filters") from exc
    except UnknownTenant as exc:
        raise ServiceError(404, f"unknown tenant {exc.args[0]!r}", type="unknown_tenant") from exc
    except NoReranker as exc:
        raise ServiceError(409, str(exc), type="no_reranker") from exc


def _not_blank(v: str) -> str:
    if not v.strip():
        raise ValueError("query must not be blank")
    return v


# A question as every lab-06 route takes it (search, answer, multi-hop, GraphRAG): text, capped, not blank.
# (the length caps sit on the str itself, before Text's checks, as `query: Text = Field(...)` put them)
QueryText = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(check_text), AfterValidator(_not_blank)]


class Question(StrictModel):
    query: QueryText


class GraphAskIn(Question):
    """A global question for GraphRAG."""


class MultihopIn(Question):
    strategy: Literal["decompose", "agentic"] = "decompose"
    k: int = Field(5, ge=1, le=20, description="chunks per retrieval")
    max_steps: int = Field(4, ge=1, le=8, description="retrievals in all (decompose) or searches (agentic)")
    mode: Literal["bm25", "dense", "hybrid"] = "hybrid"
    rerank: bool = False
    filters: dict[str, str | list[str]] = Field(default_factory=dict, max_length=10)
    tenant: Name = "public"


def run_multihop(kb: KnowledgeBase, model: Model, body: MultihopIn) -> dict[str, Any]:
    search = {"mode": body.mode, "tenant": body.tenant, "filters": body.filters, "rerank": body.rerank}
    if body.strategy == "agentic":
        return agentic(kb, body.query, model, k=body.k, max_steps=body.max_steps, **search)
    return multihop(kb, body.query, model, k=body.k, budget=body.max_steps, **search)


def reasoning_router(lab: Lab) -> APIRouter:
    router = APIRouter(tags=["retrieval"])

    @router.post("/answer/multihop")
    def answer_multihop(body: MultihopIn) -> dict[str, Any]:
        """Answer a question that needs several documents: decomposition + iterative retrieval, or an
        agent that calls search as a tool under a step budget. The response shows every hop."""
        with search_errors():
            result = run_multihop(lab.kb(), lab.model, body)
        result.pop("hits")
        return {"query": body.query, "strategy": body.strategy} | result

    graphs = GraphIndex()

    @router.get("/graph", tags=["graphrag"])
    def graph() -> dict[str, Any]:
        """The entity/relation graph of the public documents: size, modularity, each community's summary."""
        g = graphs.get(lab.kb(), lab.model)
        return g.stats() | {"community_list": [{k: c[k] for k in ("id", "size", "hub", "summary")} |
                                               {"documents": len(c["documents"])} for c in g.communities]}

    @router.post("/graph/ask", tags=["graphrag"])
    def graph_ask(body: GraphAskIn) -> dict[str, Any]:
        """A global question answered map-reduce from the community summaries (not from retrieved chunks)."""
        return {"query": body.query} | ask(graphs.get(lab.kb(), lab.model), body.query, lab.model)

    return router
