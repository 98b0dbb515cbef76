"""Lab-05's mock plugin: the `labeller` behaviour, an in-context learner that knows only its prompt.

    curl -s localhost:8000/v1/chat/completions -H 'content-type: application/json' -d '{"model": "labeller", \
"messages": [{"role": "user", "content": "Ticket: my card was declined"}, {"role": "assistant", "content": \
"billing"}, {"role": "user", "content": "Ticket: the card payment failed"}]}'

A few-shot prompt is system text, then demonstrations as user/assistant pairs, then the query. The
labeller learns the label mapping from those demonstrations alone, the way a model picks up a
labelling convention it was never trained on, and with two of an LLM's known in-context habits:

    score(y) = max_{i: y_i = y} cos(e(q), e(x_i))  +  beta * n_y / k

    e          the mock's own embedding (hashed character n-grams): "similar" means sharing wording
    x_i, y_i   the k demonstrations in the prompt; n_y of them have label y
    beta       `label_bias` (default 0.1): the pull towards the label most demonstrations have
               (the majority-label bias of "Calibrate before use", Zhao et al. 2021)

It answers argmax_y score(y), so it can only ever say a label it was shown: a ticket of an intent
with no demonstration is always wrong, and one whose nearest demonstration has another label is
usually wrong. With no demonstrations it falls back on the label names listed in the system prompt
("Labels: a, b, c"), picking the name closest in wording to the ticket: weak, but above chance.
Which examples a prompt carries is therefore what decides its accuracy (fewshot.py measures it).
"""

from __future__ import annotations

import re

import numpy as np

from shared.mockllm.embeddings import embed_text
from shared.mockllm.request import MockError, MockRequest, Reply, behaviour

BEHAVIOUR_NAMES = ("labeller",)
LABEL_BIAS = 0.1
PREFIX = re.compile(r"^\s*(ticket|text|input)\s*:\s*", re.IGNORECASE)
LABELS_LINE = re.compile(r"labels?\s*:\s*([^\n]+)", re.IGNORECASE)


def _text(req: MockRequest, message: dict) -> str:
    return PREFIX.sub("", req.text_of(message)).strip()


def demonstrations(req: MockRequest) -> list[tuple[str, str]]:
    """(input, label) for every user message answered by an assistant message, before the query."""
    turns = [m for m in req.messages if m.get("role") in ("user", "assistant")]
    pairs = []
    for first, second in zip(turns[:-1], turns[1:], strict=True):
        if first["role"] == "user" and second["role"] == "assistant":
            label = req.text_of(second).strip()
            if label:
                pairs.append((_text(req, first), label))
    return pairs


def _bias(req: MockRequest) -> float:
    raw = req.opt("label_bias", LABEL_BIAS)
    try:
        beta = float(raw)
    except (TypeError, ValueError) as exc:
        raise MockError(400, f"mock option 'label_bias' must be a number, got {raw!r}", "invalid_request_error",
                        "invalid_mock_option") from exc
    if not 0 <= beta <= 10:
        raise MockError(400, "mock option 'label_bias' must be between 0 and 10", "invalid_request_error",
                        "invalid_mock_option")
    return beta


def label_scores(query: str, demos: list[tuple[str, str]], beta: float) -> dict[str, float]:
    """score(y) for every label among the demonstrations (the docstring's formula)."""
    q = np.asarray(embed_text(query))
    best: dict[str, float] = {}
    count: dict[str, int] = {}
    for x, y in demos:
        s = float(q @ np.asarray(embed_text(x)))
        best[y] = max(best.get(y, -1.0), s)
        count[y] = count.get(y, 0) + 1
    k = len(demos)
    return {y: best[y] + beta * count[y] / k for y in best}


def zero_shot(query: str, system: str) -> str:
    """The listed label whose name shares the most wording with the query ("unknown" if none is listed)."""
    match = LABELS_LINE.search(system)
    labels = [s.strip(" .") for s in match.group(1).split(",") if s.strip(" .")] if match else []
    if not labels:
        return "unknown"
    q = np.asarray(embed_text(query))
    return max(labels, key=lambda y: float(q @ np.asarray(embed_text(y))))


@behaviour("labeller", "An in-context labeller: learns a label mapping only from the prompt's demonstrations "
                       "(nearest demonstration + majority-label bias `label_bias`); never says a label it was "
                       "not shown")
def labeller(req: MockRequest) -> Reply:
    beta = _bias(req)
    query = PREFIX.sub("", req.last_user()).strip()
    demos = demonstrations(req)
    if not demos:
        return Reply(content=zero_shot(query, req.system()))
    scores = label_scores(query, demos, beta)
    return Reply(content=max(scores, key=lambda y: (scores[y], y)))


def install() -> None:
    """Nothing to do: `@behaviour(...)` registered `labeller` when this module was imported."""
