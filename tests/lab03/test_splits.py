"""splits.py against sklearn's KFold, StratifiedKFold and GroupKFold on random labels and groups."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

from labs.lab03_classical import splits
from labs.lab03_classical.metrics import MetricError


@pytest.mark.parametrize("n, k", [(10, 3), (97, 5), (100, 10), (7, 7)])
def test_kfold_is_sklearns_kfold(n, k):
    for (tr, te), (rtr, rte) in zip(splits.kfold(n, k), KFold(k).split(np.zeros(n)), strict=True):
        np.testing.assert_array_equal(tr, rtr)
        np.testing.assert_array_equal(te, rte)


@pytest.mark.parametrize("seed", range(8))
def test_stratified_fold_class_counts_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    y = rng.choice(4, size=int(rng.integers(40, 200)), p=rng.dirichlet(np.ones(4) * 2))
    y[:4 * k] = np.repeat(np.arange(4), k)  # every class has at least k items
    ours = splits.stratified_fold_ids(y, k, seed=seed)
    ours_counts = sorted(tuple(np.bincount(y[ours == f], minlength=4)) for f in range(k))
    ref_counts = sorted(tuple(np.bincount(y[te], minlength=4)) for _, te in StratifiedKFold(k).split(y, y))
    assert ours_counts == ref_counts


@pytest.mark.parametrize("seed", range(6))
def test_group_folds_keep_groups_whole_and_balance_like_sklearn(seed):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 30, 300)
    k = 5
    fold = splits.group_fold_ids(groups, k)
    for f in range(k):
        assert not set(groups[fold == f]) & set(groups[fold != f])
    ours = sorted(np.bincount(fold, minlength=k))
    ref = sorted(len(te) for _, te in GroupKFold(k).split(groups, groups=groups))
    assert ours == ref  # the same largest-group-first greedy balance


def test_train_val_test_is_disjoint_complete_and_stratified():
    y = np.r_[np.zeros(900), np.ones(100)].astype(int)
    tr, va, te = splits.train_val_test(len(y), y, val=0.2, test=0.2, seed=1)
    assert np.array_equal(np.sort(np.r_[tr, va, te]), np.arange(1000))
    for part in (tr, va, te):
        assert y[part].mean() == pytest.approx(0.1, abs=0.005)


def test_cross_validate_reports_spread():
    out = splits.cross_validate(lambda tr, te: float(len(te)), splits.kfold(10, 3))
    assert out["scores"] == [4.0, 3.0, 3.0]
    assert out["std"] == pytest.approx(np.std([4, 3, 3], ddof=1))
    assert out["naive_se"] == pytest.approx(out["std"] / np.sqrt(3))


@pytest.mark.parametrize("seed", range(4))
def test_leakage_report_catches_a_leaked_feature_only(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    X = rng.normal(size=(300, 6)) + 0.5 * y[:, None]
    X[:, 3] = y * 3 + rng.normal(0, 0.1, 300)  # the label, barely disguised
    X[:, 5] = -X[:, 3]  # a leak pointing the other way is a leak too
    found = splits.leakage_report(X, y)
    assert [f["feature"] for f in found] == ["x3", "x5"]
    assert found[0]["auc"] == pytest.approx(roc_auc_score(y, X[:, 3]))


def test_overlap_counts_duplicated_rows():
    X = np.arange(20.0).reshape(10, 2)
    assert splits.overlap(X[:6], X[4:]) == 2


def test_demo_on_breast_cancer():
    out = splits.demo()
    assert 0.9 < out["cv_accuracy"]["mean"] < 1 and out["cv_accuracy"]["k"] == 5
    assert out["leak_suspects_clean"] == []
    assert [f["feature"] for f in out["leak_suspects_with_leak"]] == ["follow_up_code"]


def test_bad_k():
    with pytest.raises(MetricError):
        splits.kfold(3, 5)
    with pytest.raises(MetricError):
        splits.group_fold_ids([1, 1, 2], 3)
