"""The classifier zoo on bundled tabular data, each model measured with CIs against an honest baseline.

    python -m labs.lab03_classical.models         # the zoo on every dataset: when trees win, when they don't
    python bench/bench_lab03_fit_cost.py          # fit_cost_s (POST /fit's budget) beside measured fit times

Datasets ship inside scikit-learn and statsmodels (nothing is downloaded):
breast_cancer, digits, iris, wine as scikit-learn bundles them; two binary views: iris_versicolor
(versicolor vs the rest: it sits between the other two species, so the class is not on one side of any
line) and digits_8 (an 8 vs every other digit, ~10% positive); fair (statsmodels: did a respondent
report any affair, 6,366 rows, 32% positive).

Models: baseline (always the majority class, with the class frequencies as probabilities), logistic
(standardised features), random_forest, gradient_boosting (histogram GBDT). Every report puts the
model next to the baseline on the same test items: a paired bootstrap CI of the accuracy gain says
whether it beats it.

When trees win: a class that is not monotone in any feature (iris_versicolor: AUC 0.80 for the linear
model, 0.98 for trees) or an interaction of features; when the signal is roughly linear in the
features (breast_cancer, fair) logistic regression matches or beats them, with fewer ways to overfit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import statsmodels.api as sm
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from labs.lab03_classical import calibration, metrics, significance, splits
from labs.lab03_classical.metrics import MetricError

DATASETS = ("breast_cancer", "digits", "iris", "wine", "iris_versicolor", "digits_8", "fair")
MODELS = ("baseline", "logistic", "random_forest", "gradient_boosting")


@dataclass(frozen=True)
class Dataset:
    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    source: str

    @property
    def n_classes(self) -> int:
        return int(np.unique(self.y).size)


@cache
def load(name: str) -> Dataset:
    """One of DATASETS, read from the package that ships it (cached: each is read once per process)."""
    if name in ("breast_cancer", "digits", "iris", "wine", "iris_versicolor", "digits_8"):
        loader = {"breast_cancer": load_breast_cancer, "digits": load_digits, "iris": load_iris,
                  "wine": load_wine, "iris_versicolor": load_iris, "digits_8": load_digits}[name]
        bunch = loader()
        y = bunch.target
        if name == "iris_versicolor":
            y = (y == 1).astype(int)
        elif name == "digits_8":
            y = (y == 8).astype(int)
        return Dataset(name, bunch.data.astype(float), y, [str(f) for f in bunch.feature_names], "scikit-learn")
    if name == "fair":
        frame = sm.datasets.fair.load_pandas().data
        return Dataset(name, frame.drop(columns="affairs").to_numpy(float), (frame["affairs"] > 0).to_numpy(int),
                       [c for c in frame.columns if c != "affairs"], "statsmodels")
    raise MetricError(f"dataset must be one of {DATASETS}")


def make_model(name: str, seed: int = 0):
    if name == "baseline":
        return DummyClassifier(strategy="prior")
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if name == "random_forest":
        return RandomForestClassifier(n_estimators=60, min_samples_leaf=2, random_state=seed, n_jobs=1)
    if name == "gradient_boosting":
        return HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15, early_stopping=False, random_state=seed)
    raise MetricError(f"model must be one of {MODELS}")


def fit_predict(name: str, X_tr: np.ndarray, y_tr: np.ndarray, X_te: np.ndarray, seed: int = 0) -> np.ndarray:
    """Class probabilities for X_te. One thread: on a shared CPU, OpenMP's spinning threads make the
    gradient-boosting fit 20x slower, not faster."""
    with threadpool_limits(1):
        return make_model(name, seed).fit(X_tr, y_tr).predict_proba(X_te)


def accuracy(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Share of matches along the last axis (one value per bootstrap row when given B × n arrays)."""
    return (y == pred).mean(axis=-1)


def f1_macro(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Unweighted mean over classes of F1 = 2tp / (2tp + fp + fn), along the last axis (classes present
    in y or pred; a class with no tp scores 0, sklearn's zero_division=0)."""
    f1 = []
    for c in np.union1d(np.unique(y), np.unique(pred)):
        tp = ((pred == c) & (y == c)).sum(axis=-1)
        wrong = ((pred == c) != (y == c)).sum(axis=-1)  # fp + fn
        f1.append(np.where(2 * tp + wrong > 0, 2 * tp / np.maximum(2 * tp + wrong, 1), 0.0))
    return np.mean(f1, axis=0)


def _scores(y: np.ndarray, P: np.ndarray, B: int, seed: int) -> dict:
    pred = P.argmax(axis=1)
    out = {"accuracy": significance.bootstrap_metric(accuracy, y, pred, B=B, seed=seed, vectorised=True),
           "f1_macro": significance.bootstrap_metric(f1_macro, y, pred, B=B, seed=seed, vectorised=True),
           "log_loss": calibration.nll(y, P)}
    correct, confidence = calibration.top_label(y, P)
    out["ece_top_label"] = calibration.ece(correct, confidence, 10)
    if P.shape[1] == 2:
        out["roc_auc"] = significance.bootstrap_metric(metrics.roc_auc, y, P[:, 1], B=B, seed=seed)
        out["average_precision"] = metrics.average_precision(y, P[:, 1])
        out["brier"] = metrics.brier(y, P[:, 1])
    return out


# Seconds one fit takes: overhead_s + s_per_row * rows + s_per_unit * rows * features * classes, over the
# whole dataset (a fit sees 50-80% of its rows, so the estimate leans high). Classes count because gradient
# boosting grows one tree per class per round and multinomial logistic regression fits one weight vector
# per class. The per-row term is the random forest's: its 60 trees try sqrt(features) per split, so rows
# drive it more than features (fair's 6,366 rows x 8 features cost more than digits' 1,797 x 64 x 10 per unit).
# Calibrated with fit_predict on each bundled dataset's 75% training split, the fastest of 3 runs, on this
# project's shared 2-core dev machine (load average 5-6, one thread per fit), then rounded up to the
# envelope of two such runs (`python bench/bench_lab03_fit_cost.py` re-measures: measured/estimated per pair):
#   gradient_boosting  digits 1.70-2.32 s (1,150,080 units), digits_8 0.17-0.30, breast_cancer 0.21-0.24,
#                      wine 0.07-0.23, fair 0.10-0.15, iris 0.06-0.11, iris_versicolor 0.03-0.05
#   random_forest      digits 0.45-0.63, fair 0.57-0.59, digits_8 0.23-0.45, breast_cancer 0.26-0.32,
#                      wine 0.26-0.29, iris 0.24-0.25, iris_versicolor 0.12-0.26
#   logistic           0.01-0.07 s everywhere;  baseline 0.01 s everywhere
FIT_COST = {  # model: (overhead_s, s_per_row, s_per_unit)
    "baseline": (0.01, 0.0, 0.0),
    "logistic": (0.04, 0.0, 0.03e-6),
    "random_forest": (0.30, 50e-6, 0.2e-6),
    "gradient_boosting": (0.25, 0.0, 1.9e-6),
}
# The report's bootstrap CIs (B = 300) and metrics on top of the fits: a whole baseline-model report took
# 0.03-0.34 s (fair's 1,592 binary test items, with a bootstrap of the AUC, are the slowest)
BOOTSTRAP_S = 0.35
# What a synchronous POST /fit may cost: a request answers in a few seconds, and a 10 s client timeout still
# holds on a machine three times as loaded. digits + gradient_boosting + 3 folds (4 fits, 10.1 s estimated,
# 3.7-24 s measured) is over it; every README example and test fit is far below (iris_versicolor: 0.6 s).
SYNC_FIT_BUDGET_S = 3.0


def fit_cost_s(dataset: str, model: str, cv_folds: int = 0) -> float:
    """Estimated seconds of one core that fit_report(dataset, model, cv_folds=cv_folds) takes, from its
    inputs alone (nothing is fitted): (1 + cv_folds) fits of the model (the held-out fit, then one per
    fold), each overhead_s + s_per_row * rows + s_per_unit * rows * features * classes (FIT_COST,
    calibrated above), plus the baseline fit and the bootstrap. POST /fit refuses a request whose estimate is over SYNC_FIT_BUDGET_S and
    names POST /fit/jobs, which runs the same report as a job with progress: heavy work in a request would
    hold a worker thread and the client past its timeout, with no progress and no way to cancel it."""
    if model not in FIT_COST:
        raise MetricError(f"model must be one of {MODELS}")
    data = load(dataset)
    rows, features = data.X.shape
    overhead_s, s_per_row, s_per_unit = FIT_COST[model]
    per_fit = overhead_s + s_per_row * rows + s_per_unit * rows * features * data.n_classes
    return (1 + cv_folds) * per_fit + FIT_COST["baseline"][0] + BOOTSTRAP_S


Progress = Callable[[int, int, str], None]


def fit_report(dataset: str, model: str, test_size: float = 0.25, seed: int = 0, cv_folds: int = 0,
               B: int = 300, progress: Progress | None = None) -> dict:
    """Fit on a stratified train split, score the held-out test split with bootstrap CIs, beside the
    baseline on the same items; optionally k-fold CV accuracy (mean, fold std) on the whole set.

    `progress(done, total, message)`, if given, is called at the start and after each step: the
    held-out fit, the baseline, the bootstrap, each CV fold (3 + cv_folds steps). A job passes its ctx.progress, which
    raises JobCancelled when a cancel was asked for: the report stops between fits."""
    data = load(dataset)
    if model not in MODELS:
        raise MetricError(f"model must be one of {MODELS}")
    total = 3 + cv_folds
    report = progress or (lambda done, total, message: None)
    report(0, total, f"fitting {model} on {dataset}: {1 + cv_folds} fits, the baseline, the bootstrap")
    train, _, test = splits.train_val_test(len(data.y), data.y, val=1e-9, test=test_size, seed=seed)
    X_tr, y_tr, X_te, y_te = data.X[train], data.y[train], data.X[test], data.y[test]
    P = fit_predict(model, X_tr, y_tr, X_te, seed)
    report(1, total, f"held-out fit: {model} on {train.size} rows")
    P_base = fit_predict("baseline", X_tr, y_tr, X_te, seed)
    report(2, total, "baseline fit")
    vs = significance.paired_bootstrap((P_base.argmax(1) == y_te).astype(float), (P.argmax(1) == y_te).astype(float),
                                       B=B, seed=seed)
    out = {"dataset": dataset, "source": data.source, "model": model, "n_train": int(train.size),
           "n_test": int(test.size), "classes": data.n_classes, "test": _scores(y_te, P, B, seed),
           "baseline": {"accuracy": float((P_base.argmax(1) == y_te).mean()), "log_loss": calibration.nll(y_te, P_base)},
           "accuracy_gain_over_baseline": {k: vs[k] for k in ("delta", "low", "high")},
           "beats_baseline": bool(vs["low"] > 0)}
    report(3, total, f"bootstrap CIs on {test.size} test items (B={B})")
    if cv_folds:
        folds = splits.folds_from_ids(splits.stratified_fold_ids(data.y, cv_folds, seed))
        done = iter(range(4, total + 1))

        def fold_accuracy(tr: np.ndarray, te: np.ndarray) -> float:
            acc = float((fit_predict(model, data.X[tr], data.y[tr], data.X[te], seed).argmax(1) == data.y[te]).mean())
            step = next(done)
            report(step, total, f"CV fold {step - 3}/{cv_folds}: accuracy {acc:.3f}")
            return acc

        out["cv_accuracy"] = splits.cross_validate(fold_accuracy, folds)
    return out


def zoo(datasets=DATASETS, folds: int = 5, seed: int = 0) -> dict:
    """Mean stratified k-fold AUC (binary) or accuracy (multiclass) of every model on every dataset."""
    table = {}
    for name in datasets:
        data = load(name)
        binary = data.n_classes == 2
        fold_ids = splits.stratified_fold_ids(data.y, folds, seed)
        row = {}
        for model in MODELS:
            # scored per fold then averaged: pooling out-of-fold scores would mix folds whose constant
            # baseline predictions differ, and rank them against each other
            per_fold = []
            for tr, te in splits.folds_from_ids(fold_ids):
                P = fit_predict(model, data.X[tr], data.y[tr], data.X[te], seed)
                per_fold.append(metrics.roc_auc(data.y[te], P[:, 1]) if binary
                                else float((P.argmax(1) == data.y[te]).mean()))
            row[model] = float(np.mean(per_fold))
        table[name] = {"metric": "roc_auc" if binary else "accuracy", **row}
    return table


if __name__ == "__main__":
    print(json.dumps(zoo(), indent=2))
