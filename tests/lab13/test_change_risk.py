"""Change risk: the logistic fit vs scikit-learn, the metrics vs scikit-learn, git parsing, calibration."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from labs.lab13_sre import change_risk


@pytest.mark.parametrize("seed", range(6))
def test_newton_fit_equals_sklearn(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 4)) * rng.uniform(0.5, 5, 4) + rng.normal(size=4)
    y = (rng.random(300) < 1 / (1 + np.exp(-(X @ rng.normal(size=4) * 0.3)))).astype(float)
    lam = 0.5
    ours = change_risk.fit(X, y, lam=lam)
    Z = (X - X.mean(0)) / X.std(0)
    ref = LogisticRegression(C=1 / lam, tol=1e-12, max_iter=10_000).fit(Z, y)
    assert np.allclose(ours.w, ref.coef_[0], atol=1e-5)
    assert ours.b == pytest.approx(ref.intercept_[0], abs=1e-5)
    assert np.allclose(ours.predict(X), ref.predict_proba(Z)[:, 1], atol=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_brier_and_auc_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    p = np.round(rng.random(200), 2)  # rounding makes ties, which AUC must count as half
    y = (rng.random(200) < p).astype(float)
    assert change_risk.brier(p, y) == pytest.approx(brier_score_loss(y, p))
    assert change_risk.auc(p, y) == pytest.approx(roc_auc_score(y, p))


def test_ece_by_hand():
    p = np.array([0.05, 0.05, 0.95, 0.95])
    y = np.array([0.0, 1.0, 1.0, 1.0])
    # bin 0: mean p 0.05, observed 0.5; bin 9: mean p 0.95, observed 1.0
    assert change_risk.ece(p, y) == pytest.approx(0.5 * 0.45 + 0.5 * 0.05)


def test_fixture_model_is_calibrated_and_beats_the_base_rate():
    _, report = change_risk.fixture_report()
    t = report["test"]
    assert t["brier"] < t["brier_base_rate"]
    assert t["ece"] < 0.08
    assert t["auc"] > 0.65
    assert report["weights"]["tests_changed"] < 0 < report["weights"]["log_size"]


def test_git_history_and_features_on_a_tiny_repo(tmp_path):
    def git(*args, env=None):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True,
                       env={"GIT_AUTHOR_NAME": "ana", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "ana",
                            "GIT_COMMITTER_EMAIL": "a@x", "PATH": "/usr/bin:/bin", **(env or {})})

    git("init", "-q")
    for i, (name, lines) in enumerate([("app.py", 10), ("app.py", 3), ("tests/test_app.py", 5)]):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text("x\n" * (lines + i))
        git("add", name)
        git("commit", "-qm", f"change {i}", env={"GIT_AUTHOR_DATE": f"2025-01-0{i + 1}T03:00:00Z",
                                                 "GIT_COMMITTER_DATE": f"2025-01-0{i + 1}T03:00:00Z"})
    changes = change_risk.git_history(tmp_path)
    assert [c.subject for c in changes] == ["change 0", "change 1", "change 2"]
    assert changes[0].files == {"app.py": (10, 0)}
    X = change_risk.features(changes)
    cols = dict(zip(change_risk.FEATURES, X[1], strict=True))
    assert cols["churn"] == 1.0 and cols["familiarity"] == 1.0 and cols["off_hours"] == 1.0
    assert X[2][change_risk.FEATURES.index("tests_changed")] == 1.0


def test_not_a_repository_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="not a git repository"):
        change_risk.git_history(tmp_path)
