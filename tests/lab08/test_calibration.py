"""The classification stack: ECE against scikit-learn's calibration bins, macro-F1 against f1_score, and
the mock candidate's stated confidence overconfident on the hard slice."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, f1_score

from labs.lab08_eval import calibration
from labs.lab08_eval.stats import StatsError
from shared import llm


def sklearn_ece(conf, right, n_bins):
    prob_true, prob_pred = calibration_curve(right, conf, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0, 1, n_bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], conf), minlength=n_bins)  # sklearn's own binning
    counts = counts[counts > 0]
    return float(np.sum(counts / counts.sum() * np.abs(prob_true - prob_pred)))


@pytest.mark.parametrize("seed", range(10))
def test_ece_matches_scikit_learns_calibration_curve(seed):
    rng = np.random.default_rng(seed)
    n, n_bins = int(rng.integers(20, 500)), int(rng.integers(2, 20))
    conf = rng.beta(4, 1.5, n)
    right = rng.random(n) < np.clip(conf + rng.normal(0, 0.15, n), 0, 1)
    if right.all() or not right.any():
        right[0] = not right[0]
    assert calibration.ece(conf, right, n_bins) == pytest.approx(sklearn_ece(conf, right, n_bins), abs=1e-12)
    assert calibration.brier(conf, right) == pytest.approx(brier_score_loss(right, conf), abs=1e-12)


def test_confidences_on_the_bin_edges_fall_where_scikit_learn_puts_them():
    conf = np.array([0.0, 0.1, 0.2, 0.5, 0.9, 1.0, 0.1, 0.3])
    right = np.array([0, 1, 0, 1, 1, 1, 0, 1], dtype=bool)
    assert calibration.ece(conf, right, 10) == pytest.approx(sklearn_ece(conf, right, 10), abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_macro_f1_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    labels = ["a", "b", "c", "d"][: int(rng.integers(2, 5))]
    truth = rng.choice(labels, 80).tolist()
    pred = [t if rng.random() < 0.6 else str(rng.choice(labels)) for t in truth]
    ref = f1_score(truth, pred, labels=labels, average="macro", zero_division=0)
    assert calibration.macro_f1(truth, pred, labels) == pytest.approx(ref, abs=1e-12)


def test_a_perfectly_calibrated_forecaster_has_small_ece():
    rng = np.random.default_rng(0)
    conf = rng.random(20_000)
    assert calibration.ece(conf, rng.random(20_000) < conf, 10) < 0.02


def test_parse_and_bad_input():
    assert calibration.parse("billing\nconfidence: 0.83", ["billing", "outage"]) == ("billing", 0.83)
    assert calibration.parse("Outage.", ["billing", "outage"]) == ("outage", None)
    with pytest.raises(StatsError):
        calibration.ece([1.2], [True])
    with pytest.raises(StatsError):
        calibration.ece([], [])


@pytest.fixture(scope="module")
def stacks():
    model = llm.Model.from_settings()
    return {v: asyncio.run(calibration.evaluate(model, f"mock/assistant?variant={v}")) for v in ("v1", "v2")}


def test_the_candidate_is_overconfident_on_sarcasm_and_v2_far_more(stacks):
    for v, out in stacks.items():
        assert out["n"] == 68 and out["missing_confidence"] == 0
        assert out["slices"]["sarcasm"]["overconfidence"] > out["slices"]["plain"]["overconfidence"] + 0.1, v
    assert stacks["v2"]["slices"]["sarcasm"]["ece"] > 0.5 > stacks["v1"]["slices"]["sarcasm"]["ece"]
    assert sum(sum(row.values()) for row in stacks["v1"]["confusion"].values()) == 68
