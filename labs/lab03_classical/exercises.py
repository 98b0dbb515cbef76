"""The chapter's six worked exercises, computed.

    python -m labs.lab03_classical.exercises          # readable
    python -m labs.lab03_classical.exercises --json   # one JSON object {exercise: {inputs..., answer...}}
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from labs.lab03_classical import calibration, metrics, regularization, significance


def f_scores_from_confusion(tp: int = 80, fp: int = 20, fn: int = 40, tn: int = 860) -> dict:
    """F1, F2 and F0.5 of a spam filter that catches 80 of 120 spams and flags 20 good mails."""
    m = metrics.from_counts(tp, fp, fn, tn, betas=(1.0, 2.0, 0.5))
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": m["precision"], "recall": m["recall"],
            "f1": m["f1"], "f2": m["f2"], "f0.5": m["f0.5"],
            "note": "recall < precision, so F2 (recall-weighted) < F1 < F0.5 (precision-weighted)"}


def ece_five_bins(n: int = 100, seed: int = 3) -> dict:
    """ECE of 100 over-confident predictions in 5 equal-width bins: the true P(y=1) is 0.5 + 0.6·(p − 0.5)."""
    rng = np.random.default_rng(seed)
    p = np.round(rng.uniform(0.02, 0.98, n), 2)
    y = (rng.random(n) < 0.5 + 0.6 * (p - 0.5)).astype(int)
    rows = calibration.reliability(y, p, 5)
    return {"n": n, "bins": 5, "per_bin": [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
                                           for r in rows],
            "ece": calibration.ece(y, p, 5), "ece_mass_bins": calibration.ece(y, p, 5, "mass")}


def separable_logistic() -> dict:
    """Logistic regression on four separable points: ‖w‖ by iteration, without and with L2 (λ = 0.01)."""
    plain = regularization.separable_logistic(0.0)
    l2 = regularization.separable_logistic(0.01)
    return {"points": "(1,2),(2,1) -> 1; (-1,-2),(-2,-1) -> 0", "learning_rate": 1.0,
            "norm_w_no_penalty": plain["norm_w_at_iteration"], "norm_w_l2": l2["norm_w_at_iteration"],
            "bce_no_penalty": plain["final_bce"], "bce_l2": l2["final_bce"],
            "note": "without a prior the loss only reaches 0 as ‖w‖ → ∞ (growth ~ log t); L2 stops it"}


def paired_bootstrap_ci(n: int = 200, seed: int = 7) -> dict:
    """Two models graded on the same 200 items (A right on 150, B on 162, agreeing on most items)."""
    rng = np.random.default_rng(seed)
    a = np.zeros(n)
    a[:150] = 1
    b = a.copy()
    b[150:168] = 1  # 18 items only B gets right
    b[:6] = 0       # 6 items only A gets right
    order = rng.permutation(n)
    a, b = a[order], b[order]
    boot = significance.paired_bootstrap(a, b, B=5000, seed=seed)
    bb, cc = significance.discordant(a, b)
    return {"n": n, "acc_a": boot["mean_a"], "acc_b": boot["mean_b"], "delta": boot["delta"],
            "ci95": [boot["low"], boot["high"]], "paired_se": boot["paired_se"], "unpaired_se": boot["unpaired_se"],
            "mcnemar_exact_p": significance.mcnemar(bb, cc)["p_value"], "discordant_b_c": [bb, cc]}


def temperature_scaling() -> dict:
    """Fit T on a calibration split for GaussianNB on digits; top-label ECE (15 bins) and NLL on test."""
    r = calibration.digits_gaussian_nb()
    return {"model": "GaussianNB on digits", "T": r["T"],
            "ece_before": r["before"]["ece_top_label_15_bins"], "ece_after": r["temperature"]["ece_top_label_15_bins"],
            "nll_before": r["before"]["nll"], "nll_after": r["temperature"]["nll"],
            "accuracy_unchanged": r["before"]["accuracy"] == r["temperature"]["accuracy"]}


def ab_sample_size() -> dict:
    """Users per arm to detect 10% → 12% at α = 0.05 (two-sided), power 0.8."""
    return significance.sample_size(0.10, 0.02, 0.05, 0.8)


EXERCISES = {
    "f_scores_from_confusion_matrix": f_scores_from_confusion,
    "ece_5_bins_100_predictions": ece_five_bins,
    "logistic_mle_separable_data": separable_logistic,
    "paired_bootstrap_ci": paired_bootstrap_ci,
    "temperature_scaling": temperature_scaling,
    "ab_sample_size_2_point_lift": ab_sample_size,
}


def run() -> dict[str, dict]:
    return {name: fn() for name, fn in EXERCISES.items()}


def _show(name: str, answer: dict) -> None:
    print(f"\n== {name}")
    for key, value in answer.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            print(f"  {key}:")
            for row in value:
                print("    " + "  ".join(f"{k}={v}" for k, v in row.items()))
            continue
        print(f"  {key}: {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    results = run()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, answer in results.items():
        _show(name, answer)


if __name__ == "__main__":
    main()
