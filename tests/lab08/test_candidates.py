"""The models under evaluation are plausible: mostly right, wrong in realistic ways, v2 better but not everywhere."""

from __future__ import annotations

from labs.lab08_eval import candidates
from labs.lab08_eval.datasets import load


def accuracy(items, variant):
    return sum(candidates.right(i, variant) for i in items) / len(items)


def test_v2_improves_plain_tickets_and_breaks_sarcastic_ones():
    items = load("classification").items
    plain = [i for i in items if i["slices"] == ["plain"]]
    sarcasm = [i for i in items if i["slices"] == ["sarcasm"]]
    assert accuracy(plain, "v2") > accuracy(plain, "v1")
    assert accuracy(sarcasm, "v2") < accuracy(sarcasm, "v1")


def test_every_task_has_right_and_wrong_answers():
    for name in ("qa", "classification", "extraction"):
        items = load(name).items
        assert 0.4 < accuracy(items, "v1") < 0.95, name


def test_wrong_qa_answers_name_another_entity_of_the_same_kind():
    it = next(i for i in load("qa").items if not candidates.right(i, "v1"))
    text = candidates.qa(it, "v1")
    assert it["answer"] not in text and text.startswith(it["reference"].split()[0])
