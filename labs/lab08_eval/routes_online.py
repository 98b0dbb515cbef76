"""Routes for online and counterfactual evaluation: the peeking simulation and off-policy estimators.

    curl -s localhost:8008/online/peeking -H 'content-type: application/json' -d '{"sims": 400}'
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from labs.lab08_eval import counterfactual, online
from labs.lab08_eval.schemas import OffPolicyRequest, PeekingRequest
from labs.lab08_eval.stats import StatsError
from shared.service import ServiceError

MAX_LOG_ROWS = 2_000_000  # n_logs × repeats: the rows one request may simulate


def online_router() -> APIRouter:
    router = APIRouter(prefix="/online", tags=["online"])

    @router.post("/peeking")
    def peeking(body: PeekingRequest) -> dict[str, Any]:
        """Simulated A/B (or A/A) tests: how often fixed-horizon, naive peeking and the SPRT declare a winner."""
        design = online.ABDesign(**body.model_dump(exclude={"sims", "seed"}))
        try:
            return online.simulate(design, sims=body.sims, seed=body.seed)
        except StatsError as exc:
            raise ServiceError(422, str(exc), "invalid_input") from exc

    @router.post("/off-policy")
    def off_policy(body: OffPolicyRequest) -> dict[str, Any]:
        """A new policy's value from another policy's logs (IPS, SNIPS, DM, DR) against the simulated truth."""
        if body.n_logs * body.repeats > MAX_LOG_ROWS:
            raise ServiceError(422, f"n_logs × repeats must be at most {MAX_LOG_ROWS:,}", "invalid_input")
        try:
            return counterfactual.evaluate(**body.model_dump())
        except StatsError as exc:
            raise ServiceError(422, str(exc), "invalid_input") from exc

    return router
