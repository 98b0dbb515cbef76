"""The models under evaluation: a skill on the mock `assistant` that answers the golden sets plausibly,
right with a probability set per slice and per model variant, wrong in realistic ways.

    python -c "from labs.lab08_eval import candidates as c; c.install(); from shared import llm; \
print(llm.complete(c.prompt(c.item('qa-geo-00')), model='mock/assistant?variant=v2').text)"

Variants (`mock/assistant?variant=NAME` or mock={"variant": NAME}):
  v1       the baseline
  v2       better almost everywhere, but it breaks sarcastic tickets: the average-tide trap
  verbose  v1's correctness, long padded answers (what a length-biased judge rewards)
  other    v1's correctness in another family's style (no `**Answer:**` line: self-preference shows)

An item is right when u_v < p(variant, slice), with u_v = u(id) + 0.1·(u(variant|id) − ½): the same
difficulty for every variant, plus a little per-variant jitter, so v1 → v2 both fixes and breaks items.
A classification prompt that asks for a confidence gets `label` and a line `confidence: c`, with
c = σ(8·(p(variant, plain) − u_v + ε)), ε = 0.3·(u(conf|variant|id) − ½): the model reads its margin
against its skill on plain tickets on every slice, so it is overconfident where a slice is harder.
Code samples are drawn per seed (pass@k needs n different samples): the right solution, the item's
bug, a syntax error, or an endless loop (the sandbox's timeout catches it).
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import cache

from labs.lab08_eval.datasets import DATASETS, load
from shared.mockllm.engine import MockRequest, Reply, register_skill

P_RIGHT = {
    "v1": {"geography": 0.8, "science": 0.75, "literature": 0.7, "arithmetic": 0.55, "plain": 0.85,
           "sarcasm": 0.65, "log-line": 0.85, "prose": 0.7, "one-liner": 0.5, "loops": 0.35},
    "v2": {"geography": 0.9, "science": 0.85, "literature": 0.8, "arithmetic": 0.75, "plain": 0.95,
           "sarcasm": 0.25, "log-line": 0.92, "prose": 0.8, "one-liner": 0.6, "loops": 0.45},
}
VARIANTS = ("v1", "v2", "verbose", "other")
PAD = (" To put this in context, it is a question that comes up often, and the answer has been stable for "
       "a long time. I double-checked it against what I know, considered the alternatives carefully, and "
       "I am confident that this is the complete and correct answer to what was asked.")


def u(key: str) -> float:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


@cache
def _index() -> dict[str, dict]:
    return {i["input"]: i for name in DATASETS for i in load(name).items}


def item(item_id: str) -> dict:
    for it in _index().values():
        if it["id"] == item_id:
            return it
    raise KeyError(item_id)


def prompt(it: dict) -> str:
    """The prompt the harness sends for an item (the item's input is always its last paragraph)."""
    if it["task"] == "classification":
        return f"Classify the support ticket as one of: {', '.join(it['labels'])}. Reply with the label only." \
               f"\n\n{it['input']}"
    if it["task"] == "qa":
        return f"Answer the question in one sentence.\n\n{it['input']}"
    return it["input"]


def _draw(it: dict, family: str) -> float:
    return u(it["id"]) + 0.1 * (u(f"{family}|{it['id']}") - 0.5)


def _family(variant: str) -> str:
    return "v2" if variant == "v2" else "v1"  # verbose and other are v1 in other clothes


def right(it: dict, variant: str) -> bool:
    family = _family(variant)
    return _draw(it, family) < P_RIGHT[family][it["slices"][0]]


def confidence(it: dict, variant: str) -> float:
    """The model's stated confidence in its answer (see the module docstring)."""
    family = _family(variant)
    margin = P_RIGHT[family]["plain"] - _draw(it, family) + 0.3 * (u(f"conf|{family}|{it['id']}") - 0.5)
    return round(1 / (1 + math.exp(-8 * margin)), 3)


def _wrong_qa(it: dict) -> str:
    peers = sorted((i for i in _index().values() if i["task"] == "qa" and i["slices"] == it["slices"]
                    and i["answer"] != it["answer"]), key=lambda i: i["id"])
    other = peers[int(u("peer|" + it["id"]) * len(peers))]
    return it["reference"].replace(it["answer"], other["answer"])


def qa(it: dict, variant: str) -> str:
    text = it["reference"] if right(it, variant) else _wrong_qa(it)
    answer = text.rstrip(".").split()[-1] if not right(it, variant) else it["answer"]
    if variant == "other":
        return text
    if variant == "verbose":
        text += PAD
    return f"{text}\n\n**Answer:** {answer}"


def classification(it: dict, variant: str, with_confidence: bool = False) -> str:
    if right(it, variant):
        label = it["answer"]
    else:
        labels = [label for label in it["labels"] if label != it["answer"]]
        label = labels[int(u("label|" + it["id"]) * len(labels))]
    return f"{label}\nconfidence: {confidence(it, variant)}" if with_confidence else label


def extraction(it: dict, variant: str) -> str:
    answer = dict(it["answer"])
    if not right(it, variant):
        mode = int(u("mode|" + variant + it["id"]) * 3)
        if mode == 0:
            answer["minutes"] = round(answer["minutes"] / 60, 1)  # read as hours
        elif mode == 1:
            answer.pop("severity")
        else:
            answer["severity"] = answer["severity"].lower()
    return json.dumps(answer)


def code(it: dict, variant: str, req: MockRequest) -> str:
    difficulty = u(it["id"])
    p = min(0.95, P_RIGHT["v2" if variant == "v2" else "v1"][it["slices"][0]] * (1.5 - difficulty))
    r = req.rng("sample:lab08-code").random()
    if r < p:
        body = it["solution"]
    elif r < p + (1 - p) * 0.8:
        body = it["bug"]
    elif r < p + (1 - p) * 0.9:
        body = it["solution"].replace("):", ")", 1)
    else:
        body = it["solution"].replace("\n", "\n    while True:\n        pass\n", 1)
    return f"```python\n{body}```"


def answer(req: MockRequest) -> Reply | None:
    """The skill: claim a request whose last paragraph is a golden-set input; None lets the assistant answer."""
    text = req.last_user().rsplit("\n\n", 1)[-1].strip()
    it = _index().get(text)
    if it is None:
        return None
    variant = str(req.opt("variant", "v1"))
    if variant not in VARIANTS:
        variant = "v1"
    task = it["task"]
    if task == "code":
        return Reply(content=code(it, variant, req))
    if task == "classification" and "confidence" in req.last_user().split("\n\n", 1)[0].lower():
        return Reply(content=classification(it, variant, with_confidence=True))
    return Reply(content={"qa": qa, "classification": classification, "extraction": extraction}[task](it, variant))


def install() -> None:
    register_skill("lab08-golden-sets", answer)
