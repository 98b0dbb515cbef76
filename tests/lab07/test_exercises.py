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


def test_react_cost_cap_reads_its_prices_from_the_price_map():
    """No price is a default argument: the answer is shared.pricing's cost of the same token counts,
    and a different price map (or model) gives a different answer."""
    from dataclasses import replace

    from shared.pricing import Usage, cost, load_prices

    r = exercises.react_cost_cap()
    reference = cost(r["model"], Usage(r["input_tokens"], r["steps"] * r["o"])).total
    assert r["expected_cost_usd"] == pytest.approx(reference, abs=1e-3)
    assert (r["p_in_per_1M"], r["p_out_per_1M"]) == (load_prices()[r["model"]].input, load_prices()[r["model"]].output)
    doubled = {name: replace(p, input=2 * p.input, output=2 * p.output) for name, p in load_prices().items()}
    assert exercises.react_cost_cap(prices=doubled)["expected_cost_usd"] == pytest.approx(2 * r["expected_cost_usd"], abs=2e-3)
    mini = exercises.react_cost_cap(model="openai/gpt-4o-mini")
    assert mini["expected_cost_usd"] < r["expected_cost_usd"] / 10 and mini["cap_stops_at_step"] is None
