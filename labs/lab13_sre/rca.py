"""Root-cause analysis by an agent with tools over the incident's telemetry, with a step budget and a loop guard.

    curl -s localhost:8013/rca -H 'content-type: application/json' -d '{"incident": "INC-2046", "wait": true}'
    python -m labs.lab13_sre.rca              # accuracy and tool-call efficiency over fixture + generated incidents

Tools (the model sees their JSON schemas): get_dependencies, query_metrics, list_deploys,
list_config_changes, grep_logs, read_runbook. Their outputs are recordings in the style of
HolmesGPT's eval fixtures: `Recordings.build(incident)` renders, from the incident's telemetry, one
output per (tool name, parameters) an investigation can ask for; a call is answered by the recording
whose name and parameters match (grep's pattern as a case-insensitive regex over the recorded lines),
and an unmatched call is an error the model sees, not an invention.

Guards: at most `max_steps` tool calls; a call identical to an earlier one (same tool, same arguments)
is refused with an error instead of run, and `repeat_limit` refusals end the run (loop_detected).
Scores over a set of incidents:

    accuracy   = share with (service, cause) equal to the truth
    efficiency = mean of min(1, needed / used) (0 for a run that gave no answer), needed = 2 * hops(entry -> root) + 4
                 (dependencies and metrics per hop, then deploys, config, logs at the root, one answer)
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labs.lab13_sre.estate import EDGE, Estate, Incident, fixture_incidents, generate, load_estate, render
from labs.lab13_sre.triage import main_group
from shared.llm import Model
from shared.resilience import Deadline

SYSTEM = ("You are an SRE investigating an incident. Use the tools to find the root cause: follow the errors "
          "down the dependency graph, then check what changed and what the logs say at the bottom. Answer with "
          "JSON {service, cause, evidence: [ids], summary}. cause is one of: bad_deploy, dependency_outage, "
          "resource_exhaustion, config_change, traffic_spike, cert_expiry, noisy_neighbour.")


def _tool(name: str, description: str, **params: str) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": {k: {"type": "string", "description": v} for k, v in params.items()},
                       "required": list(params)}}}


TOOLS = [
    _tool("get_dependencies", "Which services a service calls.", service="service name"),
    _tool("query_metrics", "Error ratio, p99, CPU, memory and up for a service: baseline vs the last 20 minutes.",
          service="service name"),
    _tool("list_deploys", "Deploys of a service in the last hour.", service="service name"),
    _tool("list_config_changes", "Config changes of a service in the last hour.", service="service name"),
    _tool("grep_logs", "Log lines of a service matching a regex.", service="service name", pattern="regex"),
    _tool("read_runbook", "The first lines of a service's runbook.", service="service name"),
]
TOOL_NAMES = {t["function"]["name"] for t in TOOLS}


class Recordings:
    """(tool, parameters) -> recorded output, as HolmesGPT's mock tool fixtures hold them."""

    def __init__(self, records: dict[tuple[str, str], str], logs: dict[str, list[str]]):
        self.records = records
        self.logs = logs

    @classmethod
    def build(cls, inc: Incident, estate: Estate) -> Recordings:
        rec: dict[tuple[str, str], str] = {}
        logs: dict[str, list[str]] = {}
        for name, svc in estate.services.items():
            rec[("get_dependencies", name)] = f"{name} calls: {', '.join(svc.calls) or '(nothing)'}"
            rec[("read_runbook", name)] = f"runbook {name} (owner {svc.team}): {svc.runbook}"
            s = inc.series[name]
            lines, anomalous = [], False
            for metric in ("error_ratio", "p99_ms", "cpu", "mem_mb", "up"):
                base = sorted(s[metric][:15])[7]
                recent = s[metric][-20:]
                worst = min(recent) if metric == "up" else max(recent)
                moved = (worst < 0.5) if metric == "up" else (worst > 3 * base + 0.02 if metric == "error_ratio"
                                                              else worst > 2 * base)
                anomalous |= moved and metric in ("error_ratio", "up")
                lines.append(f"  {metric}: baseline {base:g}, last 20m worst {worst:g}{'  <-' if moved else ''}")
            head = f"{name} metrics ({'ANOMALOUS' if anomalous else 'normal'}):"
            rec[("query_metrics", name)] = "\n".join([head, *lines])
            deploys = [d for d in inc.deploys if d["service"] == name]
            rec[("list_deploys", name)] = "\n".join(
                f"{d['id']} {name} {d['version']} at {d['at']} by {d['author']}" for d in deploys) or f"no deploys of {name}"
            changes = [c for c in inc.config_changes if c["service"] == name]
            rec[("list_config_changes", name)] = "\n".join(
                f"{c['id']} {name} {c['key']}: {c['old']} -> {c['new']} at {c['at']}" for c in changes) or \
                f"no config changes of {name}"
            logs[name] = [f"{e['id']} {e['at']} {e['level']} {e['msg']}" for e in inc.logs if e["service"] == name]
        return cls(rec, logs)

    def call(self, name: str, args: dict[str, Any]) -> str:
        if name not in TOOL_NAMES:
            raise LookupError(f"unknown tool {name!r}; tools: {sorted(TOOL_NAMES)}")
        service = str(args.get("service", ""))
        if name == "grep_logs":
            if service not in self.logs:
                raise LookupError(f"no recorded logs for service {service!r}")
            try:
                rx = re.compile(str(args.get("pattern", "")), re.IGNORECASE)
            except re.error as exc:
                raise LookupError(f"bad pattern: {exc}") from exc
            hits = [ln for ln in self.logs[service] if rx.search(ln)]
            return "\n".join(hits[:20]) or f"no lines of {service} match {args.get('pattern')!r}"
        out = self.records.get((name, service))
        if out is None:
            raise LookupError(f"no recording for {name}(service={service!r})")
        return out


@dataclass
class Step:
    n: int
    tool: str
    args: dict[str, Any]
    output: str
    error: bool = False
    latency_ms: float = 0.0


@dataclass
class Investigation:
    incident: str
    entry: str
    status: str = "running"  # answered | step_budget | loop_detected | deadline | no_answer
    answer: dict[str, Any] | None = None
    steps: list[Step] = field(default_factory=list)
    model_calls: int = 0
    refused_repeats: int = 0

    def trace(self) -> list[dict[str, Any]]:
        return [{"n": s.n, "tool": s.tool, "args": s.args, "output": s.output[:400], "error": s.error,
                 "latency_ms": s.latency_ms} for s in self.steps]


def entry_service(inc: Incident, estate: Estate) -> str:
    """Where an on-call engineer starts: the edge-most critical alerting service of the paging group."""
    group = main_group(inc, estate)
    crit = {a["service"] for a in group.alerts if a["labels"].get("severity") == "critical"} or group.services
    return min(crit, key=lambda s: (estate.depth(s), s))


def brief(inc: Incident, estate: Estate, entry: str) -> str:
    group = main_group(inc, estate)
    lines = [f"Incident {inc.id}: {inc.spec.title}", f"entry service: {entry}", "Alerting services:"]
    seen = {}
    for a in group.alerts:
        seen.setdefault(a["service"], []).append(a["alertname"])
    lines += [f"- {s}: {', '.join(sorted(set(n)))}" for s, n in sorted(seen.items())]
    return "\n".join(lines)


def investigate(inc: Incident, estate: Estate, model: Model, *, max_steps: int = 20, repeat_limit: int = 2,
                deadline_s: float = 30.0, mock: dict[str, Any] | None = None,
                on_step: Callable[[Investigation], None] | None = None) -> Investigation:
    rec = Recordings.build(inc, estate)
    entry = entry_service(inc, estate)
    inv = Investigation(inc.id, entry)
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM},
                                      {"role": "user", "content": brief(inc, estate, entry)}]
    seen: set[str] = set()
    deadline = Deadline(deadline_s)
    while True:
        if deadline.expired:
            inv.status = "deadline"
            break
        reply = model.complete(messages, tools=TOOLS, temperature=0, mock=mock, timeout=max(deadline.remaining(), 0.1))
        inv.model_calls += 1
        if not reply.tool_calls:
            inv.answer = _parse_answer(reply.text)
            inv.status = "answered" if inv.answer else "no_answer"
            break
        messages.append(reply.message())
        for tc in reply.tool_calls:
            try:
                args = tc.json_args()
            except ValueError:
                args = {}
            key = json.dumps([tc.name, args], sort_keys=True)
            start = time.perf_counter()
            if key in seen:  # the loop guard: refuse, and let the model see why
                inv.refused_repeats += 1
                out, err = f"refused: {tc.name} was already called with these arguments; use its earlier result", True
            else:
                seen.add(key)
                try:
                    out, err = rec.call(tc.name, args), False
                except LookupError as exc:
                    out, err = f"error: {exc}", True
            inv.steps.append(Step(len(inv.steps) + 1, tc.name, args, out, err,
                                  round((time.perf_counter() - start) * 1000, 3)))
            messages.append({"role": "tool", "tool_call_id": tc.id, "content": out})
        if on_step:
            on_step(inv)
        if inv.refused_repeats >= repeat_limit:
            inv.status = "loop_detected"
            break
        if len(inv.steps) >= max_steps:
            inv.status = "step_budget"
            break
    return inv


def _parse_answer(text: str | None) -> dict[str, Any] | None:
    m = re.search(r"\{.*\}", text or "", re.DOTALL)
    if not m:
        return None
    try:
        value = json.loads(m.group(0))
    except ValueError:
        return None
    return value if isinstance(value, dict) and "service" in value and "cause" in value else None


def needed_calls(inc: Incident, estate: Estate, entry: str) -> int:
    root = inc.truth["service"]
    hop = estate.upstream(root).get(entry)
    hop = hop if hop is not None else estate.upstream(root).get(EDGE, 0)
    return 2 * hop + 4


def score(inc: Incident, estate: Estate, inv: Investigation) -> dict[str, Any]:
    a = inv.answer or {}
    correct = a.get("service") == inc.truth["service"] and a.get("cause") == inc.truth["cause"]
    needed = needed_calls(inc, estate, inv.entry)
    used = len(inv.steps) + 1  # the answer is a step too
    return {"incident": inc.id, "status": inv.status, "correct": correct,
            "service_correct": a.get("service") == inc.truth["service"],
            "truth": {k: inc.truth[k] for k in ("service", "cause")},
            "answer": {k: a.get(k) for k in ("service", "cause")}, "calls": len(inv.steps), "needed": needed,
            "efficiency": round(min(1.0, needed / used), 4) if inv.status == "answered" else 0.0}


def evaluate(incidents: list[Incident], estate: Estate, model: Model, mock: dict[str, Any] | None = None,
             max_steps: int = 20, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    rows = []
    for i, inc in enumerate(incidents):
        rows.append(score(inc, estate, investigate(inc, estate, model, mock=mock, max_steps=max_steps)))
        if progress:
            progress(i + 1, len(incidents))
    n = len(rows)
    return {"n": n, "accuracy": round(sum(r["correct"] for r in rows) / n, 4),
            "service_accuracy": round(sum(r["service_correct"] for r in rows) / n, 4),
            "efficiency": round(sum(r["efficiency"] for r in rows) / n, 4),
            "mean_calls": round(sum(r["calls"] for r in rows) / n, 2),
            "statuses": {s: sum(r["status"] == s for r in rows) for s in sorted({r["status"] for r in rows})},
            "rows": rows}


def main() -> None:
    from labs.lab13_sre import mock_plugin  # noqa: F401  (registers sre_rca with the in-process mock)

    ap = argparse.ArgumentParser(description="RCA agent: root-cause accuracy and tool-call efficiency")
    ap.add_argument("--generated", type=int, default=14)
    args = ap.parse_args()
    estate = load_estate()
    incidents = fixture_incidents() + [render(s, estate) for s in generate(args.generated, seed=2)]
    model = Model.from_settings().for_behaviour("sre_rca")
    for label, mock in (("careful", {"anchor_rate": 0, "wander_rate": 0}), ("default", None),
                        ("loopy", {"repeat_rate": 0.3})):
        res = evaluate(incidents, estate, model, mock)
        print(f"{label:8s} accuracy {res['accuracy']:.3f}  efficiency {res['efficiency']:.3f}  "
              f"calls {res['mean_calls']}  {res['statuses']}")


if __name__ == "__main__":
    main()
