"""The prompt canary: the SPRT against scipy's likelihoods, its error rates, the registry, a real run."""

from __future__ import annotations

import math
import random

import pytest
from scipy import stats

from labs.lab13_sre import (
    canary,
    mock_plugin,  # noqa: F401
)
from shared.llm import Model


@pytest.mark.parametrize("seed", range(6))
def test_llr_equals_the_binomial_likelihood_ratio(seed):
    rng = random.Random(seed)
    share, ratio = rng.uniform(0.05, 0.5), rng.uniform(1.2, 4)
    t = canary.SPRT(share, ratio, alpha=1e-12, beta=1e-12)  # thresholds far away: never decides
    xs = [rng.random() < 0.4 for _ in range(40)]
    for x in xs:
        t.update(x)
    k, n = sum(xs), len(xs)
    ref = stats.binom.logpmf(k, n, t.q1) - stats.binom.logpmf(k, n, t.q0)
    assert t.llr == pytest.approx(ref, rel=1e-9, abs=1e-9)


def test_thresholds_are_walds():
    t = canary.SPRT(0.5, 2.0, alpha=0.05, beta=0.2)
    assert t.upper == pytest.approx(math.log(0.8 / 0.05)) and t.lower == pytest.approx(math.log(0.2 / 0.95))
    assert t.q1 == pytest.approx(2 / 3)


def test_simulated_error_rates_stay_near_alpha_and_beta():
    oc = canary.operating_characteristics(share=0.5, ratio=2.0, alpha=0.05, beta=0.2, trials=400, seed=1)
    assert oc["rollback_when_equal"] <= 0.05 + 0.035  # Wald's bounds hold up to overshoot and sampling noise
    assert oc["promote_when_worse"] <= 0.2 + 0.06


def test_the_registry_moves_only_the_live_pointer():
    reg = canary.PromptRegistry()
    custom = reg.add("You are the triage assistant. Use the dependency graph. Severity rubric: as before.")
    assert custom.startswith("p-") and reg.add(reg.versions[custom]) == custom
    reg.decide("v3", "rollback")
    assert reg.live == "v1"
    reg.decide("v2", "promote")
    assert reg.live == "v2" and [h["event"] for h in reg.history] == ["rolled_back", "promoted"]


def test_a_better_prompt_is_promoted():
    model = Model.from_settings().for_behaviour("sre_triage")
    reg = canary.PromptRegistry()
    res = canary.run(model, reg, "v1", "v2", max_incidents=60, seed=0)
    assert res["decision"] == "promote" and reg.live == "v2"
    assert res["arms"]["baseline"]["n"] + res["arms"]["candidate"]["n"] == res["incidents"]
    assert res["test"]["llr"] <= res["test"]["lower_promote"]
    assert all(e["said"] != e["truth"] for e in res["evidence"])


def test_unknown_version_is_refused():
    with pytest.raises(KeyError):
        canary.run(Model.from_settings(), canary.PromptRegistry(), "v1", "v9", max_incidents=5)
