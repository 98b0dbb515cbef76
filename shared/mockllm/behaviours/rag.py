"""`rag`: an extractive RAG answerer that cites `[doc-id]`s and loses documents in the middle.

    python -c "from shared import llm; print(llm.complete('Sources:\\n[kb-1] The refund window is 30 days.\\n\
[kb-2] SSO uses SAML.\\n\\nQuestion: How long is the refund window?', model='mock/rag').text)"

The prompt carries sources as lines `[id] text` (a source runs until the next `[id]` line) and a
`Question:` line. The model "reads" each source with a probability that depends on its position
i of n (x = i/(n−1)), a U-shaped curve like the one measured on real long-context models:

    attention(x) = m + (1 − m)·(2x − 1)²        m = option middle_attention (default 0.3; 1 = flat)

An unread source is invisible. Among the read ones it picks the sentences that cover the most of the
question's content words, cites their ids, and says it does not know when no sentence covers at
least 40% of them. Draws come from req.rng, so a prompt is answered the same way every time.

The same model serves the other calls a RAG pipeline makes, each recognised by its prompt:
- contextual retrieval ("<chunk>...</chunk>" + "situates"): one sentence naming the document;
- query rewriting: "hypothetical passage" (HyDE), "search queries" (multi-query, one a line),
  "step-back question" (the general question behind a specific one);
- RAGAS-style judging: "## Context" + "## Statements" -> {"verdicts": [{"statement": i,
  "supported": bool}]} (supported when ≥ 70% of the statement's content words, and every number, are
  in the context); "## Answer" + "question this answer" -> {"question": ..., "noncommittal": bool}.
"""

from __future__ import annotations

import json
import re

from shared.mockllm.request import MockRequest, Reply, behaviour

DONT_KNOW = "I don't know: the provided sources do not contain the answer."
ANSWER_MIN = 0.4
SUPPORT_MIN = 0.7
_SOURCE = re.compile(r"^\s*\[([A-Za-z0-9_.#:/-]{1,80})\]\s*(.*)$")
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_NUMBER = re.compile(r"^\d")
STOP = {"the", "a", "an", "of", "to", "in", "and", "or", "is", "are", "was", "were", "it", "its", "for", "on", "at",
        "by", "with", "as", "be", "this", "that", "which", "what", "who", "how", "i", "we", "you", "my", "our",
        "from", "there", "do", "does", "did", "can", "could", "should", "would", "will", "me", "us", "when",
        "where", "why", "much", "many", "long", "currently", "any", "some", "your", "get", "need", "into",
        "s", "if", "than", "then", "about", "up", "all", "each", "so", "no", "not", "use", "used"}


def content(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOP]


def coverage(needed: list[str], text: str) -> float:
    have = set(content(text))
    need = set(needed)
    return len(need & have) / len(need) if need else 0.0


def parse_sources(prompt: str) -> tuple[list[tuple[str, str]], str]:
    """([(id, text)], question) from `[id] text` lines and a `Question:` line."""
    sources: list[tuple[str, list[str]]] = []
    question = ""
    for line in prompt.splitlines():
        if line.strip().lower().startswith("question:"):
            question = line.split(":", 1)[1].strip()
            sources.append(("", []))  # the question ends the last source
            continue
        match = _SOURCE.match(line)
        if match:
            sources.append((match.group(1), [match.group(2)]))
        elif sources and sources[-1][0] and line.strip():
            sources[-1][1].append(line.strip())
    return [(i, " ".join(t).strip()) for i, t in sources if i], question


def attention(i: int, n: int, m: float) -> float:
    if n <= 1:
        return 1.0
    x = i / (n - 1)
    return m + (1 - m) * (2 * x - 1) ** 2


def answer(req: MockRequest, prompt: str) -> str:
    sources, question = parse_sources(prompt)
    if not question:
        question = req.last_user().strip().splitlines()[-1] if req.last_user().strip() else ""
    m = float(req.opt("middle_attention", 0.3))
    m = min(max(m, 0.0), 1.0)
    rng = req.rng("rag-attention")
    read = [(sid, text) for i, (sid, text) in enumerate(sources) if rng.random() < attention(i, len(sources), m)]
    need = content(question)
    if not need:
        return DONT_KNOW
    candidates = [(coverage(need, s), -pos, sid, s) for pos, (sid, text) in enumerate(read)
                  for s in _SENT.split(text) if s.strip()]
    candidates.sort(reverse=True)
    chosen: list[tuple[str, str]] = []
    covered: set[str] = set()
    for cov, _pos, sid, sent in candidates:
        gain = set(need) & set(content(sent)) - covered
        if not chosen and cov < ANSWER_MIN:
            break
        if chosen and (len(gain) < 2 or cov < ANSWER_MIN / 2 or len(chosen) == 2):
            continue
        chosen.append((sid, sent.strip()))
        covered |= set(need) & set(content(sent))
    if not chosen:
        return DONT_KNOW
    return " ".join(f"{sent} [{sid}]" for sid, sent in chosen)


def _sections(prompt: str) -> dict[str, str]:
    parts = re.split(r"^##\s+(.+?)\s*$", prompt, flags=re.MULTILINE)
    return {parts[i].strip().lower(): parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def verdicts(prompt: str) -> str:
    sec = _sections(prompt)
    context = sec.get("context", "")
    have = set(content(context))
    out = []
    for line in sec.get("statements", "").splitlines():
        match = re.match(r"^\s*(\d+)[.)]\s*(.+)$", line)
        if not match:
            continue
        words = content(match.group(2))
        numbers = {w for w in words if _NUMBER.match(w)}
        cov = len(set(words) & have) / len(set(words)) if words else 0.0
        out.append({"statement": int(match.group(1)), "supported": cov >= SUPPORT_MIN and numbers <= have})
    return json.dumps({"verdicts": out})


def question_for(prompt: str) -> str:
    text = re.sub(r"\[[^\]]+\]", "", _sections(prompt).get("answer", "")).strip()
    noncommittal = not text or "don't know" in text.lower() or "do not know" in text.lower()
    first = _SENT.split(text)[0].rstrip(".") if text else ""
    return json.dumps({"question": f"What is true about this: {first}?" if first else "", "noncommittal": noncommittal})


def rewrite(prompt: str) -> str | None:
    question = re.search(r"Question:\s*(.+)", prompt)
    q = question.group(1).strip() if question else ""
    low = prompt.lower()
    words = content(q)
    if "hypothetical passage" in low:
        return f"{q.rstrip('?')}: " + " ".join(words) + "."
    if "search queries" in low:
        return "\n".join([q, " ".join(words), " ".join(w for w in words if not _NUMBER.match(w))])
    if "step-back question" in low:
        general = [w for w in words if not _NUMBER.match(w)]
        return f"What are the general facts about {' '.join(general[-3:])}?"
    return None


def context_sentence(prompt: str) -> str:
    title = re.search(r'<document title="([^"]*)"', prompt)
    return f"This chunk is from the support article \"{title.group(1) if title else 'untitled'}\"."


@behaviour("rag", "extractive RAG answerer with [doc-id] citations and lost-in-the-middle (option middle_attention)")
def rag(req: MockRequest) -> Reply:
    prompt = req.transcript()
    low = prompt.lower()
    if "<chunk>" in low and "situates" in low:
        return Reply(context_sentence(prompt))
    if "## statements" in low and "## context" in low:
        return Reply(verdicts(prompt))
    if "## answer" in low and "question this answer" in low:
        return Reply(question_for(prompt))
    rewritten = rewrite(prompt) if "rewrite" in low else None
    if rewritten is not None:
        return Reply(rewritten)
    return Reply(answer(req, prompt))
