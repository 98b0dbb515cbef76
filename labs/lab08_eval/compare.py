"""Comparing two runs: per-example flips, per-slice deltas with CIs, McNemar, a verdict CI can gate on.

    python -m labs.lab08_eval compare tide-a tide-b --fail-on-regression

flips      fixed = failed in A, passed in B;  broken = passed in A, failed in B (pass: score ≥ threshold)
overall    Δ = mean(B) − mean(A) with a paired bootstrap CI; McNemar's p on (fixed, broken)
slices     the same per slice, with Holm-adjusted McNemar p-values (one test per slice)
verdict    "regression" if the overall CI is below 0 or any slice drops with adjusted p < α;
           "improvement" if the CI is above 0 and no slice regresses; otherwise "no significant change".
           An improving mean with a regressing slice is the average-tide trap, and it is a regression.
"""

from __future__ import annotations

from typing import Any

from labs.lab08_eval import stats
from labs.lab08_eval.runner import results
from shared.store import Store


class CompareError(ValueError):
    pass


def primary_scorer(rows: list[dict]) -> str:
    names = [k for r in rows for k in r["scores"] if k != "correct_samples"]
    if not names:
        raise CompareError("the run has no scores")
    return names[0]


def compare_runs(store: Store, a: str, b: str, scorer: str | None = None, threshold: float = 0.5,
                 alpha: float = 0.05) -> dict[str, Any]:
    ra = {r["item_id"]: r for r in results(store, a) if r["error"] is None}
    rb = {r["item_id"]: r for r in results(store, b) if r["error"] is None}
    shared_ids = sorted(set(ra) & set(rb))
    if not shared_ids:
        raise CompareError(f"runs {a!r} and {b!r} share no scored items")
    scorer = scorer or primary_scorer(list(ra.values()))
    if any(scorer not in ra[i]["scores"] or scorer not in rb[i]["scores"] for i in shared_ids):
        raise CompareError(f"scorer {scorer!r} is not in both runs")
    return compare_scores([(i, ra[i]["slices"], ra[i]["scores"][scorer], rb[i]["scores"][scorer])
                           for i in shared_ids], a, b, scorer, threshold, alpha)


def compare_scores(rows: list[tuple[str, list[str], float, float]], a: str, b: str, scorer: str,
                   threshold: float = 0.5, alpha: float = 0.05) -> dict[str, Any]:
    fixed = [i for i, _, x, y in rows if x < threshold <= y]
    broken = [i for i, _, x, y in rows if y < threshold <= x]
    both_pass = sum(1 for _, _, x, y in rows if x >= threshold and y >= threshold)
    both_fail = len(rows) - len(fixed) - len(broken) - both_pass
    overall = stats.paired_bootstrap([x for *_, x, _ in rows], [y for *_, y in rows])
    mc = stats.mcnemar(len(fixed), len(broken))
    slices = sorted({s for _, ss, _, _ in rows for s in ss})
    per_slice = []
    for s in slices:
        sub = [r for r in rows if s in r[1]]
        boot = stats.paired_bootstrap([r[2] for r in sub], [r[3] for r in sub])
        f = sum(1 for _, _, x, y in sub if x < threshold <= y)
        br = sum(1 for _, _, x, y in sub if y < threshold <= x)
        per_slice.append({"slice": s, "n": len(sub), "mean_a": round(sum(r[2] for r in sub) / len(sub), 4),
                          "mean_b": round(sum(r[3] for r in sub) / len(sub), 4), "delta": round(boot["delta"], 4),
                          "low": round(boot["low"], 4), "high": round(boot["high"], 4), "fixed": f, "broken": br,
                          "p_mcnemar": stats.mcnemar(f, br).p_value})
    for row, adj in zip(per_slice, stats.holm([r["p_mcnemar"] for r in per_slice]), strict=True):
        row["p_holm"] = round(adj, 6)
        row["p_mcnemar"] = round(row["p_mcnemar"], 6)
        row["regressed"] = row["delta"] < 0 and adj < alpha
    regressed = [r["slice"] for r in per_slice if r["regressed"]]
    if overall["high"] < 0 or regressed:
        verdict = "regression"
    elif overall["low"] > 0:
        verdict = "improvement"
    else:
        verdict = "no significant change"
    trap = bool(regressed) and overall["delta"] > 0
    moves = "rises" if overall["delta"] > 0 else "falls" if overall["delta"] < 0 else "moves"
    explain = (f"B's mean {moves} by {overall['delta']:+.3f} "
               f"(95% CI {overall['low']:+.3f}..{overall['high']:+.3f}), McNemar p={mc.p_value:.3g}")
    if regressed:
        explain += f"; slice(s) {', '.join(regressed)} regress significantly (Holm-adjusted)"
    if trap:
        explain += ": the average-tide trap, the mean hides a regression"
    return {"a": a, "b": b, "scorer": scorer, "threshold": threshold, "n": len(rows), "verdict": verdict,
            "average_tide_trap": trap, "explanation": explain,
            "overall": {k: round(v, 4) for k, v in overall.items()},
            "mcnemar": {"fixed": mc.b, "broken": mc.c, "statistic": round(mc.statistic, 4),
                        "p_value": round(mc.p_value, 6), "exact": mc.exact},
            "flips": {"both_pass": both_pass, "fixed": len(fixed), "broken": len(broken), "both_fail": both_fail,
                      "fixed_items": fixed[:50], "broken_items": broken[:50]},
            "slices": per_slice}
