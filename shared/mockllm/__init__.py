"""The offline model every lab runs on: one behaviour engine, two fronts.

    python -m shared.mockllm --port 8000          # OpenAI- and Anthropic-compatible HTTP server
    LLM_MODEL=mock/assistant python -c "from shared import llm; print(llm.complete('2+2?').text)"

- `engine.py`: MockRequest -> Reply -> OpenAI-shaped response / stream chunks; faults; usage.
- `behaviours/`: what the model does, one module per behaviour, selected by model name.
- `cache.py`: prompt caching as providers report it (1,024-token prefixes within a TTL).
- `anthropic_api.py`: the Anthropic Messages wire format (requests, messages, stream events, errors).
- `provider.py`: the LiteLLM custom provider (`mock/<behaviour>` in-process).
- `server.py`: the HTTP fronts (`/v1/chat/completions`, `/v1/embeddings`, `/v1/models`, `/v1/messages`).

README.md beside this file lists the behaviours, the fault options and curl examples.
"""

from shared.mockllm.engine import (  # noqa: F401
    BEHAVIOURS,
    MockEngine,
    MockError,
    MockRequest,
    Reply,
    ToolCallOut,
    behaviour,
    register_skill,
    unregister_skill,
)
