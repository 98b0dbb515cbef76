"""Multi-hop by query decomposition and iterative retrieval.

    curl -s localhost:8006/answer/multihop -d '{"query": "Which plan do I need for trash, and in Tessera 3.1 how long until removed items are gone for good?"}'

One retrieval for a two-part question fetches documents for whichever part dominates the query,
and one answer pass picks sentences for that part. Decomposition splits the question into
self-contained sub-questions (the model writes them; a later one may say #1 for an earlier one's
answer), then runs a hop per sub-question:

    for hop i:  q_i ← sub-question i with #j replaced by answer j
                retrieve(q_i) → answer(q_i); if it does not know, retrieve again with a refined
                query (q_i + the titles earlier hops cited, then q_i's bare keywords)
                until it does or the step budget (retrievals in all) is spent
    answer    = the hops' answers, each with its own citations; "I don't know" when no hop knew

The hops' rankings are fused with RRF into one list, so ranking metrics can be computed on it.
"""

from __future__ import annotations

import re
from typing import Any

from labs.lab06_rag import hybrid
from labs.lab06_rag.answer import DONT_KNOW, answer, rag_model
from labs.lab06_rag.kb import KnowledgeBase
from shared.llm import Model

PROMPT = ("Decompose task. Split the question into the fewest self-contained sub-questions, one a line, each "
          "naming its subject. A sub-question that needs an earlier one's answer says #1, #2 ... for it. A "
          "question with one part comes back unchanged.\nQuestion: {q}")
MAX_SUBQUESTIONS = 4
_ENUM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")
_REF = re.compile(r"#(\d)")
_CITES = re.compile(r"\s*\[[^\]]+\]")


def knows(text: str) -> bool:
    low = text.lower()
    return "don't know" not in low and "do not know" not in low


def decompose(question: str, model: Model | None = None) -> list[str]:
    """The model's sub-questions (enumeration marks stripped), at most MAX_SUBQUESTIONS; the question itself
    when the reply is empty."""
    text = rag_model(model).complete(PROMPT.format(q=question)).text
    subs = [_ENUM.sub("", line).strip() for line in text.splitlines()]
    subs = [s for s in subs if s][:MAX_SUBQUESTIONS]
    return subs or [question]


def refinements(sub: str, hops: list[dict]) -> list[str]:
    """Follow-up queries for a hop that came back empty: what earlier hops found, then bare keywords."""
    titles = [s["title"] for h in hops for s in h["sources"] if s["doc_id"] in h["citations"] and s.get("title")]
    words = " ".join(w for w in re.findall(r"[A-Za-z0-9.]+", sub) if len(w) > 3 or w[0].isdigit())
    out = [f"{sub} {' '.join(dict.fromkeys(titles))}"] if titles else []
    return [q for q in [*out, words] if q.strip() and q != sub]


def multihop(kb: KnowledgeBase, question: str, model: Model | None = None, k: int = 5, budget: int = 6,
             **search: Any) -> dict[str, Any]:
    """Decompose, then one hop per sub-question with iterative retrieval; `search` goes to kb.search."""
    subs = decompose(question, model)
    hops: list[dict] = []
    rankings: list[list[str]] = []
    steps = 0
    for sub in subs:
        q = _REF.sub(lambda m: _answer_of(hops, int(m.group(1))), sub)
        queries = [q, *refinements(q, hops)]
        hop: dict[str, Any] = {"question": q, "queries": [], "answer": DONT_KNOW, "citations": [], "sources": []}
        for query in queries:
            if steps >= budget:
                break
            steps += 1
            hits = kb.search(query, k, **search)
            rankings.append([h["doc_id"] for h in hits])
            result = answer(q, hits, model)
            hop["queries"].append(query)
            hop.update(answer=result["answer"], citations=result["citations"], sources=result["sources"],
                       hits=hits)
            if knows(result["answer"]):
                break
        hops.append(hop)
    known = [h for h in hops if knows(h["answer"])]
    text = " ".join(h["answer"] for h in known) if known else DONT_KNOW
    ranked = [d for d, _ in hybrid.rrf(rankings)] if rankings else []
    hits_by_doc = {h["doc_id"]: h for hop in hops for h in hop.pop("hits", [])}
    return {"answer": text, "citations": list(dict.fromkeys(c for h in known for c in h["citations"])),
            "sub_questions": hops, "retrievals": steps, "budget": budget,
            "unanswered": [h["question"] for h in hops if not knows(h["answer"])],
            "ranked": ranked, "hits": [hits_by_doc[d] for d in ranked if d in hits_by_doc]}


def _answer_of(hops: list[dict], n: int) -> str:
    """Hop n's answer (1-based) without its citations, to stand in for #n in a later sub-question."""
    if not 1 <= n <= len(hops) or not knows(hops[n - 1]["answer"]):
        return f"#{n}"
    return _CITES.sub("", hops[n - 1]["answer"]).strip().rstrip(".")
