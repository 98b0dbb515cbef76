"""Few-shot selection: MMR against qdrant's, the labeller's real dependence on its demonstrations, and
the measured effect of the strategy."""

from __future__ import annotations

import numpy as np
import pytest

from labs.lab05_patterns import fewshot
from labs.lab05_patterns.mock_plugin import label_scores
from shared.mockllm.engine import MockEngine, MockError, MockRequest


def ask(messages, **mock):
    body = {"model": "labeller", "messages": messages, **({"mock": mock} if mock else {})}
    return MockEngine().complete(MockRequest.from_openai(body))["choices"][0]["message"]["content"]


@pytest.mark.parametrize("seed", range(6))
def test_mmr_picks_what_qdrant_picks(seed):
    from qdrant_client import QdrantClient, models

    rng = np.random.default_rng(seed)
    n, dim, k = int(rng.integers(5, 30)), int(rng.integers(2, 12)), int(rng.integers(1, 6))
    D, q, lam = rng.normal(size=(n, dim)), rng.normal(size=dim), float(rng.uniform(0.05, 0.95))
    client = QdrantClient(":memory:")
    client.create_collection("c", vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE))
    client.upsert("c", points=[models.PointStruct(id=i, vector=D[i].tolist()) for i in range(n)])
    hits = client.query_points("c", query=models.NearestQuery(nearest=q.tolist(), mmr=models.Mmr(
        diversity=1 - lam, candidates_limit=n)), limit=k).points
    assert fewshot.mmr(q, D, k, lam) == [h.id for h in hits]


def test_mmr_with_lambda_one_is_nearest_first():
    rng = np.random.default_rng(1)
    D, q = rng.normal(size=(20, 6)), rng.normal(size=6)
    nearest = np.argsort(-(fewshot.normalize(D) @ fewshot.normalize(q)))[:5]
    assert fewshot.mmr(q, D, 5, 1.0) == nearest.tolist()


def test_the_labeller_never_says_a_label_it_was_not_shown():
    pool, tests = fewshot.load("pool"), fewshot.load("test")
    rng = np.random.default_rng(0)
    for i in range(40):
        demos = [pool[j] for j in rng.choice(len(pool), size=int(rng.integers(1, 6)), replace=False)]
        answer = ask(fewshot.messages(tests[i].text, demos, fewshot.labels()))
        assert answer in {d.label for d in demos}


def test_the_labeller_follows_its_nearest_demonstration_and_its_majority_bias():
    demos = [fewshot.Example("my card was declined", "billing")] + [
        fewshot.Example(t, "shipping") for t in ("where is my package", "the delivery is late", "the box arrived crushed")]
    query = "the card was declined again"
    scores = label_scores(query, [(d.text, d.label) for d in demos], 0.0)
    assert max(scores, key=scores.get) == "billing"
    messages = fewshot.messages(query, demos, fewshot.labels())
    assert ask(messages, label_bias=0.0) == "billing"
    assert ask(messages, label_bias=2.0) == "shipping"  # a strong majority bias outvotes the nearest example


def test_zero_shot_falls_back_on_the_listed_label_names():
    assert ask([{"role": "system", "content": "Labels: refund, login."}, {"role": "user", "content": "refund please"}]) == "refund"
    assert ask([{"role": "user", "content": "refund please"}]) == "unknown"


def test_a_bad_label_bias_is_a_400():
    with pytest.raises(MockError) as err:
        ask([{"role": "user", "content": "hi"}], label_bias="lots")
    assert err.value.status == 400


def test_similar_examples_beat_a_fixed_prompt_and_unseen_labels_are_always_wrong(model):
    labeller = model.for_behaviour("labeller")
    selector = fewshot.Selector(fewshot.load("pool"), model)
    scores = {s.strategy: s for s in fewshot.evaluate(labeller, selector, fewshot.load("test")[:24],
                                                       ["fixed", "similar", "diverse"], k=4)}
    assert scores["similar"].accuracy > scores["fixed"].accuracy + 0.25
    assert scores["diverse"].intents_covered > scores["similar"].intents_covered
    for s in scores.values():
        assert s.accuracy_label_not_shown in (0.0, None)


def test_selection_strategies_pick_what_they_say(model):
    selector = fewshot.Selector(fewshot.load("pool")[:30], model)
    q = selector.embed(["where is my package"])[0]
    assert selector.select("fixed", q, 3) == [0, 1, 2] and selector.select("zero_shot", q, 3) == []
    similar = selector.select("similar", q, 3)
    sims = selector.vectors @ q
    assert sorted(sims[similar]) == sorted(np.sort(sims)[-3:]) and similar[-1] == int(np.argmax(sims))
    assert selector.select("random", q, 3, seed=1) == selector.select("random", q, 3, seed=1)
    with pytest.raises(ValueError):
        selector.select("best", q, 3)
