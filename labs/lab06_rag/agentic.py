"""Agentic RAG: retrieval as a tool the model calls in a loop, under a step budget.

    curl -s localhost:8006/answer/multihop -d '{"query": "...", "strategy": "agentic", "max_steps": 4}'

Each turn the model sees the question, the searches it has made and what they returned, and
replies with one JSON action:

    {"action": "search", "query": "..."}       → top k chunks appended to the observations
    {"action": "finish", "answer": "... [id]"}  → done

The loop, not the model, owns the budget: at most `max_steps` searches; the turn after the last one
says "Steps left: 0", and if the model still does not finish, the plain answerer answers from what
was gathered (stopped = "budget"). A reply that is not a valid action costs a step (stopped =
"invalid" after two in a row). Citations are checked against the observations, as in /answer.
Observations are capped (the newest MAX_OBSERVATIONS distinct chunks) so the prompt stays bounded.
"""

from __future__ import annotations

import json
import re
from typing import Any

from labs.lab06_rag import hybrid
from labs.lab06_rag.answer import DONT_KNOW, answer, rag_model
from labs.lab06_rag.kb import KnowledgeBase
from shared.llm import Model

PROMPT = ("Agent task. Answer the question by searching the knowledge base. Reply with one JSON object and "
          "nothing else: {{\"action\": \"search\", \"query\": \"...\"}} to search, or {{\"action\": \"finish\", "
          "\"answer\": \"...\"}} once the observations answer every part of the question (cite each source you "
          "use as [id]; say you don't know if they never will).\nSteps left: {left}\nQuestion: {q}\n"
          "Searches so far:\n{searches}\nObservations:\n{observations}")
MAX_OBSERVATIONS = 15
_CITE = re.compile(r"\[([A-Za-z0-9_.#:/-]{1,80})\]")


def parse_action(text: str) -> dict[str, str] | None:
    """The first JSON object in the reply, if it is a well-formed search or finish action."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    try:
        action = json.loads(match.group(0)) if match else None
    except json.JSONDecodeError:
        return None
    if not isinstance(action, dict):
        return None
    if action.get("action") == "search" and isinstance(action.get("query"), str) and action["query"].strip():
        return {"action": "search", "query": action["query"].strip()[:500]}
    if action.get("action") == "finish" and isinstance(action.get("answer"), str):
        return {"action": "finish", "answer": action["answer"]}
    return None


def prompt(question: str, left: int, searches: list[str], observed: dict[str, dict]) -> str:
    lines = [f"[{h['doc_id']}] {h.get('title', '')}: {h['text']}" for h in list(observed.values())[-MAX_OBSERVATIONS:]]
    return PROMPT.format(left=left, q=question, searches="\n".join(f"- {s}" for s in searches) or "(none)",
                         observations="\n".join(lines) or "(none)")


def agentic(kb: KnowledgeBase, question: str, model: Model | None = None, k: int = 3, max_steps: int = 4,
            **search: Any) -> dict[str, Any]:
    """Run the loop; `search` goes to kb.search (mode, tenant, filters, rerank ...)."""
    rag = rag_model(model)
    observed: dict[str, dict] = {}
    searches: list[str] = []
    rankings: list[list[str]] = []
    trace: list[dict[str, Any]] = []
    text, stopped, invalid = None, "budget", 0
    while True:
        left = max_steps - len(searches)
        action = parse_action(rag.complete(prompt(question, left, searches, observed)).text)
        if action is None:
            invalid += 1
            trace.append({"step": len(trace) + 1, "action": "invalid"})
            if invalid == 2 or left <= 0:
                stopped = "invalid"
                break
            continue
        invalid = 0
        if action["action"] == "finish":
            text, stopped = action["answer"], "finished"
            trace.append({"step": len(trace) + 1, "action": "finish"})
            break
        if left <= 0:
            break
        hits = kb.search(action["query"], k, **search)
        searches.append(action["query"])
        rankings.append([h["doc_id"] for h in hits])
        for h in hits:
            observed.pop(h["doc_id"], None)
            observed[h["doc_id"]] = h  # re-seen moves to the end: the newest stay within the cap
        trace.append({"step": len(trace) + 1, "action": "search", "query": action["query"],
                      "found": [h["doc_id"] for h in hits]})
    if text is None:  # the budget (or the model's replies) ran out: answer from what was gathered
        result = answer(question, list(observed.values()), model) if observed else {"answer": DONT_KNOW}
        text = result["answer"]
    cited = list(dict.fromkeys(_CITE.findall(text)))
    ranked = [d for d, _ in hybrid.rrf(rankings)] if rankings else []
    return {"answer": text, "citations": [c for c in cited if c in observed],
            "invalid_citations": [c for c in cited if c not in observed], "trace": trace,
            "searches": len(searches), "max_steps": max_steps, "stopped": stopped, "ranked": ranked,
            "hits": [observed[d] for d in ranked if d in observed]}
