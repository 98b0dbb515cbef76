"""Trajectory metrics: each kind of trace gets the scores its construction implies, and outcome-only
grading passes paths that trajectory grading fails."""

from __future__ import annotations

from labs.lab08_eval import trajectory as t

R = t.calls([["lookup", {"id": 1}], ["check", {}], ["act", {"id": 1}]])


def test_metrics_on_hand_made_traces():
    assert t.score(R, R, True) == {"exact": True, "in_order": True, "any_order": True, "precision": 1.0,
                                  "recall": 1.0, "efficiency": 1.0, "outcome": True}
    redundant = t.score(R, [R[0], R[0], R[1], R[2]], True)
    assert redundant["in_order"] and redundant["precision"] == 0.75 and redundant["efficiency"] == 0.75
    shuffled = t.score(R, [R[2], R[0], R[1]], True)
    assert not shuffled["in_order"] and shuffled["any_order"]
    shortcut = t.score(R, [R[2]], True)
    assert shortcut["recall"] == round(1 / 3, 4) and shortcut["efficiency"] == 0.0


def test_arguments_matter():
    wrong = t.calls([["lookup", {"id": 2}], ["check", {}], ["act", {"id": 1}]])
    assert not t.score(R, wrong, True)["any_order"]


def test_the_fixture_shows_right_outcomes_by_wrong_paths():
    out = t.evaluate()
    assert out["by_kind"]["ideal"]["exact"] == 1.0
    assert out["by_kind"]["shortcut"]["outcome"] == 1.0 and out["by_kind"]["shortcut"]["in_order"] == 0.0
    assert out["by_kind"]["gave-up"]["outcome"] == 0.0
    assert out["outcome_only_would_pass"] > out["trajectory_in_order_passes"]
    assert all(i.endswith(("shortcut", "wrong-order", "wrong-args")) for i in out["right_outcome_wrong_path"])
