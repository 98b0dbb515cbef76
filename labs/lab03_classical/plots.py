"""The pictures of chapter 03 as PNG bytes: ROC and PR curves, reliability diagrams.

    curl -s localhost:8003/metrics/roc.png -H 'content-type: application/json' -d '{"y_true": [0,1,1,0], "y_score": [0.1,0.8,0.6,0.4]}' -o roc.png

matplotlib with the Agg backend (no display); each function draws one figure and closes it, so a
long-running service does not accumulate figures.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen before pyplot loads)
import numpy as np  # noqa: E402

from labs.lab03_classical import calibration, metrics  # noqa: E402
from shared.plots import OUTSIDE, png


def roc_png(y_true, y_score) -> bytes:
    fpr, tpr, _ = metrics.roc_curve(y_true, y_score)
    auc = metrics.roc_auc(y_true, y_score)
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot(fpr, tpr, drawstyle="steps-post", label=f"model (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance (AUC 0.5)")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(**OUTSIDE)  # a request's scores can put the curve anywhere, below the diagonal too
    return png(fig, dpi=110)


def pr_png(y_true, y_score) -> bytes:
    precision, recall, _ = metrics.pr_curve(y_true, y_score)
    ap = metrics.average_precision(y_true, y_score)
    prevalence = float(np.mean(y_true))
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot(recall, precision, drawstyle="steps-post", label=f"model (AP {ap:.3f})")
    ax.axhline(prevalence, ls="--", color="grey", label=f"chance (AP = prevalence {prevalence:.3f})")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(**OUTSIDE)  # a request's scores can put the curve anywhere
    return png(fig, dpi=110)


def reliability_png(y_true, curves: dict[str, np.ndarray], n_bins: int = 10, strategy: str = "width",
                    axes: tuple[str, str] = ("predicted P(y = 1)", "observed frequency of y = 1")) -> bytes:
    """One panel: the diagonal, and per named set of P(y=1) its bins' (confidence, accuracy) with the ECE;
    below, how many predictions each bin of the first set holds."""
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(4.6, 5.6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    for name, p in curves.items():
        rows = calibration.reliability(y_true, p, n_bins, strategy)
        e = calibration.ece(y_true, p, n_bins, strategy)
        ax.plot([r["confidence"] for r in rows], [r["accuracy"] for r in rows], "o-", label=f"{name} (ECE {e:.3f})")
    first = next(iter(curves.values()))
    hist.hist(first, bins=np.linspace(0, 1, n_bins + 1), color="tab:blue", alpha=0.6)
    ax.set(ylabel=axes[1], title=f"Reliability diagram ({n_bins} {strategy} bins)",
           xlim=(0, 1), ylim=(0, 1))
    hist.set(xlabel=axes[0], ylabel="count")
    ax.legend(fontsize=8, **OUTSIDE)  # a bin's point can sit in any corner (a small bin at accuracy 1 or 0)
    return png(fig, dpi=110)
