"""LLM-as-judge through shared.llm: single grade with a rubric of criteria, pairwise with order swap,
reference-guided; its biases measured, each mitigation's effect shown, and calibration to humans (κ).

    python -m labs.lab08_eval.judge            # the bias table for a judge with position/length/self bias

Prompt format (what the mock's `judge` behaviour parses, and what a real judge reads well):
instructions first, then `## Question`, `## Reference answer` (reference-guided), `## Response` or
`## Response A` / `## Response B`, and `## Rubric` with one `- criterion [keywords: ...]: description`
per line. The judge replies with JSON.

Mitigations
  order swap      judge (A, B) and (B, A); a win counts only if both orders agree, otherwise a tie
  length control  judge equal-length prefixes: both answers cut to the shorter one's word count
  style control   strip formatting markers (bold, "Answer:" lines) so no answer looks like the judge's own
  redundancy      drop every sentence that adds no content word the answer has not said already,
    control       so a restated, hedged answer is judged on what it says, not on how often it says it
Length vs verbosity: length bias rewards sheer size even against correctness (a long wrong answer beats a
  short right one); verbosity bias prefers the wordier of two answers that say the same thing (restating,
  hedging). Truncating to equal length fixes the first; the second needs the repetition removed (truncation
  could cut a verbose answer's one fact if it came last), so the two are measured and mitigated apart.
Calibration       κ between judge grades and human grades on fixtures/lab08/judge_calibration.jsonl:
                  quadratic-weighted on 1..5 and plain on pass (≥ 4) / fail; trust the judge if κ ≥ 0.6
                  (each κ carries its Landis–Koch label: 0.61–0.80 "substantial", above "almost perfect")
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from labs.lab08_eval import stats
from labs.lab08_eval.datasets import FIXTURES, load
from shared import llm

JUDGE_MODEL = "mock/judge"
SYSTEM = "You are a strict, impartial evaluator. Judge only what the rubric asks for."
RUBRIC = [("correctness", [], "states the same answer as the reference"),
          ("relevance", [], "answers the question that was asked")]
KAPPA_BAR = 0.6

Call = Callable[[str, dict[str, Any]], Awaitable[str]]


def single_prompt(question: str, response: str, reference: str | None = None,
                  criteria: list[tuple[str, list[str], str]] = RUBRIC) -> str:
    lines = ["Grade the response. Score each rubric criterion from 1 (fails) to 5 (fully meets), then give an "
             "overall score from 1 to 5. Reply with JSON only: "
             '{"criteria": {"<criterion>": <1-5>, ...}, "score": <1-5>, "reasoning": "<one sentence>"}',
             "", "## Question", question]
    if reference:
        lines += ["## Reference answer", reference]
    lines += ["## Response", response, "## Rubric"]
    for name, keywords, description in criteria:
        keys = f" [keywords: {', '.join(keywords)}]" if keywords else ""
        lines.append(f"- {name}{keys}: {description}")
    return "\n".join(lines)


def pairwise_prompt(question: str, a: str, b: str, reference: str | None = None) -> str:
    lines = ["Compare the two responses to the question. Do not let the order, the length or the style of the "
             "responses influence you. Reply with JSON only: "
             '{"winner": "A" | "B" | "tie", "reasoning": "<one sentence>"}', "", "## Question", question]
    if reference:
        lines += ["## Reference answer", reference]
    lines += ["## Response A", a, "## Response B", b]
    return "\n".join(lines)


def parse_reply(text: str | None) -> dict[str, Any]:
    """The first JSON object in the judge's reply (judges wrap JSON in prose and fences)."""
    match = re.search(r"\{.*\}", text or "", re.DOTALL)
    if not match:
        raise ValueError(f"the judge reply has no JSON object: {(text or '')[:120]!r}")
    return json.loads(match.group(0))


def llm_call(model: llm.Model | None = None) -> Call:
    """A judge call through the model handle (temperature 0, seeded: a judge should be repeatable).

    Without a handle, the mock judge (`mock/judge`) with the environment's settings (the CLI, tests)."""
    handle = model or llm.Model.from_settings(model=JUDGE_MODEL)

    async def call(prompt: str, mock: dict[str, Any]) -> str:
        completion = await handle.acomplete(prompt, system=SYSTEM, temperature=0, seed=int(mock.get("seed", 0)),
                                            mock=mock)
        return completion.text or ""

    return call


async def grade(call: Call, question: str, response: str, reference: str | None, mock: dict[str, Any]) -> dict:
    reply = parse_reply(await call(single_prompt(question, response, reference), mock))
    score = int(reply["score"])
    return {"score": score, "criteria": reply.get("criteria", {}), "normalized": (score - 1) / 4}


async def compare_pair(call: Call, question: str, a: str, b: str, reference: str | None, mock: dict[str, Any],
                       swap: bool) -> str:
    """'A', 'B' or 'tie'; with swap, a win must survive showing the answers the other way round."""
    first = parse_reply(await call(pairwise_prompt(question, a, b, reference), mock))["winner"]
    if not swap:
        return first
    second = parse_reply(await call(pairwise_prompt(question, b, a, reference), mock))["winner"]
    flipped = {"A": "B", "B": "A"}.get(second, "tie")
    return first if first == flipped else "tie"


def strip_style(text: str) -> str:
    text = text.replace("**", "")
    return re.sub(r"^[ \t]*answer:[ \t]*", "", text, flags=re.IGNORECASE | re.MULTILINE)


_WORD = re.compile(r"[a-z0-9]+")
_FILLER = {"the", "a", "an", "of", "to", "in", "and", "or", "is", "are", "was", "it", "its", "for", "on", "at",
           "by", "with", "as", "be", "this", "that", "i", "so", "we", "you"}
# discourse markers: words that announce a restatement or a hedge and carry no fact of their own
_MARKERS = {"other", "words", "restate", "restated", "plainly", "clear", "simply", "again", "short", "summary",
            "sum", "basically", "essentially", "indeed", "course", "said", "put", "say", "note", "fact"}


def strip_redundancy(text: str) -> str:
    """Keep the first sentence, and later ones only if they add a content word the answer has not used."""
    seen: set[str] = set()
    kept = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text.strip()):
        words = {w for w in _WORD.findall(sentence.lower()) if w not in _FILLER and w not in _MARKERS}
        if not sentence.strip() or (kept and not words - seen):
            continue
        kept.append(sentence.strip())
        seen |= words
    return " ".join(kept)


def verbose(reference: str, answer: str) -> str:
    """The same content as `reference`, restated and hedged: more words, nothing new."""
    return (f"{reference} To restate it plainly: {reference} In other words, {answer}. "
            f"So, to be clear, {reference[0].lower()}{reference[1:]}")


def equal_length(a: str, b: str) -> tuple[str, str]:
    n = min(len(a.split()), len(b.split()))
    return " ".join(a.split()[:n]), " ".join(b.split()[:n])


@dataclass
class Pair:
    question: str
    a: str
    b: str
    better: str  # "A", "B" or "tie" (the truth)
    reference: str | None = None


def bias_pairs() -> dict[str, list[Pair]]:
    """Pairs built from the QA set where the truth is known by construction."""
    items = load("qa").items
    items = sorted(items, key=lambda i: (int(i["id"].rsplit("-", 1)[1]), i["id"]))  # slices interleaved
    peers = {i["id"]: items[(n + 7) % len(items)] for n, i in enumerate(items)}
    pad = (" This is well established, I have checked it against several sources, and it is the complete and "
           "precise answer to the question as it was asked, with nothing important left out.")
    out: dict[str, list[Pair]] = {"position": [], "length": [], "self": [], "verbosity": []}
    for it in items:
        ref, ans, q = it["reference"], it["answer"], it["input"]
        wrong = ref.replace(ans, peers[it["id"]]["answer"])
        out["position"].append(Pair(q, ref, ref, "tie", ref))  # identical: any preference is the position
        out["length"].append(Pair(q, f"{ans}.", wrong + pad, "A", ref))
        out["self"].append(Pair(q, f"{ref}\n\n**Answer:** {ans}", f"{ref}\n\nAnswer: {ans}", "tie", ref))
        out["verbosity"].append(Pair(q, ref, verbose(ref, ans), "tie", ref))  # the same facts, said thrice
    return out


@dataclass
class BiasReport:
    options: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)


async def measure_biases(call: Call, options: dict[str, Any], limit: int | None = None,
                         concurrency: int = 16) -> BiasReport:
    """Each bias's symptom before and after its mitigation, on pairs whose truth is known.

    position: identical answers; an unbiased judge calls a tie, a biased one picks the first shown.
    length:   a short right answer vs a long wrong one; how often the long wrong one wins.
    self:     the same answer in the judge's house style vs plain; how often the house style wins.
    verbosity: the same answer concise vs restated; how often the wordier one wins (truth: a tie).
    """
    pairs = {k: v[:limit] for k, v in bias_pairs().items()}
    sem = asyncio.Semaphore(concurrency)

    async def judged(p: Pair, transform: Callable[[str, str], tuple[str, str]], swap: bool, seed: int) -> str:
        a, b = transform(p.a, p.b)
        async with sem:
            return await compare_pair(call, p.question, a, b, p.reference, {**options, "seed": seed}, swap)

    def same(a: str, b: str) -> tuple[str, str]:
        return a, b

    async def rate(kind: str, transform, swap: bool, wins: str) -> float:
        got = await asyncio.gather(*(judged(p, transform, swap, i) for i, p in enumerate(pairs[kind])))
        return sum(w == wins for w in got) / len(got)

    report = BiasReport(options=options)
    rows = [
        ("position", "first shown wins (equal answers)", rate("position", same, False, "A"),
         "order swap", rate("position", same, True, "A")),
        ("length", "long wrong beats short right", rate("length", same, False, "B"),
         "length control", rate("length", equal_length, False, "B")),
        ("self_preference", "own style wins (equal answers)", rate("self", same, True, "A"),
         "style control", rate("self", lambda a, b: (strip_style(a), strip_style(b)), True, "A")),
        ("verbosity", "wordier wins (same content)", rate("verbosity", same, True, "B"),
         "redundancy control", rate("verbosity", lambda a, b: (strip_redundancy(a), strip_redundancy(b)), True, "B")),
    ]
    for bias, symptom, before, mitigation, after in rows:
        b, a = await before, await after
        report.rows.append({"bias": bias, "symptom": symptom, "before": round(b, 4), "mitigation": mitigation,
                            "after": round(a, 4), "n": len(pairs["position"])})
    return report


async def calibrate(call: Call, options: dict[str, Any], concurrency: int = 16) -> dict[str, Any]:
    """Judge every calibration response; κ against the human grades, and whether it clears 0.6."""
    rows = [json.loads(line) for line in (FIXTURES / "judge_calibration.jsonl").read_text().splitlines() if line]
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int, row: dict) -> int:
        async with sem:
            g = await grade(call, row["question"], row["response"], row["reference"], {**options, "seed": i})
            return g["score"]

    judge = await asyncio.gather(*(one(i, r) for i, r in enumerate(rows)))
    human = [r["human"] for r in rows]
    kappa_w = stats.cohen_kappa(human, judge, weights="quadratic", labels=[1, 2, 3, 4, 5])
    kappa_pass = stats.cohen_kappa([h >= 4 for h in human], [j >= 4 for j in judge], labels=[False, True])
    by_kind: dict[str, list[int]] = {}
    for r, j in zip(rows, judge, strict=True):
        by_kind.setdefault(r["kind"], []).append(j)
    return {"n": len(rows), "options": options, "kappa_quadratic": round(kappa_w, 4),
            "kappa_pass_fail": round(kappa_pass, 4), "clears_0.6": kappa_pass >= KAPPA_BAR and kappa_w >= KAPPA_BAR,
            "landis_koch": {"kappa_quadratic": stats.landis_koch(kappa_w),
                            "kappa_pass_fail": stats.landis_koch(kappa_pass)},
            "mean_judge_score_by_kind": {k: round(sum(v) / len(v), 2) for k, v in sorted(by_kind.items())}}


def main() -> None:
    biased = {"position_bias": 0.7, "length_bias": 0.8, "self_preference": 0.3}
    for options in ({}, biased):
        report = asyncio.run(measure_biases(llm_call(), options))
        print(f"judge options {options or '(unbiased)'}")
        print(f"  {'bias':16} {'symptom':34} {'before':>7}   {'mitigation':15} {'after':>6}")
        for r in report.rows:
            print(f"  {r['bias']:16} {r['symptom']:34} {r['before']:7.2f}   {r['mitigation']:15} {r['after']:6.2f}")
        cal = asyncio.run(calibrate(llm_call(), options))
        print(f"  calibration: κ_w={cal['kappa_quadratic']:.2f} ({cal['landis_koch']['kappa_quadratic']}) "
              f"κ_pass={cal['kappa_pass_fail']:.2f} ({cal['landis_koch']['kappa_pass_fail']}) "
              f"clears 0.6: {cal['clears_0.6']}")


if __name__ == "__main__":
    sys.exit(main())
