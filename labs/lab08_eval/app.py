"""The lab-08 service: eval runs as jobs, reports, run comparison, judge bias and calibration, statistics.

    make lab-08        # serves on 127.0.0.1:8008; README.md has a curl example for every route
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from labs.lab08_eval import datasets, judge, report, sandbox, stats
from labs.lab08_eval.compare import CompareError, compare_runs
from labs.lab08_eval.runner import SCHEMA, RunConfig, RunError, Runner, get_run, import_run
from shared.config import Settings, get_settings
from shared.jobs import JobStore, jobs_router
from shared.service import ServiceError, create_service, not_found
from shared.store import Store

Finite = Annotated[float, Field(allow_inf_nan=False)]


class JudgeOptions(BaseModel):
    position_bias: float = Field(0.0, ge=0, le=1)
    length_bias: float = Field(0.0, ge=0, le=2)
    self_preference: float = Field(0.0, ge=0, le=1)
    noise: float = Field(0.03, ge=0, le=0.5)


class RunRequest(BaseModel):
    dataset: str = Field(description=" | ".join(datasets.DATASETS))
    model: str = Field("mock/assistant", max_length=120, description="e.g. mock/assistant?variant=v2")
    scorers: list[str] = Field([], max_length=8, description="default: the task's scorers")
    concurrency: int = Field(8, ge=1, le=64)
    limit: int | None = Field(None, ge=1, le=10_000)
    n_samples: int = Field(5, ge=1, le=20, description="code: samples per item for pass@k")
    k: list[Annotated[int, Field(ge=1, le=20)]] = Field([1, 5], min_length=1, max_length=5)
    judge: JudgeOptions = JudgeOptions()
    run_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    wait: bool = Field(False, description="block until the run is finished")


class KappaRequest(BaseModel):
    rater1: list[str | int] = Field(min_length=1, max_length=100_000)
    rater2: list[str | int] = Field(min_length=1, max_length=100_000)
    weights: Literal["linear", "quadratic"] | None = None


class FleissRequest(BaseModel):
    counts: list[list[Annotated[int, Field(ge=0)]]] = Field(min_length=1, max_length=100_000)


class AlphaRequest(BaseModel):
    data: list[list[Finite | None]] = Field(min_length=2, max_length=1000, description="raters × units; null = missing")
    level: Literal["nominal", "ordinal", "interval"] = "nominal"


class BootstrapRequest(BaseModel):
    a: list[Finite] = Field(min_length=1, max_length=100_000)
    b: list[Finite] | None = Field(None, max_length=100_000, description="paired with a: CI of mean(b) − mean(a)")
    B: int = Field(2000, ge=100, le=20_000)
    alpha: float = Field(0.05, gt=0, lt=1)
    seed: int = Field(0, ge=0)


class McNemarRequest(BaseModel):
    fixed: int = Field(ge=0, description="failed in A, passed in B")
    broken: int = Field(ge=0, description="passed in A, failed in B")
    exact: bool | None = None


class PowerRequest(BaseModel):
    p: float = Field(gt=0, lt=1, description="baseline accuracy")
    delta: float = Field(gt=0, lt=1, description="the difference to detect")
    alpha: float = Field(0.05, gt=0, lt=1)
    power: float = Field(0.8, gt=0, lt=1)


class PassKRequest(BaseModel):
    n: int = Field(ge=1, le=10_000)
    c: int = Field(ge=0, le=10_000)
    k: int = Field(ge=1, le=10_000)


class BiasRequest(JudgeOptions):
    limit: int = Field(40, ge=5, le=80, description="pairs per bias")


def _stats_error(exc: stats.StatsError) -> ServiceError:
    return ServiceError(422, str(exc), "invalid_input")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    folder = settings.lab_dir("lab08")
    store = Store(folder / "lab08.db", migrations=[SCHEMA])
    jobs = JobStore(folder / "jobs.db", workers=2)
    tide = [json.loads(line) for line in (datasets.FIXTURES / "tide_runs.jsonl").read_text().splitlines() if line]
    for side in ("a", "b"):
        import_run(store, f"tide-{side}", "tide", f"fixture model {side.upper()}",
                   [{"id": r["id"], "slices": r["slices"], "scores": {"pass": r[side]}} for r in tide])
    app = create_service("lab-08 Evaluation systems", lab="lab08", settings=settings,
                         readiness={"store": store.ping, "sandbox": sandbox.describe})
    app.state.fuzz_skip = {"POST /runs", "POST /judge/bias", "POST /judge/calibrate"}

    data = APIRouter(prefix="/datasets", tags=["datasets"])

    @data.get("")
    def list_datasets() -> list[dict[str, Any]]:
        """Every golden set: size, version (content hash), slices."""
        out = []
        for name in datasets.DATASETS:
            ds = datasets.load(name)
            out.append({"name": name, "n": len(ds.items), "version": ds.version,
                        "slices": datasets.slice_counts(ds.items)})
        return out

    @data.get("/{name}")
    def get_dataset(name: str, period: str = Query("2026-Q4", max_length=32),
                    sample: int | None = Query(None, ge=1, le=10_000)) -> dict[str, Any]:
        """One golden set: version, this period's rotating holdout, a stratified sample's ids."""
        try:
            ds = datasets.load(name)
        except datasets.DatasetError as exc:
            raise not_found("dataset", name) from exc
        dev, held = datasets.holdout(ds.items, period)
        out = {"name": name, "n": len(ds.items), "version": ds.version, "slices": datasets.slice_counts(ds.items),
               "holdout": {"period": period, "n": len(held), "ids": [i["id"] for i in held]}, "dev_n": len(dev)}
        if sample:
            out["sample"] = [i["id"] for i in datasets.stratified_sample(ds.items, sample)]
        return out

    runs = APIRouter(prefix="/runs", tags=["runs"])

    @runs.post("", status_code=202)
    def create_run(body: RunRequest) -> dict[str, Any]:
        """Start an eval run as a job (resumes if the same configuration ran before)."""
        try:
            ds = datasets.load(body.dataset)
        except datasets.DatasetError as exc:
            raise ServiceError(404, str(exc), "unknown_dataset") from exc
        config = RunConfig(dataset=body.dataset, model=body.model, scorers=body.scorers,
                           concurrency=body.concurrency, limit=body.limit, n_samples=body.n_samples, k=body.k,
                           judge_mock=body.judge.model_dump(), run_id=body.run_id)
        runner = Runner(store, settings)
        try:
            run_id, _, _ = runner.start(config, ds.items)
        except RunError as exc:
            conflict = "exists with another configuration" in str(exc)
            raise ServiceError(409 if conflict else 422, str(exc), "conflict" if conflict else "invalid_run") from exc
        config.run_id = run_id

        def work(ctx) -> dict[str, Any]:
            def progress(done: int, total: int) -> None:
                ctx.progress(done, total, f"{done}/{total} items", {"calls": dict(runner.calls)})

            return asyncio.run(runner.run(config, ds.items, progress))

        job_id = jobs.submit("eval-run", {"run_id": run_id, "dataset": body.dataset, "model": body.model}, work)
        job = jobs.wait(job_id, timeout_s=600) if body.wait else jobs.get(job_id)
        return {"run_id": run_id, "job": job, "run": get_run(store, run_id)}

    @runs.get("")
    def list_runs() -> list[dict[str, Any]]:
        """Every run, newest first (without per-slice detail)."""
        rows = store.query("SELECT id FROM runs ORDER BY created_at DESC LIMIT 200")
        return [{k: v for k, v in (get_run(store, r["id"]) or {}).items() if k != "summary"} for r in rows]

    @runs.get("/{run_id}")
    def read_run(run_id: str) -> dict[str, Any]:
        """A run: status, progress (done / n_items), scores with CIs overall and per slice."""
        run = get_run(store, run_id)
        if run is None:
            raise not_found("run", run_id)
        return run

    @runs.get("/{run_id}/report", response_model=None)
    def run_report(run_id: str, format: Literal["html", "json"] = "html") -> HTMLResponse | dict[str, Any]:
        """The run's self-contained HTML report (or the same data as JSON)."""
        run = read_run(run_id)
        return run if format == "json" else HTMLResponse(report.run_html(run))

    cmp = APIRouter(prefix="/compare", tags=["compare"])

    @cmp.get("/{a}/{b}", response_model=None)
    def compare(a: str, b: str, scorer: str | None = Query(None, max_length=40),
                threshold: float = Query(0.5, ge=0, le=1),
                format: Literal["json", "html"] = "json") -> HTMLResponse | dict[str, Any]:
        """B against A: flips, per-slice deltas with CIs, McNemar, a verdict."""
        for run_id in (a, b):
            if get_run(store, run_id) is None:
                raise not_found("run", run_id)
        try:
            result = compare_runs(store, a, b, scorer, threshold)
        except CompareError as exc:
            raise ServiceError(422, str(exc), "not_comparable") from exc
        return HTMLResponse(report.compare_html(result)) if format == "html" else result

    jr = APIRouter(prefix="/judge", tags=["judge"])

    @jr.post("/bias")
    def judge_bias(body: BiasRequest, format: Literal["json", "html"] = "json") -> Any:
        """Measure position, length and self-preference bias of a judge, before and after each mitigation."""
        options = body.model_dump(exclude={"limit"})
        result = asyncio.run(judge.measure_biases(judge.llm_call(settings=settings), options, limit=body.limit))
        if format == "html":
            return HTMLResponse(report.bias_html(result.rows, options))
        return {"options": options, "rows": result.rows}

    @jr.post("/calibrate")
    def judge_calibrate(body: JudgeOptions) -> dict[str, Any]:
        """Grade the human-labelled set with this judge; Cohen's κ and whether it clears 0.6."""
        return asyncio.run(judge.calibrate(judge.llm_call(settings=settings), body.model_dump()))

    st = APIRouter(prefix="/stats", tags=["stats"])

    @st.post("/kappa")
    def kappa(body: KappaRequest) -> dict[str, Any]:
        """Cohen's κ for two raters (weighted for ordinal labels)."""
        try:
            labels = sorted(set(body.rater1) | set(body.rater2), key=lambda v: (isinstance(v, str), v))
            return {"kappa": stats.cohen_kappa(body.rater1, body.rater2, body.weights, labels), "n": len(body.rater1)}
        except stats.StatsError as exc:
            raise _stats_error(exc) from exc

    @st.post("/fleiss")
    def fleiss(body: FleissRequest) -> dict[str, Any]:
        """Fleiss' κ from an items × categories count matrix."""
        try:
            return {"kappa": stats.fleiss_kappa(body.counts), "items": len(body.counts)}
        except stats.StatsError as exc:
            raise _stats_error(exc) from exc

    @st.post("/alpha")
    def alpha(body: AlphaRequest) -> dict[str, Any]:
        """Krippendorff's α (nominal, ordinal or interval) from a raters × units matrix."""
        if len({len(row) for row in body.data}) != 1:
            raise ServiceError(422, "data must be rectangular: every rater row needs one entry per unit",
                               "invalid_input")
        try:
            return {"alpha": stats.krippendorff_alpha(body.data, body.level), "level": body.level}
        except stats.StatsError as exc:
            raise _stats_error(exc) from exc

    @st.post("/bootstrap")
    def bootstrap(body: BootstrapRequest) -> dict[str, Any]:
        """Percentile bootstrap CI of the mean, or of a paired difference when b is given."""
        try:
            if body.b is None:
                est, lo, hi = stats.bootstrap_ci(body.a, B=body.B, alpha=body.alpha, seed=body.seed)
                return {"mean": est, "low": lo, "high": hi}
            return stats.paired_bootstrap(body.a, body.b, B=body.B, alpha=body.alpha, seed=body.seed)
        except stats.StatsError as exc:
            raise _stats_error(exc) from exc

    @st.post("/mcnemar")
    def mcnemar(body: McNemarRequest) -> dict[str, Any]:
        """McNemar's test on the discordant pairs (exact binomial or χ² with continuity correction)."""
        r = stats.mcnemar(body.fixed, body.broken, body.exact)
        return {"fixed": r.b, "broken": r.c, "statistic": r.statistic, "p_value": r.p_value, "exact": r.exact}

    @st.post("/power")
    def power(body: PowerRequest) -> dict[str, Any]:
        """Items needed: N ≈ 4p(1−p)/Δ² for a ±Δ CI, and per arm to detect p vs p+Δ."""
        p2 = body.p + body.delta
        if p2 >= 1:
            raise ServiceError(422, "p + delta must be below 1", "invalid_input")
        try:
            n_arm = stats.n_per_arm(body.p, p2, body.alpha, body.power)
            return {"n_for_margin": stats.n_for_margin(body.p, body.delta), "n_per_arm": n_arm,
                    "power_at_n": stats.power_two_proportions(body.p, p2, n_arm, body.alpha)}
        except stats.StatsError as exc:
            raise _stats_error(exc) from exc

    @st.post("/passk")
    def passk(body: PassKRequest) -> dict[str, Any]:
        """The unbiased pass@k estimator from n samples with c correct."""
        try:
            return {"pass_at_k": stats.pass_at_k(body.n, body.c, body.k), **body.model_dump()}
        except stats.StatsError as exc:
            raise _stats_error(exc) from exc

    for router in (data, runs, cmp, jr, st):
        app.include_router(router)
    app.include_router(jobs_router(jobs))
    return app
