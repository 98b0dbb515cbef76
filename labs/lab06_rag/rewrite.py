"""Query rewriting through shared.llm: HyDE, multi-query, step-back.

    python -c "from labs.lab06_rag.rewrite import rewrite; print(rewrite('hyde', 'How long is trash kept?'))"

HyDE        embed a hypothetical answer passage instead of the question (answers look like answers)
multi-query several phrasings; each is retrieved and the rankings are fused with RRF
step-back   a more general question, retrieved alongside the original
"""

from __future__ import annotations

from shared.llm import Model

PROMPTS = {
    "hyde": "Rewrite task. Write a short hypothetical passage from a support article that answers the "
            "question.\nQuestion: {q}",
    "multi_query": "Rewrite task. Write 3 different search queries for the question, one a line.\nQuestion: {q}",
    "step_back": "Rewrite task. Write the step-back question: the more general question behind this one.\n"
                 "Question: {q}",
}


def rewrite(kind: str, question: str, model: Model | None = None) -> list[str]:
    """The queries to retrieve with (the original always first)."""
    if kind == "none":
        return [question]
    if kind not in PROMPTS:
        raise ValueError(f"unknown rewrite {kind!r}; one of none, {', '.join(PROMPTS)}")
    text = (model or Model.from_settings()).complete(PROMPTS[kind].format(q=question)).text.strip()
    extra = [line.strip() for line in text.splitlines() if line.strip()]
    if kind == "hyde":
        extra = [" ".join(extra)]
    return list(dict.fromkeys([question] + [e for e in extra if e != question][:3]))  # a repeat would count twice in RRF
