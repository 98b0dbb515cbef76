"""Routes for what the lab trains and audits: the faithfulness audit (unsupported claims vs the judge).

    curl -s localhost:8006/faithfulness -d '{"unsupported_rate": 0.5, "limit": 5}'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter
from pydantic import Field

from labs.lab06_rag.corpus import load
from labs.lab06_rag.faithfulness_audit import audit
from labs.lab06_rag.kb import fixture_kb
from shared.llm import Model
from shared.schemas import StrictModel


class LabState(Protocol):
    dir: Path
    model: Model


class FaithfulnessIn(StrictModel):
    unsupported_rate: float = Field(0.25, ge=0, le=1, description="mock answerer only: share of sentences made up")
    limit: int = Field(10, ge=1, le=67, description="the first N answerable eval questions")


def training_router(lab: LabState) -> APIRouter:
    router = APIRouter(tags=["training and audits"])

    @router.post("/faithfulness")
    def faithfulness(body: FaithfulnessIn) -> dict[str, Any]:
        """Answer eval questions with unsupported claims at a rate; faithfulness by the judge vs the truth."""
        questions = [q for q in load("eval") if q["relevant"]][:body.limit]
        kb = fixture_kb(lab.dir / "eval", model=lab.model)
        return audit(kb, body.unsupported_rate, questions, lab.model)

    return router
