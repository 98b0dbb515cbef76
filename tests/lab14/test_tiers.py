"""tiers.py: Hamilton's apportionment against scipy's MILP optimum; the framework data; the plan."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from labs.lab14_audit import tiers
from shared.config import REPO_ROOT


def l1_optimum(weights: list[float], n: int) -> float:
    """min sum |a_i - q_i| over integer a >= 0 with sum a = n (variables a, then t >= |a - q|)."""
    k = len(weights)
    q = np.array(weights) * n / sum(weights)
    c = np.r_[np.zeros(k), np.ones(k)]
    eye = np.eye(k)
    a_rows = np.block([[eye, -eye], [-eye, -eye], [np.ones((1, k)), np.zeros((1, k))]])
    lo = np.r_[np.full(k, -np.inf), np.full(k, -np.inf), n]
    hi = np.r_[q, -q, n]
    res = milp(c, constraints=LinearConstraint(a_rows, lo, hi), integrality=np.r_[np.ones(k), np.zeros(k)],
               bounds=Bounds(np.zeros(2 * k), np.r_[np.full(k, n), np.full(k, np.inf)]))
    assert res.success
    return float(res.fun)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 100), min_size=1, max_size=7), st.integers(0, 200))
def test_hamilton_is_the_l1_optimum(weights, n):
    seats = tiers.hamilton(weights, n)
    assert sum(seats) == n and all(s >= 0 for s in seats)
    quotas = [n * w / sum(weights) for w in weights]
    assert all(abs(s - q) < 1 for s, q in zip(seats, quotas, strict=True)), "quota rule"
    assert sum(abs(s - q) for s, q in zip(seats, quotas, strict=True)) == pytest.approx(l1_optimum(weights, n), abs=1e-6)


def test_hamilton_worked_example_and_edges():
    assert tiers.hamilton([3, 2, 1], 7) == [4, 2, 1]
    assert tiers.hamilton([0, 0], 3) == [2, 1]  # no weight anywhere: equal split, earlier party first
    assert tiers.hamilton([], 5) == []
    with pytest.raises(ValueError):
        tiers.hamilton([1, -1], 3)


def test_framework_shares_and_every_tier_used():
    tier_map, raw = tiers.load_framework()
    assert [tier_map[t].share for t in tiers.TIERS] == [0.6, 0.25, 0.15]
    assert {t["tier"] for t in raw} == set(tiers.TIERS)
    assert {t["chapter"] for t in raw} == set(range(1, 15)), "every chapter's concepts are tagged"


def test_topics_reviewed_from_git_and_due_by_cadence():
    tier_map, topics = tiers.topics_for(REPO_ROOT, as_of=date(2031, 1, 1))
    reviewed = [t for t in topics if t.reviewed]
    assert reviewed, "labs committed to git have a last review date"
    for t in reviewed:  # five years on, every cadence (at most 24 months) has passed
        assert t.due and t.weight == pytest.approx(t.age_months / t.refresh_months, abs=1e-3)
    soon = {t.name: t for t in tiers.topics_for(REPO_ROOT, as_of=date.fromisoformat(reviewed[0].reviewed))[1]}
    assert not soon[reviewed[0].name].due, "reviewed today: not due"


def test_study_plan_splits_60_25_15_and_sums():
    tier_map, topics = tiers.topics_for(REPO_ROOT)
    plan = tiers.study_plan(5, 13, tier_map, topics)
    assert plan["blocks"] == 130
    assert plan["hours_by_tier"] == {"spine": 39.0, "stable": 16.5, "ephemeral": 9.5}
    assert sum(r["hours"] for r in plan["plan"]) == pytest.approx(65.0)
    for tier in tiers.TIERS:
        assert sum(r["hours"] for r in plan["plan"] if r["tier"] == tier) == pytest.approx(plan["hours_by_tier"][tier])
