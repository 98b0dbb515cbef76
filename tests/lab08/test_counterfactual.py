"""Off-policy estimators against the simulated truth and against numpy's own weighted mean."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from labs.lab08_eval import counterfactual as cf
from labs.lab08_eval.stats import StatsError


@pytest.mark.parametrize("seed", range(6))
def test_snips_is_numpys_weighted_mean_and_ips_the_plain_mean_of_weighted_rewards(seed):
    rng = np.random.default_rng(seed)
    world = cf.make_world(int(rng.integers(2, 8)), int(rng.integers(2, 6)), float(rng.uniform(0.05, 1)), seed)
    logs = cf.log_data(world, 500, rng)
    w = world.pi[logs["x"], logs["a"]] / logs["propensity"]
    got = cf.estimate(logs, world.pi)
    assert got["snips"] == pytest.approx(np.average(logs["r"], weights=w), rel=1e-12)
    assert got["ips"] == pytest.approx(np.mean(w * logs["r"]), rel=1e-12)
    assert got["ess"] == pytest.approx(w.sum() ** 2 / (w**2).sum(), rel=1e-12)


def test_logged_actions_follow_the_logging_policy():
    world = cf.make_world(4, 5, 0.3, seed=2)
    logs = cf.log_data(world, 40_000, np.random.default_rng(0))
    observed = np.zeros_like(world.mu)
    np.add.at(observed, (logs["x"], logs["a"]), 1)
    expected = observed.sum(axis=1, keepdims=True) * world.mu
    assert sps.chisquare(observed.ravel(), expected.ravel(), ddof=world.mu.shape[0] - 1).pvalue > 0.001
    assert np.allclose(logs["propensity"], world.mu[logs["x"], logs["a"]])


@pytest.mark.parametrize("seed", range(3))
def test_ips_is_unbiased_for_the_true_value(seed):
    world = cf.make_world(5, 4, 0.4, seed)
    logs = cf.log_data(world, 200_000, np.random.default_rng(seed))
    wr = world.pi[logs["x"], logs["a"]] / logs["propensity"] * logs["r"]
    assert abs(wr.mean() - world.value(world.pi)) < 4 * wr.std() / np.sqrt(wr.size)


def test_on_policy_logs_make_every_weighted_estimator_the_plain_mean():
    world = cf.make_world(3, 3, 0.5, seed=1)
    world.pi = world.mu.copy()
    got = cf.estimate(cf.log_data(world, 1000, np.random.default_rng(1)), world.pi)
    assert got["ips"] == pytest.approx(got["naive"]) and got["snips"] == pytest.approx(got["naive"])
    assert got["ess"] == pytest.approx(1000)


def test_the_evaluation_shows_naive_and_dm_biased_and_the_weighted_ones_not():
    out = cf.evaluate(n_logs=1500, repeats=60, logging_epsilon=0.3, seed=0)
    rows = {r["estimator"]: r for r in out["rows"]}
    assert rows["naive"]["mean"] == pytest.approx(out["true_value_logging"], abs=0.01)
    for name in ("ips", "snips", "dr"):
        assert abs(rows[name]["bias"]) < 4 * rows[name]["sd"] / np.sqrt(60) + 1e-3, name
    assert abs(rows["dm"]["bias"]) > 5 * rows["dm"]["sd"] / np.sqrt(60)
    assert rows["snips"]["sd"] < rows["ips"]["sd"]


def test_less_exploration_means_bigger_weights_and_a_noisier_ips():
    wide, narrow = (cf.evaluate(n_logs=1000, repeats=40, logging_epsilon=e) for e in (0.6, 0.1))
    assert narrow["mean_ess"] < wide["mean_ess"] and narrow["mean_max_weight"] > wide["mean_max_weight"]
    sd = {o["logging_epsilon"]: {r["estimator"]: r["sd"] for r in o["rows"]} for o in (wide, narrow)}
    assert sd[0.1]["ips"] > sd[0.6]["ips"]


def test_a_logging_policy_that_never_explores_is_refused():
    with pytest.raises(StatsError):
        cf.make_world(logging_epsilon=0.0)
