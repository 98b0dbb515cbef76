"""A blameless postmortem draft in which every claim links to the evidence it came from.

    curl -s localhost:8013/postmortem -H 'content-type: application/json' -d '{"incident": "INC-2041"}'
    python -m labs.lab13_sre.postmortem INC-2046          # the markdown draft

Sections (the usual blameless template): summary, impact, timeline, root cause and trigger, detection,
what went well / badly, action items. Sources:
  timeline    the telemetry: changes before onset, the first alert per service, the page, RCA's answer
  impact      the SLO: edge requests in the incident window, the bad ones, the burn rate over the window
              and the share of the 30-day error budget spent (shared.slo's formulas):
                  burn = (bad / total) / (1 - T),  budget spent = bad / ((1 - T) * N_30d)
              with N_30d the edge's requests per minute before onset times 43,200 minutes
  root cause  the RCA agent's answer, with its evidence ids
Every claim is {"text", "evidence": [ids]} where ids name an alert (A-...), a log line (L-...), a deploy
(D-...), a config change (C-...), a metric point (metric:<service>.<name>@<minute>) or the RCA run
(rca:<incident>); `check(draft, incident)` verifies each id exists, so a draft cannot cite what is not there.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from labs.lab13_sre.estate import EDGE, Incident, fixture_incident, load_estate
from labs.lab13_sre.triage import dedup, main_group
from shared import slo as shared_slo

AVAILABILITY = shared_slo.SLO(name="edge-availability", sli="availability", target=0.999, window_days=30)
ACTIONS = {
    "bad_deploy": ["Gate {service} deploys on a canary that compares error ratio with the baseline and rolls back "
                   "automatically", "Add a test for the failing code path of {version}"],
    "dependency_outage": ["Put a circuit breaker and a fallback in front of {service} in its callers",
                          "Page on {service} TargetDown directly instead of through its callers' error rates"],
    "resource_exhaustion": ["Alert on {service} memory growth rate (predict_linear) before the limit",
                            "Find the leak: heap profile {service} at steady state vs after 20 minutes"],
    "config_change": ["Validate {key} changes against a schema with allowed ranges before rollout",
                      "Roll config out progressively with the same canary as code"],
    "traffic_spike": ["Add rate limits at the gateway per client", "Autoscale {service} on CPU and queue depth"],
    "cert_expiry": ["Page when any certificate expires in under 14 days (the warning fired and was not acted on)",
                    "Automate {service} certificate rotation and test it monthly"],
    "noisy_neighbour": ["Move {service} to dedicated nodes or set CPU guarantees",
                        "Schedule compaction outside peak hours"],
}


def claim(text: str, *evidence: str) -> dict[str, Any]:
    return {"text": text, "evidence": [e for e in evidence if e]}


def impact(inc: Incident, onset: int) -> dict[str, Any]:
    window = [r for r in inc.edge_requests if r["minute"] >= onset]
    before = [r for r in inc.edge_requests if r["minute"] < onset] or inc.edge_requests
    total = sum(r["total"] for r in window)
    bad = sum(r["bad"] for r in window)
    rate = bad / total if total else None
    burn = shared_slo.burn_rate(rate, AVAILABILITY)
    per_min = sum(r["total"] for r in before) / len(before)
    monthly = per_min * 43_200
    spent = bad / (AVAILABILITY.budget * monthly) if monthly else None
    return {"slo": AVAILABILITY.name, "target": AVAILABILITY.target, "window_minutes": len(window),
            "requests": total, "failed": bad, "error_ratio": round(rate, 4) if rate is not None else None,
            "burn_rate": round(burn, 2) if burn is not None else None,
            "budget_spent": round(spent, 4) if spent is not None else None}


def draft(inc: Incident, rca_answer: dict[str, Any] | None = None) -> dict[str, Any]:
    """The postmortem as data; `rca_answer` is the RCA agent's {service, cause, evidence} (else 'unknown')."""
    estate = load_estate()
    group = main_group(inc, estate)
    alerts = dedup(group.alerts)
    onset = int(min(a["minute"] for a in group.alerts)) - 3  # alerts wait `for: 3m`
    first_alert = min(alerts, key=lambda a: a["minute"])
    rca = rca_answer or {}
    root, cause = rca.get("service", "unknown"), rca.get("cause", "unknown")
    imp = impact(inc, onset)
    timeline = []
    for c in [*inc.deploys, *inc.config_changes]:
        if onset - 15 <= c["minute"] <= onset + 1:
            what = f"deploy of {c['service']} {c['version']}" if c["id"].startswith("D-") else \
                f"config change on {c['service']}: {c['key']} {c['old']} -> {c['new']}"
            timeline.append({"at": c["at"], **claim(what, c["id"])})
    timeline.append({"at": f"minute {onset}", **claim(f"{EDGE} error ratio leaves its baseline "
                                                     f"({inc.series[EDGE]['error_ratio'][onset]:.3f})",
                                                     f"metric:{EDGE}.error_ratio@{onset}")})
    for a in sorted(alerts, key=lambda a: a["minute"]):
        timeline.append({"at": a["starts_at"], **claim(f"{a['alertname']} fires on {a['service']} "
                                                       f"({a['count']} pod(s))", *a["ids"])})
    timeline.append({"at": "after the page", **claim(f"RCA names {cause.replace('_', ' ')} at {root}", f"rca:{inc.id}",
                                                     *rca.get("evidence", []))})
    warning = next((a for a in inc.alerts if a["alertname"] == "CertificateExpiresSoon"), None)
    version = next((d["version"] for d in inc.deploys if d["service"] == root), "the release")
    key = next((c["key"] for c in inc.config_changes if c["service"] == root), "the key")
    actions = [claim(t.format(service=root, version=version, key=key), f"rca:{inc.id}", *rca.get("evidence", [])[:2])
               for t in ACTIONS.get(cause, ["Write the missing runbook step for {service}"])]
    doc = {
        "incident": inc.id, "title": inc.spec.title, "status": "draft",
        "summary": claim(f"From minute {onset}, {imp['error_ratio']:.1%} of requests at {EDGE} failed; "
                         f"the RCA traces it to {cause.replace('_', ' ')} at {root} (owner "
                         f"{estate.owner(root) if root in estate.services else 'unknown'}).",
                         f"metric:{EDGE}.error_ratio@{onset}", f"rca:{inc.id}"),
        "impact": {**imp, **claim(f"{imp['failed']} of {imp['requests']} edge requests failed over "
                                  f"{imp['window_minutes']} minutes: burn rate {imp['burn_rate']}x, "
                                  f"{imp['budget_spent']:.1%} of the 30-day budget.",
                                  f"metric:{EDGE}.error_ratio@{onset}")},
        "timeline": timeline,
        "root_cause": claim(f"{cause.replace('_', ' ')} at {root}", f"rca:{inc.id}", *rca.get("evidence", [])),
        "detection": claim(f"First alert {first_alert['alertname']} on {first_alert['service']} "
                           f"{first_alert['minute'] - onset:.0f} minutes after onset; "
                           f"{len(inc.alerts)} alerts deduplicated to {len(dedup(inc.alerts))}.", first_alert["id"]),
        "went_well": [claim("Alerts on every affected service fired within minutes of each other and were "
                            "correlated into one page.", *[a["id"] for a in alerts[:3]])],
        "went_badly": [claim("A warning that predicted this fired earlier and paged nobody.", warning["id"])]
        if warning else [claim("The first alerts named symptoms, not the cause; the root needed investigation.",
                               first_alert["id"])],
        "action_items": actions,
        "blameless_note": "This review describes systems and decisions, not people; authors of changes are "
                          "named only as change ids.",
    }
    doc["problems"] = check(doc, inc)
    return doc


def evidence_ids(doc: Any) -> list[str]:
    if isinstance(doc, dict):
        return [e for k, v in doc.items() for e in (v if k == "evidence" else evidence_ids(v))]
    if isinstance(doc, list):
        return [e for v in doc for e in evidence_ids(v)]
    return []


def check(doc: dict[str, Any], inc: Incident) -> list[str]:
    """Every cited id must exist in the incident's telemetry (or be this incident's RCA run)."""
    known = {a["id"] for a in inc.alerts} | {e["id"] for e in inc.logs} | {d["id"] for d in inc.deploys} | \
            {c["id"] for c in inc.config_changes} | {f"rca:{inc.id}"}
    problems = []
    for e in evidence_ids(doc):
        m = re.fullmatch(r"metric:([\w-]+)\.(\w+)@(\d+)", e)
        if m:
            if m.group(1) not in inc.series or m.group(2) not in inc.series[m.group(1)]:
                problems.append(f"unknown metric {e}")
        elif e not in known:
            problems.append(f"unknown evidence {e}")
    return problems


def markdown(doc: dict[str, Any]) -> str:
    def cite(c: dict[str, Any]) -> str:
        return f"{c['text']} [{', '.join(c['evidence'])}]"

    lines = [f"# Postmortem {doc['incident']}: {doc['title']} ({doc['status']})", "", "## Summary", cite(doc["summary"]),
             "", "## Impact", cite(doc["impact"]), "", "## Timeline (UTC)"]
    lines += [f"- {t['at']}: {cite(t)}" for t in doc["timeline"]]
    lines += ["", "## Root cause", cite(doc["root_cause"]), "", "## Detection", cite(doc["detection"]), "",
              "## What went well"] + [f"- {cite(c)}" for c in doc["went_well"]]
    lines += ["", "## What went badly"] + [f"- {cite(c)}" for c in doc["went_badly"]]
    lines += ["", "## Action items"] + [f"- [ ] {cite(c)}" for c in doc["action_items"]]
    lines += ["", f"_{doc['blameless_note']}_"]
    return "\n".join(lines)


def main() -> None:
    from labs.lab13_sre import mock_plugin  # noqa: F401  (registers sre_rca with the in-process mock)
    from labs.lab13_sre.rca import investigate
    from shared.llm import Model

    inc = fixture_incident(sys.argv[1] if len(sys.argv) > 1 else "INC-2041")
    if inc is None:
        raise SystemExit("unknown incident")
    inv = investigate(inc, load_estate(), Model.from_settings().for_behaviour("sre_rca"))
    print(markdown(draft(inc, inv.answer)))


if __name__ == "__main__":
    main()
