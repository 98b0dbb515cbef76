"""The lab-03 service: metrics, calibration, significance and model fits over HTTP, each answer computed
by this lab's from-scratch code.

    make lab-03        # serves on 127.0.0.1:8003; README.md has a curl example for every route
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from pydantic import Field, model_validator

from labs.lab03_classical import calibration, metrics, models, plots, significance
from labs.lab03_classical.metrics import MetricError
from shared.config import Settings, get_settings
from shared.jobs import JobContext, JobStore, jobs_router
from shared.schemas import Number, StrictModel
from shared.service import ServiceError, create_service

MAX_FIT_JOBS = 8  # fit jobs queued or running at once: one worker runs them in turn; more would only wait
MAX_N = 1000  # items per request: StrictModel's list cap; every route below is O(n log n) or O(B·n)
Label = Annotated[int, Field(ge=0, le=1)]
Prob = Annotated[Number, Field(ge=0, le=1)]
Score = Annotated[Number, Field(ge=-1e9, le=1e9)]
Seed = Annotated[int, Field(0, ge=0, le=2**31 - 1)]
PNG = {200: {"content": {"image/png": {}}, "description": "a PNG image"}}


def _domain(fn, *args, **kwargs):
    """Run a domain call; its MetricError (input the math cannot take) becomes a 422 that names the field."""
    try:
        return fn(*args, **kwargs)
    except MetricError as exc:
        raise ServiceError(422, str(exc), "invalid_input") from exc


class MetricsIn(StrictModel):
    y_true: list[Label] = Field(min_length=1, max_length=MAX_N, description="0/1 labels")
    y_score: list[Score] | None = Field(None, max_length=MAX_N, description="scores or P(y=1), one per label")
    y_pred: list[Label] | None = Field(None, max_length=MAX_N, description="0/1 predictions (instead of y_score)")
    threshold: Score = Field(0.5, description="y_pred = 1[y_score >= threshold]")
    betas: list[Annotated[Number, Field(gt=0, le=100)]] = Field([0.5, 1.0, 2.0], min_length=1, max_length=5)


class CurveIn(StrictModel):
    y_true: list[Label] = Field(min_length=2, max_length=MAX_N)
    y_score: list[Score] = Field(min_length=2, max_length=MAX_N)


def metrics_router() -> APIRouter:
    router = APIRouter(prefix="/metrics", tags=["metrics"])

    @router.post("")
    def all_metrics(body: MetricsIn) -> dict[str, Any]:
        """Confusion counts, precision/recall/F-beta, ROC AUC, AP, log-loss and Brier (what the input allows)."""
        return _domain(metrics.report, body.y_true, body.y_score, body.y_pred, body.threshold, body.betas)

    @router.post("/roc.png", response_class=Response, responses=PNG)
    def roc(body: CurveIn) -> Response:
        """The ROC curve with its AUC, as a PNG."""
        return Response(_domain(plots.roc_png, body.y_true, body.y_score), media_type="image/png")

    @router.post("/pr.png", response_class=Response, responses=PNG)
    def pr(body: CurveIn) -> Response:
        """The precision-recall curve with its AP and the prevalence line, as a PNG."""
        return Response(_domain(plots.pr_png, body.y_true, body.y_score), media_type="image/png")

    return router


class CalibrateIn(StrictModel):
    y_true: list[Label] = Field(min_length=4, max_length=MAX_N)
    probs: list[Prob] = Field(min_length=4, max_length=MAX_N, description="P(y=1) per item")
    method: Literal["temperature", "platt", "isotonic"] = "temperature"
    bins: int = Field(10, ge=2, le=50)
    strategy: Literal["width", "mass"] = Field("width", description="equal-width or equal-mass bins")
    seed: Seed


def calibration_router() -> APIRouter:
    router = APIRouter(prefix="/calibrate", tags=["calibration"])

    @router.post("")
    def calibrate(body: CalibrateIn) -> dict[str, Any]:
        """ECE/NLL/Brier before and after recalibration (cross-fitted), and how ECE moves with the binning."""
        return _domain(calibration.calibrate_report, body.y_true, body.probs, body.method, body.bins,
                       body.strategy, body.seed)

    @router.post("/reliability.png", response_class=Response, responses=PNG)
    def reliability(body: CalibrateIn) -> Response:
        """The reliability diagram before and after recalibration, as a PNG."""
        after, _ = _domain(calibration.cross_fit, body.y_true, body.probs, body.method, seed=body.seed)
        png = _domain(plots.reliability_png, body.y_true, {"before": body.probs, f"after {body.method}": after},
                      body.bins, body.strategy)
        return Response(png, media_type="image/png")

    return router


class CompareIn(StrictModel):
    a: list[Prob] = Field(min_length=2, max_length=MAX_N, description="model A per item: 0/1 correct or a score in [0, 1]")
    b: list[Prob] = Field(min_length=2, max_length=MAX_N, description="model B on the same items, same order")
    B: int = Field(2000, ge=100, le=4000, description="bootstrap resamples")
    alpha: Number = Field(0.05, gt=0, le=0.5)
    seed: Seed


class SampleSizeIn(StrictModel):
    p_baseline: Number = Field(gt=0, lt=1, description="the control's conversion rate")
    lift: Number = Field(gt=-1, lt=1, description="the absolute change to detect (0.02 = 2 points)")
    alpha: Number = Field(0.05, ge=1e-6, le=0.5)
    power: Number = Field(0.8, ge=0.5, le=0.9999)


class PosteriorIn(StrictModel):
    conversions_a: int = Field(ge=0, le=10**9)
    users_a: int = Field(ge=1, le=10**9)
    conversions_b: int = Field(ge=0, le=10**9)
    users_b: int = Field(ge=1, le=10**9)
    prior: tuple[Annotated[Number, Field(gt=0, le=1e4)], Annotated[Number, Field(gt=0, le=1e4)]] = (1.0, 1.0)
    seed: Seed


def significance_router() -> APIRouter:
    router = APIRouter(tags=["significance"])

    @router.post("/compare")
    def compare(body: CompareIn) -> dict[str, Any]:
        """A vs B on the same items: paired bootstrap CI of the difference, McNemar (0/1 input), a verdict."""
        return _domain(significance.compare, body.a, body.b, body.B, body.alpha, body.seed)

    @router.post("/ab/sample-size")
    def sample_size(body: SampleSizeIn) -> dict[str, Any]:
        """Users per arm: the two-proportion z-test, the arcsine formula and the 16·p(1-p)/Δ² rule."""
        return _domain(significance.sample_size, body.p_baseline, body.lift, body.alpha, body.power)

    @router.post("/ab/posterior")
    def posterior(body: PosteriorIn) -> dict[str, Any]:
        """The Bayesian answer: Beta posteriors, P(B beats A) and the lift's 95% interval."""
        return _domain(significance.beta_binomial, body.conversions_a, body.users_a, body.conversions_b,
                       body.users_b, body.prior, seed=body.seed)

    return router


class FitIn(StrictModel):
    dataset: Literal[models.DATASETS] = "breast_cancer"  # type: ignore[valid-type]
    model: Literal[models.MODELS] = "logistic"  # type: ignore[valid-type]
    test_size: Number = Field(0.25, ge=0.1, le=0.5)
    seed: Seed
    cv_folds: int = Field(0, ge=0, le=5, description="0: no cross-validation; 2 to 5: stratified k-fold accuracy")

    @model_validator(mode="after")
    def _folds(self) -> FitIn:
        if self.cv_folds == 1:
            raise ValueError("cv_folds: 1 fold is no cross-validation; use 0 or 2 to 5")
        return self


def _within_budget(body: FitIn) -> None:
    """A sync /fit whose estimated cost (models.fit_cost_s) is over the budget is a 422 naming the job route."""
    cost = _domain(models.fit_cost_s, body.dataset, body.model, body.cv_folds)
    if cost > models.SYNC_FIT_BUDGET_S:
        raise ServiceError(422, f"this fit is estimated at {cost:.1f} s ({1 + body.cv_folds} fits of {body.model} on "
                           f"{body.dataset}), over the {models.SYNC_FIT_BUDGET_S:.0f} s a synchronous request may "
                           "take: run it as a job with POST /fit/jobs (same body) and follow GET /jobs/{id}",
                           "too_heavy_for_a_request")


class FitJobs:
    """POST /fit/jobs: fit_report run by the JobStore's one worker, its progress per fit; at most MAX_FIT_JOBS
    of this process's fits wait or run (more is a 429); on shutdown, this process's unfinished fits are
    cancelled (not other replicas' jobs, when DATABASE_URL shares the table)."""

    def __init__(self, store: JobStore):
        self.store = store
        self.unfinished: set[str] = set()  # ids this process started that were queued or running when last seen

    def _still_unfinished(self) -> set[str]:
        live = {i for i in self.unfinished if (job := self.store.get(i)) and job["status"] in ("queued", "running")}
        self.unfinished = live
        return live

    def start(self, body: FitIn) -> dict[str, Any]:
        if len(busy := self._still_unfinished()) >= MAX_FIT_JOBS:
            raise ServiceError(429, f"{len(busy)} fit jobs are queued or running; wait for one to finish "
                               "(GET /jobs)", "too_many_jobs")

        def run(ctx: JobContext) -> dict[str, Any]:
            out = _domain(models.fit_report, body.dataset, body.model, body.test_size, body.seed, body.cv_folds,
                          progress=ctx.progress)
            ctx.store.update(ctx.job_id, metrics={"test_accuracy": out["test"]["accuracy"]["estimate"],
                                                  "baseline_accuracy": out["baseline"]["accuracy"],
                                                  "beats_baseline": out["beats_baseline"]})
            return out

        job_id = self.store.submit("fit", body.model_dump(), run)
        self.unfinished.add(job_id)
        return self.store.get(job_id)

    def cancel_unfinished(self) -> None:
        """On shutdown: ask queued and running fits to stop at their next fit instead of outliving the app."""
        for job_id in self._still_unfinished():
            try:
                self.store.cancel(job_id)
            except ServiceError:  # it finished between the look and the cancel (409): nothing to stop
                pass


def models_router(fit_jobs: FitJobs) -> APIRouter:
    router = APIRouter(tags=["models"])

    @router.get("/datasets")
    def datasets() -> list[dict[str, Any]]:
        """The bundled datasets: rows, features, classes and the package they ship in."""
        return [{"name": d.name, "rows": int(d.X.shape[0]), "features": int(d.X.shape[1]), "classes": d.n_classes,
                 "source": d.source} for d in map(models.load, models.DATASETS)]

    @router.post("/fit")
    def fit(body: FitIn) -> dict[str, Any]:
        """Fit a model on a stratified split: held-out metrics with bootstrap CIs, beside the baseline.
        A fit estimated over models.SYNC_FIT_BUDGET_S is refused (422): POST /fit/jobs runs it."""
        _within_budget(body)
        return _domain(models.fit_report, body.dataset, body.model, body.test_size, body.seed, body.cv_folds)

    @router.post("/fit/jobs", status_code=202)
    def fit_job(body: FitIn) -> dict[str, Any]:
        """The same fit as a job (202): progress per fit (GET /jobs/{id}), cancel between fits, result = /fit's."""
        return fit_jobs.start(body)

    return router


def _warm_datasets() -> str:
    return f"{len([models.load(name) for name in models.DATASETS])} datasets loaded"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    jobs = JobStore(settings.lab_dir("lab03") / "jobs.db", url=settings.database_url)
    app = create_service("lab-03 classical ML rigor", lab="lab03", settings=settings,
                         readiness={"jobs": jobs.store.ping}, warmup={"datasets": _warm_datasets})
    app.include_router(metrics_router())
    app.include_router(calibration_router())
    app.include_router(significance_router())
    fit_jobs = FitJobs(jobs)
    app.include_router(models_router(fit_jobs))
    app.include_router(jobs_router(jobs))
    app.router.on_shutdown.append(fit_jobs.cancel_unfinished)
    return app
