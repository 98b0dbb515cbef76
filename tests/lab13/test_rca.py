"""The RCA agent: recorded tools, guards, scoring."""

from __future__ import annotations

import pytest

from labs.lab13_sre import (
    mock_plugin,  # noqa: F401
    rca,
)
from labs.lab13_sre.estate import fixture_incident, load_estate
from shared.llm import Model

ESTATE = load_estate()
CAREFUL = {"anchor_rate": 0, "wander_rate": 0, "repeat_rate": 0}


@pytest.fixture(scope="module")
def model():
    return Model.from_settings().for_behaviour("sre_rca")


def test_recordings_match_on_name_and_parameters():
    rec = rca.Recordings.build(fixture_incident("INC-2046"), ESTATE)
    assert rec.call("get_dependencies", {"service": "payments"}) == "payments calls: orders-db, psp"
    assert "x509" in rec.call("grep_logs", {"service": "payments", "pattern": "X509|handshake"})
    assert "no lines" in rec.call("grep_logs", {"service": "payments", "pattern": "OOMKilled"})
    for name, args, words in (("restart_pod", {"service": "psp"}, "unknown tool"),
                              ("query_metrics", {"service": "mainframe"}, "no recording"),
                              ("grep_logs", {"service": "psp", "pattern": "("}, "bad pattern")):
        with pytest.raises(LookupError, match=words):
            rec.call(name, args)


@pytest.mark.parametrize("incident", ["INC-2041", "INC-2042", "INC-2044", "INC-2046", "INC-2047"])
def test_a_careful_investigator_finds_the_root_cause(model, incident):
    inc = fixture_incident(incident)
    inv = rca.investigate(inc, ESTATE, model, mock=CAREFUL)
    s = rca.score(inc, ESTATE, inv)
    assert inv.status == "answered" and s["correct"], (s, inv.trace())
    assert s["efficiency"] >= 0.5
    assert all(e in {d["id"] for d in inc.deploys} | {c["id"] for c in inc.config_changes} | {x["id"] for x in inc.logs}
               for e in inv.answer["evidence"])


def test_an_anchored_model_blames_the_symptom_deploy(model):
    inc = fixture_incident("INC-2041")  # web had an innocent deploy; the bad one is on checkout
    inv = rca.investigate(inc, ESTATE, model, mock={**CAREFUL, "anchor_rate": 1})
    assert inv.answer["service"] == "web" and not rca.score(inc, ESTATE, inv)["correct"]


def test_the_loop_guard_refuses_repeats_and_stops(model):
    inv = rca.investigate(fixture_incident("INC-2043"), ESTATE, model, mock={**CAREFUL, "repeat_rate": 1},
                          repeat_limit=2)
    assert inv.status == "loop_detected" and inv.refused_repeats == 2
    assert [s.error for s in inv.steps] == [False, True, True]


def test_the_step_budget_stops_a_long_investigation(model):
    seen = []
    inv = rca.investigate(fixture_incident("INC-2042"), ESTATE, model, mock=CAREFUL, max_steps=3,
                          on_step=lambda i: seen.append(len(i.steps)))
    assert inv.status == "step_budget" and len(inv.steps) == 3 and seen == [1, 2, 3]
    assert rca.score(fixture_incident("INC-2042"), ESTATE, inv)["efficiency"] == 0.0


def test_needed_calls_grow_with_depth():
    inc = fixture_incident("INC-2042")  # psp: web -> gateway -> checkout -> payments -> psp
    assert rca.needed_calls(inc, ESTATE, "web") == 2 * 4 + 4
