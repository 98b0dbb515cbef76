"""The six yearly exercises compute their answers (each checked against the module it exercises)."""

from __future__ import annotations

from datetime import date

import pytest

from labs.lab14_audit import adr, exercises, tiers, tripwires


@pytest.fixture
def report(repo_report):
    return repo_report


def test_durability_audit_counts_every_topic():
    out = exercises.durability_audit(as_of=date(2027, 1, 1))
    assert sum(t["topics"] for t in out["answer"].values()) == out["topics"] == len(tiers.load_framework()[1])
    assert all(0 <= t["due"] <= t["topics"] for t in out["answer"].values())


def test_study_plan_hours():
    out = exercises.study_plan(4, 10)
    assert out["answer"]["hours_by_tier"] == {"spine": 24.0, "stable": 10.0, "ephemeral": 6.0}


def test_dependency_freshness_names_who_pins_whom(report):
    out = exercises.dependency_freshness(report=report)
    assert out["answer"]["behind"] == report["counts"]["behind"]
    assert len(out["answer"]["who_pins_whom"]) == report["counts"]["blocked"]


def test_tripwire_review_matches_a_direct_evaluation(report):
    out = exercises.tripwire_review(report=report)
    direct = tripwires.evaluate(tripwires.load_rules(), out["signals"])
    assert out["answer"]["responses"] == direct["responses"]
    assert out["answer"]["fired"] + out["answer"]["quiet"] + out["answer"]["unmeasured"] == len(tripwires.load_rules())


def test_decision_record_supersedes_the_torch_pin(tmp_path):
    out = exercises.decision_record({"answer": {"responses": ["x: y"]}}, folder=tmp_path)
    assert out["answer"]["old_status"] == "Superseded" and out["answer"]["records"] == 5
    text = (tmp_path / adr.ADR_SUBDIR / out["answer"]["file"]).read_text()
    assert "Supersedes [4. Pin torch to 2.13.0, CPU build]" in text and "x: y" in text


def test_annual_audit_on_orbit():
    out = exercises.annual_audit()
    a = out["answer"]
    assert a["hidden_deprecation_warnings"] == 3 and a["removal_releases"] == ["2.0", "3.15"]
    assert a["status_counts"]["answered"] == 2 and a["status_counts"]["open"] == 2
    assert a["libyear_total"] == pytest.approx(round(1196 / 365.25, 3) + round(730 / 365.25, 3))
