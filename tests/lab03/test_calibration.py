"""calibration.py against sklearn's calibration_curve, IsotonicRegression and CalibratedClassifierCV."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.datasets import make_classification
from sklearn.frozen import FrozenEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.naive_bayes import GaussianNB

from labs.lab03_classical import calibration
from labs.lab03_classical.metrics import MetricError


def overconfident(seed: int, n: int = 400):
    rng = np.random.default_rng(seed)
    p = rng.beta(0.6, 0.6, n)
    y = (rng.random(n) < 0.5 + 0.5 * (p - 0.5)).astype(int)
    return y, p


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bins", [5, 10, 20])
@pytest.mark.parametrize("strategy, sk", [("width", "uniform"), ("mass", "quantile")])
def test_reliability_bins_match_calibration_curve(seed, bins, strategy, sk):
    y, p = overconfident(seed)
    rows = calibration.reliability(y, p, bins, strategy)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=bins, strategy=sk)
    np.testing.assert_allclose([r["accuracy"] for r in rows], prob_true)
    np.testing.assert_allclose([r["confidence"] for r in rows], prob_pred)
    # ECE from sklearn's curve and our counts
    counts = np.array([r["count"] for r in rows])
    assert calibration.ece(y, p, bins, strategy) == pytest.approx(
        float(np.sum(counts / counts.sum() * np.abs(prob_true - prob_pred))))


def test_ece_moves_with_the_binning():
    y, p = overconfident(0, 300)
    sens = calibration.ece_sensitivity(y, p)
    assert sens["max_over_min"] > 1.0
    assert set(sens["ece"]) == {"width", "mass"}


@pytest.mark.parametrize("seed", range(6))
def test_isotonic_matches_sklearn(seed):
    y, p = overconfident(seed, 300)
    p = np.round(p, 2)  # ties in the scores
    ours = calibration.Isotonic().fit(p, y)
    ref = IsotonicRegression(out_of_bounds="clip").fit(p, y)
    grid = np.linspace(-0.1, 1.1, 97)
    np.testing.assert_allclose(ours.predict(grid), ref.predict(grid), atol=1e-12)
    assert np.all(np.diff(ours.predict(grid)) >= -1e-15)


def _frozen_nb(seed: int, n_classes: int = 2):
    X, y = make_classification(n_samples=900, n_features=8, n_informative=5, n_classes=n_classes,
                               n_clusters_per_class=1, random_state=seed)
    clf = GaussianNB().fit(X[:300], y[:300])
    return clf, X[300:], y[300:]


@pytest.mark.parametrize("seed", range(4))
def test_platt_matches_calibrated_classifier_sigmoid(seed):
    clf, X, y = _frozen_nb(seed)
    ref = CalibratedClassifierCV(FrozenEstimator(clf), method="sigmoid").fit(X, y)
    s = clf.predict_proba(X)[:, 1]  # sklearn's sigmoid sees predict_proba's column when there is no decision_function
    ours = calibration.Platt().fit(s, y)
    np.testing.assert_allclose(ours.predict(s), ref.predict_proba(X)[:, 1], atol=2e-5)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_classes", [2, 4])
def test_temperature_matches_calibrated_classifier_temperature(seed, n_classes):
    clf, X, y = _frozen_nb(seed, n_classes)
    ref = CalibratedClassifierCV(FrozenEstimator(clf), method="temperature").fit(X, y)
    P = clf.predict_proba(X)
    ours = calibration.Temperature().fit(P if n_classes > 2 else P[:, 1], y)
    after = ours.predict(P if n_classes > 2 else P[:, 1])
    expected = ref.predict_proba(X)
    np.testing.assert_allclose(after if n_classes > 2 else np.column_stack([1 - after, after]), expected, atol=1e-6)
    assert calibration.nll(y, calibration.as_matrix(after)) <= calibration.nll(y, P) + 1e-12


def test_temperature_fixes_digits_gaussian_nb():
    r = calibration.digits_gaussian_nb()
    assert r["T"] > 1  # GaussianNB is over-confident: temperature softens it
    assert r["temperature"]["ece_top_label_15_bins"] < r["before"]["ece_top_label_15_bins"] / 2
    assert r["temperature"]["accuracy"] == r["before"]["accuracy"]  # a monotone map keeps the arg-max


def test_cross_fit_evaluates_out_of_fold_and_improves_an_overconfident_model():
    y, p = overconfident(1, 600)
    for method in calibration.METHODS:
        report = calibration.calibrate_report(y, p, method)
        assert report["after"]["brier"] < report["before"]["brier"], method
        assert report["after"]["ece"] < report["before"]["ece"], method
        assert len(report["fitted"]) == 2
        if method != "isotonic":  # isotonic's steps reach exactly 0 and 1: one miss there costs −log ε in NLL
            assert report["after"]["nll"] < report["before"]["nll"], method


@pytest.mark.parametrize("y, p, message", [
    ([1, 1, 1, 1], [0.2, 0.3, 0.4, 0.5], "only class 1"),
    ([0, 1, 0], [0.2, 0.3], "probs has 2 rows but y_true has 3"),
    ([0, 1], [0.2, 1.3], r"probabilities in \[0, 1\]"),
])
def test_bad_input(y, p, message):
    with pytest.raises(MetricError, match=message):
        calibration.calibrate_report(y, p, "platt")
