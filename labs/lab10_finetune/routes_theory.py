"""The chapter's derivations as calculators: `curl -s localhost:8010/docs` (tag "theory").

POST /calc/kl-optimal  the KL-constrained optimal policy beside scipy's optimum of the same objective
GET  /calc/agreement   rater agreement (Cohen's and Fleiss' κ) on the rated preference fixture, and curation
POST /calc/decide      prompt vs RAG vs fine-tune: the decision matrix computed from the task's numbers
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from labs.lab10_finetune import curation, decide, kl_optimal
from labs.lab10_finetune.model import fixture
from shared.schemas import Number, StrictModel
from shared.service import ServiceError

MAX_ACTIONS = 32  # SLSQP with finite differences: 32 probabilities stay well under a second


class KlOptimalRequest(StrictModel):
    pi_ref: list[Annotated[Number, Field(gt=0, le=1)]] = Field(min_length=2, max_length=MAX_ACTIONS,
                                                              description="the reference policy over completions")
    rewards: list[Annotated[Number, Field(ge=-100, le=100)]] = Field(min_length=2, max_length=MAX_ACTIONS)
    beta: Number = Field(1.0, ge=0.05, le=100, description="the KL weight β")


class DecideRequest(StrictModel):
    knowledge_changes: Literal["never", "yearly", "monthly", "daily"] = Field(
        "monthly", description="how often the facts the answers need change")
    knowledge_tokens: int = Field(50_000, ge=0, le=10**12, description="how much reference text the task draws on")
    needs_citations: bool = False
    format_need: Literal["none", "loose", "strict"] = Field("loose", description="how exact the output's form must be")
    latency_budget_ms: Number = Field(1_000, gt=0, le=600_000)
    labeled_examples: int = Field(0, ge=0, le=10**9, description="input/output pairs available for training")
    queries_per_month: int = Field(100_000, ge=0, le=10**12)
    price_per_mtok: Number = Field(1.0, ge=0, le=1_000, description="$ per million prompt tokens served")
    train_price_per_mtok: Number = Field(3.0, ge=0, le=1_000, description="$ per million training tokens")
    context_window: int = Field(128_000, ge=1_000, le=10**8)
    weights: dict[Literal[decide.CRITERIA], Annotated[Number, Field(ge=0, le=100)]] | None = Field(  # type: ignore[valid-type]
        None, max_length=len(decide.CRITERIA), description=f"per criterion, default 1: {', '.join(decide.CRITERIA)}")


def theory_router() -> APIRouter:
    router = APIRouter(prefix="/calc", tags=["theory"])

    @router.post("/kl-optimal")
    def kl_optimal_policy(req: KlOptimalRequest) -> dict[str, Any]:
        """π* ∝ π_ref·exp(r/β) in closed form, and scipy's numerical maximiser of E[r] − β·KL."""
        if len(req.pi_ref) != len(req.rewards):
            raise ServiceError(422, f"pi_ref has {len(req.pi_ref)} entries, rewards {len(req.rewards)}",
                               "validation_error")
        if abs(sum(req.pi_ref) - 1) > 1e-6:
            raise ServiceError(422, f"pi_ref must sum to 1 (it sums to {sum(req.pi_ref):.6g})", "validation_error")
        return {"beta": req.beta, **kl_optimal.solve(req.pi_ref, req.rewards, req.beta)}

    @router.get("/agreement")
    def agreement(threshold: float = Query(0.5, ge=0, le=1, description="keep pairs with agreement P_i ≥ this"),
                  show: int = Query(3, ge=0, le=80, description="how many kept pairs to show")) -> dict[str, Any]:
        """κ between the fixture's raters, per-pair agreement, and the pairs a threshold keeps."""
        out = curation.curate(fixture("prefs_rated"), threshold)
        return {**{k: v for k, v in out.items() if k != "rows"}, "kept_rows": out["rows"][:show]}

    @router.post("/decide")
    def decide_route(req: DecideRequest) -> dict[str, Any]:
        """Fit per option and criterion (with the reason), each option's weighted score, the ranking."""
        try:
            return decide.decide(**req.model_dump())
        except ValueError as e:
            raise ServiceError(422, str(e), "validation_error") from e

    return router
