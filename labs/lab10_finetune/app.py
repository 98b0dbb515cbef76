"""The lab-10 service: training jobs in a child process, models and adapters, generation, calculators.

    make lab-10        # serves on 127.0.0.1:8010; README.md has a curl example for every route
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import Response
from pydantic import Field

from labs.lab10_finetune import budget, objectives, serving
from labs.lab10_finetune import model as M
from labs.lab10_finetune import train as T
from labs.lab10_finetune.routes_theory import theory_router
from labs.lab10_finetune.runner import DATASETS, QueueFull, Runner, TrainingJobs, reconcile, resolve_model
from labs.lab10_finetune.serving import Server, list_models
from shared.config import Settings, get_settings
from shared.jobs import TERMINAL, jobs_router
from shared.plots import png
from shared.schemas import MAX_ITEMS, Number, StrictModel, Text
from shared.service import ServiceError, create_service, not_found
from shared.store import when_available

NAME = r"^[A-Za-z0-9_.-]{1,64}$"


class JobRequest(StrictModel):
    kind: Literal["sft", "dpo", "reward", "grpo", "ppo"]
    base: str = Field(M.BASE_NAME, pattern=NAME, description="a name from GET /models (bases)")
    name: str | None = Field(None, pattern=NAME, description="what to call the adapter (default: the job id)")
    dataset: str | None = Field(None, pattern=NAME, description=" | ".join(DATASETS))
    rows: list[dict[str, Any]] | None = Field(None, min_length=1, max_length=MAX_ITEMS, description="inline data")
    epochs: int | None = Field(None, ge=1, le=200, description="sft, dpo, reward")
    steps: int | None = Field(None, ge=1, le=2000, description="grpo, ppo")
    num_generations: int | None = Field(None, ge=2, le=64, description="grpo: completions per prompt (G)")
    lr: float | None = Field(None, gt=0, le=1)
    rank: int | None = Field(None, ge=1, le=256)
    alpha: int | None = Field(None, ge=1, le=1024)
    dropout: float | None = Field(None, ge=0, lt=1)
    batch_size: int | None = Field(None, ge=1, le=512)
    beta: float | None = Field(None, gt=0, le=10, description="dpo: β of the loss; grpo, ppo: KL weight")
    clip_eps: float | None = Field(None, gt=0, lt=1, description="ppo: the clip range ε")
    ppo_epochs: int | None = Field(None, ge=1, le=16, description="ppo: updates per rollout")
    reward: Literal["rule", "length_biased", "length_penalised"] | None = Field(
        None, description="ppo: the task rule, a length-exploitable proxy, or the proxy with a length penalty")
    replay: int | None = Field(None, ge=0, le=30, description="sft: successor rows mixed in against forgetting")
    method: Literal["lora", "full"] | None = Field(None, description="sft only")
    l2sp: float | None = Field(None, ge=0, le=100, description="sft: λ of the L2-SP pull towards the base weights")
    wait: bool = Field(False, description="block until the job is finished")
    timeout_s: float = Field(300, gt=0, le=3600)


class MergeRequest(StrictModel):
    adapter: str = Field(pattern=NAME, description="an adapter name from GET /models")


class GenerateRequest(StrictModel):
    model: str = Field(M.BASE_NAME, pattern=NAME)
    adapter: str | None = Field(None, pattern=NAME, description="chosen per request; null = the base alone")
    prompt: Annotated[Text, Field(min_length=1, max_length=200)] | list[Annotated[Text, Field(max_length=200)]] = \
        Field(min_length=1, max_length=64)
    max_new_tokens: int = Field(4, ge=1, le=32)


class GrpoRequest(StrictModel):
    rewards: list[Annotated[Number, Field(ge=-1e9, le=1e9)]] = Field(min_length=2, max_length=1024)


@dataclass
class Lab:
    """What the routes share: the models folder, the job store, the trainer queue, the generation server."""

    models_dir: Path
    jobs: TrainingJobs
    runner: Runner
    server: Server


def jobs_extra_router(lab: Lab) -> APIRouter:
    """POST /jobs and the loss curve; listing, reading and cancelling are shared.jobs' router."""
    router = APIRouter(prefix="/jobs", tags=["jobs"])

    @router.post("", status_code=202)
    def start_job(req: JobRequest) -> dict[str, Any]:
        """Validate, then queue training in a child process (429 when the queue is full); `wait` blocks."""
        return _start(req, lab)

    @router.get("/{job_id}/curve.png")
    def curve(job_id: str) -> Response:
        """The training loss curve so far."""
        job = lab.jobs.record(job_id)
        if job is None:
            raise not_found("job", job_id)
        history = job["metrics"].get("history") or []
        if not history:
            raise ServiceError(409, f"job {job_id} has logged no steps yet", "conflict")
        return Response(_plot(history, job_id), media_type="image/png")

    return router


def models_router(lab: Lab) -> APIRouter:
    router = APIRouter(tags=["models"])

    @router.get("/models")
    def get_models() -> dict[str, Any]:
        """Base checkpoints (incl. merged ones) and LoRA adapters."""
        return list_models(lab.models_dir)

    @router.post("/models/merge")
    def merge(req: MergeRequest) -> dict[str, Any]:
        """Fold an adapter into its base; the result is a new base named <adapter>-merged."""
        path = lab.models_dir / req.adapter / "adapter"
        if not (path / "adapter_config.json").is_file():
            raise not_found("adapter", req.adapter)
        base = json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]
        name = f"{req.adapter}-merged"
        T.merge(base, path, lab.models_dir / name)
        return {"name": name, "base": base}

    @router.post("/generate", tags=["generate"])
    def generate(req: GenerateRequest) -> dict[str, Any]:
        """Greedy completion from a base, optionally through one of its adapters."""
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        if any(not p for p in prompts):
            raise ServiceError(422, "each prompt must hold 1 to 200 characters", "validation_error")
        base = _resolve(lab.models_dir, req.model)
        if req.adapter is not None:
            cfg = lab.models_dir / req.adapter / "adapter" / "adapter_config.json"
            if not cfg.is_file():
                raise not_found("adapter", req.adapter)
            trained_on = json.loads(cfg.read_text())["base_model_name_or_path"]
            if trained_on != base:
                raise ServiceError(422, f"adapter {req.adapter!r} was trained on {trained_on}, not {req.model!r}",
                                   "validation_error")
        texts = lab.server.generate(base, req.adapter, prompts, req.max_new_tokens)
        return {"model": req.model, "adapter": req.adapter,
                "completions": [{"prompt": p, "completion": t} for p, t in zip(prompts, texts, strict=True)]}

    return router


def calc_router() -> APIRouter:
    router = APIRouter(prefix="/calc", tags=["calculators"])

    @router.get("/lora")
    def lora(model: Literal["llama-7b", "llama-70b"] = "llama-7b", r: int = Query(16, ge=1, le=4096),
             targets: str = Query("q_proj,v_proj", max_length=200)) -> dict[str, Any]:
        """Trainable share of LoRA on the named modules."""
        try:
            return {"model": model, "r": r, **budget.lora_params(_arch(model), r, targets.split(","))}
        except ValueError as exc:
            raise ServiceError(422, str(exc), "validation_error") from exc

    @router.get("/memory")
    def memory(model: Literal["llama-7b", "llama-70b"] = "llama-70b", gpu_gb: float = Query(48, gt=0, le=10_000),
               r: int = Query(16, ge=1, le=4096), activations_gb: float = Query(4, ge=0, le=10_000)) -> dict[str, Any]:
        """Full fine-tune vs LoRA vs QLoRA memory, and which fit on the card."""
        return {"model": model, "gpu_gb": gpu_gb,
                **budget.memory(_arch(model), r=r, gpu_gb=gpu_gb, activations_gb=activations_gb)}

    @router.get("/nf4")
    def nf4() -> dict[str, Any]:
        """NF4 levels from normal quantiles beside the published table."""
        ours = budget.nf4_levels()
        return {"levels": [round(v, 6) for v in ours], "published": budget.PUBLISHED_NF4,
                "max_abs_diff": max(abs(a - b) for a, b in zip(ours, budget.PUBLISHED_NF4, strict=True))}

    @router.post("/grpo")
    def grpo(req: GrpoRequest) -> dict[str, Any]:
        """Group-normalised advantages for one prompt's rewards: trl's convention (the trainer's) and the chapter's."""
        by = {name: {"convention": c["label"], "advantages": [round(a, 6) for a in objectives.grpo_advantages(
            req.rewards, name)]} for name, c in objectives.GRPO_CONVENTIONS.items()}
        return {"rewards": req.rewards, "advantages": by["trl"]["advantages"], "trl": by["trl"], "chapter": by["chapter"]}

    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    folder = settings.lab_dir("lab10")
    models_dir = folder / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    # fails the jobs a killed process left queued or running
    jobs = TrainingJobs(folder / "jobs.db", url=settings.database_url)
    stop = threading.Event()  # a database down at start: reconciling waits for it (readyz says why) until shutdown
    database = when_available(lambda: reconcile(jobs, models_dir), stop)  # kills orphans' trainers, artifacts
    lab = Lab(models_dir, jobs, Runner(jobs, models_dir), Server(models_dir))
    jobs.runner = lab.runner
    app = create_service("lab-10 Fine-tuning: SFT to RLHF", lab="lab10", settings=settings,
                         readiness={"jobs": jobs.store.ping, "trainers": lab.runner.running},
                         warmup={"libraries": serving.warm, **database})
    app.router.on_shutdown.extend([lab.runner.close, stop.set])
    for router in (jobs_extra_router(lab), jobs_router(jobs), models_router(lab), calc_router(), theory_router()):
        app.include_router(router)
    app.state.context = lab  # (app.state.lab is the lab's name, set by create_service)
    return app


def _arch(name: str) -> budget.Arch:
    return budget.LLAMA_7B if name == "llama-7b" else budget.LLAMA_70B


def _resolve(models_dir, name: str) -> str:
    try:
        return resolve_model(models_dir, name)
    except FileNotFoundError as exc:
        raise not_found("model", name) from exc


def _start(req: JobRequest, lab: Lab) -> dict[str, Any]:
    if req.base != M.BASE_NAME:
        _resolve(lab.models_dir, req.base)
    if (req.dataset is None) == (req.rows is None):
        raise ServiceError(422, "give exactly one of dataset (a fixture name) or rows (inline data)",
                           "validation_error")
    if req.dataset is not None and req.dataset not in DATASETS:
        raise not_found("dataset", req.dataset)
    rows = req.rows if req.rows is not None else M.fixture(req.dataset)
    try:
        T.check_rows(req.kind, rows)
    except ValueError as exc:
        raise ServiceError(422, f"dataset does not fit kind {req.kind!r}: {exc}", "validation_error") from exc
    given = req.model_dump(include=set().union(*(set(d) for d in T.DEFAULTS.values())), exclude_none=True)
    wrong = sorted(set(given) - set(T.DEFAULTS[req.kind]))
    if wrong:
        raise ServiceError(422, f"{', '.join(wrong)} do(es) not apply to kind {req.kind!r}", "validation_error")
    if req.kind == "grpo" and (req.batch_size or T.DEFAULTS["grpo"]["batch_size"]) % (
            req.num_generations or T.DEFAULTS["grpo"]["num_generations"]):
        raise ServiceError(422, "grpo: batch_size must be a multiple of num_generations", "validation_error")
    if req.name is not None and (req.name == M.BASE_NAME or (lab.models_dir / req.name).exists() or any(
            j["params"].get("name") == req.name and j["status"] not in TERMINAL for j in lab.jobs.list(1000))):
        raise ServiceError(409, f"a model or adapter named {req.name!r} already exists", "conflict")
    params = {"base": req.base, "name": req.name, "dataset": req.dataset, "rows": req.rows, "hp": given}
    try:
        job_id = lab.runner.start(req.kind, params)
    except QueueFull as exc:
        raise ServiceError(429, str(exc), "queue_full") from exc
    return lab.jobs.wait(job_id, req.timeout_s) if req.wait else lab.jobs.get(job_id)


def _plot(history: list[dict[str, Any]], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([h["step"] for h in history], [h["loss"] for h in history])
    ax.set(xlabel="step", ylabel="training loss", title=f"job {title}")
    ax.set_yscale("log")
    return png(fig)
