"""The lab-08 service's request bodies: strict (unknown fields are 422s), every list and number capped.

    curl -s localhost:8008/stats/kappa -H 'content-type: application/json' -d '{"rater1": [1, 0], "rater2": [1, 1]}'
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from labs.lab08_eval import datasets
from shared.schemas import Number, StrictModel, Text

COUNT = 10**9  # the largest count a statistics route accepts: beyond it the float maths is meaningless


class JudgeOptions(StrictModel):
    position_bias: float = Field(0.0, ge=0, le=1)
    length_bias: float = Field(0.0, ge=0, le=2)
    self_preference: float = Field(0.0, ge=0, le=1)
    noise: float = Field(0.03, ge=0, le=0.5)


class RunRequest(StrictModel):
    dataset: Text = Field(max_length=64, description=" | ".join(datasets.DATASETS))
    model: Text = Field("mock/assistant", max_length=120, description="e.g. mock/assistant?variant=v2")
    scorers: list[Annotated[Text, Field(max_length=40)]] = Field([], max_length=8,
                                                                  description="default: the task's scorers")
    concurrency: int = Field(8, ge=1, le=64)
    limit: int | None = Field(None, ge=1, le=10_000)
    n_samples: int = Field(5, ge=1, le=20, description="code: samples per item for pass@k")
    k: list[Annotated[int, Field(ge=1, le=20)]] = Field([1, 5], min_length=1, max_length=5)
    judge: JudgeOptions = JudgeOptions()
    run_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    wait: bool = Field(False, description="block until the run is finished")


STATS_ITEMS = 100_000  # a statistics request carries every item's label or score, not a page of them


class StatsModel(StrictModel):
    max_items = STATS_ITEMS


Label = Annotated[Text, Field(max_length=200)] | int  # a rater's label: a category name or a number


class KappaRequest(StatsModel):
    rater1: list[Label] = Field(min_length=1, max_length=STATS_ITEMS)
    rater2: list[Label] = Field(min_length=1, max_length=STATS_ITEMS)
    weights: Literal["linear", "quadratic"] | None = None


class FleissRequest(StatsModel):
    counts: list[list[Annotated[int, Field(ge=0, le=COUNT)]]] = Field(min_length=1, max_length=STATS_ITEMS)


class AlphaRequest(StrictModel):
    data: list[list[Number | None]] = Field(min_length=2, max_length=100,
                                            description="raters × units; null = missing")
    level: Literal["nominal", "ordinal", "interval"] = "nominal"


class BootstrapRequest(StatsModel):
    a: list[Number] = Field(min_length=1, max_length=STATS_ITEMS)
    b: list[Number] | None = Field(None, max_length=STATS_ITEMS, description="paired with a: CI of mean(b) − mean(a)")
    B: int = Field(2000, ge=100, le=20_000)
    alpha: float = Field(0.05, gt=0, lt=1)
    seed: int = Field(0, ge=0, le=2**32 - 1)


class McNemarRequest(StrictModel):
    fixed: int = Field(ge=0, le=COUNT, description="failed in A, passed in B")
    broken: int = Field(ge=0, le=COUNT, description="passed in A, failed in B")
    exact: bool | None = None


class PowerRequest(StrictModel):
    p: float = Field(gt=0, lt=1, description="baseline accuracy")
    delta: float = Field(gt=0, lt=1, description="the difference to detect")
    alpha: float = Field(0.05, gt=0, lt=1)
    power: float = Field(0.8, gt=0, lt=1)


class PassKRequest(StrictModel):
    n: int = Field(ge=1, le=10_000)
    c: int = Field(ge=0, le=10_000)
    k: int = Field(ge=1, le=10_000)


class BiasRequest(JudgeOptions):
    limit: int = Field(40, ge=5, le=80, description="pairs per bias")


class PeekingRequest(StrictModel):
    p_a: float = Field(0.10, gt=0, lt=1, description="arm A's conversion rate")
    p_b: float | None = Field(None, gt=0, lt=1, description="arm B's; null = p_a (an A/A test)")
    n_per_arm: int = Field(2000, ge=10, le=20_000)
    looks: int = Field(10, ge=1, le=200)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    beta: float = Field(0.2, gt=0, lt=0.5)
    mde: float = Field(0.03, gt=0, lt=0.5, description="the smallest lift the SPRT is built to find")
    sims: int = Field(1000, ge=10, le=4000, description="simulated tests (sims × n_per_arm ≤ 4,000,000)")
    seed: int = Field(0, ge=0, le=2**32 - 1)


class OffPolicyRequest(StrictModel):
    n_logs: int = Field(2000, ge=10, le=100_000)
    repeats: int = Field(100, ge=1, le=1000, description="independent logs (n_logs × repeats ≤ 2,000,000)")
    logging_epsilon: float = Field(0.3, gt=0, le=1, description="how exploratory the logging policy is")
    n_contexts: int = Field(6, ge=1, le=100)
    n_actions: int = Field(4, ge=2, le=50)
    seed: int = Field(0, ge=0, le=2**32 - 1)


class ClassificationStackRequest(StrictModel):
    variant: Literal["v1", "v2", "verbose", "other"] = "v1"
    model: Text | None = Field(None, max_length=120, description="a real model id instead of the mock candidate")
    limit: int | None = Field(None, ge=1, le=1000)
    n_bins: int = Field(10, ge=2, le=50)


class SummarizationStackRequest(JudgeOptions):
    limit: int | None = Field(None, ge=1, le=30, description="the first n fixture summaries (30 in all)")


class PairwiseStackRequest(JudgeOptions):
    limit: int | None = Field(None, ge=1, le=10, description="the first n fixture conversations (10 in all)")
    B: int = Field(2000, ge=100, le=20_000, description="bootstrap resamples for the win rate's CI")
