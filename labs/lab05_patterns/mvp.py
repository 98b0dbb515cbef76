"""The chapter's minimal LLM service in about 80 lines: chat, streaming, retries, cost, idempotency, PII.

    python -m labs.lab05_patterns.mvp --port 8055
    curl -s localhost:8055/chat -H 'content-type: application/json' -d '{"prompt": "What is 6 * 7?"}'

Everything the rest of this lab explains at length, at the size you would start a real service:
one model call through LiteLLM (shared.llm), tenacity retries with full jitter on transient errors,
the cost of every call from the price map, an idempotency cache, email masking, and SSE streaming.
It deliberately keeps state in memory; app.py shows the SQLite-backed versions.
"""

from __future__ import annotations

import argparse
import json
import re

import tenacity
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from shared import llm

EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")


class Ask(BaseModel):
    prompt: str = Field(min_length=1, max_length=20_000)
    temperature: float | None = Field(None, ge=0, le=2)


def transient(exc: BaseException) -> bool:
    return getattr(exc, "status_code", None) in {429, 500, 502, 503, 504}


retrying = tenacity.retry(stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_random_exponential(0.2, max=4),
                          retry=tenacity.retry_if_exception(transient), reraise=True)


def create_app(model: str | None = None) -> FastAPI:
    app = FastAPI(title="lab-05 MVP")
    seen: dict[str, dict] = {}  # idempotency key -> response (in memory: one process)

    @retrying
    async def ask(prompt: str, temperature: float | None) -> llm.Completion:
        kwargs = {} if temperature is None else {"temperature": temperature}
        return await llm.acomplete(EMAIL.sub("<EMAIL>", prompt), model=model, **kwargs)

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
            async for e in llm.astream(EMAIL.sub("<EMAIL>", body.prompt), model=model):
                data = {"text": e.delta} if not e.done else {"done": True, "cost_usd": e.completion.cost_usd}
                yield f"data: {json.dumps(data)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8055)
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
