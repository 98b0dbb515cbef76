"""RAGAS-style metrics with an LLM judge through shared.llm.

    python -m labs.lab06_rag.evaluate --config hybrid      # prints them per slice

faithfulness       = |answer statements supported by the retrieved context| / |answer statements|
answer relevancy   = cos(embed(question), embed(question the judge infers from the answer));
                     0 for a noncommittal answer ("I don't know")
context precision  = Σ_k precision@k · v_k / Σ_k v_k,  v_k = 1 if chunk k supports the reference answer
context recall     = |reference statements supported by the retrieved context| / |reference statements|

The judge sees one kind of prompt per check (markdown sections, JSON reply), so any chat model can be
the judge; offline, `mock/rag` answers them by word coverage.
"""

from __future__ import annotations

import json
import re

import numpy as np

from shared.llm import Model

_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
_CITE = re.compile(r"\s*\[[^\]]+\]")


def statements(text: str) -> list[str]:
    return [s.strip() for s in _SENT.split(_CITE.sub("", text)) if s.strip()]


def _json(text: str) -> dict:
    match = re.search(r"\{.*\}", text, re.DOTALL)
    try:
        return json.loads(match.group(0)) if match else {}
    except json.JSONDecodeError:
        return {}


def supported(claims: list[str], context: str, model: Model | None) -> list[bool]:
    if not claims:
        return []
    prompt = ("## Context\n" + context + "\n\n## Statements\n" +
              "\n".join(f"{i}. {c}" for i, c in enumerate(claims, 1)) +
              "\n\nFor each statement say whether the context supports it. Reply with JSON: "
              '{"verdicts": [{"statement": 1, "supported": true}]}')
    verdicts = {v.get("statement"): bool(v.get("supported")) for v in _json((model or Model.from_settings()).complete(prompt).text)
                .get("verdicts", []) if isinstance(v, dict)}
    return [verdicts.get(i, False) for i in range(1, len(claims) + 1)]


def faithfulness(answer: str, contexts: list[str], model: Model | None = None) -> float | None:
    claims = statements(answer)
    if not claims or "don't know" in answer.lower():
        return None
    return float(np.mean(supported(claims, "\n".join(contexts), model)))


def answer_relevancy(question: str, answer: str, embed, model: Model | None = None) -> float:
    prompt = ("## Answer\n" + answer + "\n\nWrite the question this answer responds to, and say whether the "
              'answer is noncommittal. Reply with JSON: {"question": "...", "noncommittal": false}')
    out = _json((model or Model.from_settings()).complete(prompt).text)
    if out.get("noncommittal") or not out.get("question"):
        return 0.0
    V = embed([question, out["question"]])
    return float(V[0] @ V[1])


def context_precision(contexts: list[str], reference: str, model: Model | None = None) -> float | None:
    ref = " ".join(statements(reference))
    v = [all(supported([ref], c, model)) for c in contexts] if ref else []
    if not any(v):
        return 0.0 if v else None
    hits, total = 0, 0.0
    for k, useful in enumerate(v, 1):
        hits += useful
        total += useful * hits / k
    return total / sum(v)


def context_recall(contexts: list[str], reference: str, model: Model | None = None) -> float | None:
    claims = statements(reference)
    return float(np.mean(supported(claims, "\n".join(contexts), model))) if claims else None


def stated_in(claims: list[str], contexts: list[str]) -> list[bool]:
    """Ground truth for an extractive answerer: a claim is supported when a context states it word
    for word (case and spacing aside). The mock copies sentences, so anything else was made up."""
    norm = [" ".join(c.lower().split()) for c in contexts]
    return [any(" ".join(claim.lower().rstrip(".").split()) in c for c in norm) for claim in claims]


def judged_claims(answer: str, contexts: list[str], model: Model | None = None) -> list[tuple[bool, bool]]:
    """(judge says supported, truly stated in the context) for every claim of an answer."""
    claims = statements(answer)
    if not claims or "don't know" in answer.lower():
        return []
    return list(zip(supported(claims, "\n".join(contexts), model), stated_in(claims, contexts), strict=True))
