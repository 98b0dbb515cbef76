"""Routes for the eval set's own quality: anti-pattern checks on two runs, and the set's lifecycle.

    curl -s localhost:8008/compare/tide-a/tide-b/antipatterns
    curl -s 'localhost:8008/datasets/classification/lifecycle?periods=2026-Q3,2026-Q4,2027-Q1'
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Query

from labs.lab08_eval import antipatterns, datasets, lifecycle
from labs.lab08_eval.compare import CompareError
from labs.lab08_eval.runner import get_run
from shared.service import ServiceError, not_found
from shared.store import Store

PERIOD = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def quality_router(store: Store) -> APIRouter:
    router = APIRouter(tags=["eval quality"])

    @router.get("/compare/{a}/{b}/antipatterns")
    def check_antipatterns(a: str, b: str, scorer: str | None = Query(None, max_length=40)) -> dict[str, Any]:
        """Which eval anti-patterns the comparison of B against A shows, each with its evidence and guard."""
        for run_id in (a, b):
            if get_run(store, run_id) is None:
                raise not_found("run", run_id)
        try:
            return antipatterns.check(store, a, b, scorer)
        except CompareError as exc:
            raise ServiceError(422, str(exc), "not_comparable") from exc

    @router.get("/datasets/{name}/lifecycle")
    def dataset_lifecycle(name: str, periods: str = Query("2026-Q3,2026-Q4,2027-Q1", max_length=400),
                          m: int = Query(5, ge=2, le=50)) -> dict[str, Any]:
        """The set's versions v0 → v1 → v2 (hash, changelog) and its rotating holdout per period."""
        if name not in datasets.DATASETS:
            raise not_found("dataset", name)
        names = [p.strip() for p in periods.split(",") if p.strip()]
        if not 1 <= len(names) <= 12 or not all(PERIOD.match(p) for p in names):
            raise ServiceError(422, "periods must be 1 to 12 comma-separated names like 2026-Q4", "invalid_input")
        return lifecycle.describe(name, names, m)

    return router
