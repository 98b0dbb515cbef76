"""The cross-encoder trained from MiniLM ranks held-out gold documents above hard negatives."""

from __future__ import annotations

import numpy as np
import pytest

from labs.lab06_rag.corpus import load
from labs.lab06_rag.evaluate import evaluate
from labs.lab06_rag.rerank import held_in, load_reranker, training_pairs


def test_training_pairs_come_from_held_in_questions_only():
    pairs = training_pairs()
    held_out_questions = {q["question"] for q in load("eval") if q["relevant"] and not held_in(q)}
    assert pairs and not {p[0] for p in pairs} & held_out_questions
    assert 0.1 < np.mean([p[2] for p in pairs]) < 0.5 and {p[2] for p in pairs} == {0.0, 0.5, 1.0}
    # mined negatives are never another version of a labelled article (those are 0.5, not 0)
    by_query: dict[str, dict[str, float]] = {}
    docs = {f"{d['title']}. {d['text']}": d["id"] for d in load("corpus")}
    for query, doc, label in pairs:
        by_query.setdefault(query, {})[docs[doc]] = label
    for labels in by_query.values():
        articles = {d.rsplit("-v", 1)[0] for d, g in labels.items() if g > 0 and d.startswith("kb-")}
        assert not [d for d, g in labels.items() if g == 0 and d.rsplit("-v", 1)[0] in articles]
    assert any(d.startswith("plan-") and g == 1.0 for labels in by_query.values() for d, g in labels.items())


@pytest.mark.slow
def test_trained_reranker_separates_held_out_pairs(tmp_path, kb):
    model = load_reranker(tmp_path, train_if_missing=True)
    assert (tmp_path / "reranker" / "trained.json").exists()
    docs = {d["id"]: f"{d['title']}. {d['text']}" for d in load("corpus")}
    wins = []
    for q in [q for q in load("eval") if q["relevant"] and not held_in(q)]:
        gold = [d for d, g in q["relevant"].items() if g == 2]
        negatives = [h["doc_id"] for h in kb.search(q["question"], 10, "bm25") if h["doc_id"] not in q["relevant"]][:3]
        scores = model.predict([(q["question"], docs[d]) for d in gold + negatives])
        wins += [g > n for g in scores[:len(gold)] for n in scores[len(gold):]]
    assert np.mean(wins) > 0.85  # untrained head: 0.43; question-only pairs: 0.75; 0.96 on the 244-document fixture
    assert load_reranker(tmp_path) is not None  # cached: loads without training
    kb.reranker = model
    try:
        hits = kb.search("In Tessera 3.1, how long are previous revisions kept with version history?", 5, rerank=True)
        assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
        # held-in it wins clearly (bench, 304-document fixture: 0.953 vs 0.765); on the held-out features,
        # blended with the first stage (w = 0.5), it no longer beats hybrid alone (0.930 vs 0.940; 0.921
        # vs 0.940 in one run of this test), so all this asserts there is that it does not collapse
        ndcg = {}
        for part, qs in (("in", [q for q in load("eval") if q["relevant"] and held_in(q)]),
                         ("out", [q for q in load("eval") if q["relevant"] and not held_in(q)])):
            ndcg[part] = [evaluate(kb, config, qs, with_answers=False)["overall"]["ndcg@5"]
                          for config in ("hybrid", "hybrid+rerank")]
        assert ndcg["in"][1] > ndcg["in"][0] + 0.1
        assert ndcg["out"][1] > ndcg["out"][0] - 0.05
        with pytest.raises(ValueError):
            kb.search("trash", 5, rerank=True, rerank_weight=1.5)
    finally:
        kb.reranker = None
