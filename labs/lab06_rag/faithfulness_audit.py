"""Does faithfulness catch made-up claims? The RAG answerer told to make some up, the judge checked against the truth.

    python -m labs.lab06_rag.faithfulness_audit        # sweeps the rate; writes the README table
    curl -s localhost:8006/faithfulness -d '{"unsupported_rate": 0.3, "limit": 10}'

The mock answerer (`mock/rag`, option `unsupported_rate` p) replaces each answering sentence with an
unsupported one with probability p (its value changed, its citation kept). The truth per claim is
whether a retrieved source states it word for word (`ragas.stated_in`: the answerer is extractive,
so anything else was made up). With "unsupported" as the positive class:

    judge recall    = |claims judged unsupported ∩ truly unsupported| / |truly unsupported|
    judge precision = |judged unsupported ∩ truly unsupported| / |judged unsupported|
    agreement       = share of claims where judge and truth agree;   Cohen's κ = (p_o − p_e) / (1 − p_e)
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from labs.lab06_rag import ragas
from labs.lab06_rag.answer import answer, rag_model
from labs.lab06_rag.corpus import load
from labs.lab06_rag.kb import KnowledgeBase, fixture_kb
from shared.config import get_settings
from shared.llm import Model

RATES = (0.0, 0.1, 0.25, 0.5)
K = 5


def kappa(judge: list[bool], truth: list[bool]) -> float | None:
    """Cohen's κ between two binary raters (None when both say one thing only: κ is undefined)."""
    a, b = np.asarray(judge, bool), np.asarray(truth, bool)
    p_o = float(np.mean(a == b))
    p_e = float(a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean()))
    return None if p_e == 1 else (p_o - p_e) / (1 - p_e)


def audit(kb: KnowledgeBase, rate: float, questions: list[dict], model: Model | None = None,
          hits: dict[str, list[dict]] | None = None) -> dict:
    """Answer each question with unsupported claims at `rate`; faithfulness by the judge and by the truth."""
    model = rag_model(model)
    judged, truth, faith_judge, faith_truth = [], [], [], []
    for q in questions:
        top = hits[q["id"]] if hits else kb.search(q["question"], K, "hybrid", tenant=q["tenant"])
        result = answer(q["question"], top, model, mock={"unsupported_rate": rate})
        shown = [f"{h.get('title', '')}: {h['text']}" for h in top]  # as the answerer read them (answer.build_prompt)
        pairs = ragas.judged_claims(result["answer"], shown, model)
        if not pairs:
            continue  # "I don't know": no claim to check
        j, t = zip(*pairs, strict=True)
        judged += j
        truth += t
        faith_judge.append(float(np.mean(j)))
        faith_truth.append(float(np.mean(t)))
    judge_flags, true_flags = [not x for x in judged], [not x for x in truth]
    caught = sum(a and b for a, b in zip(judge_flags, true_flags, strict=True))
    k = kappa(judged, truth) if judged else None
    return {"unsupported_rate": rate, "answers": len(faith_judge), "claims": len(judged),
            "truly_unsupported": sum(true_flags),
            "faithfulness_judge": round(float(np.mean(faith_judge)), 4) if faith_judge else None,
            "faithfulness_truth": round(float(np.mean(faith_truth)), 4) if faith_truth else None,
            "judge_recall": round(caught / sum(true_flags), 4) if any(true_flags) else None,
            "judge_precision": round(caught / sum(judge_flags), 4) if any(judge_flags) else None,
            "agreement": round(float(np.mean(np.equal(judged, truth))), 4) if judged else None,
            "kappa": None if k is None else round(k, 4)}


def sweep(kb: KnowledgeBase, rates=RATES, questions: list[dict] | None = None, model: Model | None = None) -> list[dict]:
    questions = questions if questions is not None else [q for q in load("eval") if q["relevant"]]
    hits = {q["id"]: kb.search(q["question"], K, "hybrid", tenant=q["tenant"]) for q in questions}  # once
    return [audit(kb, r, questions, model, hits) for r in rates]


def table(rows: list[dict]) -> str:
    cols = ["unsupported_rate", "claims", "truly_unsupported", "faithfulness_truth", "faithfulness_judge",
            "judge_recall", "judge_precision", "agreement", "kappa"]
    fmt = lambda v: "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))  # noqa: E731
    return ("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n" +
            "\n".join("| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="write the table into the lab README")
    args = parser.parse_args()
    kb = fixture_kb(get_settings().lab_dir("lab06") / "eval")
    rows = sweep(kb)
    print(json.dumps(rows, indent=2))
    print(table(rows))
    if args.readme:
        from labs.lab06_rag.evaluate import readme_block  # the README writer lives with the eval

        readme_block("faithfulness", table(rows))


if __name__ == "__main__":
    main()
