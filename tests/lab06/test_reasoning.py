"""Multi-hop (decomposition + iterative retrieval, agentic RAG) and freshness (recency, versions)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.lab06_rag import agentic, decompose, freshness
from labs.lab06_rag.corpus import load
from labs.lab06_rag.evaluate import evaluate
from shared import llm
from shared.llm import Model
from shared.mockllm.behaviours.rag import decompose as mock_decompose

RAG = Model.from_settings(model="mock/rag")
HOP = "Which plan do I need for trash, and in Tessera 3.1 how long until removed items are gone for good?"
TWO_PART = "Which plan do I need for file upload, and in Tessera 3.1 what is the maximum upload size for file upload?"


class Scripted:
    """A stand-in model that replies with a fixed script, one reply per call (then repeats the last)."""

    def __init__(self, replies: list[str]):
        self.replies, self.calls = list(replies), 0

    def for_behaviour(self, _name):
        return self

    def complete(self, *_a, **_kw):
        self.calls += 1
        text = self.replies[min(self.calls, len(self.replies)) - 1]
        return SimpleNamespace(text=text, usage=SimpleNamespace(input_tokens=0, output_tokens=0))

    id = "scripted"


def test_mock_decomposes_and_carries_the_subject_into_later_clauses():
    assert mock_decompose(HOP) == ["Which plan do I need for trash?",
                                   "In Tessera 3.1 how long until removed items are gone for good with trash?"]
    assert mock_decompose("How long is trash kept?") == ["How long is trash kept?"]
    text = llm.complete(decompose.PROMPT.format(q=HOP), model="mock/rag").text
    assert text.splitlines() == mock_decompose(HOP)


def test_decomposition_answers_both_parts_where_one_pass_answers_one(kb):
    r = decompose.multihop(kb, TWO_PART, RAG, k=5, mode="hybrid")
    assert [len(h["queries"]) for h in r["sub_questions"]] == [1, 1] and r["retrievals"] == 2
    assert "Starter" in r["answer"] and "10 GB" in r["answer"]
    assert {"plan-00", "kb-00-v2"} <= set(r["citations"]) and not r["unanswered"]
    # the hops' rankings fused with RRF: each hop's first document shares the top
    assert set(r["ranked"][:2]) == {h["sources"][0]["doc_id"] for h in r["sub_questions"]}


def test_iterative_retrieval_refines_a_hop_that_came_back_empty_and_respects_the_budget(kb):
    # "how long until removed items are gone for good" shares almost no words with "purged": the hop
    # retries with what hop 1 found, then with bare keywords, and stops at the budget
    r = decompose.multihop(kb, HOP, RAG, k=5, mode="hybrid", budget=6)
    second = r["sub_questions"][1]
    assert len(second["queries"]) == 3 and "Which plans include trash" in second["queries"][1]
    assert r["retrievals"] == 4 and r["unanswered"] == [second["question"]] and "Starter" in r["answer"]
    tight = decompose.multihop(kb, HOP, RAG, k=5, mode="hybrid", budget=1)
    assert tight["retrievals"] == 1 and tight["sub_questions"][1]["queries"] == []


def test_a_later_hop_receives_an_earlier_answer_for_its_placeholder(kb):
    model = Scripted(["1. Which plan includes file upload?\n2. What does the #1 plan include?", "Starter. [plan-00]"])
    r = decompose.multihop(kb, "x?", model, k=3, mode="bm25")
    assert [h["question"] for h in r["sub_questions"]] == ["Which plan includes file upload?",
                                                          "What does the Starter plan include?"]
    assert decompose._answer_of([{"answer": "I don't know: x."}], 1) == "#1"
    assert decompose._answer_of([{"answer": "It is Starter. [plan-00]"}], 1) == "It is Starter"


def test_agent_searches_each_part_then_finishes_with_citations(kb):
    r = agentic.agentic(kb, TWO_PART, RAG, k=3, max_steps=4, mode="hybrid")
    assert r["stopped"] == "finished" and [t["action"] for t in r["trace"]] == ["search", "search", "finish"]
    assert "Starter" in r["answer"] and "10 GB" in r["answer"] and not r["invalid_citations"]
    assert {"plan-00", "kb-00-v2"} <= set(r["citations"])


def test_agent_budget_is_enforced_by_the_loop(kb):
    r = agentic.agentic(kb, TWO_PART, RAG, k=3, max_steps=1, mode="hybrid")
    assert r["searches"] == 1 and r["trace"][-1]["action"] == "finish" and "10 GB" not in r["answer"]
    # a model that never stops searching is stopped at the budget and answered from what it gathered
    looping = Scripted(['{"action": "search", "query": "maximum upload size file upload 3.1"}'])
    r = agentic.agentic(kb, TWO_PART, looping, k=3, max_steps=2, mode="hybrid")
    assert r["stopped"] == "budget" and r["searches"] == 2 and looping.calls == 4  # 3 turns + the fallback answer


def test_agent_rejects_malformed_actions():
    assert agentic.parse_action("no json here") is None
    assert agentic.parse_action('{"action": "search", "query": "  "}') is None
    assert agentic.parse_action('{"action": "delete_everything"}') is None
    assert agentic.parse_action('Sure: {"action": "finish", "answer": "x"}') == {"action": "finish", "answer": "x"}
    garbage = Scripted(["I think I should search", "still not json"])
    r = agentic.agentic(SimpleNamespace(search=None), "q?", garbage, max_steps=3)
    assert r["stopped"] == "invalid" and r["searches"] == 0 and "don't know" in r["answer"]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 2000), min_size=1, max_size=12), st.floats(1, 1000), st.floats(0, 1))
def test_recency_rank_matches_the_formula_computed_with_numpy(ages, half_life, alpha):
    days = [np.datetime64("2025-09-02") - np.timedelta64(a, "D") for a in ages]
    hits = [{"doc_id": f"d{i}", "updated": str(d)} for i, d in enumerate(days)]
    out = freshness.recency_rank(hits, half_life, alpha)
    n, age = len(ages), np.array(ages) - min(ages)
    expected = (1 - alpha) * (1 - np.arange(n) / n) + alpha * 2.0 ** (-age / half_life)
    got = {h["doc_id"]: h["score"] for h in out}
    assert np.allclose([got[f"d{i}"] for i in range(n)], expected, atol=1e-5)
    assert [h["score"] for h in out] == sorted((h["score"] for h in out), reverse=True)


def test_version_resolution_names_the_version_asked_or_the_latest():
    known = {"Tessera": ["2.4", "3.0", "3.1"], "Other": ["1.0"]}
    r = freshness.resolve("In Tessera 3.0, how big can a file be?", known)
    assert r["version"] == "3.0" and r["how"] == "named" and r["query"].startswith("In Tessera 3.0")
    r = freshness.resolve("Currently, how big can a file be?", known)
    assert r["version"] == "3.1" and r["query"] == "In Tessera 3.1, how big can a file be?"
    # a number that is not a version of the product (SAML 2.0) is not taken for one; with no word
    # about now the question keeps its words (unless told to rewrite every question)
    r = freshness.resolve("Does SAML 2.0 work?", known)
    assert r["version"] == "3.1" and r["query"] == "Does SAML 2.0 work?"
    assert freshness.resolve("Does SAML 2.0 work?", known, rewrite_all=True)["query"] == "In Tessera 3.1, does SAML 2.0 work?"
    assert freshness.resolve("What changed in Other?", known)["version"] == "1.0"
    hits = [{"doc_id": "a", "version": "2.4"}, {"doc_id": "b", "version": "all"}, {"doc_id": "c", "version": "3.1"}]
    ranked, other = freshness.version_rank(hits, "3.1")
    assert [h["doc_id"] for h in ranked] == ["b", "c", "a"] and other == ["a"]


def test_version_aware_search_on_the_fixture_prefers_the_current_article(kb):
    q = "Currently, when does a public share URL stop working with shared links?"
    plain, how = freshness.search(kb, q, "off", 5, mode="hybrid")
    hits, how = freshness.search(kb, q, "version", 5, mode="hybrid")
    assert how["queries"] == ["In Tessera 3.1, when does a public share URL stop working with shared links?"]
    assert how["freshness"]["version"] == "3.1" and all(h["version"] in ("3.1", "all") for h in hits[:3])
    assert set(how["freshness"]["set_aside"]) <= {h["doc_id"] for h in plain}


def test_strategies_move_their_slices_in_the_lab_eval(kb):
    qs = load("eval")
    hops = [q for q in qs if q["slice"] == "multi-hop"][:2]
    fresh = [q for q in qs if q["slice"] == "freshness"][:3]
    ok = {s: evaluate(kb, "hybrid", hops, strategy=s, progress=lambda *_: None)["overall"]["answer_ok"]
          for s in ("single", "decompose")}
    assert ok["single"] == 0 and ok["decompose"] == 1
    ok = {s: evaluate(kb, "hybrid", fresh, strategy=s, progress=lambda *_: None)["overall"]["answer_ok"]
          for s in ("single", "version")}
    assert ok["version"] > ok["single"]
    with pytest.raises(KeyError):
        evaluate(kb, "hybrid", hops, strategy="telepathy")


def test_agent_prompt_stays_bounded():
    observed = {f"d{i}": {"doc_id": f"d{i}", "title": "t", "text": "x"} for i in range(40)}
    text = agentic.prompt("q?", 2, ["a"], observed)
    assert text.count("\n[d") == agentic.MAX_OBSERVATIONS and "[d39]" in text and "[d0]" not in text
    assert json.loads(llm.complete(text, model="mock/rag").text)["action"] in {"search", "finish"}
