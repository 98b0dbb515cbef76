"""The answerer's unsupported claims are real and tunable, and faithfulness (and its judge) is measured against the truth."""

from __future__ import annotations

import random

import numpy as np
from sklearn.metrics import cohen_kappa_score

from labs.lab06_rag import ragas
from labs.lab06_rag.answer import answer, rag_model
from labs.lab06_rag.corpus import load
from labs.lab06_rag.faithfulness_audit import audit, kappa
from shared.mockllm.behaviours.rag import unsupported


def test_made_up_sentences_are_never_stated_by_their_source():
    rng = random.Random(0)
    for doc in load("corpus"):
        first = doc["text"].split(". ")[0].rstrip(".") + "."
        fake = unsupported(first, rng)
        assert fake != first and not ragas.stated_in([fake], [doc["text"]])[0], (first, fake)
        assert ragas.stated_in([first], [doc["text"]]) == [True]


def test_rate_zero_leaves_answers_unchanged_and_rate_one_changes_every_claim(kb):
    model = rag_model()
    for q in [q for q in load("eval") if q["relevant"]][:6]:
        top = kb.search(q["question"], 5, "hybrid")
        plain = answer(q["question"], top, model)["answer"]
        assert answer(q["question"], top, model, mock={"unsupported_rate": 0})["answer"] == plain
        made_up = answer(q["question"], top, model, mock={"unsupported_rate": 1})["answer"]
        contexts = [f"{h['title']}: {h['text']}" for h in top]
        if "don't know" not in plain:
            assert all(ragas.stated_in(ragas.statements(plain), contexts))
            assert not any(ragas.stated_in(ragas.statements(made_up), contexts))


def test_faithfulness_falls_with_the_rate_and_the_judge_is_scored(kb):
    questions = [q for q in load("eval") if q["relevant"]][:12]
    clean, dirty = audit(kb, 0.0, questions), audit(kb, 0.6, questions)
    assert clean["faithfulness_truth"] == 1.0 and clean["faithfulness_judge"] == 1.0
    assert dirty["truly_unsupported"] > 0 and dirty["faithfulness_truth"] < 1.0
    assert dirty["faithfulness_judge"] < 1.0 and 0 < dirty["judge_recall"] <= 1
    assert dirty["agreement"] < 1.0 or dirty["judge_recall"] == 1.0


def test_kappa_matches_scikit_learn():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(5, 60))
        a, b = rng.random(n) < rng.random(), rng.random(n) < rng.random()
        if len(set(a)) == 1 and len(set(b)) == 1:
            continue
        assert np.isclose(kappa(list(a), list(b)), cohen_kappa_score(a, b))
