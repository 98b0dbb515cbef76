"""The triage SLO: budget arithmetic by hand, events mapped onto shared.slo, alerts during a regression."""

from __future__ import annotations

import pytest

from labs.lab13_sre import slo


def test_budget_math_by_hand():
    b = slo.budget_math(0.95, 30, 288, 0.975)
    assert b["events_in_window"] == 8640 and b["error_budget_events"] == pytest.approx(432)
    assert b["burn_rate_at_accuracy"] == pytest.approx(0.5) and b["days_to_exhaust"] == pytest.approx(60)
    assert b["bad_share_that_pages_fast"] == pytest.approx(0.72)
    assert slo.budget_math(0.90, 30, 100, 1.0)["days_to_exhaust"] is None


def test_a_good_event_is_correct_and_fast():
    assert slo.event(0, True, 900)["quality"] == 1.0
    assert slo.event(0, True, 20_000)["quality"] == 0.0
    assert slo.event(0, False, 900)["quality"] == 0.0


def test_a_regression_pages_and_a_quiet_month_does_not():
    rows = slo.simulate(regression_at_day=20)
    quiet = slo.status([r for r in rows if r["ts"] <= 19 * 86400], now=19 * 86400)
    assert not [f for f in quiet["firing"] if f["severity"] == "page"]
    during = slo.status([r for r in rows if r["ts"] <= 20.25 * 86400], now=20.25 * 86400)
    assert {"slo": "good-triage", "alert": "page-slow", "severity": "page"} in during["firing"]
    good = during["slos"][0]
    assert good["burn_rates"]["6h"] > 6 and good["events"] == sum(1 for r in rows if r["ts"] >= 0 and r["ts"] <= 20.25 * 86400)
