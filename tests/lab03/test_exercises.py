"""The six worked exercises, each answer checked by an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import fbeta_score

from labs.lab03_classical import exercises


def test_f_scores():
    r = exercises.f_scores_from_confusion()
    y = np.r_[np.ones(120), np.zeros(880)]
    yhat = np.r_[np.ones(80), np.zeros(40), np.ones(20), np.zeros(860)]
    for key, beta in (("f1", 1), ("f2", 2), ("f0.5", 0.5)):
        assert r[key] == pytest.approx(fbeta_score(y, yhat, beta=beta))
    assert r["f2"] < r["f1"] < r["f0.5"]
    assert r["f1"] == pytest.approx(2 * 0.8 * (2 / 3) / (0.8 + 2 / 3))


def test_ece_five_bins():
    r = exercises.ece_five_bins()
    assert sum(b["count"] for b in r["per_bin"]) == 100 and len(r["per_bin"]) == 5
    by_hand = sum(b["count"] / 100 * abs(b["accuracy"] - b["confidence"]) for b in r["per_bin"])
    assert r["ece"] == pytest.approx(by_hand, abs=1e-3)  # per-bin values are rounded to 4 places
    assert 0 < r["ece"] < 0.2


def test_separable_logistic():
    r = exercises.separable_logistic()
    norms = list(r["norm_w_no_penalty"].values())
    assert norms == sorted(norms) and norms[-1] > 4
    assert r["norm_w_l2"]["2000"] == pytest.approx(r["norm_w_l2"]["1000"])


def test_paired_bootstrap_ci():
    r = exercises.paired_bootstrap_ci()
    assert (r["acc_a"], r["acc_b"], r["delta"]) == (0.75, 0.81, pytest.approx(0.06))
    assert r["discordant_b_c"] == [6, 18]
    assert 0 < r["ci95"][0] < 0.06 < r["ci95"][1]
    assert r["paired_se"] < r["unpaired_se"]
    # exact McNemar on 6 vs 18 discordant items, from the binomial directly
    assert r["mcnemar_exact_p"] == pytest.approx(binomtest(6, 24, 0.5).pvalue)


def test_temperature_scaling():
    r = exercises.temperature_scaling()
    assert r["T"] > 1 and r["ece_after"] < r["ece_before"] and r["nll_after"] < r["nll_before"]
    assert r["accuracy_unchanged"]


def test_ab_sample_size():
    r = exercises.ab_sample_size()
    assert r["per_arm"]["rule_of_thumb_16"] == 3600
    assert r["per_arm"]["two_proportion_z"] == 3841


def test_json_has_every_exercise():
    assert len(exercises.EXERCISES) == 6
