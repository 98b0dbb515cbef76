"""Trajectory evaluation: grading the path an agent took (its tool calls), not only where it ended.

    curl -s localhost:8008/tasks/trajectory
    python -c "from labs.lab08_eval import trajectory as t; print(t.evaluate()['by_kind'])"

The taxonomy: reference-based (compare an output to a gold answer), reference-free (judge or check an
output alone), outcome (run it: tests pass, the refund exists) and trajectory (the sequence of steps).
An outcome can be right by a wrong path (a refund issued without checking the policy), and a path can
be right with a wasted step; only trajectory metrics see either. For a reference R and an agent's
calls T (each a tool name with its arguments):

    exact        T == R
    in order     R is a subsequence of T (extra calls allowed, order kept)
    any order    every call of R is in T (a multiset: a repeated call counts once per time it is needed)
    precision    |T ∩ R| / |T|          recall |T ∩ R| / |R|      (multiset intersection)
    efficiency   |R| / |T| if T covers R, else 0   (1: no wasted calls; a redundant lookup costs)
    outcome      the final answer matches the reference answer

Fixture: fixtures/lab08/trajectories.jsonl: six support tasks, each with five traces (ideal, redundant,
shortcut, wrong order or wrong arguments, gave up).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from labs.lab08_eval.datasets import FIXTURES, read_jsonl

Call = tuple[str, str]  # (tool, canonical JSON of its arguments)


def calls(raw: list[list[Any]]) -> list[Call]:
    return [(name, json.dumps(args, sort_keys=True)) for name, args in raw]


def is_subsequence(ref: list[Call], got: list[Call]) -> bool:
    it = iter(got)
    return all(any(c == g for g in it) for c in ref)


def score(reference: list[Call], trajectory: list[Call], answer_right: bool) -> dict[str, Any]:
    overlap = sum((Counter(reference) & Counter(trajectory)).values())
    return {"exact": reference == trajectory, "in_order": is_subsequence(reference, trajectory),
            "any_order": overlap == len(reference),
            "precision": round(overlap / len(trajectory), 4) if trajectory else 0.0,
            "recall": round(overlap / len(reference), 4) if reference else 1.0,
            "efficiency": round(len(reference) / len(trajectory), 4) if overlap == len(reference) else 0.0,
            "outcome": answer_right}


def evaluate() -> dict[str, Any]:
    """Every fixture trace scored; means per kind of trace; where outcome and trajectory disagree."""
    rows = []
    for item in read_jsonl(FIXTURES / "trajectories.jsonl"):
        s = score(calls(item["reference"]), calls(item["trajectory"]),
                  item["answer"].strip().lower() == item["reference_answer"].lower())
        rows.append({"id": item["id"], "kind": item["kind"], **s})
    metrics = ("exact", "in_order", "any_order", "precision", "recall", "efficiency", "outcome")
    by_kind = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        sub = [r for r in rows if r["kind"] == kind]
        by_kind[kind] = {m: round(sum(float(r[m]) for r in sub) / len(sub), 3) for m in metrics} | {"n": len(sub)}
    blind = [r["id"] for r in rows if r["outcome"] and not r["in_order"]]
    return {"n": len(rows), "by_kind": by_kind, "right_outcome_wrong_path": blind,
            "outcome_only_would_pass": round(sum(r["outcome"] for r in rows) / len(rows), 3),
            "trajectory_in_order_passes": round(sum(r["outcome"] and r["in_order"] for r in rows) / len(rows), 3),
            "rows": rows}
