"""Each worked exercise gives the answer the chapter's reasoning predicts."""

from __future__ import annotations

import pytest

from labs.lab07_agents import exercises


def test_production_agent_is_under_300_lines_and_works():
    r = exercises.production_agent()
    assert r["lines"] < 300 and r["demo_success"] and r["demo_status"] == "completed"


def test_circuit_breaker_timeline():
    r = exercises.circuit_breaker()
    assert r["timeline"][2].endswith("failed -> open") and "rejected fast" in r["timeline"][3]
    assert r["transitions"] == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_loop_detector_stops_at_the_third_identical_call():
    assert exercises.loop_detector()["stops_at_call"] == 5


def test_booking_saga_undoes_in_reverse_and_leaves_nothing():
    r = exercises.booking_saga()
    assert r["compensations"] == ["refund", "cancel_hold", "cancel_hold"]
    assert r["net_charge_after"] == 0 and r["violations"] == [] and r["status"] in ("stopped", "compensated")


def test_injection_case_blocked_only_with_defenses():
    assert exercises.injection_case()["succeeded"] == {"no_defenses": 1.0, "all_defenses": 0.0}


def test_react_cost_cap_closed_form():
    r = exercises.react_cost_cap()
    brute = sum(((1500 + i * 1000) * 2.50 + 150 * 10.0) / 1e6 for i in range(50))
    assert r["expected_cost_usd"] == pytest.approx(brute, abs=1e-3) == pytest.approx(3.32, abs=0.01)
    assert r["cap_stops_at_step"] == 27
