"""Calibration and the classifier zoo on bundled data: this lab's from-scratch code beside scikit-learn's.

    .venv/bin/python bench/bench_lab03_calibration.py        # ~1 minute on a quiet laptop

1. GaussianNB on digits (train / calibration / test halves of a stratified split): top-label ECE before
   and after temperature scaling; how much ECE moves between 5 and 20 bins (equal width and equal mass)
   on the same predictions.
2. digits_8 (an 8 vs the rest, binary): Platt, isotonic and temperature fitted from scratch vs
   CalibratedClassifierCV(FrozenEstimator) with the same method: the largest difference in any
   calibrated probability, and the in-sample ECE each reaches (temperature has no bias term: it cannot
   move a binary model whose errors are all on one side).
3. The zoo: mean 5-fold AUC / accuracy of baseline, logistic, random forest and gradient boosting on
   every bundled dataset (when trees win).
Writes bench/results/lab03_calibration.json and three PNGs: the reliability diagram (digits, before and
after temperature), ROC and PR curves (breast_cancer, logistic regression, held-out quarter).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from labs.lab03_classical import calibration, models, plots, splits
from shared.plots import replot

OUT = Path(__file__).resolve().parent / "results"


def _kept(values) -> list[float]:
    """Probabilities as the JSON keeps them for re-drawing: 6 significant digits is finer than any bin."""
    return [float(f"{v:.6g}") for v in np.asarray(values, dtype=float)]


def digits_temperature() -> dict:
    data = models.load("digits")
    X_tr, X_rest, y_tr, y_rest = train_test_split(data.X, data.y, test_size=0.5, random_state=0, stratify=data.y)
    X_cal, X_te, y_cal, y_te = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0, stratify=y_rest)
    clf = GaussianNB().fit(X_tr, y_tr)
    temp = calibration.Temperature().fit(clf.predict_proba(X_cal), y_cal)
    P, P_after = clf.predict_proba(X_te), temp.predict(clf.predict_proba(X_te))
    correct, conf = calibration.top_label(y_te, P)
    correct_after, conf_after = calibration.top_label(y_te, P_after)
    sens = calibration.ece_sensitivity(correct, conf, bins=(5, 10, 15, 20))
    sens_after = calibration.ece_sensitivity(correct_after, conf_after, bins=(5, 10, 15, 20))
    # what the reliability PNG is drawn from (correct_after == correct: temperature keeps the argmax)
    drawn = {"correct": [int(c) for c in correct],
             "confidence": {"GaussianNB": _kept(conf), f"temperature T={temp.T:.2f}": _kept(conf_after)}}
    return {"n_test": int(y_te.size), "T": temp.T, "reliability_plot": drawn,
            "ece_15_bins": {"before": calibration.ece(correct, conf, 15), "after": calibration.ece(correct_after, conf_after, 15)},
            "nll": {"before": calibration.nll(y_te, P), "after": calibration.nll(y_te, P_after)},
            # before: nearly every confidence is ~1.0, so every binning puts them in one bin and agrees;
            # after: confidences spread over [0.3, 1] and the binning starts to matter
            "ece_by_binning_before": sens["ece"], "ece_by_binning_after": sens_after["ece"],
            "ece_max_over_min_across_binnings": {"before": sens["max_over_min"], "after": sens_after["max_over_min"]},
            "ece_20_over_5_width_bins_after": sens_after["ece"]["width"]["20"] / sens_after["ece"]["width"]["5"]}


def binary_methods() -> dict:
    data = models.load("digits_8")
    X_tr, X_cal, y_tr, y_cal = train_test_split(data.X, data.y, test_size=0.5, random_state=0, stratify=data.y)
    clf = GaussianNB().fit(X_tr, y_tr)
    s = clf.predict_proba(X_cal)[:, 1]
    out = {}
    for ours_name, sk_name in (("platt", "sigmoid"), ("isotonic", "isotonic"), ("temperature", "temperature")):
        ours = calibration.calibrator(ours_name).fit(s, y_cal)
        ref = CalibratedClassifierCV(FrozenEstimator(clf), method=sk_name).fit(X_cal, y_cal)
        diff = float(np.abs(ours.predict(s) - ref.predict_proba(X_cal)[:, 1]).max())
        out[ours_name] = {"max_abs_prob_diff_vs_sklearn": diff,
                          "ece_10_bins_in_sample": {"before": calibration.ece(y_cal, s), "after": calibration.ece(y_cal, ours.predict(s))}}
    return out


def curves() -> dict:
    data = models.load("breast_cancer")
    train, _, test = splits.train_val_test(len(data.y), data.y, val=1e-9, test=0.25, seed=0)
    p = models.fit_predict("logistic", data.X[train], data.y[train], data.X[test])[:, 1]
    y = data.y[test]
    # malignant (0 in sklearn's coding) is the class a screen looks for: make it the positive class
    return {"n_test": int(y.size), "positive_class": "malignant",
            "y_true": [int(v) for v in 1 - y], "score": _kept(1 - p)}


def plot(result: dict, path: Path) -> None:
    """The digits reliability diagram, before and after temperature, from the JSON's stored confidences."""
    drawn = result["digits_gaussian_nb_temperature"]["reliability_plot"]
    path.write_bytes(plots.reliability_png(np.asarray(drawn["correct"]), {k: np.asarray(v) for k, v in
                                                                         drawn["confidence"].items()}, 15,
                                           axes=("confidence (top-label probability)", "accuracy")))


def plot_roc(result: dict, path: Path) -> None:
    c = result["curves"]
    path.write_bytes(plots.roc_png(np.asarray(c["y_true"]), np.asarray(c["score"])))


def plot_pr(result: dict, path: Path) -> None:
    c = result["curves"]
    path.write_bytes(plots.pr_png(np.asarray(c["y_true"]), np.asarray(c["score"])))


# the lab's own figure functions draw these; they go through shared.plots.png, which runs the same check
PLOTS = {"lab03_reliability.png": plot, "lab03_roc.png": plot_roc, "lab03_pr.png": plot_pr}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNGs from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab03_calibration.json", PLOTS)
        return
    OUT.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    digits = digits_temperature()
    curve_info = curves()
    result = {"digits_gaussian_nb_temperature": digits, "digits_8_binary_methods": binary_methods(),
              "zoo_5_fold": models.zoo(), "curves": curve_info, "wall_s": None}
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    (OUT / "lab03_calibration.json").write_text(json.dumps(result, indent=2))
    for name, draw in PLOTS.items():
        draw(result, OUT / name)
    shown = {**result, "digits_gaussian_nb_temperature": {k: v for k, v in digits.items() if k != "reliability_plot"},
             "curves": {"n_test": curve_info["n_test"]}}  # the stored inputs of the plots are long lists
    print(json.dumps(shown, indent=2))


if __name__ == "__main__":
    main()
