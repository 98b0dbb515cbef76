"""metrics.py against sklearn.metrics on random labels and scores (ties included)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from labs.lab03_classical import metrics
from labs.lab03_classical.metrics import MetricError


def random_case(seed: int, n: int = 200, ties: bool = False):
    rng = np.random.default_rng(seed)
    prevalence = rng.uniform(0.05, 0.6)
    y = (rng.random(n) < prevalence).astype(int)
    y[:2] = [0, 1]  # both classes present
    s = rng.normal(y * rng.uniform(0, 2), 1.0)
    if ties:
        s = np.round(s, 1)
    p = 1 / (1 + np.exp(-s))
    return y, s, p


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("ties", [False, True])
def test_curves_and_areas_match_sklearn(seed, ties):
    y, s, p = random_case(seed, ties=ties)
    fpr, tpr, thr = metrics.roc_curve(y, s)
    r_fpr, r_tpr, r_thr = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, r_fpr)
    np.testing.assert_allclose(tpr, r_tpr)
    np.testing.assert_allclose(thr[1:], r_thr[1:])
    assert metrics.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    prec, rec, pthr = metrics.pr_curve(y, s)
    r_prec, r_rec, r_pthr = skm.precision_recall_curve(y, s)
    np.testing.assert_allclose(prec, r_prec)
    np.testing.assert_allclose(rec, r_rec)
    np.testing.assert_allclose(pthr, r_pthr)
    assert metrics.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    assert metrics.log_loss(y, p) == pytest.approx(skm.log_loss(y, p), rel=1e-10)
    assert metrics.brier(y, p) == pytest.approx(skm.brier_score_loss(y, p), rel=1e-10)


@pytest.mark.parametrize("seed", range(8))
def test_counts_and_f_beta_match_sklearn(seed):
    y, s, _ = random_case(seed)
    t = float(np.median(s))
    yhat = (s >= t).astype(int)
    np.testing.assert_array_equal(metrics.confusion_matrix(y, yhat), skm.confusion_matrix(y, yhat))
    out = metrics.report(y, y_score=s, threshold=t, betas=(0.5, 1.0, 2.0, 3.7))
    assert out["precision"] == pytest.approx(skm.precision_score(y, yhat))
    assert out["recall"] == pytest.approx(skm.recall_score(y, yhat))
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(y, yhat))
    for beta in (0.5, 1.0, 2.0, 3.7):
        assert out[f"f{beta:g}"] == pytest.approx(skm.fbeta_score(y, yhat, beta=beta))
    assert "log_loss" not in out  # raw scores are not probabilities


def test_report_from_predictions_and_zero_division():
    out = metrics.report([0, 0, 1], y_pred=[0, 0, 0])
    assert out["precision"] == 0.0 and out["f1"] == 0.0 and out["accuracy"] == pytest.approx(2 / 3)
    assert "roc_auc" not in out


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.report([0, 1], y_score=[0.2]), "y_score has 1 values but y_true has 2"),
    (lambda: metrics.report([0, 1], y_score=[0.2, 0.3], y_pred=[0, 1]), "exactly one"),
    (lambda: metrics.roc_auc([1, 1], [0.2, 0.3]), "only class 1"),
    (lambda: metrics.log_loss([0, 1], [0.2, 1.3]), "probabilities in [0, 1]"),
    (lambda: metrics.report([0, 2], y_pred=[0, 1]), "only 0 and 1"),
    (lambda: metrics.pr_curve([0, 0], [0.1, 0.2]), "no positive"),
])
def test_bad_input_says_what_is_wrong(call, message):
    with pytest.raises(MetricError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_imbalance_accuracy_cannot_tell_auprc_can():
    demo = metrics.imbalance_demo(n=20_000)
    assert demo["prevalence"] == pytest.approx(0.01, abs=0.003)
    base, model = demo["always_negative"], demo["scorer"]
    assert base["accuracy"] > 0.98 and model["accuracy_at_best_threshold"] - base["accuracy"] < 0.005
    assert base["average_precision"] == pytest.approx(demo["prevalence"])
    assert model["average_precision"] > 10 * base["average_precision"]
    assert model["roc_auc"] == pytest.approx(0.897, abs=0.03)  # Φ(1.8/√2)
