"""Classification metrics from the confusion matrix up, written from their definitions.

    python -m labs.lab03_classical.metrics        # accuracy vs AUPRC on a 1%-positive set

Counts      tp, fp, fn, tn at a threshold t: ŷ = 1[s ≥ t]
Precision   P = tp / (tp + fp)          Recall R = tp / (tp + fn)
F-beta      F_β = (1 + β²)·P·R / (β²·P + R)   (β > 1 weighs recall, β < 1 precision)
ROC         (FPR, TPR) = (fp / (fp + tn), tp / (tp + fn)) for every distinct score as threshold
AUC         P(s⁺ > s⁻) + ½·P(s⁺ = s⁻) = (R₊ − n₊(n₊ + 1)/2) / (n₊·n₋)  (Mann-Whitney; R₊ = rank sum
            of the positives, ties given their mean rank)
PR / AP     AP = Σ_k (R_k − R_{k−1})·P_k over distinct thresholds, highest first (no interpolation)
Log-loss    −(1/n) Σ [y·log p + (1 − y)·log(1 − p)],  p clipped to [ε, 1 − ε]
Brier       (1/n) Σ (p − y)²

Every function here is checked against `sklearn.metrics` on random inputs (tests/lab03/test_metrics.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata


class MetricError(ValueError):
    """Input a metric cannot take (lengths differ, one class only, scores outside [0, 1]): a 4xx."""


def _binary(y_true: Sequence, field: str = "y_true") -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1 or y.size == 0:
        raise MetricError(f"{field} must be a non-empty list of 0/1 labels")
    if not np.isin(y, (0, 1)).all():
        raise MetricError(f"{field} must hold only 0 and 1")
    return y.astype(int)


def _pair(y_true: Sequence, y_score: Sequence, field: str = "y_score") -> tuple[np.ndarray, np.ndarray]:
    y = _binary(y_true)
    s = np.asarray(y_score, dtype=float)
    if s.shape != y.shape:
        raise MetricError(f"{field} has {s.size} values but y_true has {y.size}; they must match")
    if not np.isfinite(s).all():
        raise MetricError(f"{field} must be finite numbers")
    return y, s


def _two_classes(y: np.ndarray, what: str) -> None:
    if y.min() == y.max():
        raise MetricError(f"y_true holds only class {int(y[0])}; {what} needs both classes")


def confusion_matrix(y_true: Sequence, y_pred: Sequence) -> np.ndarray:
    """[[tn, fp], [fn, tp]]: rows are the truth, columns the prediction (sklearn's layout)."""
    y, yhat = _pair(y_true, y_pred, "y_pred")
    _binary(yhat, "y_pred")
    cm = np.zeros((2, 2), dtype=int)
    np.add.at(cm, (y, yhat.astype(int)), 1)
    return cm


def fbeta(precision: float, recall: float, beta: float) -> float:
    """F_β; 0 when both precision and recall are 0 (sklearn's zero_division=0)."""
    denom = beta**2 * precision + recall
    return 0.0 if denom == 0 else float((1 + beta**2) * precision * recall / denom)


def from_counts(tp: int, fp: int, fn: int, tn: int, betas: Sequence[float] = (1.0,)) -> dict[str, float]:
    """Precision, recall, specificity, accuracy and F_β for each β from the four counts."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    out = {"precision": precision, "recall": recall,
           "specificity": tn / (tn + fp) if tn + fp else 0.0,
           "accuracy": (tp + tn) / (tp + fp + fn + tn)}
    for beta in betas:
        out[f"f{beta:g}"] = fbeta(precision, recall, beta)
    return out


def _descending(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative tp and fp with the threshold set at each distinct score, highest score first."""
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]  # ties move together
    tps = np.cumsum(y)[last_of_each]
    fps = (last_of_each + 1) - tps
    return tps, fps, s[last_of_each]


def roc_curve(y_true: Sequence, y_score: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FPR, TPR and thresholds, starting at (0, 0) with threshold +inf (every intermediate point kept)."""
    y, s = _pair(y_true, y_score)
    _two_classes(y, "a ROC curve")
    tps, fps, thresholds = _descending(y, s)
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return fpr, tpr, np.r_[np.inf, thresholds]


def roc_auc(y_true: Sequence, y_score: Sequence) -> float:
    """AUC as the Mann-Whitney statistic: the chance a random positive outscores a random negative."""
    y, s = _pair(y_true, y_score)
    _two_classes(y, "AUC")
    ranks = rankdata(s)  # ties get their mean rank, which counts a tie as half a win
    n_pos = y.sum()
    n_neg = y.size - n_pos
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_curve(y_true: Sequence, y_score: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, thresholds in increasing-threshold order, ending at (P=1, R=0) as sklearn does.
    Points past full recall are kept (sklearn >= 1.6 keeps them too): they only add false positives."""
    y, s = _pair(y_true, y_score)
    if y.sum() == 0:
        raise MetricError("y_true has no positive; a precision-recall curve needs at least one")
    tps, fps, thresholds = _descending(y, s)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def average_precision(y_true: Sequence, y_score: Sequence) -> float:
    """AP = Σ (R_k − R_{k−1})·P_k: the area under the PR step curve, no interpolation."""
    precision, recall, _ = pr_curve(y_true, y_score)
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def _probabilities(y_true: Sequence, p: Sequence, field: str = "y_score") -> tuple[np.ndarray, np.ndarray]:
    y, p = _pair(y_true, p, field)
    if (p < 0).any() or (p > 1).any():
        raise MetricError(f"{field} must be probabilities in [0, 1] for log-loss and Brier")
    return y, p


def log_loss(y_true: Sequence, p: Sequence, eps: float = 1e-15) -> float:
    """Binary cross-entropy of P(y = 1); p is clipped so a confident miss costs −log ε, not infinity."""
    y, p = _probabilities(y_true, p)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def brier(y_true: Sequence, p: Sequence) -> float:
    y, p = _probabilities(y_true, p)
    return float(np.mean((p - y) ** 2))


def report(y_true: Sequence, y_score: Sequence | None = None, y_pred: Sequence | None = None,
           threshold: float = 0.5, betas: Sequence[float] = (0.5, 1.0, 2.0)) -> dict:
    """Every metric the inputs allow: counts and F_β always; curves and AUCs with scores; log-loss and
    Brier when the scores are probabilities."""
    if (y_score is None) == (y_pred is None):
        raise MetricError("send exactly one of y_score (scores or probabilities) and y_pred (0/1 predictions)")
    y = _binary(y_true)
    if y_score is not None:
        y, s = _pair(y, y_score)
        yhat = (s >= threshold).astype(int)
    else:
        y, yhat = _pair(y, y_pred, "y_pred")
        yhat = _binary(yhat, "y_pred")
    (tn, fp), (fn, tp) = confusion_matrix(y, yhat)
    out: dict = {"n": int(y.size), "prevalence": float(y.mean()),
                 "confusion": {"tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn)},
                 **from_counts(int(tp), int(fp), int(fn), int(tn), betas)}
    if y_score is None:
        return out
    out["threshold"] = threshold
    if y.min() != y.max():
        out["roc_auc"] = roc_auc(y, s)
        out["average_precision"] = average_precision(y, s)
    if ((s >= 0) & (s <= 1)).all():
        out["log_loss"] = log_loss(y, s)
        out["brier"] = brier(y, s)
    return out


def imbalance_demo(n: int = 20_000, prevalence: float = 0.01, separation: float = 1.8, seed: int = 0) -> dict:
    """Accuracy rewards predicting 'negative' on a rare class; AUPRC does not.

    Scores are simulated (positives ~ N(separation, 1), negatives ~ N(0, 1)) so the prevalence is
    exactly controlled: the AUC of such a scorer is Φ(separation/√2) whatever the prevalence, while
    its AUPRC falls with the prevalence, and a constant scorer's AUPRC equals the prevalence.
    """
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    s = rng.normal(separation * y, 1.0)
    constant = np.zeros(n)
    return {
        "n": n, "positives": int(y.sum()), "prevalence": float(y.mean()),
        "always_negative": {"accuracy": float((y == 0).mean()), "roc_auc": roc_auc(y, constant),
                            "average_precision": average_precision(y, constant)},
        "scorer": {"accuracy_at_best_threshold": float(max(((s >= t) == y).mean() for t in np.quantile(s, np.linspace(0, 1, 201)))),
                   "roc_auc": roc_auc(y, s), "average_precision": average_precision(y, s)},
    }


if __name__ == "__main__":
    print(json.dumps(imbalance_demo(), indent=2))
