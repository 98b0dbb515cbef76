"""Routes for what the lab trains and audits: the faithfulness audit (unsupported claims vs the judge),
and fine-tuning the bi-encoder with InfoNCE as a job.

    curl -s localhost:8006/faithfulness -d '{"unsupported_rate": 0.5, "limit": 5}'
    curl -s localhost:8006/finetune/biencoder -d '{"steps": 2, "batch_size": 4, "features": 4, "layers": 1}'
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter
from pydantic import Field

from labs.lab06_rag.corpus import load
from labs.lab06_rag.faithfulness_audit import audit
from labs.lab06_rag.finetune import SUBDIR, finetune_job
from labs.lab06_rag.kb import fixture_kb
from shared.jobs import JobStore
from shared.llm import Model
from shared.schemas import StrictModel
from shared.service import ServiceError


class LabState(Protocol):
    dir: Path
    model: Model
    jobs: JobStore


class FaithfulnessIn(StrictModel):
    unsupported_rate: float = Field(0.25, ge=0, le=1, description="mock answerer only: share of sentences made up")
    limit: int = Field(10, ge=1, le=67, description="the first N answerable eval questions")


class FinetuneIn(StrictModel):
    steps: int = Field(10, ge=1, le=50, description="optimiser steps (batches)")
    batch_size: int = Field(8, ge=2, le=32, description="queries per batch; each brings its positive and negatives")
    lr: float = Field(3e-5, gt=0, le=1e-3, description="AdamW learning rate (linear warm-up, then decay)")
    scale: float = Field(20.0, ge=1, le=100, description="1/τ of InfoNCE")
    features: int = Field(12, ge=4, le=24, description="generated features to mine (a quarter held out)")
    hard_negatives: int = Field(1, ge=1, le=3, description="mined hard negatives per query")
    layers: int = Field(6, ge=1, le=6, description="keep MiniLM's first n transformer layers")
    max_length: int = Field(64, ge=16, le=128, description="tokens read per text while training")
    evaluate: bool = Field(False, description="also measure held-out recall@10 / NDCG@10, base vs tuned")
    wait: bool = False


FINETUNE_KIND = "finetune-biencoder"


def training_router(lab: LabState) -> APIRouter:
    router = APIRouter(tags=["training and audits"])
    submitting, running = threading.Lock(), {"job": ""}  # the last fine-tune job this service started

    @router.post("/faithfulness")
    def faithfulness(body: FaithfulnessIn) -> dict[str, Any]:
        """Answer eval questions with unsupported claims at a rate; faithfulness by the judge vs the truth."""
        questions = [q for q in load("eval") if q["relevant"]][:body.limit]
        kb = fixture_kb(lab.dir / "eval", model=lab.model)
        return audit(kb, body.unsupported_rate, questions, lab.model)

    @router.post("/finetune/biencoder")
    def finetune_biencoder(body: FinetuneIn) -> dict[str, Any]:
        """Fine-tune MiniLM with InfoNCE on generated triples as a job (one at a time); saved to DATA_DIR/lab06/biencoder."""
        params = body.model_dump(exclude={"wait"})
        with submitting:  # check and submit together, so two requests cannot both start a run
            last = lab.jobs.get(running["job"]) if running["job"] else None
            if last and last["status"] in ("queued", "running"):
                raise ServiceError(409, f"a bi-encoder fine-tune is already {last['status']}: job {last['id']}",
                                   type="busy")
            job_id = lab.jobs.submit(FINETUNE_KIND, params, lambda ctx: finetune_job(lab.dir / SUBDIR, params, ctx))
            running["job"] = job_id
        return lab.jobs.wait(job_id, timeout_s=600) if body.wait else lab.jobs.get(job_id)

    return router
