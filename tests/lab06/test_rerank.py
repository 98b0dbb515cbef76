"""The cross-encoder trained on a generated corpus ranks the eval set's gold documents above hard negatives.

The full reranker (`rerank.RECIPE` over about 1,000 pairs from 24 generated features) is the
benchmark's; these tests train a small one once per module (160 pairs from 12 features, 2 epochs,
MiniLM's first two layers, pairs cut to 48 tokens) through the same `train`, so they check the
training path, that its scores do not collapse to one number, and its effect on held-out generated
features and on the never-seen fixture in seconds.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from labs.lab06_rag import generated
from labs.lab06_rag.corpus import FEATURES, load
from labs.lab06_rag.rerank import (
    RECIPE,
    SUBDIR,
    fresh_model,
    held_out_groups,
    load_reranker,
    recipe_digest,
    separation,
    train,
    training_pairs,
)

SMALL = {"epochs": 2, "layers": 2, "max_length": 48, "lr": 3e-4, "batch_size": 16}


@pytest.fixture(scope="module")
def pairs():
    return training_pairs(n_features=12)


@pytest.fixture(scope="module")
def held_out():
    """Query lists from generated features the 12-feature training corpus lacks (another seed's draw)."""
    return held_out_groups(n_features=12, held_features=14)


@pytest.fixture(scope="module")
def small_reranker(tmp_path_factory, pairs):
    lab = tmp_path_factory.mktemp("lab06-rerank")
    (lab / SUBDIR).mkdir()
    model = train(lab / SUBDIR, pairs=random.Random(0).sample(pairs, 160), **SMALL)
    return lab, model


def test_training_pairs_share_nothing_with_the_eval_set(pairs):
    eval_questions = {q["question"] for q in load("eval")}
    fixture_texts = {f"{d['title']}. {d['text']}" for d in load("corpus")}
    assert pairs and not {p[0] for p in pairs} & eval_questions and not {p[1] for p in pairs} & fixture_texts
    assert not {f[0] for f in generated.features(len(generated.NAMES))} & {f[0] for f in FEATURES}
    assert 0.1 < np.mean([p[2] for p in pairs]) < 0.5 and {p[2] for p in pairs} == {0.0, 0.5, 1.0}


def test_mined_negatives_are_hard_and_never_another_version_of_the_answer():
    mined, text = generated.mine(8, hard=3, easy=1)
    assert all(len(negatives) == 4 and not set(negatives) & set(labels) for _, labels, negatives in mined)
    for _, labels, negatives in mined:
        articles = {d.rsplit("-v", 1)[0] for d in labels if d.startswith("kb-")}
        assert not [n for n in negatives if n.rsplit("-v", 1)[0] in articles]
    # hard ones come from the first stage: the right version of another feature 0.30 of the time (8
    # features; a random pick: 0.10)
    versions = [n for q, _, negatives in mined for n in negatives[:3] if n.startswith("kb-")
                and f"Tessera {text[n].split('Tessera ', 1)[1][:3]}" in q]
    assert len(versions) > 0.2 * sum(len(n[:3]) for _, _, n in mined)


def held_out_wins(model, kb) -> float:
    """Share of (gold, BM25 hard negative) pairs of eval questions where the gold document scores higher."""
    docs = {d["id"]: f"{d['title']}. {d['text']}" for d in load("corpus")}
    wins = []
    for q in [q for q in load("eval") if q["relevant"]]:  # all held out: training never saw the fixture
        gold = [d for d, g in q["relevant"].items() if g == 2]
        negatives = [h["doc_id"] for h in kb.search(q["question"], 10, "bm25") if h["doc_id"] not in q["relevant"]][:3]
        scores = model.predict([(q["question"], docs[d]) for d in gold + negatives])
        wins += [g > n for g in scores[:len(gold)] for n in scores[len(gold):]]
    return float(np.mean(wins))


def test_trained_reranker_separates_held_out_pairs(small_reranker, kb):
    lab, model = small_reranker
    torch.manual_seed(0)  # the same fresh head train() starts from, before any step
    untrained = fresh_model(**SMALL)
    before, after = held_out_wins(untrained, kb), held_out_wins(model, kb)
    # measured here: 0.43 untrained, 0.59 after 20 steps on the generated corpus's pairs (trained on the
    # fixture's own held-in questions instead, the same small model reached 0.86: transfer from the
    # generated features is the harder, honest test)
    assert after > before + 0.08, (before, after)


def test_trained_reranker_does_not_collapse_on_held_out_generated_features(small_reranker, held_out, pairs):
    """The earlier reranker output one number (the mean label) for every pair; this would have failed on it."""
    lab, model = small_reranker
    assert held_out and not {q for q, *_ in held_out} & {p[0] for p in pairs}
    sep = separation(model, held_out)
    # measured here after 20 steps: std 0.052, gold above a mined negative on 0.68 of pairs, p gold 0.467 vs
    # p negative 0.426. The collapsed lab reranker (`[CLS]` head): std 0.004, p gold − p negative 0.004, and
    # still 0.72 of pairs "right" by its noise, so the spread and the gap are what catch a collapse
    assert sep["score_std"] > 0.03, sep
    assert sep["gold_over_negatives"] > 0.6 and sep["p_gold"] > sep["p_negative"] + 0.02, sep


def test_cls_head_starts_constant_and_mean_pooling_does_not(held_out):
    """Why the earlier reranker collapsed: MiniLM's [CLS] state hardly depends on the pair, so a fresh
    [CLS] head scores every pair alike before training; the mean of the token states does not."""
    pairs = [(q, d) for q, docs, _ in held_out[:6] for d in docs]
    spread = {}
    for pooling in ("cls", "mean"):
        torch.manual_seed(0)
        spread[pooling] = float(np.std(fresh_model(pooling, layers=2, max_length=48).predict(pairs)))
    assert spread["cls"] < 1e-3 < 5 * spread["cls"] + 5e-3 < spread["mean"], spread


def test_recipe_digest_covers_the_hyperparameters():
    assert recipe_digest(4) == recipe_digest(4)
    assert recipe_digest(4) != recipe_digest(4, recipe={**RECIPE, "lr": RECIPE["lr"] * 2})
    assert recipe_digest(4) != recipe_digest(4, recipe={**RECIPE, "pooling": "cls"})


def test_reranker_is_cached_and_reorders_search(small_reranker, kb):
    lab, model = small_reranker
    assert (lab / SUBDIR / "trained.json").exists()
    loaded = load_reranker(lab)  # cached: loads without training
    assert loaded is not None
    probe = [("In Tessera 3.1, how long are previous revisions kept?", "Version history in Tessera 3.1. 180 days.")]
    assert np.allclose(loaded.predict(probe), model.predict(probe), atol=1e-5)
    kb.reranker = model
    try:
        hits = kb.search("In Tessera 3.1, how long are previous revisions kept with version history?", 5, rerank=True)
        assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
        with pytest.raises(ValueError):
            kb.search("trash", 5, rerank=True, rerank_weight=1.5)
    finally:
        kb.reranker = None
