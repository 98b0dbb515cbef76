"""Each worked exercise computes what it claims."""

from __future__ import annotations

import pytest

from labs.lab13_sre import exercises


def test_slo_exercise():
    a = exercises.slo_for_triage_service()["answer"]
    assert a["error_budget_events"] == pytest.approx(432) and a["days_to_exhaust"] == pytest.approx(60)
    assert a["firing_before_regression"] == [] and "page-slow" in a["firing_6h_into_regression"]
    assert 0 < a["budget_remaining_end_of_month"] < 1


def test_canary_playbook():
    a = exercises.prompt_canary_playbook()["answer"]
    assert a["q1"] == pytest.approx(1 / 3, abs=1e-4)
    assert a["consecutive_candidate_bad_events_to_roll_back"] == 6  # ceil(2.7726 / log(5/3)) = ceil(5.43)
    assert a["simulated_rollback_when_equal"] < 0.1


def test_eval_set_exercise():
    a = exercises.nl_to_query_eval_set()
    acc = a["answer"]["accuracy_on_cases"]
    assert a["questions"] >= 60 and acc["exact"] < acc["ast"] < acc["execution"]
    cases = {c["case"]: c for c in a["answer"]["cases"]}
    assert cases["codes seen, not 5.."]["execution"] and not cases["codes seen, not 5.."]["ast"]
    assert not cases["forgot le"]["execution"]


def test_rca_architecture():
    a = exercises.rca_architecture()["answer"]
    assert a["max_needed"] == 12 and a["suggested_max_steps"] == 24
    assert a["needed_calls"]["INC-2050"] == 6  # gateway: one hop below the edge
