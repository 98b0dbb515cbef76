"""The prompting routes: few-shot selection, the prompt optimizer, reasoning effort, SDKs vs LiteLLM.

    curl -s localhost:8005/fewshot/classify -H 'content-type: application/json' -d '{"text": "my card was declined"}'

Each route parses, calls its module (fewshot.py, optimizer.py, reasoning.py, sdks.py) and returns.
The few-shot routes talk to the mock's `labeller` (mock_plugin.py) through the lab's model handle, so
they work in process (`mock/labeller`) and over HTTP (`openai/mock/labeller`) alike.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, FastAPI

from labs.lab05_patterns import fewshot, optimizer, reasoning, sdks
from labs.lab05_patterns.gateway import check_model, provider_error
from labs.lab05_patterns.schemas import (
    EffortRequest,
    FewShotEvalRequest,
    FewShotRequest,
    OptimizeRequest,
    SdkRequest,
)
from shared.llm import Model
from shared.service import ServiceError


class Prompting:
    """The labeller handle and the example pool, embedded once on first use."""

    def __init__(self, model: Model):
        self.model = model
        self.labeller = model.for_behaviour("labeller")
        self._selector: fewshot.Selector | None = None
        self._lock = threading.Lock()

    def selector(self) -> fewshot.Selector:
        with self._lock:
            if self._selector is None:
                self._selector = fewshot.Selector(fewshot.load("pool"), self.model)
            return self._selector

    def labeller_with(self, label_bias: float | None) -> Model:
        return self.labeller if label_bias is None else self.labeller.with_mock(label_bias=label_bias)


def _check_strategies(names: list[str]) -> None:
    unknown = [s for s in names if s not in fewshot.STRATEGIES]
    if unknown:
        raise ServiceError(422, f"unknown strategy {unknown[0]!r}; choose one of {', '.join(fewshot.STRATEGIES)}",
                           "unknown_strategy")


def fewshot_router(state: Prompting) -> APIRouter:
    """fewshot.py and optimizer.py: which demonstrations, chosen how, and what they are worth."""
    router = APIRouter(prefix="/fewshot", tags=["few-shot"])

    @router.post("/classify")
    def classify(body: FewShotRequest) -> dict[str, Any]:
        """Label one ticket with k demonstrations chosen by a strategy; shows the demonstrations sent."""
        _check_strategies([body.strategy])
        selector = state.selector()
        try:
            q = selector.embed([body.text])[0]
            demos = [selector.pool[j] for j in selector.select(body.strategy, q, body.k, body.mmr_lambda)]
            result = fewshot.classify(state.labeller_with(body.label_bias), body.text, demos, fewshot.labels())
        except Exception as exc:
            raise provider_error(exc) from exc
        return {"label": result.label, "strategy": body.strategy, "k": body.k,
                "demos": [{"text": d.text, "label": d.label} for d in demos], "prompt_tokens": result.prompt_tokens}

    @router.post("/evaluate")
    def evaluate(body: FewShotEvalRequest) -> dict[str, Any]:
        """Accuracy of each selection strategy on held-out tickets, split by whether the label was shown."""
        _check_strategies(body.strategies)
        tests = fewshot.load("test")[: body.n_test]
        try:
            scores = fewshot.evaluate(state.labeller_with(body.label_bias), state.selector(), tests, body.strategies,
                                      body.k, body.mmr_lambda)
        except Exception as exc:
            raise provider_error(exc) from exc
        return {"k": body.k, "n_test": len(tests), "scores": fewshot.report(scores)}

    @router.post("/optimize")
    def optimize(body: OptimizeRequest) -> dict[str, Any]:
        """Bootstrapped few-shot with random search: candidates scored on dev, the winner on test."""
        try:
            result = optimizer.optimize(state.labeller, fewshot.load("pool"), fewshot.load("dev")[: body.n_dev],
                                        fewshot.load("test")[: body.n_test], k=body.k, candidates=body.candidates,
                                        max_bootstrapped=body.max_bootstrapped, seed=body.seed)
        except Exception as exc:
            raise provider_error(exc) from exc
        return {"n_dev": min(body.n_dev, len(fewshot.load("dev"))), "n_test": min(body.n_test, len(fewshot.load("test"))),
                **result.as_dict()}

    return router


def reasoning_router(state: Prompting) -> APIRouter:
    """reasoning.py: reasoning tokens, cost and latency per reasoning_effort."""
    router = APIRouter(prefix="/reasoning", tags=["reasoning"])

    @router.post("/effort")
    def effort(body: EffortRequest) -> dict[str, Any]:
        """The same question at each effort: hidden tokens, cost at a reasoning model's price, latency."""
        check_model(body.price_as)
        try:
            rows = reasoning.effort_sweep(state.model, body.question, body.efforts, samples=body.samples,
                                          price_as=body.price_as, tpot_ms=body.tpot_ms)
        except Exception as exc:
            raise provider_error(exc) from exc
        return {"question": body.question, "price_as": body.price_as, "efforts": reasoning.report(rows)}

    return router


def sdk_router(mock_app: Any) -> APIRouter:
    """sdks.py: the same call through the openai SDK, the anthropic SDK and LiteLLM, with the wire."""
    router = APIRouter(prefix="/sdks", tags=["sdks"])

    @router.post("/compare")
    async def compare(body: SdkRequest) -> dict[str, Any]:
        """Each client's code, request and response bodies as sent, answer, usage and wall time."""
        try:
            return await sdks.compare(body.question, "http://mock", mock_app(), body.paths)
        except Exception as exc:
            raise provider_error(exc) from exc

    return router


def include(app: FastAPI, model: Model, mock_app: Any) -> None:
    """Add every prompting router to the lab's app (one line in create_app)."""
    state = Prompting(model)
    for router in (fewshot_router(state), reasoning_router(state), sdk_router(mock_app)):
        app.include_router(router)
