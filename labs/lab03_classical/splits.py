"""Train/validation/test discipline: stratified and grouped splits, k-fold CV with its spread, leakage checks.

    python -m labs.lab03_classical.splits         # 5-fold CV on breast_cancer, and a leaked feature caught

Stratified k-fold   sort the items by class, deal them round-robin into k folds: every fold gets
                    ⌊n_c/k⌋ or ⌈n_c/k⌉ of class c (the same counts as sklearn's StratifiedKFold).
Group k-fold        a group (a patient, a user, a document) never straddles train and test; groups go,
                    largest first, to the fold with the fewest items so far.
CV estimate         mean of the k fold scores; its spread is the std over folds. The folds share
                    training data, so std/√k understates the true uncertainty (no unbiased variance
                    estimator exists for k-fold CV, Bengio & Grandvalet 2004): report the fold std too.
Leakage             a single feature that separates the classes almost perfectly on its own
                    (single-feature AUC ≥ 0.99 or ≤ 0.01) is a suspect; an item that appears in both train
                    and test is a leak.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from labs.lab03_classical.metrics import MetricError, roc_auc


def train_val_test(n: int, y: Sequence | None = None, val: float = 0.15, test: float = 0.15,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays for train / validation / test; stratified by y when given. The test part is for
    the one final number; every choice (features, hyper-parameters, thresholds) is made on validation."""
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise MetricError("val and test must be fractions in (0, 1) that sum to less than 1")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    classes = [np.arange(n)] if y is None else [np.flatnonzero(np.asarray(y) == c) for c in np.unique(y)]
    for idx in classes:
        idx = rng.permutation(idx)
        n_test = int(round(test * idx.size))
        n_val = int(round(val * idx.size))
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test:n_test + n_val])
        parts[0].append(idx[n_test + n_val:])
    train, val_idx, test_idx = (np.sort(np.concatenate(p)) for p in parts)
    return train, val_idx, test_idx


def kfold(n: int, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Contiguous folds, the first n mod k of them one item larger (sklearn's KFold without shuffling)."""
    if not 2 <= k <= n:
        raise MetricError(f"k must be between 2 and the number of items ({n})")
    sizes = np.full(k, n // k)
    sizes[: n % k] += 1
    bounds = np.r_[0, np.cumsum(sizes)]
    every = np.arange(n)
    return [(np.r_[every[:lo], every[hi:]], every[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def stratified_fold_ids(y: Sequence, k: int, seed: int | None = None) -> np.ndarray:
    """Fold number of each item: class-sorted items dealt round-robin (shuffled within a class when seeded)."""
    y = np.asarray(y)
    _, counts = np.unique(y, return_counts=True)
    if counts.max() < k:
        raise MetricError(f"k = {k} folds but no class has that many items")
    rng = np.random.default_rng(seed) if seed is not None else None
    order = np.argsort(y, kind="stable")
    if rng is not None:
        order = np.concatenate([rng.permutation(order[y[order] == c]) for c in np.unique(y)])
    fold = np.empty(y.size, dtype=int)
    fold[order] = np.arange(y.size) % k
    return fold


def group_fold_ids(groups: Sequence, k: int) -> np.ndarray:
    """Fold number of each item such that each group lands in exactly one fold, folds balanced in size."""
    groups = np.asarray(groups)
    names, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if names.size < k:
        raise MetricError(f"k = {k} folds but only {names.size} groups")
    load = np.zeros(k, dtype=int)
    fold_of_group = np.empty(names.size, dtype=int)
    for g in np.argsort(-sizes, kind="stable"):
        f = int(np.argmin(load))
        fold_of_group[g] = f
        load[f] += sizes[g]
    return fold_of_group[inverse]


def folds_from_ids(fold: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(int(fold.max()) + 1)]


def cross_validate(fit_score: Callable[[np.ndarray, np.ndarray], float],
                   folds: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Fold scores of fit_score(train_idx, test_idx), their mean, std and the naive std error."""
    scores = np.array([fit_score(tr, te) for tr, te in folds])
    k = scores.size
    return {"scores": scores.tolist(), "mean": float(scores.mean()), "std": float(scores.std(ddof=1)),
            "naive_se": float(scores.std(ddof=1) / np.sqrt(k)), "k": k}


def leakage_report(X: np.ndarray, y: Sequence, names: Sequence[str] | None = None,
                   threshold: float = 0.99) -> list[dict]:
    """Features whose single-feature AUC is ≥ threshold (or ≤ 1 − threshold): too good to be honest."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    names = list(names) if names is not None else [f"x{j}" for j in range(X.shape[1])]
    out = []
    for j in range(X.shape[1]):
        auc = roc_auc(y, X[:, j])
        if max(auc, 1 - auc) >= threshold:
            out.append({"feature": names[j], "auc": auc})
    return out


def overlap(X_train: np.ndarray, X_test: np.ndarray) -> int:
    """How many test rows also appear, exactly, in train (duplicates are a leak through the items)."""
    seen = {row.tobytes() for row in np.ascontiguousarray(X_train, dtype=float)}
    return sum(row.tobytes() in seen for row in np.ascontiguousarray(X_test, dtype=float))


def demo(seed: int = 0) -> dict:
    """5-fold stratified CV of logistic regression on breast_cancer, then the same data with a leak."""
    data = load_breast_cancer()
    X, y = data.data, data.target
    folds = folds_from_ids(stratified_fold_ids(y, 5, seed))

    def fit_score(tr: np.ndarray, te: np.ndarray) -> float:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X[tr], y[tr])
        return float((model.predict(X[te]) == y[te]).mean())

    rng = np.random.default_rng(seed)
    leaked = np.column_stack([X, y + rng.normal(0, 0.05, y.size)])  # e.g. a field filled in after diagnosis
    names = [*data.feature_names, "follow_up_code"]
    return {"cv_accuracy": cross_validate(fit_score, folds),
            "leak_suspects_clean": leakage_report(X, y, list(data.feature_names)),
            "leak_suspects_with_leak": leakage_report(leaked, y, names)}


if __name__ == "__main__":
    print(json.dumps(demo(), indent=2))
