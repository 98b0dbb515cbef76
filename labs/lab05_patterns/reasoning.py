"""Chain-of-thought and reasoning models: what `reasoning_effort` buys and what it costs.

    curl -s localhost:8005/reasoning/effort -H 'content-type: application/json' -d '{"question": "What is 17 * 23?"}'
    .venv/bin/python bench/bench_lab05_reasoning.py      # the README's table: 4 efforts x 20 questions

Chain-of-thought prompting asks a model to write its reasoning before the answer; a reasoning model
does it on its own, in hidden tokens. They are never shown, but they are generated and billed:

    output_tokens  = reasoning_tokens + visible_tokens      (OpenAI counts both in completion_tokens)
    cost           = input * p_in + visible * p_out + reasoning * p_reasoning
    latency        ~ TTFT + (reasoning_tokens + visible_tokens) * TPOT     (the thinking comes first)

`reasoning_effort` (minimal / low / medium / high) is the knob. The mock's `reasoning` behaviour
(shared/mockllm/behaviours/reasoning.py) sets its thinking budget by effort and question length,
so the same one-word answer costs a few tokens at `minimal` and thousands at `high`. Each call here
is priced twice: at the model's own price, and at a reasoning model's list price (`price_as`,
openai/o3-mini by default), which is what the bill would be on a real provider. Latency is measured
per call, and also modelled from the token counts at a decode speed (`tpot_ms`), because the time a
provider spends generating hidden tokens is what a user waits for.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from shared.llm import Model
from shared.pricing import Usage, cost

EFFORTS = ("minimal", "low", "medium", "high")


@dataclass
class EffortRow:
    effort: str
    answer: str | None
    reasoning_tokens: float  # mean per call
    visible_tokens: float
    input_tokens: float
    cost_usd: float  # mean per call, at `price_as`
    latency_s: float  # measured, mean per call
    modelled_latency_s: float  # TTFT + all output tokens * TPOT
    reasoning_share: float  # of the output tokens, the hidden part


def effort_sweep(model: Model, question: str, efforts: Sequence[str] = EFFORTS, *, samples: int = 3,
                 price_as: str = "openai/o3-mini", ttft_ms: float = 200.0, tpot_ms: float = 10.0) -> list[EffortRow]:
    """`samples` calls per effort (seeds 0..samples-1: the thinking budget has a seeded spread)."""
    reasoner = model.for_behaviour("reasoning")
    rows = []
    for effort in efforts:
        calls = [reasoner.complete(question, reasoning_effort=effort, seed=s) for s in range(samples)]
        usages = [c.usage for c in calls]
        reasoning = [u.reasoning_tokens for u in usages]
        visible = [u.output_tokens - u.reasoning_tokens for u in usages]
        priced = [cost(price_as, Usage(input_tokens=u.input_tokens, output_tokens=u.output_tokens,
                                       reasoning_tokens=u.reasoning_tokens)).total for u in usages]
        outputs = [u.output_tokens for u in usages]
        rows.append(EffortRow(
            effort=effort, answer=calls[0].text,
            reasoning_tokens=statistics.fmean(reasoning), visible_tokens=statistics.fmean(visible),
            input_tokens=statistics.fmean(u.input_tokens for u in usages), cost_usd=statistics.fmean(priced),
            latency_s=statistics.fmean(c.latency_s for c in calls),
            modelled_latency_s=(ttft_ms + tpot_ms * statistics.fmean(outputs)) / 1000,
            reasoning_share=sum(reasoning) / max(sum(outputs), 1)))
    return rows


def report(rows: Sequence[EffortRow]) -> list[dict[str, Any]]:
    return [{k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(r).items()} for r in rows]
