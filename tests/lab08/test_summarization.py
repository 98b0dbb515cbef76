"""The summarization stack: code criteria on hand-made summaries, κ against scikit-learn on random labels, and
the mock judge's per-sentence faithfulness on the fixture (unsupported claims caught, each defect seen by
its own criterion)."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from labs.lab08_eval import judge, stats
from labs.lab08_eval import summarization as s

POINTS = [{"keywords": ["refund", "order"], "weight": 3}, {"keywords": ["ship"], "weight": 1}]


def test_coverage_is_weighted_and_stems_absorb_inflection():
    assert s.coverage("We refunded the order and shipped it.", POINTS) == (1.0, [True, True])
    assert s.coverage("The parcel shipped on Monday.", POINTS) == (0.25, [False, True])
    assert s.coverage("A refund was promised.", POINTS)[0] == 0.0  # a point needs all its keywords


def test_concision_charges_length_over_budget_and_restatement():
    assert s.concision("The order was refunded.", 10)["score"] == 1.0
    long = s.concision(" ".join(["word"] * 20) + ".", 10)
    assert long["score"] == pytest.approx(0.5) and long["redundant_share"] == 0.0
    restated = s.concision("The order was refunded. In other words, the order was refunded.", 100)
    assert restated["redundant_share"] == 0.5 and restated["score"] == 0.5


@pytest.mark.parametrize("seed", range(5))
def test_kappa_matches_scikit_learn_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    truth = list(rng.random(int(rng.integers(5, 60))) < 0.6)
    got = [t if rng.random() < 0.7 else not t for t in truth]
    out = s.agreement(truth, got)
    assert out["kappa"] == pytest.approx(cohen_kappa_score(truth, got), abs=1e-4)
    assert out["landis_koch"] == stats.landis_koch(cohen_kappa_score(truth, got))


def test_a_judge_that_supports_everything_agrees_only_where_no_claim_is_invented():
    async def yes(prompt: str, mock: dict) -> str:
        return json.dumps({"criteria": {"supported": 5}, "score": 5})

    out = asyncio.run(s.evaluate(yes, limit=5))
    assert out["by_kind"]["unsupported"]["faithfulness"] == 1.0  # the invented claim goes unnoticed
    assert out["agreement"]["faithfulness"]["accuracy"] == 0.8


@pytest.fixture(scope="module")
def judged():
    return asyncio.run(s.evaluate(judge.llm_call(), limit=10))  # two sources, all five kinds each


def test_each_defect_is_seen_by_its_own_criterion(judged):
    k = judged["by_kind"]
    assert k["good"]["coverage"] == 1.0 and k["good"]["concision"] == 1.0
    assert k["omission"]["coverage"] < s.PASS["coverage"] and k["wrong-focus"]["coverage"] < 0.5
    assert k["verbose"]["concision"] < s.PASS["concision"]
    assert k["unsupported"]["faithfulness"] < 1.0
    assert judged["agreement"]["coverage"]["kappa"] == 1.0 and judged["agreement"]["concision"]["kappa"] == 1.0


def test_every_invented_claim_is_flagged_and_kappa_is_scikit_learns(judged):
    rows = judged["rows"]
    flagged = [g for r in rows for g, lab in zip(r["sentence_supported"], r["sentence_labels"], strict=True) if not lab]
    assert flagged and not any(flagged)
    truth = [r["labels"]["overall"] for r in rows]
    gated = [r["pass"]["gated"] for r in rows]
    assert judged["agreement"]["gated"]["kappa"] == pytest.approx(cohen_kappa_score(truth, gated), abs=1e-4)
