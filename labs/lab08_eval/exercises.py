"""The chapter's worked exercises, computed: `python -m labs.lab08_eval.exercises [--json]`.

1. Cohen's κ from scratch on a worked 2×2 table (judge vs human, pass/fail)
2. pass@k for n = 20 samples, c = 3 correct, k = 5
3. the sample size for p = 0.7 and Δ = 0.01
4. McNemar on given flips (fixed 18, broken 7)
5. the capstone: an eval-set design as data (tiers, slices, holdout, power per slice)
6. regression detection on per-slice flip counts: the mean rises, one slice falls; is it a regression?
   (the average-tide trap worked by hand: per-slice McNemar, Holm over slices, the verdict)
7. the peeking problem in numbers: the false-positive rate of K looks at α = 0.05
"""

from __future__ import annotations

import json
import sys

from labs.lab08_eval import online, stats
from labs.lab08_eval.compare import compare_scores


def kappa_table() -> dict:
    # judge × human: pass/pass 40, pass/fail 10, fail/pass 5, fail/fail 45
    table = {"pass,pass": 40, "pass,fail": 10, "fail,pass": 5, "fail,fail": 45}
    judge, human = [], []
    for key, count in table.items():
        j, h = key.split(",")
        judge += [j] * count
        human += [h] * count
    n = len(judge)
    p_o = (40 + 45) / n
    p_e = (50 / n) * (45 / n) + (50 / n) * (55 / n)
    kappa = (p_o - p_e) / (1 - p_e)
    assert abs(kappa - stats.cohen_kappa(judge, human)) < 1e-12
    return {"table_judge_x_human": table, "p_o": p_o, "p_e": round(p_e, 4), "kappa": round(kappa, 4),
            "landis_koch": stats.landis_koch(kappa), "clears_0.6": kappa >= 0.6}


def pass_at_k() -> dict:
    return {"n": 20, "c": 3, "k": 5, "pass_at_k": round(stats.pass_at_k(20, 3, 5), 4),
            "naive_c_over_n": 3 / 20}


def sample_size() -> dict:
    both = stats.sample_size_per_arm(0.7, 0.01)
    return {"p": 0.7, "delta": 0.01, "formula": "N = 4 p (1 - p) / delta^2",
            "n_for_margin": stats.n_for_margin(0.7, 0.01),
            "n_per_arm_to_detect_0.70_vs_0.71": stats.n_per_arm(0.70, 0.71),
            "n_per_arm_chapter_formula": both["chapter"]["n_per_arm"],
            "n_per_arm_cohen_h": both["cohen_h"]["n_per_arm"], "why_they_differ": both["why_they_differ"]}


def mcnemar_flips() -> dict:
    exact = stats.mcnemar(18, 7, exact=True)
    chi2 = stats.mcnemar(18, 7, exact=False)
    return {"fixed": 18, "broken": 7, "p_exact": round(exact.p_value, 4), "chi2": round(chi2.statistic, 4),
            "p_chi2": round(chi2.p_value, 4), "significant_at_0.05": exact.p_value < 0.05}


def capstone() -> dict:
    slices = {"billing": 0.25, "outage": 0.25, "question": 0.2, "multilingual": 0.15, "sarcasm": 0.15}
    total = 2000
    return {"tiers": {"smoke (every commit)": 50, "regression (every PR)": 500, "release": total},
            "slices": {s: {"share": w, "items": round(total * w),
                           "detectable_drop_at_80pct_power_from_0.8": next(
                               d / 100 for d in range(1, 60) if stats.power_two_proportions(
                                   0.8, 0.8 - d / 100, round(total * w)) >= 0.8)}
                       for s, w in slices.items()},
            "holdout": "1/5 of items by hash(id | quarter), rotated each quarter",
            "versioning": "sha256 of the canonical items; runs record it",
            "judge": "pairwise with order swap, length-controlled; recalibrated to humans quarterly (κ ≥ 0.6)",
            "gate": "compare --fail-on-regression: any Holm-significant slice drop fails the build"}


# slice: (items, both pass, fixed by B, broken by B, both fail)
SLICE_FLIPS = {"billing": (200, 150, 14, 4, 32), "outage": (150, 110, 10, 5, 25), "question": (150, 100, 12, 6, 32),
               "multilingual": (60, 45, 1, 11, 3)}


def tide_trap() -> dict:
    rows = []
    for name, (n, both, fixed, broken, fail) in SLICE_FLIPS.items():
        assert both + fixed + broken + fail == n
        pairs = [(1, 1)] * both + [(0, 1)] * fixed + [(1, 0)] * broken + [(0, 0)] * fail
        rows += [(f"{name}-{i}", [name], float(a), float(b)) for i, (a, b) in enumerate(pairs)]
    out = compare_scores(rows, "A", "B", "pass")
    return {"slices_items_bothpass_fixed_broken_bothfail": SLICE_FLIPS,
            "overall_delta": out["overall"]["delta"], "overall_ci": [out["overall"]["low"], out["overall"]["high"]],
            "per_slice": {s["slice"]: {"delta": s["delta"], "p_mcnemar": s["p_mcnemar"], "p_holm": s["p_holm"],
                                       "regressed": s["regressed"]} for s in out["slices"]},
            "verdict": out["verdict"], "average_tide_trap": out["average_tide_trap"]}


def peeking() -> dict:
    return {"alpha": 0.05, "looks": [1, 2, 5, 10, 20],
            "false_positive_rate": {k: round(online.peeking_fpr_exact(list(range(1, k + 1))), 4)
                                    for k in (1, 2, 5, 10, 20)},
            "method": "1 - P(all |Z_k| <= 1.96), Z_k jointly normal with corr sqrt(n_i/n_j)"}


EXERCISES = {"cohen_kappa_worked_table": kappa_table, "pass_at_k_n20_c3_k5": pass_at_k,
             "sample_size_p0.7_delta0.01": sample_size, "mcnemar_on_flips": mcnemar_flips,
             "capstone_eval_set_design": capstone, "average_tide_trap_on_slice_flips": tide_trap,
             "peeking_false_positive_rate": peeking}


def main() -> None:
    answers = {name: fn() for name, fn in EXERCISES.items()}
    if "--json" in sys.argv:
        print(json.dumps(answers, indent=2))
        return
    for name, answer in answers.items():
        print(f"== {name}")
        for key, value in answer.items():
            print(f"   {key}: {json.dumps(value) if isinstance(value, dict) else value}")


if __name__ == "__main__":
    main()
