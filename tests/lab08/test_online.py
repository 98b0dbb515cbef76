"""The online A/B simulation: peeking inflates the false-positive rate as the multivariate normal says it
must; the SPRT holds its α under continuous monitoring; the pieces against statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from labs.lab08_eval import online
from labs.lab08_eval.stats import StatsError


@pytest.mark.parametrize("looks,published", [(1, 0.05), (2, 0.083), (5, 0.142), (10, 0.193), (20, 0.248)])
def test_exact_peeking_rate_matches_armitage_mcpherson_rowe(looks, published):
    assert online.peeking_fpr_exact(list(range(1, looks + 1))) == pytest.approx(published, abs=0.0015)


@pytest.mark.parametrize("seed", range(4))
def test_exact_peeking_rate_matches_scipys_multivariate_normal_on_random_looks(seed):
    rng = np.random.default_rng(seed)
    sizes = np.sort(rng.choice(np.arange(10, 2000), size=int(rng.integers(2, 5)), replace=False))
    alpha = float(rng.uniform(0.01, 0.1))
    corr = np.sqrt(np.minimum.outer(sizes, sizes) / np.maximum.outer(sizes, sizes))
    crit = sps.norm.ppf(1 - alpha / 2)
    inside = sps.multivariate_normal(np.zeros(len(sizes)), corr).cdf(
        np.full(len(sizes), crit), lower_limit=np.full(len(sizes), -crit), rng=np.random.default_rng(0))
    assert online.peeking_fpr_exact(sizes.tolist(), alpha) == pytest.approx(1 - inside, abs=5e-4)


@pytest.mark.parametrize("seed", range(8))
def test_the_z_statistic_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 500))
    x_a, x_b = rng.integers(1, n, 2)
    z_ref, _ = proportions_ztest([x_b, x_a], [n, n])
    assert float(online.z_two_proportions(np.array(x_a), np.array(x_b), n)) == pytest.approx(z_ref, rel=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_wilson_interval_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 3000))
    k = int(rng.integers(0, n + 1))
    assert online.wilson(k, n) == pytest.approx(proportion_confint(k, n, method="wilson"), abs=1e-3)


@pytest.fixture(scope="module")
def aa():
    return online.simulate(online.ABDesign(p_a=0.3, n_per_arm=800, looks=5), sims=1500, seed=3)


def test_peeking_inflates_false_positives_to_what_the_theory_says(aa):
    rows = {r["procedure"]: r for r in aa["rows"]}
    se = math.sqrt(0.142 * 0.858 / 1500)
    assert rows["naive peeking"]["rejects"] == pytest.approx(aa["naive_peeking_exact"], abs=4 * se + 0.01)
    assert rows["naive peeking"]["rejects"] > 2 * 0.05
    assert abs(rows["fixed horizon"]["rejects"] - 0.05) < 4 * math.sqrt(0.05 * 0.95 / 1500)


def test_the_sprt_holds_alpha_when_checked_after_every_user(aa):
    sprt = {r["procedure"]: r for r in aa["rows"]}["SPRT"]
    assert sprt["rejects"] <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 1500)  # Ville: P(sup Λ ≥ 1/α) ≤ α


def test_under_a_real_lift_the_sprt_finds_it_and_usually_stops_early():
    out = online.simulate(online.ABDesign(p_a=0.2, p_b=0.3, n_per_arm=1000, looks=5, mde=0.1), sims=300, seed=1)
    sprt = {r["procedure"]: r for r in out["rows"]}["SPRT"]
    assert sprt["rejects"] > 0.8 and sprt["mean_users_per_arm"] < 600
    assert out["naive_peeking_exact"] is None and out["kind"].startswith("A/B")


def test_theta1_is_the_share_of_discordant_pairs_b_wins():
    rng = np.random.default_rng(0)
    p_a, mde = 0.2, 0.1
    a, b = rng.random(400_000) < p_a, rng.random(400_000) < p_a + mde
    share = (b & ~a).sum() / ((b & ~a).sum() + (a & ~b).sum())
    assert online.theta1(p_a, mde) == pytest.approx(share, abs=0.005)


@pytest.mark.parametrize("design,sims", [(online.ABDesign(p_a=0.9, mde=0.2), 10),
                                         (online.ABDesign(looks=5000, n_per_arm=100), 10),
                                         (online.ABDesign(n_per_arm=20_000), 400)])
def test_impossible_designs_are_refused(design, sims):
    with pytest.raises(StatsError):
        online.simulate(design, sims=sims)
