"""`judge`: an LLM-as-judge with a real quality signal and tunable, measurable biases.

    python -c "from shared import llm; print(llm.complete('## Question\\nCapital of France?\\n\
## Reference answer\\nParis\\n## Response\\nIt is Paris.\\n## Rubric\\n- correctness: agrees with the \
reference\\nReply with JSON only.', model='mock/judge').text)"

The prompt it reads is what a real judge prompt looks like: markdown sections
`## Question`, optional `## Reference answer`, then either `## Response` (single grading, with an
optional `## Rubric` of `- name: description` lines, where `[keywords: a, b]` lists what the
criterion needs) or `## Response A` and `## Response B` (pairwise). It answers JSON:
single   {"criteria": {"<name>": 1-5, ...}, "score": 1-5, "reasoning": "..."}
pairwise {"winner": "A" | "B" | "tie", "reasoning": "..."}

Its "true" quality q ∈ [0, 1] of a response is real: the share of the reference's content words that
the question does not already give away ("Lima" for "capital of Peru?") found in the response
(reference-guided), the share of a criterion's keywords it covers, or, with neither, its overlap
with the question. A score is 1 + 4·q', where q' adds the biases and a little noise:

    q' = q + length_bias·tanh(words / 80) + self_preference·[own style] + N(0, noise)
pairwise: d = q_A − q_B + length_bias·ln(len_A / len_B)/2 + self_preference·(own_A − own_B) + noise;
          when |d| < 0.1 ("close"),
          it picks the first shown answer with probability position_bias; otherwise |d| < 0.05 is a tie.

"Own style" is the mock family's house format: a final `**Answer:**` line. Options (mock={...}):
position_bias, length_bias, self_preference (0 = unbiased, the default) and noise (default 0.03).
All draws come from req.rng(salt), so a request with a seed is judged identically every time.
"""

from __future__ import annotations

import json
import math
import re

from shared.mockllm.behaviours.assistant import respond
from shared.mockllm.request import MockRequest, Reply, behaviour

CLOSE = 0.1  # below this quality gap a judge is unsure, and position bias takes over
OWN_STYLE = "**Answer:**"
_SECTION = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
_CRITERION = re.compile(r"^\s*[-*]\s*([A-Za-z_][\w -]*?)\s*(?:\[keywords:\s*([^\]]*)\])?\s*:\s*(.*)$")
_STOP = {"the", "a", "an", "of", "to", "in", "and", "or", "is", "are", "was", "were", "it", "its", "for", "on",
         "at", "by", "with", "as", "be", "this", "that", "which", "what", "who", "how", "answer", "i", "we",
         "you", "from", "there", "their", "has", "have", "do", "does", "did", "so", "also", "about"}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", text.lower())


def content(text: str) -> set[str]:
    return {w for w in words(text) if w not in _STOP}


def sections(prompt: str) -> dict[str, str]:
    """'## Name' headed blocks of the prompt, keyed by lower-cased name."""
    found = list(_SECTION.finditer(prompt))
    out = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(prompt)
        body = prompt[match.end():end].strip()
        if match.group(1).lower().startswith("rubric"):
            out["rubric"] = body
        else:
            out[match.group(1).lower()] = body.split("\n\nReply with", 1)[0].split("\nReply with", 1)[0].strip()
    return out


def rubric(text: str) -> list[tuple[str, list[str]]]:
    """[(criterion, keywords)] from '- name [keywords: a, b]: description' lines."""
    out = []
    for line in text.splitlines():
        match = _CRITERION.match(line)
        if match:
            keys = [k.strip().lower() for k in (match.group(2) or "").split(",") if k.strip()]
            out.append((match.group(1).strip(), keys))
    return out


def coverage(needed: set[str], response: str) -> float:
    if not needed:
        return 0.0
    return len(needed & content(response)) / len(needed)


def quality(response: str, question: str, reference: str | None, criteria: list[tuple[str, list[str]]]) -> \
        dict[str, float]:
    """The true quality per criterion (and "overall"), in [0, 1], before any bias."""
    if reference:
        needed = content(reference) - content(question)
        base = coverage(needed or content(reference), response)
    else:
        base = coverage(content(question), response)
    scores = {}
    for name, keys in criteria:
        if keys:
            scores[name] = sum(1 for k in keys if k in response.lower()) / len(keys)
        else:
            scores[name] = base
    scores["overall"] = sum(scores.values()) / len(scores) if scores else base
    return scores


def biased(q: float, response: str, req: MockRequest, salt: str) -> float:
    n_words = len(words(response))
    q += float(req.opt("length_bias", 0.0)) * math.tanh(n_words / 80)
    q += float(req.opt("self_preference", 0.0)) * (OWN_STYLE in response)
    return q + req.rng(f"judge:noise:{salt}").gauss(0.0, float(req.opt("noise", 0.03)))


def to_score(q: float) -> int:
    return int(min(5, max(1, round(1 + 4 * q))))


def single(req: MockRequest, parts: dict[str, str]) -> Reply:
    response, question, reference = parts["response"], parts.get("question", ""), parts.get("reference answer")
    criteria = rubric(parts.get("rubric", ""))
    q = quality(response, question, reference, criteria)
    per = {name: to_score(biased(q[name], response, req, name)) for name, _ in criteria}
    overall = to_score(biased(q["overall"], response, req, "overall"))
    missing = sorted(content(reference) - content(question) - content(response))[:5] if reference else []
    reason = (f"The response covers {q['overall']:.0%} of what the "
              f"{'reference' if reference else 'rubric'} needs"
              + (f"; missing: {', '.join(missing)}." if missing else "."))
    return Reply(content=json.dumps({"criteria": per, "score": overall, "reasoning": reason}))


def pairwise(req: MockRequest, parts: dict[str, str]) -> Reply:
    a, b = parts["response a"], parts["response b"]
    question, reference = parts.get("question", ""), parts.get("reference answer")
    criteria = rubric(parts.get("rubric", ""))
    qa = quality(a, question, reference, criteria)["overall"]
    qb = quality(b, question, reference, criteria)["overall"]
    la, lb = len(words(a)), len(words(b))
    d = qa - qb
    d += float(req.opt("length_bias", 0.0)) * math.log(max(la, 1) / max(lb, 1)) / 2
    d += float(req.opt("self_preference", 0.0)) * ((OWN_STYLE in a) - (OWN_STYLE in b))
    d += req.rng("judge:noise:pair").gauss(0.0, float(req.opt("noise", 0.03)))
    if abs(d) < CLOSE and req.rng("judge:position").random() < float(req.opt("position_bias", 0.0)):
        winner = "A"
    elif abs(d) < CLOSE / 2:
        winner = "tie"
    else:
        winner = "A" if d > 0 else "B"
    reason = f"Response A covers {qa:.0%} and response B {qb:.0%} of what a good answer needs."
    return Reply(content=json.dumps({"winner": winner, "reasoning": reason}))


@behaviour("judge", "LLM-as-judge: single grade with a rubric, pairwise A/B, reference-guided; a real quality "
                    "signal plus tunable position_bias, length_bias, self_preference (and noise)")
def judge(req: MockRequest) -> Reply:
    parts = sections(req.last_user())
    if "response a" in parts and "response b" in parts:
        return pairwise(req, parts)
    if "response" in parts:
        return single(req, parts)
    return respond(req, {})
