"""Alert triage: dedup, correlation into incidents, then severity and owner, by rules or by an LLM.

    curl -s localhost:8013/incidents/triage -H 'content-type: application/json' -d '{"incident": "INC-2042", "classifier": "llm"}'
    python -m labs.lab13_sre.triage          # rules vs LLM on the fixture incidents + generated ones

Dedup: alerts with the same fingerprint (alertname, service; the pod label is dropped) are one alert,
the first start kept, `count` the copies. Correlation: an alert joins a group when it starts within
`window_min` of the group's last alert AND its service is within `max_hops` of a service already in
the group (in the call graph, either direction); otherwise it starts a group. Info-level alerts never
page and form their own groups.

Classification, two ways over the same incident group:
  rules  severity from the edge's error ratio and p99 (the rubric); root by Alertmanager-style
         inhibition over the call graph (an alert is muted while a service it depends on alerts),
         owner = the root's team from the routing table
  llm    shared.llm structured output (TriageOut) from a prompt with the alert group, the owners, and
         (prompt v2) the dependency graph; the lab's mock model is `sre_triage`
Measured as lab-08 measures a classifier: accuracy with a Wilson 95% interval, and a confusion matrix
per field (severity, owner team).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from labs.lab13_sre.estate import (
    EDGE,
    SEVERITIES,
    Estate,
    Incident,
    fixture_incidents,
    generate,
    load_estate,
    render,
)
from shared.llm import Model

PROMPTS = {
    "v1": "You are the on-call triage assistant. Given an alert group, name its severity (SEV1-SEV3), the "
          "root service and the owning team. Severity rubric: SEV1 if the edge error ratio is at least 0.2, "
          "SEV2 at 0.05 or p99 above 2 s, else SEV3.",
    "v2": "You are the on-call triage assistant. Given an alert group and the service dependency graph, name "
          "its severity (SEV1-SEV3), the root service (the deepest alerting dependency, not the loudest) "
          "and the owning team. Severity rubric: SEV1 if the edge error ratio is at least 0.2, SEV2 at 0.05 "
          "or p99 above 2 s, else SEV3.",
    "v3": "You are the on-call triage assistant. Name severity, root service and owning team. Be brief.",
}
WITH_GRAPH = {"v2"}


class TriageOut(BaseModel):
    severity: Literal["SEV1", "SEV2", "SEV3"]
    service: str = Field(max_length=60)
    team: str = Field(max_length=60)
    rationale: str = Field("", max_length=500)


def fingerprint(alert: dict[str, Any]) -> tuple[str, str]:
    return alert["alertname"], alert["service"]


def dedup(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One alert per fingerprint: the earliest copy, with `count` and the ids it stands for."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for a in sorted(alerts, key=lambda a: (a["minute"], a["id"])):
        key = fingerprint(a)
        if key in out:
            out[key]["count"] += 1
            out[key]["ids"].append(a["id"])
        else:
            out[key] = {**a, "count": 1, "ids": [a["id"]]}
    return list(out.values())


def hops(estate: Estate, a: str, b: str) -> int:
    """Shortest path between two services in the call graph, edges taken in either direction."""
    if a == b:
        return 0
    seen, frontier, d = {a}, {a}, 0
    while frontier:
        d += 1
        nxt = set()
        for s in frontier:
            nxt |= set(estate.services[s].calls) | set(estate.callers(s))
        nxt -= seen
        if b in nxt:
            return d
        seen |= nxt
        frontier = nxt
    return 10**6


@dataclass
class Group:
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def services(self) -> set[str]:
        return {a["service"] for a in self.alerts}

    @property
    def last(self) -> float:
        return max(a["minute"] for a in self.alerts)


def correlate(alerts: list[dict[str, Any]], estate: Estate, window_min: float = 10, max_hops: int = 2) -> list[Group]:
    groups: list[Group] = []
    for a in sorted(alerts, key=lambda a: a["minute"]):
        if a["labels"].get("severity") == "info":
            groups.append(Group([a]))
            continue
        home = next((g for g in groups if g.alerts[0]["labels"].get("severity") != "info"
                     and a["minute"] - g.last <= window_min
                     and min(hops(estate, a["service"], s) for s in g.services) <= max_hops), None)
        if home is None:
            groups.append(Group([a]))
        else:
            home.alerts.append(a)
    return groups


def paging(groups: list[Group]) -> Group:
    """The group that pages: the one with the most critical alerts (what gets triaged)."""
    return max(groups, key=lambda g: (sum(a["labels"].get("severity") == "critical" for a in g.alerts), len(g.alerts)))


def main_group(inc: Incident, estate: Estate) -> Group:
    return paging(correlate(dedup(inc.alerts), estate))


def features(inc: Incident, group: Group) -> dict[str, float]:
    t0 = min(a["minute"] for a in group.alerts)
    web = inc.series[EDGE]
    after = range(int(t0), len(web["error_ratio"]))
    return {"edge_error_ratio": round(max((web["error_ratio"][i] for i in after), default=0.0), 4),
            "edge_p99_ms": round(max((web["p99_ms"][i] for i in after), default=0.0), 1)}


def rules(inc: Incident, estate: Estate) -> dict[str, str]:
    group = main_group(inc, estate)
    f = features(inc, group)
    critical = {a["service"] for a in group.alerts if a["labels"].get("severity") == "critical"} or group.services
    # Alertmanager-style inhibition: an alert is muted while a service it depends on also alerts,
    # so what is left is the deepest alerting service; ties go to the edge-most one (it pages first)
    reach = {s: {d for d in estate.services if d != s and s in estate.upstream(d)} for s in critical}
    left = [s for s in critical if not (reach[s] & critical)] or sorted(critical)
    root = min(left, key=lambda s: (estate.depth(s), s))
    severity = "SEV1" if f["edge_error_ratio"] >= 0.2 else "SEV2" if (
        f["edge_error_ratio"] >= 0.05 or f["edge_p99_ms"] > 2000) else "SEV3"
    return {"severity": severity, "service": root, "team": estate.owner(root)}


def prompt(inc: Incident, estate: Estate, with_graph: bool = True) -> str:
    group = main_group(inc, estate)
    body: dict[str, Any] = {
        "incident": inc.id,
        "alerts": [{k: a[k] for k in ("alertname", "service", "minute", "value", "count")} |
                   {"severity": a["labels"]["severity"]} for a in group.alerts],
        **features(inc, group),
        "owners": {s: estate.owner(s) for s in sorted(group.services)},
    }
    if with_graph:
        body["dependencies"] = {s: list(estate.services[s].calls) for s in sorted(estate.services)}
    return f"Triage this alert group.\n```json\n{json.dumps(body)}\n```"


def llm(inc: Incident, estate: Estate, model: Model, version: str = "v2",
        mock: dict[str, Any] | None = None, system: str | None = None) -> dict[str, str]:
    """The model's triage with prompt `version` (or the given system text): the graph goes in when the
    prompt asks the model to use it."""
    system = system or PROMPTS[version]
    with_graph = version in WITH_GRAPH or "dependency graph" in system.lower()
    out = model.structured(prompt(inc, estate, with_graph), TriageOut, system=system, mock=mock,
                           temperature=0, max_retries=1)
    v = out.value
    return {"severity": v.severity, "service": v.service, "team": v.team, "rationale": v.rationale}


def triage(inc: Incident, estate: Estate, classifier: str, model: Model | None = None, version: str = "v2",
           mock: dict[str, Any] | None = None) -> dict[str, Any]:
    """Dedup + correlation summary and the classification (by rules or by the model)."""
    groups = correlate(dedup(inc.alerts), estate)
    main = paging(groups)
    decision = rules(inc, estate) if classifier == "rules" else llm(inc, estate, model, version, mock)
    return {"incident": inc.id, "alerts": len(inc.alerts), "after_dedup": len(dedup(inc.alerts)),
            "groups": [{"services": sorted(g.services), "alerts": len(g.alerts),
                        "alertnames": sorted({a["alertname"] for a in g.alerts}),
                        "paging": g is main} for g in sorted(groups, key=lambda g: g is not main)],
            "classifier": classifier, "prompt_version": version if classifier == "llm" else None,
            "decision": decision}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def confusion(truth: list[str], pred: list[str], labels: list[str]) -> list[list[int]]:
    """Rows are the truth, columns the prediction, in `labels` order (as sklearn's confusion_matrix)."""
    index = {lab: i for i, lab in enumerate(labels)}
    m = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, pred, strict=True):
        if t in index and p in index:
            m[index[t]][index[p]] += 1
    return m


def measure(incidents: list[Incident], estate: Estate, classifier: str, model: Model | None = None,
            version: str = "v2", mock: dict[str, Any] | None = None) -> dict[str, Any]:
    """Accuracy (Wilson 95% CI) per field and overall, with confusion matrices for severity and team."""
    rows = []
    for inc in incidents:
        d = triage(inc, estate, classifier, model, version, mock)["decision"]
        rows.append({"incident": inc.id, **{f"true_{k}": inc.truth[k] for k in ("severity", "service", "team")},
                     **{f"pred_{k}": d[k] for k in ("severity", "service", "team")}})
    n = len(rows)
    out: dict[str, Any] = {"classifier": classifier, "prompt_version": version if classifier == "llm" else None,
                           "n": n, "accuracy": {}}
    for f in ("severity", "service", "team"):
        k = sum(r[f"true_{f}"] == r[f"pred_{f}"] for r in rows)
        out["accuracy"][f] = {"value": round(k / n, 4) if n else None, "ci95": wilson(k, n)}
    k = sum(all(r[f"true_{f}"] == r[f"pred_{f}"] for f in ("severity", "team")) for r in rows)
    out["accuracy"]["triage"] = {"value": round(k / n, 4) if n else None, "ci95": wilson(k, n)}
    teams = sorted(estate.teams)
    out["confusion"] = {
        "severity": {"labels": list(SEVERITIES), "matrix": confusion([r["true_severity"] for r in rows],
                                                                     [r["pred_severity"] for r in rows], list(SEVERITIES))},
        "team": {"labels": teams, "matrix": confusion([r["true_team"] for r in rows], [r["pred_team"] for r in rows], teams)},
    }
    out["rows"] = rows
    return out


def main() -> None:
    from labs.lab13_sre import mock_plugin  # noqa: F401  (registers sre_triage with the in-process mock)

    ap = argparse.ArgumentParser(description="triage: rules vs LLM on fixture + generated incidents")
    ap.add_argument("--generated", type=int, default=20)
    args = ap.parse_args()
    estate = load_estate()
    incidents = fixture_incidents() + [render(s, estate) for s in generate(args.generated, seed=1)]
    model = Model.from_settings().for_behaviour("sre_triage")
    for name, kw in (("rules", {}), ("llm v1", {"version": "v1"}), ("llm v2", {"version": "v2"})):
        res = measure(incidents, estate, "rules" if name == "rules" else "llm", model, **kw)
        print(f"{name:8s}", {k: v["value"] for k, v in res["accuracy"].items()})


if __name__ == "__main__":
    main()
