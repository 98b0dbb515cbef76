"""Routes for the vector-database decision matrix and the self-host-vs-API embedding cost (vectordb.py).

    curl -s localhost:8006/vectordb/decide -d '{"vectors": 50000000, "dim": 768, "hybrid": true, "tenants": 20}'
    curl -s localhost:8006/vectordb/cost -d '{"documents": 2000000, "queries_per_month": 30000000}'
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import Field, model_validator

from labs.lab06_rag import vectordb
from shared.schemas import Number, StrictModel

Criterion = Literal["scale", "filtering", "hybrid", "tenancy", "operations", "sql"]


class DecideIn(StrictModel):
    vectors: int = Field(ge=1, le=10**12)
    dim: int = Field(ge=8, le=8192)
    qps: Number = Field(50, ge=0, le=1e6)
    qps_per_node: Number = Field(500, ge=0.01, le=1e6, description="queries a node serves at the latency target")
    filters: bool = True
    hybrid: bool = False
    tenants: int = Field(1, ge=1, le=10**6)
    managed: Literal["either", "preferred", "required", "avoid"] = "either"
    sql: bool = Field(False, description="the vectors must join relational data")
    ram_gb: Number = Field(64, ge=1, le=4096, description="RAM per node")
    max_nodes: int = Field(8, ge=1, le=10_000, description="shards the team will run")
    exact_recall: bool = False
    weights: dict[Criterion, Annotated[Number, Field(ge=0, le=1000)]] = Field(default_factory=dict, max_length=6)

    @model_validator(mode="after")
    def _some_weight(self) -> DecideIn:
        if sum((vectordb.DEFAULT_WEIGHTS | self.weights).values()) <= 0:
            raise ValueError("weights: at least one criterion needs a weight above 0")
        return self


class CostIn(StrictModel):
    documents: int = Field(ge=1, le=10**10)
    tokens_per_document: Number = Field(500, ge=1, le=1e6)
    reembed_share: Number = Field(0.05, ge=0, le=1, description="share of the corpus re-embedded each month")
    queries_per_month: Number = Field(1e6, ge=0, le=1e13)
    tokens_per_query: Number = Field(20, ge=1, le=1e5)
    api_price_per_m: Number | None = Field(None, ge=0, le=1000, description="default: fixtures/prices.json")
    gpu_hour_usd: Number = Field(1.2, ge=0, le=1000)
    gpu_tokens_per_s: Number = Field(20_000, ge=1, le=1e9)
    always_on_gpus: int = Field(1, ge=1, le=1000)
    engineer_hours: Number = Field(8, ge=0, le=10_000, description="a month, to run it")
    engineer_hour_usd: Number = Field(100, ge=0, le=10_000)


def vectordb_router() -> APIRouter:
    router = APIRouter(prefix="/vectordb", tags=["vector databases"])

    @router.post("/decide")
    def decide(body: DecideIn) -> dict[str, Any]:
        """The decision matrix: memory per index kind, every option scored or dropped with its reasons."""
        return vectordb.decide(**body.model_dump())

    @router.post("/cost")
    def cost(body: CostIn) -> dict[str, Any]:
        """Monthly embedding cost, API vs self-hosted GPUs, and the break-even volume."""
        return vectordb.cost(**body.model_dump())

    return router
