"""models.py: bundled datasets, the zoo, fit reports beside the baseline; its F1/accuracy against sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from labs.lab03_classical import models
from labs.lab03_classical.metrics import MetricError


@pytest.mark.parametrize("seed", range(6))
def test_accuracy_and_macro_f1_match_sklearn_row_by_row(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, (30, 60))
    pred = np.where(rng.random((30, 60)) < 0.6, y, rng.integers(0, 4, (30, 60)))
    np.testing.assert_allclose(models.accuracy(y, pred), [accuracy_score(a, b) for a, b in zip(y, pred, strict=True)])
    np.testing.assert_allclose(models.f1_macro(y, pred),
                               [f1_score(a, b, average="macro", labels=np.union1d(a, b), zero_division=0)
                                for a, b in zip(y, pred, strict=True)])


def test_every_dataset_loads_from_its_package():
    shapes = {name: models.load(name).X.shape for name in models.DATASETS}
    assert shapes["breast_cancer"] == (569, 30) and shapes["digits"] == (1797, 64) and shapes["fair"] == (6366, 8)
    assert models.load("digits_8").y.mean() == pytest.approx(0.097, abs=0.002)
    with pytest.raises(MetricError, match="dataset must be one of"):
        models.load("mnist")


def test_fit_report_beside_the_baseline():
    r = models.fit_report("breast_cancer", "logistic", seed=0, cv_folds=3)
    acc = r["test"]["accuracy"]
    assert acc["low"] <= acc["estimate"] <= acc["high"] and acc["estimate"] > 0.93
    assert r["test"]["roc_auc"]["estimate"] > 0.97
    assert r["baseline"]["accuracy"] == pytest.approx(0.627, abs=0.01)  # the majority class share
    assert r["beats_baseline"] and r["accuracy_gain_over_baseline"]["low"] > 0.25
    assert len(r["cv_accuracy"]["scores"]) == 3


def test_when_trees_win_and_when_the_baseline_is_not_beaten():
    linear = models.fit_report("iris_versicolor", "logistic", seed=0)
    trees = models.fit_report("iris_versicolor", "gradient_boosting", seed=0)
    assert trees["test"]["roc_auc"]["estimate"] > linear["test"]["roc_auc"]["estimate"] + 0.05
    assert not linear["beats_baseline"]  # a linear model cannot carve out the middle species
    assert trees["beats_baseline"]


def test_zoo_on_two_datasets():
    table = models.zoo(("iris_versicolor", "wine"), folds=3)
    assert table["iris_versicolor"]["random_forest"] > table["iris_versicolor"]["logistic"] + 0.1
    assert table["wine"]["metric"] == "accuracy" and table["wine"]["logistic"] > 0.9
    assert table["iris_versicolor"]["baseline"] == pytest.approx(0.5)
