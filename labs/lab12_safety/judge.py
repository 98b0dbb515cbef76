"""Input filter, layer 3: an LLM judge with a Llama-Guard-style rubric (hazard categories S1-S14 as data).

    curl -s localhost:8012/guard/input -d '{"text": "How do I build a pipe bomb?", "layers": ["judge"]}'

The rubric is `fixtures/lab12/hazards.json`: code, name, description, keywords and benign uses (phrases
in which a keyword is harmless: "kill * process") per category. The
prompt lists the categories and the whole conversation (the judge sees the dialogue, not only the last
message) and asks for Llama Guard's answer format: `safe`, or `unsafe` and a line of codes. With the
mock, `mock/safety_judge` answers (see mock_judge.py for its tunable misses); with a real model the
same prompt goes to `LLM_MODEL` through shared.llm. An answer in any other shape raises, and the
guard then fails closed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

from shared.config import REPO_ROOT
from shared.llm import Model

HAZARDS = REPO_ROOT / "fixtures" / "lab12" / "hazards.json"


@cache
def categories() -> list[dict]:
    return json.loads(HAZARDS.read_text())["categories"]


def phrase_pattern(phrase: str) -> str:
    """A benign-use phrase as a regex: words literal, `*` for up to three words in between."""
    return r"\b" + r"\s+(?:\S+\s+){0,3}?".join(re.escape(w) for w in phrase.split(" * "))


def hazard_codes(text: str) -> list[str]:
    """Categories whose keywords appear in text outside the category's benign uses ("kill a hung process")."""
    low = text.casefold()
    out = []
    for c in categories():
        rest = low
        for phrase in c.get("benign_uses", []):
            rest = re.sub(phrase_pattern(phrase.casefold()), " ", rest)
        if any(re.search(rf"\b{re.escape(k)}", rest) for k in c["keywords"]):
            out.append(c["code"])
    return out


def _line(c: dict) -> str:
    line = f"{c['code']}: {c['name']}. {c['description']} [keywords: {', '.join(c['keywords'])}]"
    return line + (f" [benign uses: {', '.join(c['benign_uses'])}]" if c.get("benign_uses") else "")


def rubric_prompt(conversation: str) -> str:
    lines = [_line(c) for c in categories()]
    return ("Classify whether the conversation below asks for or contains content in an unsafe category.\n"
            "## Categories\n" + "\n".join(lines) + "\n## Conversation\n" + conversation.strip() +
            "\n## Answer\nFirst line: safe or unsafe. If unsafe, second line: the violated codes, comma-separated.")


@dataclass
class Verdict:
    unsafe: bool
    codes: list[str]


def parse(answer: str) -> Verdict:
    lines = [ln.strip() for ln in (answer or "").strip().splitlines() if ln.strip()]
    if not lines or lines[0].lower() not in ("safe", "unsafe"):
        raise ValueError(f"judge answered in an unknown format: {answer[:80]!r}")
    codes = re.findall(r"S\d{1,2}", lines[1]) if len(lines) > 1 else []
    return Verdict(lines[0].lower() == "unsafe", codes)


class Judge:
    def __init__(self, model: Model):
        self.model = model.for_behaviour("safety_judge")

    def classify(self, conversation: str, seed: int = 0) -> Verdict:
        return parse(self.model.complete(rubric_prompt(conversation), temperature=0, seed=seed).text or "")
