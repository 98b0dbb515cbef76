"""The lab-02 service: training jobs that resume bit-exactly, the bug bestiary, shape calculators.

    make lab-02        # serves on 127.0.0.1:8002; README.md has a curl example for every route
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import Response
from pydantic import Field

from labs.lab02_pytorch import bestiary, schedule, shapes
from labs.lab02_pytorch.data import digits
from labs.lab02_pytorch.model import MLP, describe_groups, param_groups
from labs.lab02_pytorch.runs import Runs, curve_png
from labs.lab02_pytorch.train import GLOBAL_RNG_LOCK, TrainConfig, Trainer
from shared.config import Settings, get_settings
from shared.jobs import jobs_router
from shared.schemas import Number, StrictModel, Text
from shared.service import ServiceError, create_service, not_found

MAX_EINSUM_WORK = 20_000_000  # product of all index sizes: the multiply-adds of the contraction


class TrainIn(StrictModel):
    name: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{2,39}$",
                             description="a name for the run; routes under /jobs/{id} take it in place of the id")
    steps: int = Field(200, ge=1, le=5000)
    batch_size: int = Field(32, ge=1, le=512)
    lr: Number = Field(3e-3, gt=0, le=10)
    weight_decay: Number = Field(0.05, ge=0, le=1)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    warmup_steps: int = Field(20, ge=0, le=5000)
    min_lr_ratio: Number = Field(0.1, ge=0, le=1)
    clip_norm: Number = Field(1.0, gt=0, le=1000)
    amp: Literal["off", "bf16", "fp16"] = "off"
    hidden: int = Field(64, ge=4, le=512)
    depth: int = Field(2, ge=1, le=8)
    dropout: Number = Field(0.1, ge=0, lt=1)
    grad_checkpoint: bool = False
    augment: bool = True
    sampler: Literal["resumable", "global"] = Field("resumable", description="global: the pitfall that breaks resume")
    seed: int = Field(0, ge=0, le=2**31)
    eval_every: int = Field(50, ge=0, le=5000)
    ckpt_every: int = Field(50, ge=1, le=5000, description="save a checkpoint every N steps")
    stop_at: int | None = Field(None, ge=1, le=5000, description="stop (with a checkpoint) after this step; "
                                "POST /jobs/{id}/resume trains the rest")
    throttle_ms: int = Field(0, ge=0, le=200, description="sleep per step, to watch (or cancel) a short run")
    wait: bool = Field(False, description="answer when the job has finished")
    timeout_s: Number = Field(120, gt=0, le=600)

    def config(self) -> TrainConfig:
        cfg = TrainConfig(**self.model_dump(exclude={"name", "ckpt_every", "stop_at", "throttle_ms", "wait",
                                                     "timeout_s"}))
        try:
            cfg.check()
            if self.stop_at is not None and self.stop_at >= self.steps:
                raise ValueError("stop_at must be below steps")
        except ValueError as exc:
            raise ServiceError(422, str(exc), "validation_error") from exc
        return cfg


class BroadcastIn(StrictModel):
    shapes: list[list[int]] = Field(min_length=1, max_length=8)

    def checked(self) -> list[tuple[int, ...]]:
        if any(len(s) > 8 or any(not 0 <= n <= 1_000_000 for n in s) for s in self.shapes):
            raise ServiceError(422, "each shape: at most 8 dims, each size 0..1000000", "validation_error")
        return [tuple(s) for s in self.shapes]


class EinsumIn(StrictModel):
    spec: Text = Field(min_length=1, max_length=64, description="e.g. bij,bjk->bik (one or two operands)")
    shapes: list[list[int]] = Field(min_length=1, max_length=2)


def training_router(runs: Runs) -> APIRouter:
    router = APIRouter(tags=["training"])

    @router.post("/train", status_code=202)
    def train(body: TrainIn) -> dict[str, Any]:
        """Start a training job (202): config -> progress, loss curve, checkpoints; `wait` blocks until done."""
        job_id = runs.start(body.config(), body.ckpt_every, body.throttle_ms, body.name, body.stop_at)
        return runs.jobs.wait(job_id, body.timeout_s) if body.wait else runs.get(job_id)

    @router.post("/jobs/{job_id}/resume", status_code=202)
    def resume(job_id: str, wait: bool = False) -> dict[str, Any]:
        """Continue a stopped run (cancelled, failed, interrupted, stop_at) from its newest checkpoint, as a new job."""
        new_id = runs.resume(job_id)
        return runs.jobs.wait(new_id, 600) if wait else runs.get(new_id)

    @router.get("/jobs/{job_id}/checkpoints")
    def checkpoints(job_id: str) -> list[dict[str, Any]]:
        """The checkpoints of a job's run (newest last; the run keeps the last three)."""
        return runs.checkpoints(job_id)

    @router.get("/jobs/{job_id}/curve.png")
    def curve(job_id: str) -> Response:
        """The training loss curve so far (PNG)."""
        job, losses = runs.losses(job_id)
        if not losses:
            raise ServiceError(409, f"job {job_id} has logged no steps yet", "conflict")
        return Response(curve_png(job, losses), media_type="image/png")

    return router


def bestiary_router() -> APIRouter:
    router = APIRouter(prefix="/bestiary", tags=["bestiary"])

    @router.get("")
    def catalogue() -> list[dict[str, Any]]:
        """Every bug in the bestiary, with the number its reproducer measures."""
        return bestiary.catalogue()

    @router.post("/{bug}/run")
    def run(bug: str) -> dict[str, Any]:
        """Run one bug's reproducer and its fix; both measurements, and whether the symptom showed."""
        if bug not in bestiary.BUGS:
            raise not_found("bug", bug)
        return bestiary.run(bug)

    return router


def shapes_router() -> APIRouter:
    router = APIRouter(prefix="/shapes", tags=["shapes"])

    @router.post("/broadcast")
    def broadcast(body: BroadcastIn) -> dict[str, Any]:
        """The shape these broadcast to (422 naming the dimension that clashes), and torch's answer."""
        given = body.checked()
        try:
            result = shapes.broadcast_shape(*given)
        except ValueError as exc:
            raise ServiceError(422, f"not broadcastable: {exc}", "validation_error") from exc
        return {"shapes": body.shapes, "result": list(result), "torch": list(torch.broadcast_shapes(*given))}

    @router.post("/einsum")
    def einsum(body: EinsumIn) -> dict[str, Any]:
        """Output shape, index roles and the equivalent permute/reshape/bmm, checked against torch.einsum."""
        try:
            e = shapes.parse_einsum(body.spec)
            out_shape, size = shapes.einsum_shape(e, [tuple(s) for s in body.shapes])
        except ValueError as exc:
            raise ServiceError(422, f"einsum {body.spec!r}: {exc}", "validation_error") from exc
        if any(not 1 <= n <= 4096 for s in body.shapes for n in s) or math.prod(size.values()) > MAX_EINSUM_WORK:
            raise ServiceError(422, f"sizes must be 1..4096 and their product at most {MAX_EINSUM_WORK}",
                               "validation_error")
        g = torch.Generator().manual_seed(0)
        operands = [torch.randn(*s, generator=g, dtype=torch.float64) for s in body.shapes]
        diff = (shapes.einsum_via_matmul(e.spec, *operands) - torch.einsum(e.spec, *operands)).abs()
        return {"spec": e.spec, "output_shape": list(out_shape), "sizes": size, "roles": shapes.roles(e),
                "matmul": shapes.matmul_recipe(e, size), "multiply_adds": math.prod(size.values()),
                "max_abs_diff_vs_torch_einsum": diff.max().item() if diff.numel() else 0.0}

    return router


def anatomy_router() -> APIRouter:
    router = APIRouter(tags=["anatomy"])

    @router.get("/schedule.png")
    def schedule_png(lr: float = Query(3e-3, gt=0, le=10), warmup: int = Query(20, ge=0, le=100_000),
                     steps: int = Query(200, ge=1, le=100_000), min_ratio: float = Query(0.1, ge=0, le=1)) -> Response:
        """The warmup -> cosine learning-rate schedule (PNG)."""
        if warmup > steps:
            raise ServiceError(422, "warmup must not exceed steps", "validation_error")
        return Response(schedule.plot(lr, max(warmup, 1), steps, min_ratio), media_type="image/png")

    @router.get("/param-groups")
    def groups(hidden: int = Query(64, ge=4, le=512), depth: int = Query(2, ge=1, le=8),
               weight_decay: float = Query(0.05, ge=0, le=1)) -> list[dict[str, Any]]:
        """Which tensors get weight decay in AdamW and which do not (norms and biases)."""
        with GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):  # initialising weights draws from torch's RNG
            return describe_groups(param_groups(MLP(hidden, depth), weight_decay))

    return router


def warm() -> str:
    """Load the fixture and take one optimizer step: torch's first step imports its compiler stack (seconds)."""
    digits("train")
    Trainer(TrainConfig(steps=1, warmup_steps=0, eval_every=0)).run()
    return f"torch {torch.__version__}"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    runs = Runs(settings.lab_dir("lab02"), settings.database_url)
    app = create_service("lab-02 PyTorch fluency", lab="lab02", settings=settings,
                         readiness={"jobs": runs.jobs.store.ping}, warmup={"torch": warm})
    app.include_router(training_router(runs))
    app.include_router(jobs_router(runs.jobs))
    app.include_router(bestiary_router())
    app.include_router(shapes_router())
    app.include_router(anatomy_router())
    app.state.runs = runs
    return app


__all__ = ["create_app"]
