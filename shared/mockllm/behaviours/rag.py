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
With option unsupported_rate p (default 0), each answering sentence is, with probability p, replaced
by an unsupported one (`unsupported()`: its value changed, its citation kept), the hallucination a
faithfulness metric exists to catch.

The same model serves the other calls a RAG pipeline makes, each recognised by its prompt:
- contextual retrieval ("<chunk>...</chunk>" + "situates"): one sentence naming the document;
- query rewriting: "hypothetical passage" (HyDE), "search queries" (multi-query, one a line),
  "step-back question" (the general question behind a specific one);
- multi-hop: "Decompose task" -> self-contained sub-questions, one a line (decompose());
  "Agent task" -> the next action of an agentic RAG loop as JSON, search or finish (agent_step());
- GraphRAG: "Extract task" -> `subject | relation | object` lines (triples()); "Summarise task" ->
  a community's facts grouped into sentences (summary());
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
    rate = min(max(float(req.opt("unsupported_rate", 0.0)), 0.0), 1.0)
    if rate > 0:  # its own draws, so the attention draws (and every answer at rate 0) stay as they were
        draw = req.rng("rag-unsupported")
        chosen = [(sid, unsupported(sent, draw) if draw.random() < rate else sent) for sid, sent in chosen]
    return " ".join(f"{sent} [{sid}]" for sid, sent in chosen)


_LAST_NUMBER = re.compile(r"\d+(?:\.\d+)?(?=\D*$)")
_PLAN = re.compile(r"from the (\w+) plan")
OTHER_VALUES = ["not available", "weekly", "XML", "unlimited", "Kerberos", "APAC only", "set by each user"]
OTHER_PLANS = ["Starter", "Team", "Business", "Enterprise", "Premium"]


def unsupported(sentence: str, rng) -> str:
    """The sentence with its stated value changed, still cited to the same source: the plan named
    swapped for another, the value's last number scaled (30 days -> 60 days, 2.0 -> 4.0), or a value
    with no number (after the last " is ") swapped for another plausible one. None of them is in the
    source, so a faithful judge must flag it."""
    body = sentence.rstrip(".")
    plan = _PLAN.search(body)
    if plan:
        other = rng.choice([p for p in OTHER_PLANS if p != plan.group(1)])
        return body[:plan.start(1)] + other + body[plan.end(1):] + "."
    head, sep, value = body.rpartition(" is ")
    if not sep:
        return f"{body}, except on the Starter plan."
    match = _LAST_NUMBER.search(value)
    if not match:
        return f"{head} is {rng.choice([v for v in OTHER_VALUES if v != value])}."
    old = match.group(0)
    n = float(old)
    new = n * rng.choice([2, 3, 0.5]) if n > 1 else n + rng.choice([1, 2])
    decimals = len(old.split(".")[1]) if "." in old else 0
    text = f"{new:.{decimals}f}" if decimals or new != int(new) else str(int(new))
    return f"{head} is {value[:match.start()]}{text}{value[match.end():]}."


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


_CLAUSE = re.compile(r",\s+and\s+|;\s+|\?\s+(?=\S)")
_SUBJECT = re.compile(r"\b(?:for|with|about|of|on)\s+([^,;?]+)$")


def decompose(question: str) -> list[str]:
    """Sub-questions: the question cut at ", and" / ";" / "?"; a later clause that does not name the
    first clause's subject (the phrase after its last "for/with/about/of/on") gets it appended, since
    a sub-question must stand alone. One clause: the question as it is."""
    parts = [p.strip(" ?") for p in _CLAUSE.split(question.strip()) if p.strip(" ?")]
    if len(parts) < 2:
        return [question.strip()]
    subject = _SUBJECT.search(parts[0])
    out = [parts[0] + "?"]
    for part in parts[1:]:
        if subject and not set(content(subject.group(1))) <= set(content(part)):
            part = f"{part} with {subject.group(1)}"
        out.append(part[0].upper() + part[1:] + "?")
    return out


def agent_step(prompt: str) -> str:
    """One step of an agentic RAG loop: search for the first sub-question no observation answers yet
    (as asked, then once as bare keywords), or finish with the answering sentences and their ids.
    An observed sentence answers a sub-question when it covers ANSWER_MIN of its words and names every
    number it names (a 2.4 article does not answer a 3.1 question)."""
    question = re.search(r"^Question:\s*(.+)$", prompt, re.MULTILINE)
    left = re.search(r"^Steps left:\s*(\d+)", prompt, re.MULTILINE)
    searched = set(re.findall(r"^- (.+)$", prompt.split("Observations:", 1)[0], re.MULTILINE))
    sources, _ = parse_sources(prompt.split("Observations:", 1)[-1])
    found: list[tuple[str, str]] = []
    for part in decompose(question.group(1) if question else ""):
        need = content(part)
        numbers = {w for w in need if _NUMBER.match(w)}
        best = max(((coverage(need, s), -pos, sid, s.strip()) for pos, (sid, text) in enumerate(sources)
                    for s in _SENT.split(text) if s.strip() and numbers <= set(content(s))), default=None)
        if best and best[0] >= ANSWER_MIN:
            found.append((best[2], best[3]))
            continue
        for query in (part, " ".join(need)):
            if query not in searched and (not left or int(left.group(1)) > 0):
                return json.dumps({"action": "search", "query": query})
    found = list(dict.fromkeys(found))
    text = " ".join(f"{sent} [{sid}]" for sid, sent in found) if found else DONT_KNOW
    return json.dumps({"action": "finish", "answer": text})


_TRIPLE = re.compile(r"^(?:In ([A-Z][\w-]* [\d.]+), )?(?:[Tt]he )?(.+?) (is included from|is|are|supports|uses|changes|"
                     r"leaves|go to|goes to) (?:the )?(.+?)\.?$")


def triples(text: str) -> list[str]:
    """`subject | relation | object` lines read off copular sentences ("the A for S is O" → S | A | O;
    "In P 3.1, ..." qualifies the relation). Anything phrased otherwise is missed, as a small extractor would."""
    out = []
    for sentence in _SENT.split(text):
        match = _TRIPLE.match(sentence.strip())
        if not match or match.group(2).split()[0].lower() in {"if", "when", "to", "this", "it", "a", "there"} \
                or "," in match.group(2) or len(match.group(2).split()) > 8:
            continue  # a clause, not a name: a small extractor skips what it cannot parse
        where, subject, verb, obj = match.groups()
        obj = re.split(r"[:;]", obj)[0]
        obj = re.sub(r"\s+(?:upward|onward|and above)$", "", obj).strip()
        relation = verb
        if " for " in subject:
            relation, subject = subject.rsplit(" for ", 1)
        if obj.endswith(" unchanged"):
            obj, relation = obj[: -len(" unchanged")], f"{verb} unchanged"
        relation += f" in {where}" if where else ""
        if subject and obj:
            out.append(f"{subject.strip()} | {relation.strip()} | {obj}")
    return out


def summary(facts: list[tuple[str, str, str]]) -> str:
    """One sentence per shared (relation, object) naming all its subjects, then per (subject, relation)."""
    by_target: dict[tuple[str, str], list[str]] = {}
    for s, r, o in facts:
        by_target.setdefault((r, o), []).append(s)
    lines, rest = [], []
    for (r, o), subjects in by_target.items():
        if len(subjects) > 1:
            lines.append(f"{_join(subjects)}: {r} {o}.")
        else:
            rest.append((subjects[0], r, o))
    by_source: dict[tuple[str, str], list[str]] = {}
    for s, r, o in rest:
        by_source.setdefault((s, r), []).append(o)
    lines += [f"{s}: {r} {_join(objs)}." for (s, r), objs in by_source.items()]
    return " ".join(line[0].upper() + line[1:] for line in lines)


def _join(items: list[str]) -> str:
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


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
    if low.startswith("decompose task") or "\ndecompose task" in low:
        question = re.search(r"Question:\s*(.+)", prompt)
        return Reply("\n".join(decompose(question.group(1) if question else "")))
    if low.startswith("agent task") or "\nagent task" in low:
        return Reply(agent_step(prompt))
    if low.startswith("extract task"):
        return Reply("\n".join(triples(prompt.split("Text:", 1)[-1].strip())))
    if low.startswith("summarise task"):
        facts = [tuple(p.strip() for p in line.split("|")) for line in prompt.split("Facts:", 1)[-1].splitlines()]
        return Reply(summary([f for f in facts if len(f) == 3]))
    rewritten = rewrite(prompt) if "rewrite" in low else None
    if rewritten is not None:
        return Reply(rewritten)
    return Reply(answer(req, prompt))
