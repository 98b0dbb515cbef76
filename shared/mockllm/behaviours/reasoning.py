"""`reasoning`: answers like the assistant after "thinking", and bills the thinking as reasoning tokens.

    curl -s localhost:8000/v1/chat/completions -H 'content-type: application/json' -d '{"model": \
"reasoning", "reasoning_effort": "high", "messages": [{"role": "user", "content": "What is 17 * 23?"}]}'

Reasoning models think in hidden tokens before they answer. The user never sees them, but they are
billed as output: `usage.completion_tokens_details.reasoning_tokens` (counted inside
`completion_tokens`; on the Anthropic front inside `output_tokens`). Here the thinking budget
grows with `reasoning_effort` (low / medium / high) and with the length of the question, with
some spread, so the chapter's point shows in the bill: a one-token answer can cost a thousand.

    effort     minimal   low   medium   high    (unknown or absent: medium)
    budget          16   128      512   2048    tokens, times (1 + question tokens / 100) * spread

The spread is drawn from the request's seed (a sampled draw: the same seed, the same count). The
thinking is billed but takes no time here: the engine plans latency before a behaviour answers, so
lab-05 (`POST /chat` with `reasoning_effort`, `POST /reasoning/effort`) models the wait from the
token counts instead. Reached in-process as `mock/reasoning`, over HTTP as model `reasoning`.
"""

from __future__ import annotations

import shared.mockllm.tokens as tokens
from shared.mockllm.behaviours.assistant import respond
from shared.mockllm.request import MockRequest, Reply, behaviour

EFFORT_TOKENS = {"minimal": 16, "low": 128, "medium": 512, "high": 2048}


def reasoning_tokens(req: MockRequest) -> int:
    """budget(effort) * (1 + question tokens / 100) * a spread in [0.75, 1.25)."""
    budget = EFFORT_TOKENS.get(str(req.reasoning_effort or "medium").lower(), EFFORT_TOKENS["medium"])
    length = 1 + tokens.count(req.last_user()) / 100
    spread = 0.75 + 0.5 * req.rng("sample:reasoning").random()
    return int(budget * length * spread)


@behaviour("reasoning", "The assistant as a reasoning model: hidden thinking reported as reasoning tokens "
                        "(reasoning_effort low / medium / high)")
def reasoning(req: MockRequest) -> Reply:
    reply = respond(req, {})
    reply.reasoning_tokens = reasoning_tokens(req)
    return reply
