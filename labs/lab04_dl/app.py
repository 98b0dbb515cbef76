"""The lab-04 service: training jobs (ours vs torch), optimizer and init studies, a NaN doctor, backprop.

    make lab-04        # serves on 127.0.0.1:8004; README.md has a curl example for every route
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import Response

from labs.lab04_dl import activations, backprop, init, nan_doctor, optim, schedules, train
from shared.config import Settings, get_settings
from shared.jobs import JobStore, jobs_router
from shared.schemas import Field, Number, StrictModel
from shared.service import ServiceError, create_service, not_found

OptimizerName = Literal["sgd", "momentum", "rmsprop", "adam", "adamw"]
PNG = {200: {"content": {"image/png": {}}}}
Matrix = list[list[Number]]


class TrainIn(StrictModel):
    hidden: list[Annotated[int, Field(ge=1, le=256)]] = Field([64, 64], min_length=1, max_length=4,
                                                              description="hidden widths, 1 to 256 each")
    init: Literal["xavier", "he", "torch_default"] = "he"
    optimizer: OptimizerName = "adam"
    lr: float = Field(3e-3, gt=0, le=10)
    weight_decay: float = Field(0.0, ge=0, le=1)
    schedule: Literal["constant", "warmup_cosine"] = "warmup_cosine"
    warmup_frac: float = Field(0.1, ge=0, lt=1)
    norm: Literal["none", "batchnorm", "layernorm", "rmsnorm"] = "none"
    epochs: int = Field(5, ge=1, le=30)
    batch_size: int = Field(64, ge=2, le=1437)
    seed: int = Field(0, ge=0, le=2**31)
    wait: bool = Field(False, description="answer when training has finished")


class CompareIn(StrictModel):
    optimizers: list[OptimizerName] = Field(["sgd", "momentum", "rmsprop", "adam", "adamw"], min_length=1, max_length=5)
    steps: int = Field(1000, ge=1, le=2000)
    lr: float | None = Field(None, gt=0, le=1, description="default: 0.05 for SGD/momentum, 1e-3 otherwise")
    weight_decay: float = Field(0.0, ge=0, le=1)
    seed: int = Field(0, ge=0, le=2**31)


class DepthIn(StrictModel):
    depth: int = Field(24, ge=1, le=32)
    width: int = Field(512, ge=8, le=512)
    schemes: list[Literal["xavier", "he", "torch_default"]] = Field(["xavier", "he", "torch_default"],
                                                                     min_length=1, max_length=3)
    seed: int = Field(0, ge=0, le=2**31)


class DiagnoseIn(StrictModel):
    scenario: Literal["lr_too_high", "log_of_zero", "fp16_overflow", "zero_norm"]


class WorkedIn(StrictModel):
    W1: Matrix = Field(max_length=32, description="(hidden, inputs)")
    b1: list[Number] = Field(max_length=32)
    W2: Matrix = Field(max_length=32, description="(outputs, hidden)")
    b2: list[Number] = Field(max_length=32)
    x: list[Number] = Field(min_length=1, max_length=32)
    target: list[Number] | int = Field(description="a vector for mse, a class index for ce")
    loss: Literal["mse", "ce"] = "mse"
    activation: Literal["relu", "tanh"] = "relu"


class ScheduleIn(StrictModel):
    peak: float = Field(3e-4, gt=0, le=10)
    warmup: int = Field(200, ge=1, le=100_000)
    total: int = Field(2000, ge=2, le=100_000)
    minimum: float = Field(0.0, ge=0, le=10)
    start_factor: float = Field(0.01, gt=0, le=1)


def _png(data: bytes) -> Response:
    return Response(data, media_type="image/png")


def train_router(jobs: JobStore) -> APIRouter:
    router = APIRouter(prefix="/train", tags=["train"])

    @router.post("", status_code=202)
    def start(body: TrainIn) -> dict[str, Any]:
        """Train the digits MLP from scratch and in torch side by side, as a job (GET /jobs/{id} for progress)."""
        params = body.model_dump(exclude={"wait"})
        cfg = train.Config(**params)
        job_id = jobs.submit("train", params, lambda ctx: train.train(
            cfg, lambda e, n, m: ctx.progress(e, n, f"epoch {e}/{n}", m)))
        return jobs.wait(job_id, 600) if body.wait else jobs.get(job_id)

    @router.get("/{job_id}/curves.png", responses=PNG, response_class=Response)
    def curves(job_id: str) -> Response:
        """Loss (ours vs torch) and gradient norm per layer, per epoch."""
        job = jobs.get(job_id)
        if job is None:
            raise not_found("job", job_id)
        history = (job["metrics"] or {}).get("history") or []
        if not history:
            raise ServiceError(409, f"job {job_id} has finished no epoch yet", "conflict")
        return _png(train.plot(history, f"job {job_id}: {job['params']['optimizer']}, {job['params']['norm']}"))

    return router


def studies_router() -> APIRouter:
    router = APIRouter(tags=["studies"])

    @router.post("/optim/compare")
    def compare(body: CompareIn) -> dict[str, Any]:
        """Ours vs torch.optim for each optimizer: largest parameter gap at checkpoints, bit-exact or not."""
        return {"results": [optim.compare(n, body.steps, body.lr, body.weight_decay, body.seed)
                            for n in body.optimizers]}

    @router.get("/optim/paths.png", responses=PNG, response_class=Response)
    def paths(steps: int = Query(500, ge=10, le=2000)) -> Response:
        """Each optimizer's path on the Rosenbrock valley."""
        return _png(optim.plot_paths(steps))

    @router.post("/init/depth")
    def depth(body: DepthIn) -> dict[str, Any]:
        """Activation std after each Linear+ReLU layer for each init scheme."""
        return {s: {"stds": (v := init.depth_stds(s, body.depth, body.width, seed=body.seed)), "last": v[-1]}
                for s in body.schemes}

    @router.get("/init/depth.png", responses=PNG, response_class=Response)
    def depth_png(depth: int = Query(24, ge=1, le=32), width: int = Query(512, ge=8, le=512)) -> Response:
        """The same as a picture (log scale)."""
        return _png(init.plot_depth(init.depth_table(depth, width)))

    @router.get("/gradients/depth.png", responses=PNG, response_class=Response)
    def grad_depth(depth: int = Query(50, ge=2, le=100)) -> Response:
        """Gradient norm per layer, plain vs residual stacks."""
        return _png(activations.plot_depth(activations.depth_study(depth)))

    @router.post("/schedule")
    def schedule(body: ScheduleIn) -> dict[str, Any]:
        """Warmup + cosine from the formula, and its largest relative gap to torch's SequentialLR."""
        try:
            s = schedules.WarmupCosine(body.peak, body.warmup, body.total, body.minimum, body.start_factor)
        except ValueError as exc:
            raise ServiceError(422, str(exc), "validation_error") from exc
        marks = sorted({0, body.warmup // 2, body.warmup, (body.warmup + body.total) // 2, body.total - 1})
        return {"lr": {str(t): s(t) for t in marks}, "max_relative_gap_to_torch": schedules.max_relative_gap(s)}

    @router.post("/nan/diagnose")
    def diagnose(body: DiagnoseIn) -> dict[str, Any]:
        """Run a seeded failing training step under the NaN doctor: first bad op, layer, cause, fix."""
        return nan_doctor.run_scenario(body.scenario)

    @router.post("/backprop/worked")
    def worked(body: WorkedIn) -> dict[str, Any]:
        """One example through a 2-layer net: every intermediate and δ, checked against torch autograd."""
        try:
            return backprop.worked_from_lists(**body.model_dump())
        except ValueError as exc:
            raise ServiceError(422, str(exc), "validation_error") from exc

    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    jobs = JobStore(settings.lab_dir("lab04") / "jobs.db", url=settings.database_url)
    app = create_service("lab-04 Deep learning fundamentals", lab="lab04", settings=settings,
                         readiness={"jobs_db": jobs.store.ping}, warmup={"digits": train.warm})
    app.include_router(train_router(jobs))
    app.include_router(jobs_router(jobs))
    app.include_router(studies_router())
    app.state.jobs = jobs
    return app
