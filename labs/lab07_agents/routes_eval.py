"""Lab-07's evaluation routes: a recorded run scored against its reference trajectory, and more.

    curl -s localhost:8007/runs/demo-react/score
    curl -s localhost:8007/checklist

Routers are built here, outside app.py, over the same RunManager; app.py includes each with one line.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from labs.lab07_agents.checklist import AgentConfig, report, running_config
from labs.lab07_agents.manager import RunManager
from labs.lab07_agents.trajectory_eval import score_run
from shared.service import not_found

RunId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{2,39}$", description="a run id from POST /runs")]


def trajectory_router(manager: RunManager) -> APIRouter:
    router = APIRouter(tags=["evaluation"])

    @router.get("/runs/{run_id}/score")
    def score(run_id: RunId) -> dict[str, Any]:
        """The run's tool calls against its task's reference trajectory (tool choice, order, redundant
        steps, efficiency), beside how the run ended; 404 for an unknown run or a task with no reference."""
        st = manager.runtime().load(run_id)
        if st is None:
            raise not_found("run", run_id)
        scored = score_run(st.task.get("id", ""), st.trajectory)
        if scored is None:
            raise not_found("reference trajectory for task", st.task.get("id", ""))
        return {"run": st.id, "pattern": st.pattern, "status": st.status, "answer": st.answer,
                "trajectory": scored}

    return router


def checklist_router(manager: RunManager, run_body: type[BaseModel]) -> APIRouter:
    """The production checklist over the running configuration, or over one a client submits.

    `run_body`: the POST /runs body model; its defaults are what a run gets when it names no budget,
    deadline or defenses, so that is the configuration the audit reads.
    """
    router = APIRouter(prefix="/checklist", tags=["evaluation"])

    @router.get("")
    def running() -> dict[str, Any]:
        """Each checklist item, passed or failed with its evidence, for this service's own configuration."""
        return report(running_config(manager, run_body.model_construct()), "running")

    @router.post("")
    def submitted(body: AgentConfig) -> dict[str, Any]:
        """The same audit of a submitted configuration (every field left out is the unsafe choice)."""
        return report(body, "submitted")

    return router
