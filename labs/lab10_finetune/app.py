"""The lab-10 service: training jobs in a child process, models and adapters, generation, calculators.

    make lab-10        # serves on 127.0.0.1:8010; README.md has a curl example for every route
"""

from __future__ import annotations

import io
import json
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from labs.lab10_finetune import budget, objectives
from labs.lab10_finetune import model as M
from labs.lab10_finetune import train as T
from labs.lab10_finetune.runner import DATASETS, Runner, resolve_model
from labs.lab10_finetune.serving import Server, list_models
from shared.config import Settings, get_settings
from shared.jobs import TERMINAL, JobStore
from shared.service import ServiceError, create_service, not_found

NAME = r"^[A-Za-z0-9_.-]{1,64}$"


class JobRequest(BaseModel):
    kind: Literal["sft", "dpo", "reward", "grpo"]
    base: str = Field(M.BASE_NAME, pattern=NAME, description="a name from GET /models (bases)")
    name: str | None = Field(None, pattern=NAME, description="what to call the adapter (default: the job id)")
    dataset: str | None = Field(None, pattern=NAME, description=" | ".join(DATASETS))
    rows: list[dict[str, Any]] | None = Field(None, min_length=1, max_length=5000, description="inline data")
    epochs: int | None = Field(None, ge=1, le=200, description="sft, dpo, reward")
    steps: int | None = Field(None, ge=1, le=2000, description="grpo only")
    num_generations: int | None = Field(None, ge=2, le=64, description="grpo: completions per prompt (G)")
    lr: float | None = Field(None, gt=0, le=1)
    rank: int | None = Field(None, ge=1, le=256)
    alpha: int | None = Field(None, ge=1, le=1024)
    dropout: float | None = Field(None, ge=0, lt=1)
    batch_size: int | None = Field(None, ge=1, le=512)
    beta: float | None = Field(None, gt=0, le=10, description="dpo: β of the loss; grpo: KL weight")
    replay: int | None = Field(None, ge=0, le=30, description="sft: successor rows mixed in against forgetting")
    method: Literal["lora", "full"] | None = Field(None, description="sft only")
    wait: bool = Field(False, description="block until the job is finished")
    timeout_s: float = Field(300, gt=0, le=3600)


class MergeRequest(BaseModel):
    adapter: str = Field(pattern=NAME, description="an adapter name from GET /models")


class GenerateRequest(BaseModel):
    model: str = Field(M.BASE_NAME, pattern=NAME)
    adapter: str | None = Field(None, pattern=NAME, description="chosen per request; null = the base alone")
    prompt: str | list[str] = Field(min_length=1, max_length=64)
    max_new_tokens: int = Field(4, ge=1, le=32)


class GrpoRequest(BaseModel):
    rewards: list[float] = Field(min_length=2, max_length=1024)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    folder = settings.lab_dir("lab10")
    models_dir = folder / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    jobs = JobStore(folder / "jobs.db")
    runner = Runner(jobs, models_dir)
    server = Server(models_dir)
    app = create_service("lab-10 Fine-tuning: SFT to RLHF", lab="lab10", settings=settings,
                         readiness={"jobs": jobs.store.ping})
    app.state.fuzz_skip = {"POST /jobs", "POST /models/merge", "POST /generate"}
    app.router.on_shutdown.append(runner.close)

    job_routes = APIRouter(prefix="/jobs", tags=["jobs"])

    @job_routes.post("", status_code=202)
    def start_job(req: JobRequest) -> dict[str, Any]:
        """Validate, then train in a child process; `wait` blocks until it is done."""
        return _start(req, runner, jobs, models_dir)

    @job_routes.get("")
    def list_jobs(limit: int = Query(50, ge=1, le=1000)) -> list[dict[str, Any]]:
        """Recent jobs, newest first."""
        return [_brief(j) for j in jobs.list(limit)]

    @job_routes.get("/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        """Status, progress (step / total / ETA), latest metrics and the result (by id or adapter name)."""
        return _brief(_job(jobs, job_id))

    @job_routes.get("/{job_id}/curve.png")
    def curve(job_id: str) -> Response:
        """The training loss curve so far."""
        history = _job(jobs, job_id)["metrics"].get("history") or []
        if not history:
            raise ServiceError(409, f"job {job_id} has logged no steps yet", "conflict")
        return Response(_plot(history, job_id), media_type="image/png")

    @job_routes.post("/{job_id}/cancel")
    def cancel(job_id: str) -> dict[str, Any]:
        """Stop a queued or running job (its process is terminated)."""
        job = _job(jobs, job_id)
        if job["status"] in TERMINAL:
            raise ServiceError(409, f"job {job_id} is already {job['status']}", "conflict")
        runner.cancel(job["id"])
        return _brief(_job(jobs, job["id"]))

    models = APIRouter(prefix="/models", tags=["models"])

    @models.get("")
    def get_models() -> dict[str, Any]:
        """Base checkpoints (incl. merged ones) and LoRA adapters."""
        return list_models(models_dir)

    @models.post("/merge")
    def merge(req: MergeRequest) -> dict[str, Any]:
        """Fold an adapter into its base; the result is a new base named <adapter>-merged."""
        path = models_dir / req.adapter / "adapter"
        if not (path / "adapter_config.json").is_file():
            raise not_found("adapter", req.adapter)
        base = json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]
        name = f"{req.adapter}-merged"
        T.merge(base, path, models_dir / name)
        return {"name": name, "base": base}

    gen = APIRouter(tags=["generate"])

    @gen.post("/generate")
    def generate(req: GenerateRequest) -> dict[str, Any]:
        """Greedy completion from a base, optionally through one of its adapters."""
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        if any(not p or len(p) > 200 for p in prompts):
            raise ServiceError(422, "each prompt must hold 1 to 200 characters", "validation_error")
        base = _resolve(models_dir, req.model)
        if req.adapter is not None:
            cfg = models_dir / req.adapter / "adapter" / "adapter_config.json"
            if not cfg.is_file():
                raise not_found("adapter", req.adapter)
            trained_on = json.loads(cfg.read_text())["base_model_name_or_path"]
            if trained_on != base:
                raise ServiceError(422, f"adapter {req.adapter!r} was trained on {trained_on}, not {req.model!r}",
                                   "validation_error")
        texts = server.generate(base, req.adapter, prompts, req.max_new_tokens)
        return {"model": req.model, "adapter": req.adapter,
                "completions": [{"prompt": p, "completion": t} for p, t in zip(prompts, texts, strict=True)]}

    calc = APIRouter(prefix="/calc", tags=["calculators"])

    @calc.get("/lora")
    def lora(model: Literal["llama-7b", "llama-70b"] = "llama-7b", r: int = Query(16, ge=1, le=4096),
             targets: str = Query("q_proj,v_proj", max_length=200)) -> dict[str, Any]:
        """Trainable share of LoRA on the named modules."""
        try:
            return {"model": model, "r": r, **budget.lora_params(_arch(model), r, targets.split(","))}
        except ValueError as exc:
            raise ServiceError(422, str(exc), "validation_error") from exc

    @calc.get("/memory")
    def memory(model: Literal["llama-7b", "llama-70b"] = "llama-70b", gpu_gb: float = Query(48, gt=0, le=10_000),
               r: int = Query(16, ge=1, le=4096), activations_gb: float = Query(4, ge=0, le=10_000)) -> dict[str, Any]:
        """Full fine-tune vs LoRA vs QLoRA memory, and which fit on the card."""
        return {"model": model, "gpu_gb": gpu_gb,
                **budget.memory(_arch(model), r=r, gpu_gb=gpu_gb, activations_gb=activations_gb)}

    @calc.get("/nf4")
    def nf4() -> dict[str, Any]:
        """NF4 levels from normal quantiles beside the published table."""
        ours = budget.nf4_levels()
        return {"levels": [round(v, 6) for v in ours], "published": budget.PUBLISHED_NF4,
                "max_abs_diff": max(abs(a - b) for a, b in zip(ours, budget.PUBLISHED_NF4, strict=True))}

    @calc.post("/grpo")
    def grpo(req: GrpoRequest) -> dict[str, Any]:
        """Group-normalised advantages for one prompt's rewards."""
        if any(v != v or abs(v) > 1e9 for v in req.rewards):
            raise ServiceError(422, "rewards must be finite", "validation_error")
        return {"rewards": req.rewards, "advantages": [round(a, 6) for a in objectives.grpo_advantages(req.rewards)]}

    for router in (job_routes, models, gen, calc):
        app.include_router(router)
    return app


def _arch(name: str) -> budget.Arch:
    return budget.LLAMA_7B if name == "llama-7b" else budget.LLAMA_70B


def _resolve(models_dir, name: str) -> str:
    try:
        return resolve_model(models_dir, name)
    except FileNotFoundError as exc:
        raise not_found("model", name) from exc


def _job(jobs: JobStore, job_id: str) -> dict[str, Any]:
    """A job by id, or by the adapter name it was started with (newest first)."""
    job = jobs.get(job_id) or next((j for j in jobs.list(1000) if j["params"].get("name") == job_id), None)
    if job is None:
        raise not_found("job", job_id)
    return job


def _brief(job: dict[str, Any]) -> dict[str, Any]:
    """A job without its full step history (that is what curve.png draws)."""
    metrics = {k: v for k, v in job["metrics"].items() if k != "history"}
    return {**job, "metrics": metrics.get("last", {}), "steps_logged": len(job["metrics"].get("history") or [])}


def _start(req: JobRequest, runner: Runner, jobs: JobStore, models_dir) -> dict[str, Any]:
    if req.base != M.BASE_NAME:
        _resolve(models_dir, req.base)
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
    if req.name is not None and (req.name == M.BASE_NAME or (models_dir / req.name).exists()):
        raise ServiceError(409, f"a model or adapter named {req.name!r} already exists", "conflict")
    params = {"base": req.base, "name": req.name, "dataset": req.dataset, "rows": req.rows, "hp": given}
    job_id = runner.start(req.kind, params)
    job = jobs.wait(job_id, req.timeout_s) if req.wait else jobs.get(job_id)
    return _brief(job)


def _plot(history: list[dict[str, Any]], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([h["step"] for h in history], [h["loss"] for h in history])
    ax.set(xlabel="step", ylabel="training loss", title=f"job {title}")
    ax.set_yscale("log")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
