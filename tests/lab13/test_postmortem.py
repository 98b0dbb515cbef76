"""Postmortem drafts: every claim cites evidence that exists; impact is the SLO arithmetic."""

from __future__ import annotations

import pytest

from labs.lab13_sre import postmortem
from labs.lab13_sre.estate import fixture_incident

RCA = {"INC-2046": {"service": "psp", "cause": "cert_expiry", "evidence": ["L-0008"]},
       "INC-2041": {"service": "checkout", "cause": "bad_deploy", "evidence": ["D-2041-bad"]}}


@pytest.mark.parametrize("incident", sorted(RCA))
def test_every_claim_links_to_real_evidence(incident):
    inc = fixture_incident(incident)
    doc = postmortem.draft(inc, RCA[incident])
    assert doc["problems"] == []
    for section in ("summary", "impact", "root_cause", "detection"):
        assert doc[section]["evidence"], section
    assert all(t["evidence"] for t in doc["timeline"]) and all(a["evidence"] for a in doc["action_items"])


def test_a_fabricated_citation_is_caught():
    inc = fixture_incident("INC-2041")
    doc = postmortem.draft(inc, {"service": "checkout", "cause": "bad_deploy", "evidence": ["D-0000-x"]})
    assert doc["problems"] == ["unknown evidence D-0000-x"] * len([e for e in postmortem.evidence_ids(doc) if e == "D-0000-x"])
    assert postmortem.check({"x": {"text": "", "evidence": ["metric:web.nope@3"]}}, inc) == ["unknown metric metric:web.nope@3"]


def test_impact_is_the_slo_arithmetic():
    inc = fixture_incident("INC-2041")
    imp = postmortem.impact(inc, 30)
    window = [r for r in inc.edge_requests if r["minute"] >= 30]
    before = [r for r in inc.edge_requests if r["minute"] < 30]
    bad, total = sum(r["bad"] for r in window), sum(r["total"] for r in window)
    assert imp["failed"] == bad and imp["requests"] == total
    assert imp["burn_rate"] == pytest.approx(bad / total / 0.001, abs=0.01)
    monthly = sum(r["total"] for r in before) / len(before) * 43_200
    assert imp["budget_spent"] == pytest.approx(bad / (0.001 * monthly), abs=1e-4)


def test_the_cert_warning_that_paged_nobody_is_called_out():
    doc = postmortem.draft(fixture_incident("INC-2046"), RCA["INC-2046"])
    assert "warning" in doc["went_badly"][0]["text"]
    md = postmortem.markdown(doc)
    for heading in ("## Summary", "## Impact", "## Timeline (UTC)", "## Root cause", "## Action items"):
        assert heading in md
