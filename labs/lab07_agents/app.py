"""The lab-07 service: agent runs over HTTP, with their trajectories, approvals, breakers and ledger.

    make lab-07        # serves on 127.0.0.1:8007; README.md has a curl example for every route
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path
from pydantic import Field

from labs.lab07_agents.checkpoint import RUNS_SCHEMA, RunExists, RunState
from labs.lab07_agents.guards import Budget
from labs.lab07_agents.injection import Defenses
from labs.lab07_agents.manager import QueueFull, RunManager
from labs.lab07_agents.patterns import PATTERNS
from labs.lab07_agents.routes_eval import checklist_router, trajectory_router
from labs.lab07_agents.suite import agent_model, load_tasks, task_by_id
from labs.lab07_agents.tools import TOOLS
from labs.lab07_agents.world import World
from shared.config import Settings, get_settings
from shared.llm import Model
from shared.resilience import Breakers
from shared.schemas import StrictModel, Text
from shared.service import ServiceError, create_service, not_found
from shared.store import Store, when_available

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,39}$"
RunId = Annotated[str, Path(pattern=ID_PATTERN, description="a run id from POST /runs")]


class BudgetIn(StrictModel):
    max_steps: int = Field(25, ge=1, le=200)
    max_cost_usd: float = Field(0.05, gt=0, le=10)
    max_wall_s: float = Field(30.0, gt=0, le=600)
    max_tokens: int = Field(60_000, ge=100, le=2_000_000)
    repeat_limit: int = Field(3, ge=2, le=20)
    patience: int = Field(6, ge=2, le=50)


class FaultsIn(StrictModel):
    """Faults for this run: the model's come from the mock, the tools' from this lab's tool layer."""

    model_error_rate: float = Field(0.0, ge=0, le=1)
    model_latency_ms: float = Field(0.0, ge=0, le=200)
    bad_tool_rate: float = Field(0.0, ge=0, le=1, description="hallucinated tool calls (unknown name, bad JSON)")
    tool_error_rate: float = Field(0.0, ge=0, le=1)
    tool_latency_ms: float = Field(0.0, ge=0, le=200)
    seed: int = Field(0, ge=0, le=2**31)


class DefensesIn(StrictModel):
    spotlight: bool = True
    detector: bool = True
    gating: bool = True
    allowlist: bool = True
    pinning: bool = True
    approval: bool = True


class RunIn(StrictModel):
    id: str | None = Field(None, pattern=ID_PATTERN, description="your id for the run (default: generated); "
                           "reusing one is a 409, so a retried POST never starts a second run")
    task: Text = Field(min_length=1, max_length=400, description="a task id from GET /tasks, or the task's text")
    pattern: Literal["tool_loop", "react", "plan_execute", "rewoo", "reflexion", "tot", "supervisor"] = "tool_loop"
    budget: BudgetIn = Field(default_factory=BudgetIn)
    deadline_s: float = Field(20.0, gt=0, le=600, description="the run's deadline, passed to every call")
    faults: FaultsIn = Field(default_factory=FaultsIn)
    defenses: DefensesIn = Field(default_factory=DefensesIn)
    auto_approve: bool = Field(False, description="approve sensitive calls without pausing")
    wait: bool = Field(False, description="answer when the run ends or waits for approval")


def present(st: RunState) -> dict[str, Any]:
    out = asdict(st)
    for key in ("messages", "memo", "seen", "actions", "fresh", "trace"):
        out.pop(key)
    out["trace_id"] = f"{st.trace['trace_id']:032x}" if st.trace else None
    return out


def _task(text: str) -> dict[str, Any]:
    found = task_by_id(text)
    if found is not None:
        return found
    if re.fullmatch(r"[a-z]+-\d+", text):
        raise not_found("task", text)
    return {"id": "adhoc", "text": text, "tools": []}


def runs_router(manager: RunManager) -> APIRouter:
    router = APIRouter(prefix="/runs", tags=["runs"])

    def get_or_404(run_id: str) -> RunState:
        st = manager.runtime().load(run_id)
        if st is None:
            raise not_found("run", run_id)
        return st

    @router.post("", status_code=202)
    def create_run(body: RunIn) -> dict[str, Any]:
        """Start an agent run (202); 429 with Retry-After when the run queue is full."""
        f = body.faults
        model = agent_model(manager.model, body.pattern)
        mock = {k: v for k, v in {"error_rate": f.model_error_rate, "latency_ms": f.model_latency_ms,
                                  "bad_tool_rate": f.bad_tool_rate}.items() if v}
        tool_faults = {"error_rate": f.tool_error_rate, "latency_ms": f.tool_latency_ms, "seed": f.seed}
        try:
            st = manager.submit(_task(body.task), body.pattern, model, Budget(**body.budget.model_dump()),
                                body.deadline_s, mock, tool_faults, Defenses(**body.defenses.model_dump()),
                                body.auto_approve, body.id)
        except QueueFull as exc:
            raise ServiceError(429, str(exc), "queue_full", headers={"retry-after": "1"}) from exc
        except RunExists as exc:
            raise ServiceError(409, f"run {body.id} already exists", "run_exists") from exc
        if body.wait:
            st = manager.wait(st.id, body.deadline_s + 5)
        return present(st)

    @router.get("")
    def list_runs(limit: int = 20) -> list[dict[str, Any]]:
        """The most recent runs (id, status)."""
        return manager.runs.query("SELECT id, status FROM runs ORDER BY updated DESC LIMIT ?",
                                  (max(1, min(limit, 200)),))

    @router.get("/{run_id}")
    def get_run(run_id: RunId) -> dict[str, Any]:
        """A run: status, reason, answer, trajectory (thought/tool/args/result/latency/cost), saga, counts."""
        return present(get_or_404(run_id))

    def decide(run_id: str, approve: bool, wait: bool) -> dict[str, Any]:
        st = get_or_404(run_id)
        if st.status != "waiting_approval":
            raise ServiceError(409, f"run {run_id} is {st.status}, not waiting for approval", "not_waiting")
        try:
            st = manager.decide(st, approve)
        except QueueFull as exc:
            raise ServiceError(429, str(exc), "queue_full", headers={"retry-after": "1"}) from exc
        return present(manager.wait(run_id, 30) if wait else st)

    @router.post("/{run_id}/approve")
    def approve(run_id: RunId, wait: bool = False) -> dict[str, Any]:
        """Approve the sensitive call a run is waiting on; the run resumes (409 if it is not waiting)."""
        return decide(run_id, True, wait)

    @router.post("/{run_id}/reject")
    def reject(run_id: RunId, wait: bool = False) -> dict[str, Any]:
        """Reject it: the agent gets a 'rejected' error and its saga is undone if it gives up."""
        return decide(run_id, False, wait)

    return router


def world_router(manager: RunManager) -> APIRouter:
    router = APIRouter(tags=["world"])

    @router.get("/tools")
    def tools() -> list[dict[str, Any]]:
        """The tools as the model sees them, with side effects and compensations."""
        return [{**t.schema()["function"], "side_effect": t.side_effect, "retry_safe": t.retry_safe,
                 "compensated_by": t.compensation({}, {"hold_id": "", "payment_id": ""})[0] if t.compensation else None}
                for t in TOOLS.values()]

    @router.get("/tasks")
    def tasks() -> list[dict[str, Any]]:
        """The task suite: each task's text and the expected final state it is judged on."""
        return [{k: t[k] for k in ("id", "text", "tools", "expected")} for t in load_tasks()]

    @router.get("/patterns")
    def patterns() -> list[str]:
        """The agent patterns a run can use."""
        return list(PATTERNS)

    @router.get("/breakers")
    def breakers() -> list[dict[str, Any]]:
        """Every circuit breaker (per tool, per model): closed / open / half_open, with its history."""
        return manager.registry.snapshot()

    @router.get("/ledger")
    def ledger() -> dict[str, Any]:
        """The payments ledger, and the invariants no run may break (open holds, unbooked or double charges)."""
        return {"payments": manager.world.ledger(), "violations": manager.world.violations()}

    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    folder = settings.lab_dir("lab07")
    model = Model.from_settings(settings)
    manager = RunManager(World(folder / "world.db"), Store(folder / "runs.db", migrations=[RUNS_SCHEMA], url=settings.database_url),
                         Breakers(threshold=5, cooldown_s=5.0), model=model)
    stop = threading.Event()  # a runs database down at start: workers wait for it (readyz says why) until shutdown
    app = create_service("lab-07 agent reliability engineering", lab="lab07", settings=settings,
                         readiness={"runs_db": manager.runs.ping, "world_db": manager.world.store.ping},
                         # runs start only once the model layer is loaded: a cold import must not eat a deadline
                         warmup={"model": model.warm, **when_available(manager.runs.ping, stop),
                                 "workers": manager.start})
    app.router.on_shutdown.append(stop.set)
    app.include_router(runs_router(manager))
    app.include_router(world_router(manager))
    app.include_router(trajectory_router(manager))
    app.include_router(checklist_router(manager, RunIn))
    app.state.manager = manager
    app.router.on_shutdown.append(manager.stop)
    return app
