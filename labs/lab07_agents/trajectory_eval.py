"""Trajectory evaluation: score the calls a run made against a reference trajectory, beside its outcome.

    curl -s localhost:8007/runs/demo-react/score          # a recorded run, scored against its task's reference
    .venv/bin/python bench/bench_lab07_trajectory.py      # every pattern, clean and under faults

Outcome eval asks "is the database right?"; trajectory eval asks "did it get there the way a careful
agent would?". A run can pass on outcome after a wrong turn (a retried trial, a wasted call), and a
run can follow the reference step for step and still fail (an argument off). With actual calls
a_1..a_m, reference calls r_1..r_n (fixtures/lab07/reference_trajectories.json) compared by tool
name, and L the longest common subsequence of the two name sequences (over the calls that succeeded:
a call that failed did no work, whatever its name):

    exact      = [a == r]                       in_order  = [L = n]   (r a subsequence of a)
    any_order  = [multiset(r) ⊆ multiset(a)]    order     = L / n
    precision  = |multiset(a) ∩ multiset(r)| / m             recall = |multiset(a) ∩ multiset(r)| / n
    efficiency = n / max(m, n)                  args_ok   = aligned pairs whose task-fixed arguments agree / n

Each actual call not on the alignment is one of: `failed` (it returned an error: a hallucinated
name, invalid arguments, a fault past its retries), `redundant` (the same tool with the same
arguments already succeeded earlier in the run), or `off_path` (a successful call the reference
never makes: the wrong tool). Ids the world generates (hold ids, payment ids) are compared by
count, not value: a run that retried a hold legitimately gets another id.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from typing import Any

from shared.config import FIXTURES

REFERENCES_PATH = FIXTURES / "lab07" / "reference_trajectories.json"
METRICS = ("exact", "in_order", "any_order", "order", "precision", "recall", "efficiency", "args_ok")


@lru_cache(maxsize=1)
def load_references() -> dict[str, list[dict[str, Any]]]:
    return json.loads(REFERENCES_PATH.read_text())["references"]


def reference_for(task_id: str) -> list[dict[str, Any]] | None:
    return load_references().get(task_id)


def calls_of(trajectory: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tool calls of a recorded trajectory, in order, each with whether it succeeded."""
    return [{"tool": s["tool"], "args": s.get("args"), "ok": "error" not in (s.get("result") or {})}
            for s in trajectory if s.get("kind") == "tool"]


def lcs_pairs(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Index pairs (i, j) of one longest common subsequence of a and b (dynamic programming)."""
    m, n = len(a), len(b)
    L = [[0] * (n + 1) for _ in range(m + 1)]
    for i in range(m - 1, -1, -1):
        for j in range(n - 1, -1, -1):
            L[i][j] = L[i + 1][j + 1] + 1 if a[i] == b[j] else max(L[i + 1][j], L[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < m and j < n:
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif L[i + 1][j] >= L[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


GENERATED = {"hold_ids", "payment_id", "hold_id"}  # ids the world makes up: compared by count only


def fixed_args(args: Any) -> Any:
    """The arguments the task fixes; generated ids become how many there are."""
    if not isinstance(args, dict):
        return args
    return {k: (len(v) if isinstance(v, list) else 1) if k in GENERATED else v for k, v in args.items()}


def score(actual: list[dict[str, Any]], reference: list[dict[str, Any]]) -> dict[str, Any]:
    """The trajectory metrics (module docstring) of `actual` calls against `reference` calls."""
    a, r = [c["tool"] for c in actual], [c["tool"] for c in reference]
    m, n = len(a), len(r)
    ok = [i for i, c in enumerate(actual) if c.get("ok", True)]
    pairs = [(ok[i], j) for i, j in lcs_pairs([a[i] for i in ok], r)]  # aligned: successful calls only
    common = sum((Counter(a) & Counter(r)).values())
    on_path = {i for i, _ in pairs}
    failed = redundant = off_path = 0
    done: set[str] = set()
    for i, c in enumerate(actual):
        key = c["tool"] + json.dumps(c["args"], sort_keys=True, default=str)
        if i in on_path:
            pass
        elif not c.get("ok", True):
            failed += 1
        elif key in done:
            redundant += 1
        else:
            off_path += 1
        if c.get("ok", True):
            done.add(key)
    divergence = next((k for k, (x, y) in enumerate(zip(a, r, strict=False)) if x != y), None)
    if divergence is None and m != n:
        divergence = min(m, n)
    return {
        "exact": float(a == r), "in_order": float(len(pairs) == n), "any_order": float(not Counter(r) - Counter(a)),
        "order": len(pairs) / n if n else 1.0, "precision": common / m if m else float(n == 0),
        "recall": common / n if n else 1.0, "efficiency": n / max(m, n) if max(m, n) else 1.0,
        "args_ok": sum(fixed_args(actual[i]["args"]) == fixed_args(reference[j]["args"]) for i, j in pairs) / n
        if n else 1.0,
        "calls": m, "reference_calls": n, "failed": failed, "redundant": redundant, "off_path": off_path,
        "first_divergence": divergence,
    }


def score_run(task_id: str, trajectory: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A recorded run's trajectory scored against its task's reference (None: no reference for the task)."""
    reference = reference_for(task_id)
    if reference is None:
        return None
    actual = calls_of(trajectory)
    return {"task": task_id, **score(actual, reference), "actual": [c["tool"] for c in actual],
            "reference": [c["tool"] for c in reference]}


def mean_scores(scores: list[dict[str, Any]]) -> dict[str, float]:
    """Means of the metrics and the per-run counts over many scored runs."""
    keys = (*METRICS, "calls", "failed", "redundant", "off_path")
    return {k: sum(s[k] for s in scores) / len(scores) for k in keys} if scores else {}
