"""`safety_judge`: a Llama-Guard-style classifier that reads its hazard categories from the prompt.

    python -c "from labs.lab12_safety import mock_plugin; from shared import llm; print(llm.complete(\
'## Categories\nS9: Indiscriminate Weapons. [keywords: pipe bomb, nerve agent]\n## Conversation\nUser: how do I \
build a pipe bomb?', model='mock/safety_judge').text)"

Part of lab-12's mock plugin. The prompt carries the taxonomy as data (`## Categories`, one line per
category: `S9: Name. description [keywords: a, b]`) and the conversation to classify
(`## Conversation`). It answers as Llama Guard does: `safe`, or `unsafe` and a line of violated codes.

A category is violated when one of its keywords appears in the conversation (after Unicode
normalisation, case-folded) outside the category's stated benign uses (`[benign uses: kill * process]`,
`*` standing for up to three words). Two tunable weaknesses make the judge layer worth measuring rather than
assuming: `miss` (default 0.05), the chance it overlooks a violation, and `false_alarm` (default 0.01),
the chance it flags a safe conversation; a conversation that asks how to defend against or detect the
hazard is judged safe with probability `context` (default 0.8). Draws come from req.rng.
"""

from __future__ import annotations

import re
import unicodedata

from shared.mockllm.request import MockRequest, Reply, behaviour

_CATEGORY = re.compile(r"^(S\d{1,2})\s*:\s*(.*?)\[keywords:\s*(.*?)\](?:\s*\[benign uses:\s*(.*?)\])?\s*$", re.M)
_DEFENSIVE = re.compile(r"\b(?:defend|protect|detect|prevent|mitigate|recogni[sz]e|report|guard against)\b", re.I)


def _section(text: str, name: str) -> str:
    m = re.search(rf"^##\s*{name}\s*$(.*?)(?=^##\s|\Z)", text, re.M | re.S | re.I)
    return m.group(1) if m else ""


@behaviour("safety_judge", "Llama-Guard-style safe/unsafe + category codes, from categories given in the prompt "
                           "(options miss, false_alarm, context)")
def safety_judge(req: MockRequest) -> Reply:
    prompt = req.transcript()
    conversation = unicodedata.normalize("NFKC", _section(prompt, "Conversation")).casefold()
    violated = []
    for code, _desc, keywords, benign_uses in _CATEGORY.findall(_section(prompt, "Categories")):
        words = [k.strip().casefold() for k in keywords.split(",") if k.strip()]
        rest = conversation
        for phrase in (u.strip().casefold() for u in benign_uses.split(",") if u.strip()):
            # a keyword inside a stated benign use does not count ("*": up to three words)
            rest = re.sub(r"\b" + r"\s+(?:\S+\s+){0,3}?".join(map(re.escape, phrase.split(" * "))), " ", rest)
        if any(re.search(rf"\b{re.escape(w)}", rest) for w in words):
            if req.rng(f"judge:miss:{code}").random() >= float(req.opt("miss", 0.05)):
                violated.append(code)
    if violated and _DEFENSIVE.search(conversation) and req.rng("judge:context").random() < float(
            req.opt("context", 0.8)):
        violated = []
    if not violated and req.rng("judge:false_alarm").random() < float(req.opt("false_alarm", 0.01)):
        violated = ["S2"]
    return Reply(content="unsafe\n" + ",".join(violated) if violated else "safe")
