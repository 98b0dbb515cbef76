"""The summarization stack: a rubric decomposed into per-criterion checks, each scored by code where code
can and by the judge where it must, and each criterion's agreement with known labels.

    curl -s localhost:8008/tasks/summarization -H 'content-type: application/json' -d '{}'
    python -m labs.lab08_eval.summarization     # the agreement table on the fixture

A single "rate this summary 1-5" hides which defect cost the points; the decomposed rubric asks one
question per criterion. For a summary S of a source D with key points p_1..p_m of weights w_j:

    coverage      Σ_j w_j·[every keyword stem of p_j appears in S] / Σ_j w_j       (code)
    faithfulness  share of S's sentences the judge finds supported by D              (judge, per sentence)
    concision     min(1, budget / words(S)) · (1 − share of S's sentences that add no new content word)   (code)
    overall       0.4·coverage + 0.4·faithfulness + 0.2·concision
    pass          coverage ≥ 0.8, faithfulness = 1 (one unsupported claim fails it), concision ≥ 0.8,
                  overall ≥ 0.85
    gated         passes only if each of the three criteria passes (compared with the same "overall" label)

Weighting the key points makes wrong focus visible: a summary of side details and minor points covers
points, just not the ones that matter. Faithfulness is asked of the judge one sentence at a time, a
claim-sized question it answers far better than "is this summary faithful?". The mock judge's signal is
lexical: given the sentence as the reference and the source as the response, it scores the share of the
sentence's content words the source contains, so a faithful paraphrase in new words reads as unsupported
(a real judge is what this slot is for). A weighted mean lets two strong criteria carry a failing one (an
omission still scores 0.89 overall), which is why the gate is per criterion. Agreement with the fixture's labels is Cohen's κ per criterion
(pass/fail; faithfulness also per sentence), each with its Landis–Koch label.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from labs.lab08_eval import judge, stats
from labs.lab08_eval.datasets import FIXTURES, read_jsonl

WEIGHTS = {"coverage": 0.4, "faithfulness": 0.4, "concision": 0.2}
PASS = {"coverage": 0.8, "faithfulness": 1.0, "concision": 0.8, "overall": 0.85}
SUPPORTED = 4  # a judge grade (1-5) at or above this counts the sentence as supported
CRITERIA = ("coverage", "faithfulness", "concision", "overall")
LABEL_OF = {"gated": "overall"}  # the gate is checked against the fixture's overall label
QUESTION = "Does the source state every claim of the sentence given as the reference?"
FAITHFUL = [("supported", [], "every claim of the reference sentence is stated in the source")]
_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


def load() -> list[dict]:
    return read_jsonl(FIXTURES / "summaries.jsonl")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]


def coverage(summary: str, key_points: list[dict]) -> tuple[float, list[bool]]:
    """Weighted share of key points whose keyword stems all start a word of the summary (stems absorb inflection)."""
    tokens = _WORD.findall(summary.lower())
    covered = [all(any(t.startswith(k.lower()) for t in tokens) for k in p["keywords"]) for p in key_points]
    total = sum(p["weight"] for p in key_points)
    return sum(p["weight"] for p, c in zip(key_points, covered, strict=True) if c) / total, covered


def concision(summary: str, budget_words: int) -> dict[str, float]:
    """Length against the budget, times the share of sentences that say something new (judge.strip_redundancy)."""
    n_words = len(summary.split())
    parts = sentences(summary)
    kept = sentences(judge.strip_redundancy(summary))
    redundant = 1 - len(kept) / len(parts) if parts else 0.0
    return {"score": min(1.0, budget_words / max(n_words, 1)) * (1 - redundant), "words": n_words,
            "redundant_share": redundant}


async def supported(call: judge.Call, source: str, sentence: str, mock: dict[str, Any]) -> int:
    """The judge's 1-5 grade of how fully the source supports one summary sentence."""
    reply = judge.parse_reply(await call(judge.single_prompt(QUESTION, source, sentence, FAITHFUL), mock))
    return int(reply["score"])


async def score(call: judge.Call, item: dict, mock: dict[str, Any], sem: asyncio.Semaphore) -> dict[str, Any]:
    """Every criterion of one summary, with what decided it."""
    cov, covered = coverage(item["summary"], item["key_points"])
    con = concision(item["summary"], item["budget_words"])

    async def grade(i: int, s: str) -> int:
        async with sem:
            return await supported(call, item["input"], s, {**mock, "seed": int(mock.get("seed", 0)) + i})

    grades = await asyncio.gather(*(grade(i, s) for i, s in enumerate(sentences(item["summary"]))))
    per_sentence = [g >= SUPPORTED for g in grades]
    faith = sum(per_sentence) / len(per_sentence)
    scores = {"coverage": cov, "faithfulness": faith, "concision": con["score"]}
    scores["overall"] = sum(WEIGHTS[k] * scores[k] for k in WEIGHTS)
    return {"id": item["id"], "kind": item["kind"], "scores": {k: round(v, 4) for k, v in scores.items()},
            "pass": {k: scores[k] >= PASS[k] for k in CRITERIA} | {"gated": all(scores[k] >= PASS[k] for k in WEIGHTS)},
            "labels": item["labels"],
            "key_points_covered": covered, "words": con["words"], "redundant_share": round(con["redundant_share"], 4),
            "sentence_grades": grades, "sentence_supported": per_sentence,
            "sentence_labels": item["sentence_supported"]}


def agreement(truth: list[bool], got: list[bool]) -> dict[str, Any]:
    kappa = stats.cohen_kappa(truth, got, labels=[False, True])
    return {"n": len(truth), "accuracy": round(sum(t == g for t, g in zip(truth, got, strict=True)) / len(truth), 4),
            "kappa": round(kappa, 4), "landis_koch": stats.landis_koch(kappa)}


async def evaluate(call: judge.Call, mock: dict[str, Any] | None = None, limit: int | None = None,
                   concurrency: int = 16) -> dict[str, Any]:
    """Score every fixture summary; each criterion's mean per defect kind and its κ against the labels."""
    mock = mock or {}
    sem = asyncio.Semaphore(concurrency)
    rows = await asyncio.gather(*(score(call, item, mock, sem) for item in load()[:limit]))
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        sub = [r for r in rows if r["kind"] == kind]
        by_kind[kind] = {k: round(sum(r["scores"][k] for r in sub) / len(sub), 3) for k in CRITERIA} | {"n": len(sub)}
    per_criterion = {k: agreement([r["labels"][LABEL_OF.get(k, k)] for r in rows], [r["pass"][k] for r in rows])
                     for k in (*CRITERIA, "gated")}
    per_criterion["faithfulness_per_sentence"] = agreement(
        [t for r in rows for t in r["sentence_labels"]], [g for r in rows for g in r["sentence_supported"]])
    return {"n": len(rows), "weights": WEIGHTS, "pass_at": PASS, "judge_options": mock, "by_kind": by_kind,
            "agreement": per_criterion, "rows": rows}


def main() -> None:
    for options in ({}, {"noise": 0.3}):
        out = asyncio.run(evaluate(judge.llm_call(), options))
        print(f"judge options {options or '(default)'}: {out['n']} summaries")
        print(f"  {'kind':12} " + " ".join(f"{k:>12}" for k in CRITERIA))
        for kind, s in out["by_kind"].items():
            print(f"  {kind:12} " + " ".join(f"{s[k]:12.3f}" for k in CRITERIA))
        for name, a in out["agreement"].items():
            print(f"  agreement {name:26} n={a['n']:3}  accuracy {a['accuracy']:.3f}  κ {a['kappa']:+.3f} "
                  f"({a['landis_koch']})")


if __name__ == "__main__":
    main()
