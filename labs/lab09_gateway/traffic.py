"""Synthetic traffic through the gateway itself, so the dashboard, the SLOs and sampling have data.

    curl -s localhost:8009/traffic -H 'authorization: Bearer sk-lab09-admin' -H 'content-type: application/json' \
      -d '{"n": 30, "error_rate": 0.1, "feature": "search", "prompt_version": "v2", "quality": 0.9}'

Each call goes through the whole ASGI app (keys, routing, spans, metering), as its own trace, as
real clients' calls would; a share `error_rate` of them asks the mock for an upstream 500. It bills
the virtual key it names, so the route is operator-only.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry import context as otel_context
from pydantic import Field

from shared.schemas import Number, StrictModel, Text

# text that becomes an HTTP header must be visible ASCII (or spaces inside): anything else is a 422 here
HEADER_TEXT = r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$"
PROMPTS = ["What is 12 * 7?", "Summarize: the invoice was paid late.", "Weather in Paris?",
           "Fix this python function error"]


class TrafficRequest(StrictModel):
    n: int = Field(20, ge=1, le=500)
    key: str = Field("sk-lab09-acme", min_length=1, max_length=200, pattern=HEADER_TEXT,
                     description="the virtual key the calls are made (and billed) with")
    model: Text = Field("assistant", min_length=1, max_length=200)
    feature: str = Field("chat", min_length=1, max_length=64, pattern=HEADER_TEXT)
    prompt_version: str = Field("v1", min_length=1, max_length=64, pattern=HEADER_TEXT)
    error_rate: Number = Field(0.0, ge=0, le=1)
    stream: bool = False
    prompts: list[Text] = Field(default_factory=lambda: list(PROMPTS), min_length=1, max_length=50)
    quality: Number | None = Field(None, ge=0, le=1, description="grade every call with this score")


async def send(app: FastAPI, spec: TrafficRequest, grade: Callable[[str, float], Any]) -> dict[str, Any]:
    """Send `spec.n` calls through `app`; grade each successful one when `spec.quality` is set."""
    rng = random.Random(7)
    statuses: dict[str, int] = {}
    ids = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lab09") as client:
        for i in range(spec.n):
            headers = {"authorization": f"Bearer {spec.key}", "x-feature": spec.feature,
                       "x-prompt-version": spec.prompt_version}
            if rng.random() < spec.error_rate:
                headers["x-mock-error-status"] = "500"
            payload = {"model": spec.model, "stream": spec.stream,
                       "messages": [{"role": "user", "content": spec.prompts[i % len(spec.prompts)]}]}
            token = otel_context.attach(otel_context.Context())  # each call its own trace, as from real clients
            try:
                resp = await client.post("/v1/chat/completions", json=payload, headers=headers)
            finally:
                otel_context.detach(token)
            statuses[str(resp.status_code)] = statuses.get(str(resp.status_code), 0) + 1
            rid = resp.headers.get("x-request-id")
            ids.append(rid)
            if spec.quality is not None and resp.status_code == 200:
                grade(rid, spec.quality)
            await asyncio.sleep(0)
    return {"sent": spec.n, "statuses": statuses, "request_ids": ids[:5]}
