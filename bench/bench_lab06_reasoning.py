"""Multi-hop and freshness strategies on the fixture eval set, measured by the lab's own eval.

    .venv/bin/python bench/bench_lab06_reasoning.py          # ~4 minutes on 2 cores (embeddings cached after)

Every strategy of labs/lab06_rag/evaluate.py (single retrieval, decomposition with iterative
retrieval, agentic RAG, recency-aware ranking, version-aware answering) over all questions with the
hybrid configuration: answer_ok and ndcg@5 per slice, and retrievals per question. Then GraphRAG
against plain retrieval on global questions (graphrag.py). Writes bench/results/lab06_reasoning.json,
bench/results/lab06_graphrag.json and the tables between the `reasoning` and `graphrag` markers in
labs/lab06_rag/README.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from labs.lab06_rag import graphrag
from labs.lab06_rag.corpus import load
from labs.lab06_rag.evaluate import STRATEGIES, evaluate, readme_block
from labs.lab06_rag.kb import fixture_kb
from shared.config import get_settings

OUT = Path(__file__).resolve().parent / "results"
CONFIG = "hybrid"


def table(rows: dict[str, dict], metric: str, slices: list[str]) -> str:
    head = f"| {metric} ({CONFIG}) | " + " | ".join(slices) + " | all |\n|" + "---|" * (len(slices) + 2) + "\n"
    return head + "\n".join(
        f"| {name} | " + " | ".join(f"{r['slices'][s].get(metric, float('nan')):.3f}" for s in slices) +
        f" | {r['overall'].get(metric, float('nan')):.3f} |" for name, r in rows.items())


def main() -> None:
    kb = fixture_kb(get_settings().lab_dir("lab06") / "eval")
    questions = load("eval")
    rows = {}
    calls = {"n": 0}
    search = kb.search

    def counted(*a, **kw):
        calls["n"] += 1
        return search(*a, **kw)

    kb.search = counted  # count retrievals per question without touching the strategies
    for strategy in STRATEGIES:
        calls["n"] = 0
        t = time.perf_counter()
        rows[strategy] = evaluate(kb, CONFIG, questions, strategy=strategy, progress=lambda *_: None)
        rows[strategy]["seconds"] = round(time.perf_counter() - t, 1)
        rows[strategy]["retrievals_per_question"] = round(calls["n"] / len(questions), 2)
        print(strategy, json.dumps(rows[strategy]["slices"]))
    slices = sorted(next(iter(rows.values()))["slices"])
    OUT.mkdir(exist_ok=True)
    (OUT / "lab06_reasoning.json").write_text(json.dumps({"config": CONFIG, "questions": len(questions),
                                                          "strategies": rows}, indent=2) + "\n")
    cost = "| strategy | " + " | ".join(rows) + " |\n|---|" + "---|" * len(rows) + "\n| retrievals per question | " + \
        " | ".join(f"{r['retrievals_per_question']:.2f}" for r in rows.values()) + " |"
    body = table(rows, "answer_ok", slices) + "\n\n" + table(rows, "ndcg@5", slices) + "\n\n" + cost
    readme_block("reasoning", body)
    print(body)
    graph_md = graph_comparison(kb)
    readme_block("graphrag", graph_md)
    print(graph_md)


def graph_comparison(kb) -> str:
    """GraphRAG (community summaries, map-reduce) vs plain hybrid retrieval on the global questions."""
    t = time.perf_counter()
    graph = graphrag.build(load("corpus"))
    build_s = time.perf_counter() - t
    result = graphrag.compare(kb, graph)
    result["build_seconds"] = round(build_s, 1)
    (OUT / "lab06_graphrag.json").write_text(json.dumps(result, indent=2) + "\n")
    methods = list(result["mean"])
    head = "| global question (features in the answer) | " + " | ".join(methods) + " |\n|---|" + \
        "---|" * len(methods) + "\n"
    cell = "recall {recall:.2f} · precision {precision:.2f}"
    lines = [f"| {r['question']} ({r['features']}) | " + " | ".join(cell.format(**r[m]) for m in methods) + " |"
             for r in result["questions"]]
    lines.append("| **mean** | " + " | ".join(cell.format(**result["mean"][m]) for m in methods) + " |")
    g = result["graph"]
    return head + "\n".join(lines) + (f"\n\nGraph: {g['entities']} entities, {g['relations']} relations, "
                                      f"{g['communities']} communities (modularity {g['modularity']:.2f}), "
                                      f"built in {build_s:.1f} s.")


if __name__ == "__main__":
    main()
