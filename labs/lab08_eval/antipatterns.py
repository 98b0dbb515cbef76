"""Eval anti-patterns as checks: given two runs (A the baseline, B the candidate), which ones are present.

    curl -s localhost:8008/compare/tide-a/tide-b/antipatterns
    python -m labs.lab08_eval antipatterns tide-a tide-b    (the same, from the CLI: see __main__.py)

Each check reads only what the harness recorded (the runs, their items, their configuration, the dataset)
and answers found true / false with its evidence. Two of the twelve cannot be read from recorded data
(whether a team looked at outputs at all, whether the metric became the target); they carry the guard
instead, with found = null.

 1 average-tide trap         the mean improves while a slice regresses significantly (compare.py)
 2 ungated judge bias        a judged run whose judge shows a bias symptom ≥ 0.2 before mitigation
 3 judge of the same family  the judge and the model under test come from one family (self-preference)
 4 version mismatch          the two runs ran on different dataset versions (or datasets)
 5 underpowered verdict      "no significant change" from fewer items than the observed Δ needs
 6 uncorrected slices        slices significant on raw McNemar p but not after Holm: fishing
 7 tiny slices               a slice with under 30 shared items, too few to say anything about it
 8 saturated set             a run at ≥ 0.95, or a slice both runs ace: the set no longer discriminates
 9 errors dropped silently   items that errored are left out of the comparison (a crashier model looks better)
10 duplicate items           the same input (normalised) twice in the golden set: it counts double
11 eyeballing, not a set     not checkable from runs: guard with a golden set and a CI gate
12 Goodhart                  not checkable from runs: guard with a rotating holdout and fresh items
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from labs.lab08_eval import datasets, stats
from labs.lab08_eval.compare import compare_runs
from labs.lab08_eval.runner import get_run
from shared.store import Store

BIAS_SYMPTOM = 0.2
MIN_SLICE = 30
CEILING = 0.95
JUDGE_FAMILY = "mock"  # the lab's judge is the mock `judge` (a real provider's judge: its own family)


def family(model: str) -> str:
    """The model's family: 'mock' for mock/x and openai/mock/x, else the provider's model name's stem."""
    parts = model.split("?")[0].split("/")
    if "mock" in parts:
        return "mock"
    return re.split(r"[-_.:]", parts[-1])[0].lower()


def _finding(n: int, name: str, found: bool | None, evidence: str, guard: str) -> dict[str, Any]:
    return {"n": n, "anti_pattern": name, "found": found, "evidence": evidence, "guard": guard}


def check(store: Store, a: str, b: str, scorer: str | None = None) -> dict[str, Any]:
    """Every check on runs a and b; CompareError if they cannot be compared at all."""
    ra, rb = get_run(store, a), get_run(store, b)
    cmp = compare_runs(store, a, b, scorer)
    out = []
    regressed = [s["slice"] for s in cmp["slices"] if s["regressed"]]
    out.append(_finding(1, "average-tide trap", cmp["average_tide_trap"],
                        f"overall Δ {cmp['overall']['delta']:+.3f}; regressed slices: {regressed or 'none'}",
                        "gate on every slice (Holm-adjusted), not on the mean"))

    judged = [r for r in (ra, rb) if (r["summary"] or {}).get("judge_bias")]
    worst = [(r["id"], row["bias"], row["before"]) for r in judged for row in r["summary"]["judge_bias"]["rows"]
             if row["before"] >= BIAS_SYMPTOM]
    out.append(_finding(2, "gating on a judge with unmitigated bias", bool(worst) if judged else False,
                        f"symptoms ≥ {BIAS_SYMPTOM}: {worst}" if worst else
                        (f"{len(judged)} judged run(s), no symptom ≥ {BIAS_SYMPTOM}" if judged else "no judged run"),
                        "audit the judge's biases (and κ ≥ 0.6 to humans) before gating on it; mitigate each"))

    judged_ids = [r["id"] for r in (ra, rb) if "judge" in (r["summary"] or {}).get("scores", {})]
    same = [r["id"] for r in (ra, rb) if r["id"] in judged_ids and family(r["model"]) == JUDGE_FAMILY]
    out.append(_finding(3, "judge from the model's own family", bool(same),
                        f"judge family '{JUDGE_FAMILY}'; judged runs of that family: {same or 'none'}",
                        "judge with another family's model, or measure self-preference and strip style"))

    mismatch = (ra["dataset"], ra["version"]) != (rb["dataset"], rb["version"])
    out.append(_finding(4, "comparing runs on different dataset versions", mismatch,
                        f"A: {ra['dataset']}@{ra['version']}, B: {rb['dataset']}@{rb['version']}"
                        + (f"; compared on the {cmp['n']} shared items only" if mismatch else ""),
                        "record the version in every run; compare across versions on shared items only"))

    p_a = min(max(_mean(ra, cmp["scorer"]), 0.01), 0.99)
    delta = abs(cmp["overall"]["delta"])
    needed = stats.n_per_arm(p_a, min(0.999, p_a + delta)) if delta >= 0.005 and p_a + delta < 1 else None
    under = cmp["verdict"] == "no significant change" and (needed is None or needed > cmp["n"])
    out.append(_finding(5, "an underpowered 'no change'", under,
                        f"n = {cmp['n']}; the observed |Δ| = {delta:.3f} needs "
                        f"{needed if needed is not None else 'more than any feasible number of'} items per run",
                        "size the set for the smallest change that matters (n per arm) before reading a null"))

    fished = [s["slice"] for s in cmp["slices"] if s["p_mcnemar"] < 0.05 <= s["p_holm"]]
    out.append(_finding(6, "slice fishing without correction", bool(fished),
                        f"significant only before Holm: {fished or 'none'} of {len(cmp['slices'])} slices",
                        "adjust per-slice p-values (Holm for a gate, BH for exploration)"))

    tiny = {s["slice"]: s["n"] for s in cmp["slices"] if s["n"] < MIN_SLICE}
    out.append(_finding(7, "conclusions from tiny slices", bool(tiny), f"slices under {MIN_SLICE} items: {tiny}",
                        "grow a slice to the size its decisions need, or report it as anecdote"))

    aced = [s["slice"] for s in cmp["slices"] if s["mean_a"] >= 1.0 and s["mean_b"] >= 1.0]
    top = max(_mean(ra, cmp["scorer"]), _mean(rb, cmp["scorer"]))
    out.append(_finding(8, "a saturated eval set", top >= CEILING or bool(aced),
                        f"best run mean {top:.3f}; slices both runs ace: {aced or 'none'}",
                        "retire saturated items and add harder ones (the eval-set lifecycle)"))

    errors = {r["id"]: (r["summary"] or {}).get("errors", 0) for r in (ra, rb)}
    out.append(_finding(9, "errors dropped from the comparison", any(errors.values()),
                        f"errored items per run: {errors}",
                        "count an error as a failure, or report error rates beside the scores"))

    dupes = _duplicates(ra["dataset"])
    out.append(_finding(10, "duplicate items in the golden set", bool(dupes) if dupes is not None else None,
                        f"duplicated inputs: {dupes}" if dupes is not None else f"dataset {ra['dataset']!r} not on file",
                        "deduplicate by normalised input when items are added"))
    out.append(_finding(11, "eyeballing outputs instead of a golden set", None, "not visible in recorded runs",
                        "a versioned golden set with slices, and a CI gate on compare"))
    out.append(_finding(12, "Goodhart: the metric becomes the target", None, "not visible in recorded runs",
                        "a rotating holdout nobody tunes on, fresh items each version, online checks"))
    found = [f["anti_pattern"] for f in out if f["found"]]
    return {"a": a, "b": b, "scorer": cmp["scorer"], "verdict": cmp["verdict"], "found": found, "checks": out}


def _mean(run: dict[str, Any], scorer: str) -> float:
    return float(((run["summary"] or {}).get("scores", {}).get(scorer) or {}).get("mean", 0.0))


def _duplicates(name: str) -> list[list[str]] | None:
    try:
        items = datasets.load(name).items
    except datasets.DatasetError:
        return None
    norm = {i["id"]: " ".join(str(i["input"]).lower().split()) for i in items}
    counts = Counter(norm.values())
    return [sorted(k for k, v in norm.items() if v == text) for text, c in counts.items() if c > 1]
