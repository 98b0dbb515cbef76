"""Request bodies of the lab-13 service: strict (unknown fields are 422s) and capped, so no request runs unbounded.

    curl -s localhost:8013/openapi.json      # the same models, as the service publishes them
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.schemas import Number, StrictModel, Text

INCIDENT_ID = r"^(INC-\d{4}|GEN-\d{3}-\d{3})$"
IncidentId = Annotated[str, Field(pattern=INCIDENT_ID, description="a fixture id (INC-2041) or a generated one "
                                                                   "(GEN-<seed>-<index>, e.g. GEN-001-004)")]
Rate = Annotated[float, Field(ge=0, le=1)]


class TriageIn(StrictModel):
    incident: IncidentId
    classifier: Literal["rules", "llm"] = "llm"
    prompt_version: Literal["v1", "v2", "v3"] = "v2"
    wrong_rate: Rate = Field(0.1, description="the mock triage model's error rate")


class TriageEvalIn(StrictModel):
    classifier: Literal["rules", "llm"] = "rules"
    prompt_version: Literal["v1", "v2", "v3"] = "v2"
    generated: int = Field(0, ge=0, le=40, description="generated incidents added to the 14 fixture ones")
    wrong_rate: Rate = 0.1


class RcaIn(StrictModel):
    incident: IncidentId
    max_steps: int = Field(20, ge=1, le=60)
    repeat_limit: int = Field(2, ge=1, le=10)
    anchor_rate: Rate = 0.15
    wander_rate: Rate = 0.15
    repeat_rate: Rate = 0.0
    wait: bool = Field(False, description="answer when the investigation ends (else 202 and poll /jobs/{id})")


class NlIn(StrictModel):
    question: Text = Field(min_length=3, max_length=300)
    execute: bool = False
    catalogue: bool = Field(True, description="give the model the metric catalogue")
    paraphrase_rate: Rate = 0.5
    mistake_rate: Rate = 0.2


class NlEvalIn(StrictModel):
    engine: Literal["builtin", "promtool"] = "builtin"
    catalogue: bool = True
    limit: int | None = Field(None, ge=1, le=200)
    paraphrase_rate: Rate = 0.5
    mistake_rate: Rate = 0.2
    wait: bool = False


class AnomalyIn(StrictModel):
    series: list[Number] = Field(min_length=8, max_length=5000)
    detector: Literal["ewma", "zscore", "cusum", "seasonal"] = "ewma"
    k: float = Field(3.0, gt=0, le=100)
    alpha: float = Field(0.3, gt=0, lt=1)
    period: int = Field(24, ge=2, le=1000)
    kappa: float = Field(0.5, ge=0, le=10)
    h: float = Field(5.0, gt=0, le=100)
    warmup: int = Field(10, ge=2, le=1000)
    labels: list[int] | None = Field(None, max_length=5000, description="indices of known anomalies, to score against")
    explain: bool = Field(False, description="ask the model to explain the strongest detection")


class ChangeRiskIn(StrictModel):
    source: Literal["fixture", "repo"] = "fixture"
    path: Text | None = Field(None, max_length=500, description="a git repository under the allowed roots")
    limit: int = Field(200, ge=5, le=1000)


class PostmortemIn(StrictModel):
    incident: IncidentId
    format: Literal["json", "markdown"] = "json"


class CanaryIn(StrictModel):
    baseline: Text = Field("v1", max_length=40)
    candidate: Text = Field("v2", max_length=40)
    candidate_prompt: Text | None = Field(None, min_length=10, max_length=4000,
                                          description="a new prompt text: registered as a version, then canaried")
    share: float = Field(0.5, gt=0, lt=1)
    ratio: float = Field(2.0, gt=1, le=20, description="H1: the candidate's bad rate is this many times the baseline's")
    alpha: float = Field(0.05, gt=0, lt=0.5)
    beta: float = Field(0.2, gt=0, lt=0.5)
    max_incidents: int = Field(80, ge=5, le=200)
    seed: int = Field(0, ge=0, le=10**6)


class BudgetIn(StrictModel):
    target: float = Field(0.95, gt=0, lt=1)
    window_days: float = Field(30, gt=0, le=365)
    events_per_day: float = Field(288, gt=0, le=1e7)
    accuracy: float = Field(0.975, ge=0, le=1)
