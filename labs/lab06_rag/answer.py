"""Answering: retrieve → (rerank) → prompt with numbered sources → model → answer with citations.

    python -m labs.lab06_rag.answer "In Tessera 3.1, how long are previous revisions kept with version history?"
    python -m labs.lab06_rag.answer --lost-in-the-middle      # accuracy by gold position, and reordered

Each source is shown as `[doc-id] title: text`; the model must cite ids in brackets. Citations are
checked against what was retrieved: an id the model invents is dropped and reported. Nothing
retrieved at all (a filter or tenant that matches no document) → "I don't know" without spending a
model call; sources that are retrieved but do not hold the answer → the model is told to say it does
not know, and the mock's `rag` answerer does so when no sentence covers the question's words.

Lost in the middle: models read the start and end of a long context better than its middle.
`reorder` puts the best-ranked sources at the two ends (1st, 3rd, 5th... from the front; 2nd,
4th... from the back), so the strongest evidence is never in the middle.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from labs.lab06_rag.corpus import load
from labs.lab06_rag.kb import KnowledgeBase
from shared.config import get_settings
from shared.llm import Model

SYSTEM = ("Answer the question using only the sources. Cite the id of every source you use in square brackets, "
          "like [kb-01-v2]. If the sources do not contain the answer, say you don't know.")
DONT_KNOW = "I don't know: nothing relevant was retrieved."
_CITE = re.compile(r"\[([A-Za-z0-9_.#:/-]{1,80})\]")


def rag_model(model: Model | None = None) -> Model:
    """The lab's answerer: the configured model, or the mock's RAG answerer when that is the mock
    (in-process `mock/...` or served over HTTP as `openai/mock/...`)."""
    return (model or Model.from_settings()).for_behaviour("rag")


def reorder(items: list[Any]) -> list[Any]:
    """Best at the ends: [1, 2, 3, 4, 5] -> [1, 3, 5, 4, 2]."""
    return items[0::2] + items[1::2][::-1]


def build_prompt(question: str, sources: list[dict]) -> str:
    lines = [f"[{s['doc_id']}] {s.get('title', '')}: {s['text']}" for s in sources]
    return "Sources:\n" + "\n".join(lines) + f"\n\nQuestion: {question}"


def answer(question: str, sources: list[dict], model: Model | None = None, reorder_sources: bool = False,
           mock: dict | None = None) -> dict[str, Any]:
    model = rag_model(model)
    if not sources:
        return {"answer": DONT_KNOW, "citations": [], "invalid_citations": [], "sources": [], "model": None}
    shown = reorder(sources) if reorder_sources else sources
    out = model.complete(build_prompt(question, shown), system=SYSTEM, mock=mock)
    retrieved = {s["doc_id"] for s in sources}
    cited = list(dict.fromkeys(_CITE.findall(out.text)))
    return {"answer": out.text, "citations": [c for c in cited if c in retrieved],
            "invalid_citations": [c for c in cited if c not in retrieved],
            "sources": [{"doc_id": s["doc_id"], "title": s.get("title"), "score": s.get("score")} for s in shown],
            "model": model.id, "usage": {"input_tokens": out.usage.input_tokens, "output_tokens": out.usage.output_tokens}}


def lost_in_the_middle(n_sources: int = 20, middle_attention: float = 0.3, model: Model | None = None) -> dict:
    """Accuracy by the gold source's position among n, then with the sources reordered best-at-ends.

    Uses the fixture's single-fact questions; distractors are the other documents of the same
    feature first (hard negatives), then others. "Ranked" order has the gold document at rank 1
    (a good retriever) before reordering, which is what the mitigation assumes."""
    docs = {d["id"]: d for d in load("corpus")}
    questions = [q for q in load("eval") if q["slice"] == "single-fact"]
    mock = {"middle_attention": middle_attention}
    by_position, ranked, reordered = {}, [], []
    for q in questions:
        gold = next(d for d, g in q["relevant"].items() if g == 2)
        topic = gold.rsplit("-v", 1)[0]
        pool = [d for d in docs if d.startswith(topic) and d != gold] + \
            [d for d in docs if not d.startswith(topic) and docs[d]["tenant"] == "public"]
        distractors = [docs[d] | {"doc_id": d} for d in pool[:n_sources - 1]]
        value = q["answer"].rsplit(" is ", 1)[1].rstrip(".")
        for pos in range(n_sources):
            srcs = distractors[:pos] + [docs[gold] | {"doc_id": gold}] + distractors[pos:]
            text = answer(q["question"], srcs, model, mock=mock)["answer"]
            by_position.setdefault(pos, []).append(value in text and gold in text)
        srcs = [docs[gold] | {"doc_id": gold}] + distractors
        ranked.append(by_position[0][-1])
        text = answer(q["question"], srcs, model, reorder_sources=True, mock=mock)["answer"]
        reordered.append(value in text and gold in text)
    curve = {pos: sum(v) / len(v) for pos, v in by_position.items()}
    middle = [curve[p] for p in range(n_sources // 4, 3 * n_sources // 4)]
    return {"n_sources": n_sources, "middle_attention": middle_attention, "questions": len(questions),
            "accuracy_by_position": curve, "accuracy_at_ends": (curve[0] + curve[n_sources - 1]) / 2,
            "accuracy_in_middle": sum(middle) / len(middle),
            "gold_in_middle_unordered": curve[n_sources // 2],
            "gold_ranked_first_reordered": sum(reordered) / len(reordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description="answer a question from the fixture knowledge base")
    parser.add_argument("question", nargs="?")
    parser.add_argument("--lost-in-the-middle", action="store_true")
    args = parser.parse_args()
    if args.lost_in_the_middle or not args.question:
        print(json.dumps(lost_in_the_middle(), indent=2))
        return
    kb = KnowledgeBase(get_settings().lab_dir("lab06") / "cli")
    if not kb.stats()["documents"]:
        kb.upsert(load("corpus"))
    print(json.dumps(answer(args.question, kb.search(args.question, 5)), indent=2))


if __name__ == "__main__":
    main()
