"""Routes for the task-specific stacks: classification with calibration, summarization with a decomposed
rubric, multi-turn pairwise with position swap, and trajectory evaluation.

    curl -s localhost:8008/tasks/classification -H 'content-type: application/json' -d '{"variant": "v2"}'
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response

from labs.lab08_eval import calibration, judge, pairwise, summarization, trajectory
from labs.lab08_eval.runner import RunError, check_model
from labs.lab08_eval.schemas import (
    ClassificationStackRequest,
    PairwiseStackRequest,
    SummarizationStackRequest,
)
from shared.llm import Model
from shared.service import ServiceError


def tasks_router(model: Model) -> APIRouter:
    router = APIRouter(prefix="/tasks", tags=["task stacks"])

    @router.post("/classification", response_model=None)
    def classification(body: ClassificationStackRequest, format: Literal["json", "png"] = "json") -> Any:
        """Accuracy, macro-F1, confusion, and calibration of stated confidence (ECE, MCE, Brier) per slice."""
        candidate = body.model or f"mock/assistant?variant={body.variant}"
        try:
            check_model(candidate)
        except RunError as exc:
            raise ServiceError(422, str(exc), "invalid_input") from exc
        out = asyncio.run(calibration.evaluate(model, candidate, body.limit, body.n_bins))
        if format == "png":
            return Response(calibration.reliability_png(out["reliability"], f"{candidate}: ECE {out['ece']:.3f}"),
                            media_type="image/png")
        return out

    @router.post("/summarization")
    def summaries(body: SummarizationStackRequest) -> dict[str, Any]:
        """Coverage and concision by code, faithfulness per sentence by the judge; κ per criterion vs labels."""
        options = body.model_dump(exclude={"limit"})
        return asyncio.run(summarization.evaluate(judge.llm_call(model.for_behaviour("judge")), options, body.limit))

    @router.post("/pairwise")
    def pairs(body: PairwiseStackRequest) -> dict[str, Any]:
        """Two candidates' conversations judged per turn in both orders: win rate with a CI, swap consistency."""
        options = body.model_dump(exclude={"limit", "B"})
        return asyncio.run(pairwise.evaluate(judge.llm_call(model.for_behaviour("judge")), options, body.limit,
                                             body.B))

    @router.get("/trajectory")
    def trajectories() -> dict[str, Any]:
        """Agent traces scored by exact, in-order and any-order match, precision, recall, efficiency, outcome."""
        return trajectory.evaluate()

    return router
