"""Calibration: ECE with either binning, reliability diagrams, and three recalibrators fitted from scratch.

    python -m labs.lab03_classical.calibration    # GaussianNB on digits: ECE before/after each method

ECE          Σ_b (n_b / n)·|acc(b) − conf(b)|, bins of equal width on [0, 1] or of equal mass (quantiles).
             Binary: conf = mean P(y=1), acc = share of y=1 in the bin (what a reliability diagram
             plots). Multiclass "top-label": conf = max_k p_k, acc = 1[argmax = y].
             ECE is an estimate that depends on the binning; `ece_sensitivity` reports how much.
Temperature  p = softmax(β·z), β = 1/T, one parameter for every class; z = log(p + ε) when only
             probabilities are known (ε = 1e-12, the clipping scikit-learn uses). NLL(β) is convex:
             dNLL/dβ = mean(E_p[z] − z_y), d²NLL/dβ² = mean(Var_p[z]) ≥ 0, so Newton steps (kept
             inside a bracket) find the minimum.
Platt        p = σ(A·s + B) fitted by Newton-Raphson (IRLS) on Platt's smoothed targets
             t₊ = (N₊ + 1)/(N₊ + 2), t₋ = 1/(N₋ + 2), which keep A, B finite on separable data.
Isotonic     the non-decreasing step function closest to y in squared error: pool adjacent
             violators (PAV); between fitted scores, linear interpolation; outside, clipped.

Checked against sklearn's calibration_curve, IsotonicRegression and CalibratedClassifierCV
(sigmoid, isotonic, temperature) in tests/lab03/test_calibration.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, softmax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from labs.lab03_classical.metrics import MetricError

LOG_EPS = 1e-12
STRATEGIES = ("width", "mass")


def _check(y: Sequence, p: Sequence) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    p = np.asarray(p, dtype=float)
    if y.ndim != 1 or y.size == 0:
        raise MetricError("y_true must be a non-empty list of labels")
    if p.shape[0] != y.size:
        raise MetricError(f"probs has {p.shape[0]} rows but y_true has {y.size}; they must match")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise MetricError("probs must be probabilities in [0, 1]")
    return y, p


def bin_edges(p: np.ndarray, n_bins: int, strategy: str = "width") -> np.ndarray:
    if strategy == "width":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if strategy == "mass":
        return np.percentile(p, np.linspace(0, 100, n_bins + 1))
    raise MetricError(f"strategy must be one of {STRATEGIES}")


def reliability(y_true: Sequence, p: Sequence, n_bins: int = 10, strategy: str = "width") -> list[dict]:
    """Per bin: its edges, how many predictions, their mean P(y=1) and the observed share of y=1."""
    y, p = _check(y_true, p)
    edges = bin_edges(p, n_bins, strategy)
    # an edge value belongs to the bin below it, as in sklearn's calibration_curve
    which = np.searchsorted(edges[1:-1], p)
    rows = []
    for b in range(n_bins):
        inside = which == b
        if inside.any():
            rows.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "count": int(inside.sum()),
                         "confidence": float(p[inside].mean()), "accuracy": float(y[inside].mean())})
    return rows


def ece(y_true: Sequence, p: Sequence, n_bins: int = 10, strategy: str = "width") -> float:
    """Expected calibration error of binary P(y=1) (see the module docstring)."""
    rows = reliability(y_true, p, n_bins, strategy)
    n = sum(r["count"] for r in rows)
    return float(sum(r["count"] / n * abs(r["accuracy"] - r["confidence"]) for r in rows))


def top_label(y_true: Sequence, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(correct, confidence) of the arg-max class: a multiclass model reduced to a binary question."""
    P = np.asarray(P, dtype=float)
    return (P.argmax(axis=1) == np.asarray(y_true)).astype(int), P.max(axis=1)


def ece_sensitivity(y_true: Sequence, p: Sequence, bins: Sequence[int] = (5, 10, 15, 20)) -> dict:
    """ECE for several bin counts and both strategies, and the ratio largest / smallest."""
    table = {s: {str(b): ece(y_true, p, b, s) for b in bins} for s in STRATEGIES}
    values = [v for row in table.values() for v in row.values()]
    return {"ece": table, "max_over_min": float(max(values) / min(values)) if min(values) > 0 else None}


def nll(y: np.ndarray, P: np.ndarray) -> float:
    """Mean negative log-likelihood of class-probability rows P (n × k) for labels y in 0..k-1."""
    return float(-np.mean(np.log(np.clip(P[np.arange(y.size), y], 1e-15, 1.0))))


def as_matrix(p: np.ndarray) -> np.ndarray:
    """Binary P(y=1) as the two columns [1 − p, p]; a matrix stays as it is."""
    return np.column_stack([1 - p, p]) if p.ndim == 1 else p


def logits_of(P: np.ndarray) -> np.ndarray:
    return np.log(P + LOG_EPS)


@dataclass
class Temperature:
    """softmax(β·z) with β fitted by maximum likelihood; T = 1/β (> 1 softens an over-confident model)."""

    beta: float = 1.0

    @property
    def T(self) -> float:  # noqa: N802  (the chapter's name)
        return 1.0 / self.beta

    def fit(self, P: np.ndarray, y: np.ndarray, lo: float = np.exp(-10), hi: float = np.exp(10)) -> Temperature:
        z = logits_of(as_matrix(np.asarray(P, dtype=float)))
        y = np.asarray(y, dtype=int)
        z_y = z[np.arange(y.size), y]

        def grad_hess(beta: float) -> tuple[float, float]:
            q = softmax(beta * z, axis=1)
            mean_z = (q * z).sum(axis=1)
            var_z = (q * z**2).sum(axis=1) - mean_z**2
            return float(np.mean(mean_z - z_y)), float(np.mean(var_z))

        # the derivative rises with β (convexity): keep a bracket [lo, hi] around its root
        if grad_hess(lo)[0] >= 0:
            self.beta = lo
            return self
        if grad_hess(hi)[0] <= 0:
            self.beta = hi
            return self
        beta = 1.0
        for _ in range(200):
            g, h = grad_hess(beta)
            if g > 0:
                hi = beta
            else:
                lo = beta
            if abs(g) < 1e-12 or hi - lo < 1e-12 * hi:
                break
            step = beta - g / h if h > 0 else None
            beta = step if step is not None and lo < step < hi else (lo + hi) / 2
        self.beta = float(beta)
        return self

    def predict(self, P: np.ndarray) -> np.ndarray:
        P = np.asarray(P, dtype=float)
        out = softmax(self.beta * logits_of(as_matrix(P)), axis=1)
        return out[:, 1] if P.ndim == 1 else out


@dataclass
class Platt:
    """P(y=1 | s) = σ(A·s + B), fitted by Newton's method on Platt's smoothed targets."""

    A: float = 1.0
    B: float = 0.0

    def fit(self, s: np.ndarray, y: np.ndarray, iters: int = 100) -> Platt:
        s = np.asarray(s, dtype=float)
        y = np.asarray(y, dtype=int)
        n_pos = int(y.sum())
        n_neg = y.size - n_pos
        t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
        X = np.column_stack([s, np.ones_like(s)])
        w = np.array([0.0, np.log((n_pos + 1) / (n_neg + 1))])

        def loss(w: np.ndarray) -> float:
            f = X @ w  # −[t log σ(f) + (1 − t) log σ(−f)], written stably
            return float(np.sum(np.logaddexp(0, f) - t * f))

        current = loss(w)
        for _ in range(iters):
            q = expit(X @ w)
            g = X.T @ (q - t)
            H = X.T @ (X * (q * (1 - q))[:, None]) + 1e-12 * np.eye(2)
            step = np.linalg.solve(H, g)
            shrink = 1.0
            while shrink > 1e-10:  # backtracking keeps every step a descent step
                trial = w - shrink * step
                if loss(trial) <= current:
                    break
                shrink /= 2
            done = np.abs(trial - w).max() < 1e-10
            w, current = trial, loss(trial)
            if done:
                break
        self.A, self.B = float(w[0]), float(w[1])
        return self

    def predict(self, s: np.ndarray) -> np.ndarray:
        return expit(self.A * np.asarray(s, dtype=float) + self.B)


@dataclass
class Isotonic:
    """A non-decreasing map from score to probability, fitted by pool-adjacent-violators."""

    x_: np.ndarray | None = None
    y_: np.ndarray | None = None

    def fit(self, s: np.ndarray, y: np.ndarray) -> Isotonic:
        s = np.asarray(s, dtype=float)
        y = np.asarray(y, dtype=float)
        # equal scores must get one value: pool them first (weight = how many)
        xs, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
        means = np.bincount(inverse, weights=y) / counts
        blocks: list[list[float]] = []  # [mean, weight, how many distinct scores]
        for m, w in zip(means, counts, strict=True):
            blocks.append([m, float(w), 1])
            while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:  # a violation: pool the two
                m2, w2, c2 = blocks.pop()
                m1, w1, c1 = blocks.pop()
                blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
        self.x_ = xs
        self.y_ = np.repeat([b[0] for b in blocks], [b[2] for b in blocks])
        return self

    def predict(self, s: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(s, dtype=float), self.x_, self.y_)


METHODS = ("temperature", "platt", "isotonic")


def calibrator(method: str):
    if method == "temperature":
        return Temperature()
    if method == "platt":
        return Platt()
    if method == "isotonic":
        return Isotonic()
    raise MetricError(f"method must be one of {METHODS}")


def scores(y: np.ndarray, p: np.ndarray, n_bins: int = 10, strategy: str = "width") -> dict[str, float]:
    """ECE, NLL and Brier of binary P(y=1)."""
    return {"ece": ece(y, p, n_bins, strategy), "nll": nll(y, as_matrix(p)), "brier": float(np.mean((p - y) ** 2))}


def cross_fit(y_true: Sequence, probs: Sequence, method: str, folds: int = 2, seed: int = 0) -> tuple[np.ndarray, list]:
    """Out-of-fold calibrated P(y=1): each fold is mapped by a calibrator fitted on the other folds, so
    the 'after' numbers are never measured on the data the calibrator saw."""
    y, p = _check(y_true, probs)
    if p.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise MetricError("y_true must be 0/1 labels and probs one P(y=1) per item")
    if y.min() == y.max():
        raise MetricError(f"y_true holds only class {int(y[0])}; calibration needs both classes")
    rng = np.random.default_rng(seed)
    fold = np.empty(y.size, dtype=int)
    for c in (0, 1):  # stratified, so every training part sees both classes when it can
        idx = rng.permutation(np.flatnonzero(y == c))
        fold[idx] = np.arange(idx.size) % folds
    out = np.empty_like(p)
    fitted = []
    for k in range(folds):
        train, test = fold != k, fold == k
        if not test.any():
            continue
        if y[train].min() == y[train].max():
            raise MetricError("too few items of one class to cross-fit a calibrator; send more data")
        model = calibrator(method).fit(p[train], y[train])
        out[test] = model.predict(p[test])
        fitted.append(model)
    return out, fitted


def describe(model) -> dict:
    if isinstance(model, Temperature):
        return {"T": model.T}
    if isinstance(model, Platt):
        return {"A": model.A, "B": model.B}
    return {"steps": int(np.unique(model.y_).size)}


def calibrate_report(y_true: Sequence, probs: Sequence, method: str, n_bins: int = 10,
                     strategy: str = "width", seed: int = 0) -> dict:
    y, p = _check(y_true, probs)
    after, fitted = cross_fit(y, p, method, seed=seed)
    return {"method": method, "n": int(y.size), "bins": n_bins, "strategy": strategy,
            "fitted": [describe(m) for m in fitted], "evaluated_on": "out-of-fold (2-fold cross-fitting)",
            "before": scores(y, p, n_bins, strategy), "after": scores(y, after, n_bins, strategy),
            "ece_binning_sensitivity": ece_sensitivity(y, p)}


def digits_gaussian_nb(seed: int = 0) -> dict:
    """GaussianNB on digits (over-confident by construction: it multiplies 64 'independent' pixels),
    recalibrated on a held-out calibration split and measured on a test split, top-label ECE."""
    X, y = load_digits(return_X_y=True)
    X_tr, X_rest, y_tr, y_rest = train_test_split(X, y, test_size=0.5, random_state=seed, stratify=y)
    X_cal, X_te, y_cal, y_te = train_test_split(X_rest, y_rest, test_size=0.5, random_state=seed, stratify=y_rest)
    clf = GaussianNB().fit(X_tr, y_tr)
    P_cal, P_te = clf.predict_proba(X_cal), clf.predict_proba(X_te)
    temp = Temperature().fit(P_cal, y_cal)
    P_after = temp.predict(P_te)
    out = {"n_test": int(y_te.size), "T": temp.T}
    for name, P in (("before", P_te), ("temperature", P_after)):
        correct, conf = top_label(y_te, P)
        out[name] = {"ece_top_label_15_bins": ece(correct, conf, 15), "nll": nll(y_te, P),
                     "accuracy": float(correct.mean())}
    return out


if __name__ == "__main__":
    print(json.dumps(digits_gaussian_nb(), indent=2))
