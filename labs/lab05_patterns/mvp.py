"""The chapter's minimal LLM service in about 80 lines: chat, streaming, retries, cost, idempotency, PII.

    python -m labs.lab05_patterns.mvp --port 8055
    curl -s localhost:8055/chat -H 'content-type: application/json' -d '{"prompt": "What is 6 * 7?"}'

Everything the rest of this lab explains at length, at the size you would start a real service:
one model call through LiteLLM (shared.llm), retries with full jitter on transient errors (shared.resilience),
the cost of every call from the price map, an idempotency cache, email masking, and SSE streaming.
It deliberately keeps state in memory; app.py shows the SQLite-backed versions.
"""

from __future__ import annotations

import argparse
import json
import re

import uvicorn
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import StreamingResponse

from shared.config import Settings
from shared.llm import Completion, Model
from shared.resilience import aretry
from shared.schemas import Field, Number, StrictModel, Text

EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")


class Ask(StrictModel):
    prompt: Text = Field(min_length=1, max_length=20_000)
    temperature: Number | None = Field(None, ge=0, le=2)


def create_app(model: str | None = None, settings: Settings | None = None) -> FastAPI:
    app = FastAPI(title="lab-05 MVP")
    llm = Model.from_settings(settings, model)  # LLM_MODEL, api base and key: read once, here
    seen: dict[str, dict] = {}  # idempotency key -> response (in memory: one process)

    async def ask(prompt: str, temperature: float | None) -> Completion:
        kwargs = {} if temperature is None else {"temperature": temperature}
        # three tries, full jitter U(0, min(4, 0.2 * 2^n)), only on transient errors (429, 5xx, timeouts)
        return await aretry(lambda: llm.acomplete(EMAIL.sub("<EMAIL>", prompt), **kwargs),
                            attempts=3, base_s=0.2, cap_s=4)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/chat")
    async def chat(body: Ask, idempotency_key: str | None = Header(None)) -> dict:
        if idempotency_key in seen:
            return {**seen[idempotency_key], "replayed": True}
        try:
            c = await ask(body.prompt, body.temperature)
        except Exception as exc:
            raise HTTPException(502, f"model call failed: {type(exc).__name__}") from exc
        out = {"text": c.text, "tokens": c.usage.total_tokens, "cost_usd": c.cost_usd, "replayed": False}
        if idempotency_key:
            seen[idempotency_key] = out
        return out

    @app.post("/chat/stream")
    async def chat_stream(body: Ask) -> StreamingResponse:
        async def events():
            async for e in llm.astream(EMAIL.sub("<EMAIL>", body.prompt)):
                data = {"text": e.delta} if not e.done else {"done": True, "cost_usd": e.completion.cost_usd}
                yield f"data: {json.dumps(data)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8055)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
