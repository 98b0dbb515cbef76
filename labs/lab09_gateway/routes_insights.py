"""The dashboard's static assets and the analysis views added on top of the call log: time series,
the latency breakdown, usage aggregates (cache hit rate, tokens per conversation).

    curl -s 'localhost:8009/analysis/timeseries?window_s=900&buckets=30'

app.py includes `insights_router(lab.log, lab.slos)`; the routes stay thin: parse, call a domain module, return.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from labs.lab09_gateway import latency, timeseries, usage
from labs.lab09_gateway.calls import CallLog
from shared.slo import SLO

STATIC = Path(__file__).parent / "static"
# read once: the assets are small and never change while the service runs
CHARTS_JS = (STATIC / "charts.js").read_bytes()
FAVICON = (STATIC / "favicon.svg").read_bytes()
CACHE = {"cache-control": "public, max-age=3600"}

Window = Annotated[float, Query(gt=0, le=90 * 86400, description="seconds back from now")]
Buckets = Annotated[int, Query(ge=1, le=500, description="number of equal time buckets")]


def insights_router(log: CallLog, slos: list[SLO]) -> APIRouter:
    router = APIRouter()

    @router.get("/dashboard/charts.js", include_in_schema=False)
    def charts_js() -> Response:
        return Response(CHARTS_JS, media_type="text/javascript", headers=CACHE)

    @router.get("/dashboard/favicon.svg", include_in_schema=False)
    @router.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(FAVICON, media_type="image/svg+xml", headers=CACHE)

    @router.get("/analysis/timeseries", tags=["analysis"])
    def time_series(window_s: Window = 900, buckets: Buckets = 30) -> dict[str, Any]:
        """Per time bucket: latency p50/p90/p99, error rate, cost (and cumulative), SLO burn rates, judge score."""
        return timeseries.series(log.window(window_s), slos, window_s, buckets)

    @router.get("/analysis/latency/components", tags=["analysis"])
    def latency_components(window_s: Window = 3600) -> dict[str, Any]:
        """Per model, streamed calls: median network / queue / prefill / decode / gateway ms and the prefill fit."""
        return {"window_s": window_s, "models": latency.components(log.window(window_s))}

    @router.get("/analysis/usage", tags=["analysis"])
    def usage_aggregates(by: Literal["route", "tenant", "conversation"] = "route", window_s: Window = 86400,
                         top: Annotated[int, Query(ge=1, le=100, description="groups shown before `other`")] = 10
                         ) -> dict[str, Any]:
        """Cache hit rate and tokens per conversation per route, tenant or conversation (top-k, then `other`)."""
        return {"window_s": window_s, **usage.aggregate(log.window(window_s), by, top)}

    return router
