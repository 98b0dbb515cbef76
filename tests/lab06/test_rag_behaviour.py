"""The mock RAG answerer, lost-in-the-middle and its reordering fix, and the RAGAS-style judge."""

from __future__ import annotations

import json

import pytest

from labs.lab06_rag import ragas
from labs.lab06_rag.answer import answer, lost_in_the_middle, reorder
from shared import llm
from shared.llm import Model
from shared.mockllm.behaviours.rag import attention, parse_sources

RAG = Model.from_settings(model="mock/rag")

PROMPT = ("Sources:\n[kb-1] Refunds: The refund window is 30 days.\n[kb-2] SSO: Single sign-on uses SAML 2.0.\n"
          "It needs the metadata URL.\n\nQuestion: {q}")


def test_answers_extractively_with_citations_and_abstains():
    text = llm.complete(PROMPT.format(q="How long is the refund window?"), model="mock/rag").text
    assert text == "Refunds: The refund window is 30 days. [kb-1]"
    text = llm.complete(PROMPT.format(q="Which metadata URL does it need?"), model="mock/rag").text
    assert "metadata URL" in text and "[kb-2]" in text
    assert "don't know" in llm.complete(PROMPT.format(q="Who founded the company?"), model="mock/rag").text


def test_sources_parse_across_lines():
    sources, question = parse_sources(PROMPT.format(q="x?"))
    assert sources[1] == ("kb-2", "SSO: Single sign-on uses SAML 2.0. It needs the metadata URL.") and question == "x?"


def test_attention_is_u_shaped_and_tunable():
    assert attention(0, 21, 0.3) == attention(20, 21, 0.3) == 1.0
    assert attention(10, 21, 0.3) == pytest.approx(0.3)
    assert all(attention(i, 21, 1.0) == 1.0 for i in range(21))


def test_lost_in_the_middle_is_measurable_and_reordering_fixes_it():
    r = lost_in_the_middle(n_sources=12, middle_attention=0.2)
    assert r["accuracy_at_ends"] - r["accuracy_in_middle"] > 0.3
    assert r["gold_ranked_first_reordered"] > r["gold_in_middle_unordered"] + 0.3
    flat = lost_in_the_middle(n_sources=12, middle_attention=1.0)
    assert flat["accuracy_at_ends"] - flat["accuracy_in_middle"] < 0.15


def test_reorder_puts_the_best_at_both_ends():
    assert reorder([1, 2, 3, 4, 5]) == [1, 3, 5, 4, 2]
    assert reorder([]) == []


def test_answer_drops_invented_citations(monkeypatch):
    class Fake:
        text = "It is 30 days [kb-1] [kb-999]."
        usage = type("U", (), {"input_tokens": 1, "output_tokens": 1})

    monkeypatch.setattr(llm, "complete", lambda *a, **k: Fake)
    out = answer("q", [{"doc_id": "kb-1", "text": "30 days"}], RAG)
    assert out["citations"] == ["kb-1"] and out["invalid_citations"] == ["kb-999"]


def test_ragas_metrics_with_the_judge(kb):
    ctx = ["In Tessera 3.1, the maximum upload size for file upload is 10 GB.", "Unrelated: trash keeps 60 days."]
    ref = "In Tessera 3.1, the maximum upload size for file upload is 10 GB."
    assert ragas.faithfulness("The maximum upload size for file upload is 10 GB. [kb-1]", ctx, RAG) == 1.0
    assert ragas.faithfulness("The maximum upload size for file upload is 99 GB.", ctx, RAG) == 0.0
    assert ragas.faithfulness("I don't know.", ctx, RAG) is None
    assert ragas.context_precision(ctx, ref, RAG) == 1.0
    assert ragas.context_precision(ctx[::-1], ref, RAG) == 0.5
    assert ragas.context_recall(ctx, ref, RAG) == 1.0 and ragas.context_recall(ctx[1:], ref, RAG) == 0
    embed = kb.embedder(kb.snap.config).embed
    good = ragas.answer_relevancy("What is the maximum upload size in 3.1?", "The maximum upload size is 10 GB.",
                                  embed, RAG)
    assert good > 0.5 and ragas.answer_relevancy("What is it?", "I don't know.", embed, RAG) == 0.0
    verdicts = json.loads(llm.complete("## Context\nabc\n\n## Statements\n1. abc\n2. xyz", model="mock/rag").text)
    assert verdicts == {"verdicts": [{"statement": 1, "supported": True}, {"statement": 2, "supported": False}]}
