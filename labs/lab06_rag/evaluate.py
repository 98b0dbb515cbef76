"""The eval set over a named retrieval configuration: ranking metrics and RAGAS-style answer metrics per slice.

    python -m labs.lab06_rag.evaluate --config hybrid
    python -m bench.bench_lab06_quality            # every configuration; writes the README table

Ranking metrics count documents (a document's chunks collapse to its first rank) at k = 5 and skip the
unanswerable slice. `answer_ok`: an answerable question's answer contains every value of its
reference, with a citation; an unanswerable one's answer says it does not know.

`strategy` changes how each question is retrieved and answered: "single" (one retrieval, one answer),
"decompose" (sub-questions, iterative retrieval: decompose.py), "agentic" (search as a tool in a loop:
agentic.py), "recency" / "version" (freshness.py; "version_all" also rewrites questions that do not
ask about now, to show what that costs). `python -m bench.bench_lab06_reasoning` compares them.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from labs.lab06_rag import freshness, ragas
from labs.lab06_rag.agentic import agentic
from labs.lab06_rag.answer import answer, rag_model
from labs.lab06_rag.corpus import load
from labs.lab06_rag.decompose import multihop
from labs.lab06_rag.dense import Embedder
from labs.lab06_rag.kb import KnowledgeBase, fixture_kb
from labs.lab06_rag.metrics import ranking_metrics
from labs.lab06_rag.rerank import load_reranker
from shared.config import get_settings
from shared.llm import Model

CONFIGS = {
    "bm25": {"mode": "bm25"},
    "dense": {"mode": "dense"},
    "hybrid": {"mode": "hybrid"},
    "hybrid+rerank": {"mode": "hybrid", "rerank": True},
    "bm25+contextual": {"mode": "bm25", "contextual": True},
    "hybrid+contextual": {"mode": "hybrid", "contextual": True},
    "hybrid+contextual+rerank": {"mode": "hybrid", "contextual": True, "rerank": True},
}
K = 5
STRATEGIES = ("single", "decompose", "agentic", "recency", "version", "version_all")  # how a question is retrieved and answered


def run_strategy(kb: KnowledgeBase, q: dict, spec: dict, strategy: str, model: Model) -> tuple[list[dict], dict]:
    """(hits, answer result) for a question by a multi-hop or freshness strategy (not "single")."""
    search = {"mode": spec["mode"], "tenant": q["tenant"], "rerank": spec.get("rerank", False)}
    if strategy == "decompose":
        result = multihop(kb, q["question"], model, k=K, **search)
        return result["hits"], result
    if strategy == "agentic":
        result = agentic(kb, q["question"], model, k=K, **search)
        return result["hits"], result
    policy, rewrite_all = ("version", True) if strategy == "version_all" else (strategy, False)
    hits, how = freshness.search(kb, q["question"], policy, K * 2, rewrite_all=rewrite_all, **search)
    return hits, answer(how["freshness"].get("query", q["question"]), hits[:K], model)


def values_of(reference: str) -> list[str]:
    """The facts an answer must state: each sentence's plan name, or what follows its last " is "."""
    out = []
    for sentence in ragas.statements(reference):
        plan = re.search(r"from the (\w+) plan", sentence)
        out.append(plan.group(1) if plan else sentence.rsplit(" is ", 1)[-1].rstrip("."))
    return out


def answer_ok(q: dict, result: dict) -> bool:
    text = result["answer"]
    if q["slice"] == "unanswerable":
        return "don't know" in text.lower()
    return bool(result["citations"]) and all(v in text for v in values_of(q["answer"]))


def evaluate(kb: KnowledgeBase, config: str, questions: list[dict] | None = None, with_answers: bool = True,
             embed=None, model: Model | None = None, progress=None, strategy: str = "single") -> dict:
    if config not in CONFIGS or strategy not in STRATEGIES:
        raise KeyError(config if config not in CONFIGS else strategy)
    spec = CONFIGS[config]
    questions = questions if questions is not None else load("eval")
    model = rag_model(model)
    rows = []
    for i, q in enumerate(tqdm(questions, desc=config, disable=progress is not None, leave=False)):
        hits, result = (kb.search(q["question"], K * 2, spec["mode"], tenant=q["tenant"],
                                  rerank=spec.get("rerank", False)), None) if strategy == "single" else \
            run_strategy(kb, q, spec, strategy, model)
        ranked = list(dict.fromkeys(h["doc_id"] for h in hits))
        row = {"id": q["id"], "slice": q["slice"]}
        if q["relevant"]:
            row.update(ranking_metrics(ranked, q["relevant"], K))
        if with_answers:
            top = hits[:K]
            result = result or answer(q["question"], top, model)
            contexts = [h["text"] for h in top]
            row["answer_ok"] = float(answer_ok(q, result))
            row["faithfulness"] = ragas.faithfulness(result["answer"], contexts, model)
            if embed is not None and q["relevant"]:
                row["answer_relevancy"] = ragas.answer_relevancy(q["question"], result["answer"], embed, model)
            if q["relevant"]:
                row["context_precision"] = ragas.context_precision(contexts, q["answer"], model)
                row["context_recall"] = ragas.context_recall(contexts, q["answer"], model)
        rows.append(row)
        if progress:
            progress(i + 1, len(questions), q["id"])
    return {"config": config, "strategy": strategy, "k": K, "questions": len(rows), "slices": summarise(rows), "overall": summarise(
        [r | {"slice": "all"} for r in rows])["all"]}


README = Path(__file__).resolve().parent / "README.md"


def readme_block(name: str, body: str) -> None:
    """Replace the text between `<!-- name:start -->` and `<!-- name:end -->` in this lab's README."""
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
    README.write_text(pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), README.read_text()))


def summarise(rows: list[dict]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in sorted({r["slice"] for r in rows}):
        mine = [r for r in rows if r["slice"] == name]
        keys = sorted({k for r in mine for k in r} - {"id", "slice"})
        out[name] = {"n": len(mine)}
        for key in keys:
            vals = [r[key] for r in mine if r.get(key) is not None]
            if vals:
                out[name][key] = round(float(np.mean(vals)), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="run the lab-06 eval set over one configuration")
    parser.add_argument("--config", default="hybrid", choices=sorted(CONFIGS))
    parser.add_argument("--strategy", default="single", choices=STRATEGIES)
    args = parser.parse_args()
    folder = get_settings().lab_dir("lab06") / "eval"
    spec = CONFIGS[args.config]
    reranker = load_reranker(get_settings().lab_dir("lab06"), train_if_missing=True) if spec.get("rerank") else None
    kb = fixture_kb(folder, spec.get("contextual", False), reranker)
    embed = Embedder(folder / "embeddings.sqlite").embed
    print(json.dumps(evaluate(kb, args.config, embed=embed, strategy=args.strategy), indent=2))


if __name__ == "__main__":
    main()
