"""The request bodies of the lab-05 service: strict (unknown fields are 422s) and bounded.

    curl -s localhost:8005/openapi.json      # these models, as the service publishes them

Every body subclasses shared.schemas.StrictModel, so an unknown field, a lone surrogate or a NaN is
a 422 naming the field, and every list, string and number that drives work has a cap: no request
can make the service do unbounded work (a /tools/run naming 20,000 tools used to stall the event loop).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from labs.lab05_patterns.fewshot import STRATEGIES
from labs.lab05_patterns.structured import LEVELS
from labs.lab05_patterns.tools import TOOLS
from shared.schemas import MAX_ITEMS, MAX_TEXT, Field, Number, StrictModel, Text

ModelId = Annotated[Text, Field(max_length=100)]
Prompt = Annotated[Text, Field(min_length=1, max_length=4000)]
Question = Annotated[Text, Field(min_length=1, max_length=2000)]


class Message(StrictModel):
    role: Literal["system", "user", "assistant"]
    content: Text = Field(min_length=1, max_length=MAX_TEXT, description="the token check is the real limit")


class ChatRequest(StrictModel):
    messages: list[Message] = Field(min_length=1, max_length=64)
    model: ModelId | None = Field(None, description="default: LLM_MODEL")
    temperature: Number | None = Field(None, ge=0, le=2)
    top_p: Number | None = Field(None, gt=0, le=1)
    frequency_penalty: Number | None = Field(None, ge=-2, le=2)
    presence_penalty: Number | None = Field(None, ge=-2, le=2)
    max_tokens: int | None = Field(None, ge=1, le=4096)
    seed: int | None = Field(None, ge=0, le=2**31)
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = Field(
        None, description="reasoning models (mock/reasoning): the hidden thinking budget, billed as output")
    mask_pii: bool = True


class SamplingRequest(StrictModel):
    logits: list[Number] = Field(min_length=1, max_length=MAX_ITEMS)
    counts: list[Annotated[int, Field(ge=0, le=10**9)]] | None = Field(
        None, max_length=MAX_ITEMS, description="times each token was already generated")
    temperature: Number = Field(1.0, ge=0, le=100)
    top_k: int | None = Field(None, ge=1, le=MAX_ITEMS)
    top_p: Number = Field(1.0, gt=0, le=1)
    frequency_penalty: Number = Field(0.0, ge=-2, le=2)
    presence_penalty: Number = Field(0.0, ge=-2, le=2)


class Faults(StrictModel):
    """The mock's fault and weakness controls this lab lets a caller set (bounded so demos stay fast)."""

    error_rate: Number | None = Field(None, ge=0, le=1)
    error_status: Literal[429, 500, 502, 503] | None = None
    retry_after: int | None = Field(None, ge=0, le=3)
    latency_ms: Number | None = Field(None, ge=0, le=100)
    malformed_rate: Number | None = Field(None, ge=0, le=1)
    fail_rate_prompt: Number | None = Field(None, ge=0, le=1)
    fail_rate_json_mode: Number | None = Field(None, ge=0, le=1)
    fail_rate_tools: Number | None = Field(None, ge=0, le=1)
    fail_rate_json_schema: Number | None = Field(None, ge=0, le=1, description="json_schema without strict")
    fail_rate_strict: Number | None = Field(None, ge=0, le=1)
    p: Number | None = Field(None, ge=0, le=1, description="noisy solver: probability an answer is right")
    seed: int | None = Field(None, ge=0, le=2**31)

    def options(self) -> dict[str, Any] | None:
        return self.model_dump(exclude_none=True) or None


class ExtractRequest(StrictModel):
    text: Prompt
    level: Text = Field("tools", max_length=20, description=" | ".join(LEVELS))
    max_retries: int = Field(2, ge=0, le=5)
    mock: Faults = Faults()


class ToolRequest(StrictModel):
    question: Question
    tools: list[Annotated[Text, Field(max_length=40)]] | None = Field(
        None, max_length=len(TOOLS), description=" | ".join(TOOLS))
    max_steps: int = Field(4, ge=1, le=8)


class ProtocolRequest(StrictModel):
    question: Question


class TokenizeRequest(StrictModel):
    text: Text = Field(max_length=MAX_TEXT)


class EstimateRequest(StrictModel):
    text: Text = Field(max_length=MAX_TEXT)
    model: ModelId = "openai/gpt-4o-mini"
    output_tokens: int = Field(0, ge=0, le=1_000_000)
    cached_tokens: int = Field(0, ge=0, le=10_000_000)


class CacheRequest(StrictModel):
    model: ModelId = "anthropic/claude-sonnet-4"
    prefix_tokens: int = Field(ge=0, le=10_000_000)
    suffix_tokens: int = Field(0, ge=0, le=10_000_000)
    requests: int = Field(1000, ge=1, le=10**9)
    hit_rate: Number | None = Field(None, ge=0, le=1)
    rate_per_s: Number | None = Field(None, ge=0, le=10_000)
    ttl_s: Number = Field(300.0, gt=0, le=86_400)


class MeasureCacheRequest(StrictModel):
    requests: int = Field(5, ge=2, le=50)
    prefix_tokens: int = Field(2000, ge=0, le=20_000)


class ResilientRequest(StrictModel):
    prompt: Prompt
    models: list[ModelId] = Field(["mock/assistant", "mock/assistant?fallback=1"], min_length=1, max_length=4)
    primary_faults: Faults = Faults()
    max_attempts: int = Field(3, ge=1, le=6)
    base_delay_s: Number = Field(0.05, ge=0, le=1)
    cap_s: Number = Field(0.5, ge=0, le=2)


class OrchestrateRequest(StrictModel):
    inputs: list[Prompt] = Field(min_length=1, max_length=16)
    model: ModelId | None = None
    k: int = Field(5, ge=1, le=15, description="self_consistency: samples")
    temperature: Number = Field(0.8, ge=0, le=2, description="self_consistency: sampling temperature (0: greedy)")
    mock: Faults = Faults()


class FewShotRequest(StrictModel):
    text: Question
    strategy: Text = Field("similar", max_length=20, description=" | ".join(STRATEGIES))
    k: int = Field(4, ge=0, le=16, description="demonstrations in the prompt")
    mmr_lambda: Number = Field(0.5, ge=0, le=1, description="diverse: relevance vs spread")
    label_bias: Number | None = Field(None, ge=0, le=2, description="the labeller's majority-label bias")


class FewShotEvalRequest(StrictModel):
    strategies: list[Annotated[Text, Field(max_length=20)]] = Field(
        list(STRATEGIES), min_length=1, max_length=len(STRATEGIES), description=" | ".join(STRATEGIES))
    k: int = Field(4, ge=0, le=16)
    n_test: int = Field(16, ge=1, le=40, description="held-out tickets scored per strategy")
    mmr_lambda: Number = Field(0.5, ge=0, le=1)
    label_bias: Number | None = Field(None, ge=0, le=2)


class OptimizeRequest(StrictModel):
    # capped so one request stays a few hundred model calls; bench/bench_lab05_fewshot.py runs the full size
    k: int = Field(8, ge=1, le=8, description="demonstrations per candidate prompt")
    candidates: int = Field(4, ge=1, le=6, description="bootstrapped candidates searched")
    n_dev: int = Field(16, ge=1, le=32)
    n_test: int = Field(16, ge=1, le=40)
    max_bootstrapped: int = Field(16, ge=1, le=24)
    seed: int = Field(0, ge=0, le=2**31)


class EffortRequest(StrictModel):
    question: Question
    efforts: list[Literal["minimal", "low", "medium", "high"]] = Field(
        ["minimal", "low", "medium", "high"], min_length=1, max_length=4)
    samples: int = Field(3, ge=1, le=10)
    price_as: ModelId = Field("openai/o3-mini", description="the price map entry the calls are billed at")
    tpot_ms: Number = Field(10.0, ge=0, le=1000, description="decode time per token, for the modelled latency")


class SdkRequest(StrictModel):
    question: Question
    paths: list[Literal["raw_httpx", "openai_sdk", "anthropic_sdk", "litellm_openai", "litellm_anthropic"]] | None = (
        Field(None, min_length=1, max_length=5))
