"""The lab-08 service: eval runs as jobs, reports, run comparison, judge bias and calibration, statistics.

    make lab-08        # serves on 127.0.0.1:8008; README.md has a curl example for every route
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import HTMLResponse

from labs.lab08_eval import datasets, judge, report, sandbox, stats
from labs.lab08_eval.compare import CompareError, compare_runs
from labs.lab08_eval.routes_online import online_router
from labs.lab08_eval.routes_quality import quality_router
from labs.lab08_eval.routes_tasks import tasks_router
from labs.lab08_eval.runner import RunConfig, RunError, Runner, get_run, import_tide, open_store, reconcile
from labs.lab08_eval.schemas import (
    AlphaRequest,
    BiasRequest,
    BootstrapRequest,
    FleissRequest,
    JudgeOptions,
    KappaRequest,
    McNemarRequest,
    PassKRequest,
    PowerRequest,
    RunRequest,
)
from shared.config import Settings, get_settings
from shared.jobs import JobStore, jobs_router
from shared.llm import Model
from shared.service import ServiceError, create_service, not_found
from shared.store import Store, when_available

T = TypeVar("T")


@dataclass
class Lab:
    """Everything the routes share: the runs database, the job store, and the one model handle."""

    store: Store
    jobs: JobStore
    model: Model

    def judge_call(self) -> judge.Call:
        return judge.llm_call(self.model.for_behaviour("judge"))


def _stats(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A statistics function's answer, or its StatsError as a 422."""
    try:
        return fn(*args, **kwargs)
    except stats.StatsError as exc:
        raise ServiceError(422, str(exc), "invalid_input") from exc


def datasets_router() -> APIRouter:
    router = APIRouter(prefix="/datasets", tags=["datasets"])

    @router.get("")
    def list_datasets() -> list[dict[str, Any]]:
        """Every golden set: size, version (content hash), slices."""
        return [datasets.describe(name) for name in datasets.DATASETS]

    @router.get("/{name}")
    def get_dataset(name: str, period: str = Query("2026-Q4", max_length=32),
                    sample: int | None = Query(None, ge=1, le=10_000)) -> dict[str, Any]:
        """One golden set: version, this period's rotating holdout, a stratified sample's ids."""
        try:
            return datasets.describe(name, period, sample)
        except datasets.DatasetError as exc:
            raise not_found("dataset", name) from exc

    return router


def runs_router(lab: Lab) -> APIRouter:
    router = APIRouter(prefix="/runs", tags=["runs"])

    @router.post("", status_code=202)
    def create_run(body: RunRequest) -> dict[str, Any]:
        """Start an eval run as a job (resumes if the same configuration ran before)."""
        try:
            ds = datasets.load(body.dataset)
        except datasets.DatasetError as exc:
            raise ServiceError(404, str(exc), "unknown_dataset") from exc
        config = RunConfig(dataset=body.dataset, model=body.model, scorers=body.scorers,
                           concurrency=body.concurrency, limit=body.limit, n_samples=body.n_samples, k=body.k,
                           judge_mock=body.judge.model_dump(), run_id=body.run_id)
        runner = Runner(lab.store, lab.model)
        try:
            config.run_id, _, _ = runner.start(config, ds.items)
        except RunError as exc:
            conflict = "exists with another configuration" in str(exc)
            raise ServiceError(409 if conflict else 422, str(exc), "conflict" if conflict else "invalid_run") from exc
        job_id = lab.jobs.submit("eval-run", {"run_id": config.run_id, "dataset": body.dataset, "model": body.model},
                                 runner.job(config, ds.items))
        job = lab.jobs.wait(job_id, timeout_s=600) if body.wait else lab.jobs.get(job_id)
        return {"run_id": config.run_id, "job": job, "run": get_run(lab.store, config.run_id)}

    @router.get("")
    def list_runs() -> list[dict[str, Any]]:
        """Every run, newest first (without per-slice detail)."""
        rows = lab.store.query("SELECT id FROM runs ORDER BY created_at DESC LIMIT 200")
        return [{k: v for k, v in (get_run(lab.store, r["id"]) or {}).items() if k != "summary"} for r in rows]

    @router.get("/{run_id}")
    def read_run(run_id: str) -> dict[str, Any]:
        """A run: status (and why it stopped), progress (done / n_items), scores with CIs, failure reasons."""
        run = get_run(lab.store, run_id)
        if run is None:
            raise not_found("run", run_id)
        return run

    @router.get("/{run_id}/report", response_model=None)
    def run_report(run_id: str, format: Literal["html", "json"] = "html") -> HTMLResponse | dict[str, Any]:
        """The run's self-contained HTML report (or the same data as JSON)."""
        run = read_run(run_id)
        return run if format == "json" else HTMLResponse(report.run_html(run))

    return router


def compare_router(lab: Lab) -> APIRouter:
    router = APIRouter(prefix="/compare", tags=["compare"])

    @router.get("/{a}/{b}", response_model=None)
    def compare(a: str, b: str, scorer: str | None = Query(None, max_length=40),
                threshold: float = Query(0.5, ge=0, le=1),
                format: Literal["json", "html"] = "json") -> HTMLResponse | dict[str, Any]:
        """B against A: flips, per-slice deltas with CIs, McNemar, a verdict."""
        for run_id in (a, b):
            if get_run(lab.store, run_id) is None:
                raise not_found("run", run_id)
        try:
            result = compare_runs(lab.store, a, b, scorer, threshold)
        except CompareError as exc:
            raise ServiceError(422, str(exc), "not_comparable") from exc
        return HTMLResponse(report.compare_html(result)) if format == "html" else result

    return router


def judge_router(lab: Lab) -> APIRouter:
    router = APIRouter(prefix="/judge", tags=["judge"])

    @router.post("/bias")
    def judge_bias(body: BiasRequest, format: Literal["json", "html"] = "json") -> Any:
        """Measure position, length and self-preference bias of a judge, before and after each mitigation."""
        options = body.model_dump(exclude={"limit"})
        result = asyncio.run(judge.measure_biases(lab.judge_call(), options, limit=body.limit))
        if format == "html":
            return HTMLResponse(report.bias_html(result.rows, options))
        return {"options": options, "rows": result.rows}

    @router.post("/calibrate")
    def judge_calibrate(body: JudgeOptions) -> dict[str, Any]:
        """Grade the human-labelled set with this judge; Cohen's κ and whether it clears 0.6."""
        return asyncio.run(judge.calibrate(lab.judge_call(), body.model_dump()))

    return router


def stats_router() -> APIRouter:
    router = APIRouter(prefix="/stats", tags=["stats"])

    @router.post("/kappa")
    def kappa(body: KappaRequest) -> dict[str, Any]:
        """Cohen's κ for two raters (weighted for ordinal labels)."""
        labels = sorted(set(body.rater1) | set(body.rater2), key=lambda v: (isinstance(v, str), v))
        kappa = _stats(stats.cohen_kappa, body.rater1, body.rater2, body.weights, labels)
        return {"kappa": kappa, "n": len(body.rater1), "landis_koch": stats.landis_koch(kappa)}

    @router.post("/fleiss")
    def fleiss(body: FleissRequest) -> dict[str, Any]:
        """Fleiss' κ from an items × categories count matrix."""
        kappa = _stats(stats.fleiss_kappa, body.counts)
        return {"kappa": kappa, "items": len(body.counts), "landis_koch": stats.landis_koch(kappa)}

    @router.post("/alpha")
    def alpha(body: AlphaRequest) -> dict[str, Any]:
        """Krippendorff's α (nominal, ordinal or interval) from a raters × units matrix."""
        if len({len(row) for row in body.data}) != 1:
            raise ServiceError(422, "data must be rectangular: every rater row needs one entry per unit",
                               "invalid_input")
        return {"alpha": _stats(stats.krippendorff_alpha, body.data, body.level), "level": body.level}

    @router.post("/bootstrap")
    def bootstrap(body: BootstrapRequest) -> dict[str, Any]:
        """Percentile bootstrap CI of the mean, or of a paired difference when b is given."""
        if body.b is None:
            est, lo, hi = _stats(stats.bootstrap_ci, body.a, B=body.B, alpha=body.alpha, seed=body.seed)
            return {"mean": est, "low": lo, "high": hi}
        return _stats(stats.paired_bootstrap, body.a, body.b, B=body.B, alpha=body.alpha, seed=body.seed)

    @router.post("/mcnemar")
    def mcnemar(body: McNemarRequest) -> dict[str, Any]:
        """McNemar's test on the discordant pairs (exact binomial or χ² with continuity correction)."""
        r = _stats(stats.mcnemar, body.fixed, body.broken, body.exact)
        return {"fixed": r.b, "broken": r.c, "statistic": r.statistic, "p_value": r.p_value, "exact": r.exact}

    @router.post("/power")
    def power(body: PowerRequest) -> dict[str, Any]:
        """Items needed: N ≈ 4p(1−p)/Δ² for a ±Δ CI; per arm to detect p vs p+Δ (chapter formula, Cohen h)."""
        p2 = body.p + body.delta
        if p2 >= 1:
            raise ServiceError(422, "p + delta must be below 1", "invalid_input")
        n_arm = _stats(stats.n_per_arm, body.p, p2, body.alpha, body.power)
        return {"n_for_margin": _stats(stats.n_for_margin, body.p, body.delta), "n_per_arm": n_arm,
                "power_at_n": _stats(stats.power_two_proportions, body.p, p2, n_arm, body.alpha),
                "per_arm": _stats(stats.sample_size_per_arm, body.p, body.delta, body.alpha, body.power)}

    @router.post("/passk")
    def passk(body: PassKRequest) -> dict[str, Any]:
        """The unbiased pass@k estimator from n samples with c correct."""
        return {"pass_at_k": _stats(stats.pass_at_k, body.n, body.c, body.k), **body.model_dump()}

    return router


def start_up(store: Store) -> str:
    """Runs left 'running' by a killed process failed, as their jobs did; the tide runs are loaded."""
    interrupted = reconcile(store)
    import_tide(store)
    return f"{interrupted} interrupted runs marked failed, tide runs loaded"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    folder = settings.lab_dir("lab08")
    lab = Lab(store=open_store(folder / "lab08.db", settings.database_url),
              jobs=JobStore(folder / "jobs.db", workers=2, url=settings.database_url),
              model=Model.from_settings(settings))
    stop = threading.Event()  # a database down at start: the warm-up step retries until shutdown
    database = when_available(lambda: start_up(lab.store), stop)
    app = create_service("lab-08 Evaluation systems", lab="lab08", settings=settings,
                         readiness={"store": lab.store.ping, "sandbox": sandbox.describe},
                         warmup={"model": lab.model.warm, **database})
    app.router.on_shutdown.append(stop.set)
    for router in (datasets_router(), runs_router(lab), compare_router(lab), judge_router(lab), stats_router()):
        app.include_router(router)
    app.include_router(jobs_router(lab.jobs))
    app.include_router(online_router())
    app.include_router(quality_router(lab.store))
    app.include_router(tasks_router(lab.model))
    app.state.context = lab  # (app.state.lab is the lab's name, set by create_service)
    return app
