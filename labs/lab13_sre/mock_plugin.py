"""Lab-13's mock models: a triage classifier, an RCA investigator, an NL->PromQL translator, an explainer.

    python -c "from labs.lab13_sre import mock_plugin; from shared import llm; \
print(llm.complete('Request rate per service', model='mock/sre_promql').text)"

Each is a policy over what the request says, with the mistakes real models make at tunable rates
(mock options, so a test or a canary can turn them up or down):

sre_triage   reads the alert group in the prompt (JSON) and answers severity, root service, owning team.
             It names as root the deepest alerting service when the prompt carries the dependency graph,
             else the loudest one (most critical alerts); it grades severity by the rubric when the system
             prompt has one, else by how many alerts fire. `wrong_rate` (default 0.1) flips severity by one
             level or swaps the root for the loudest service.
sre_rca      investigates with tools: descends from the entry service along alerting dependencies, then
             checks deploys, config changes and logs at the bottom and names the cause the evidence shows.
             `anchor_rate` (0.15): it blames a recent deploy on a symptom service and stops;
             `wander_rate` (0.15): it makes a call it does not need; `repeat_rate` (0.0): it repeats its
             last call verbatim (what a loop guard is for).
sre_promql   translates a question to PromQL. `paraphrase_rate` (0.5) writes an equivalent but different
             query (by-clause after, matchers reordered, 300s for 5m, increase()/window for rate(), ...);
             `mistake_rate` (0.2) makes one real mistake (no rate() on a counter, `=` for `=~`, no `le`
             in histogram_quantile's grouping, the wrong window or quantile, a dropped filter). Without a
             metric catalogue in the system prompt it also guesses metric names (`guess_rate`, 0.5).
sre_explain  explains a detected anomaly from the context it is given; `speculate_rate` (0.2) adds a
             cause that is not in the context (the checker in anomaly.py catches it).
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.mockllm.request import MockRequest, Reply, ToolCallOut, behaviour

BEHAVIOUR_NAMES = ("sre_triage", "sre_rca", "sre_promql", "sre_explain")
SERVICE_WORD = r"[a-z][a-z0-9-]*"


def _rate(req: MockRequest, key: str, default: float) -> float:
    try:  # options arrive as strings over HTTP headers
        return min(max(float(req.opt(key, default)), 0.0), 1.0)
    except (TypeError, ValueError):
        return default


def _json_in(text: str) -> dict[str, Any]:
    m = re.search(r"```json\s*(\{.*?\})\s*```", text, re.DOTALL) or re.search(r"(\{.*\})", text, re.DOTALL)
    if not m:
        return {}
    try:
        value = json.loads(m.group(1))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _answer(req: MockRequest, value: dict[str, Any]) -> Reply:
    """JSON as the client asked for it: a call to the offered function (instructor's tools mode) or text."""
    if req.tools:
        name = req.tools[0].get("function", req.tools[0]).get("name", "answer")
        return Reply(tool_calls=[ToolCallOut(name=name, arguments=json.dumps(value))])
    return Reply(content=json.dumps(value))


# --- triage ---------------------------------------------------------------------------------------

def _deepest(alerting: set[str], deps: dict[str, list[str]]) -> set[str]:
    def reaches(s: str, seen: set[str]) -> set[str]:
        out: set[str] = set()
        for d in deps.get(s, []):
            if d not in seen:
                seen.add(d)
                out |= {d} | reaches(d, seen)
        return out

    return {s for s in alerting if not (reaches(s, set()) & alerting)}


@behaviour("sre_triage", "Lab-13: incident triage (severity, root service, owner) from an alert group; "
                         "options wrong_rate")
def triage(req: MockRequest) -> Reply:
    data = _json_in(req.last_user())
    alerts = [a for a in data.get("alerts", []) if isinstance(a, dict) and a.get("severity") != "info"]
    owners = data.get("owners") or {}
    deps = data.get("dependencies") or {}
    rng = req.rng("sample:triage")
    wrong = _rate(req, "wrong_rate", 0.1)
    loud: dict[str, int] = {}
    for a in alerts:
        loud[a.get("service", "?")] = loud.get(a.get("service", "?"), 0) + (2 if a.get("severity") == "critical" else 1)
    ranked = sorted(loud, key=lambda s: (-loud[s], s))
    if not ranked:
        return _answer(req, {"severity": "SEV3", "service": "unknown", "team": "unknown",
                             "rationale": "no actionable alerts"})
    root = ranked[0]
    if deps:
        candidates = _deepest(set(loud), deps)
        root = min(candidates, key=lambda s: (-loud[s], s)) if candidates else root
    if rng.random() < wrong:
        root = ranked[0] if root != ranked[0] else (ranked[1] if len(ranked) > 1 else root)
    edge = float(data.get("edge_error_ratio") or 0.0)
    if "rubric" in req.system().lower():
        level = 0 if edge >= 0.2 else 1 if edge >= 0.05 or float(data.get("edge_p99_ms") or 0) > 2000 else 2
    else:
        level = 0 if len(alerts) >= 12 else 1 if len(alerts) >= 5 else 2
    if rng.random() < wrong:
        level = min(2, level + 1) if rng.random() < 0.5 else max(0, level - 1)
    return _answer(req, {"severity": f"SEV{level + 1}", "service": root, "team": owners.get(root, "unknown"),
                         "rationale": f"{loud[root]} weighted alerts on {root}; edge error ratio {edge:.3f}"})


# --- RCA ------------------------------------------------------------------------------------------

CAUSE_SIGNS = (("x509", "cert_expiry"), ("connection refused", "dependency_outage"), ("oomkilled", "resource_exhaustion"),
               ("pool_size", "config_change"), ("nil pointer", "bad_deploy"), ("queue full", "traffic_spike"),
               ("throttled", "noisy_neighbour"))


def _calls_so_far(req: MockRequest) -> list[tuple[str, dict[str, Any], str]]:
    """(tool, args, result) for every call in the conversation, in order."""
    results = {m.get("tool_call_id"): req.text_of(m) for m in req.messages if m.get("role") == "tool"}
    out = []
    for m in req.messages:
        for c in m.get("tool_calls") or []:
            try:
                args = json.loads(c["function"].get("arguments") or "{}")
            except ValueError:
                args = {}
            out.append((c["function"]["name"], args, results.get(c.get("id"), "")))
    return out


def _call(name: str, **args: Any) -> Reply:
    return Reply(tool_calls=[ToolCallOut(name=name, arguments=json.dumps(args))])


@behaviour("sre_rca", "Lab-13: an RCA investigator that calls tools (dependencies, metrics, deploys, logs); "
                      "options anchor_rate, wander_rate, repeat_rate")
def rca(req: MockRequest) -> Reply:
    first = req.last_user() if not any(m.get("role") == "tool" for m in req.messages) else next(
        req.text_of(m) for m in req.messages if m.get("role") == "user")
    alerting = re.findall(rf"^- ({SERVICE_WORD}):", first, re.MULTILINE)
    entry = (re.search(rf"entry service: ({SERVICE_WORD})", first) or re.search(r"(.)", "?")).group(1)
    calls = _calls_so_far(req)
    step = len(calls)
    rng = req.rng(f"sample:rca:{step}")
    if calls and rng.random() < _rate(req, "repeat_rate", 0.0):
        name, args, _ = calls[-1]
        return _call(name, **args)
    done = {(n, json.dumps(a, sort_keys=True)) for n, a, _ in calls}

    def need(name: str, **args: Any) -> bool:
        return (name, json.dumps(args, sort_keys=True)) not in done

    if step and rng.random() < _rate(req, "wander_rate", 0.15):
        svc = rng.choice(alerting or [entry])
        if need("read_runbook", service=svc):
            return _call("read_runbook", service=svc)
    # "what changed?" first: an anchored model takes a deploy on the entry service as the answer
    if need("list_deploys", service=entry):
        return _call("list_deploys", service=entry)
    entry_deploys = next((r for n, a, r in calls if n == "list_deploys" and a.get("service") == entry), "")
    if "D-" in entry_deploys and rng.random() < _rate(req, "anchor_rate", 0.15) and step <= 1:
        dep = re.search(r"(D-\S+)", entry_deploys).group(1)
        return Reply(content=json.dumps({"service": entry, "cause": "bad_deploy", "evidence": [dep],
                                         "summary": f"{entry} was deployed just before the alerts ({dep})."}))
    # descend along dependencies that are unhealthy
    current = entry
    while True:
        deps_text = next((r for n, a, r in calls if n == "get_dependencies" and a.get("service") == current), None)
        if deps_text is None:
            return _call("get_dependencies", service=current)
        deps = re.findall(SERVICE_WORD, deps_text.split(":", 1)[1]) if ":" in deps_text else []
        suspects = [d for d in deps if d in alerting]
        nxt = None
        for d in suspects:
            if need("query_metrics", service=d):
                return _call("query_metrics", service=d)
            metrics = next(r for n, a, r in calls if n == "query_metrics" and a.get("service") == d)
            if "ANOMALOUS" in metrics:
                nxt = d
                break
        if nxt is None:
            break
        current = nxt
    for name, args in (("list_deploys", {"service": current}), ("list_config_changes", {"service": current}),
                       ("grep_logs", {"service": current, "pattern": "ERROR"})):
        if need(name, **args):
            return _call(name, **args)
    evidence_text = "\n".join(r for n, a, r in calls if a.get("service") == current)
    low = evidence_text.lower()
    service, cause = current, "unknown"
    for sign, c in CAUSE_SIGNS:
        if sign in low:
            cause = c
            break
    if cause in ("cert_expiry", "dependency_outage"):  # the error names the callee that failed
        m = re.search(rf"(?:handshake with|dial tcp) ({SERVICE_WORD})", evidence_text)
        service = m.group(1) if m else service
    if cause == "unknown" and re.search(r"^\s*up: .*<-", evidence_text, re.MULTILINE):
        cause = "dependency_outage"  # down, and too dead to log anything
    if cause == "unknown" and re.search(r"\bD-\S+ " + re.escape(current), evidence_text):
        cause = "bad_deploy"
    ids = sorted(set(re.findall(r"\b([DCL]-[\w-]+)", evidence_text)))[:6]
    return Reply(content=json.dumps({"service": service, "cause": cause, "evidence": ids,
                                     "summary": f"errors descend from {entry} to {current}; evidence points to "
                                                f"{cause.replace('_', ' ')} at {service}."}))


# --- NL -> PromQL -----------------------------------------------------------------------------------

QUANTILES = ((r"\bp(\d\d)\b", None), (r"(\d\d)(?:th)? percentile", None), (r"\bmedian\b", 0.5))


def _window(q: str) -> str:
    m = re.search(r"last (\d+) (minute|hour|second)s?", q)
    if m:
        return f"{m.group(1)}{m.group(2)[0]}"
    if re.search(r"last hour", q):
        return "1h"
    return "5m"


def _sel(metric: str, matchers: list[tuple[str, str, str]], window: str | None = None) -> str:
    ms = ",".join(f'{k}{op}"{v}"' for k, op, v in matchers)
    return metric + (f"{{{ms}}}" if ms else "") + (f"[{window}]" if window else "")


def translate(question: str, services: list[str], rng, *, paraphrase: float, mistake: float,
              guess_names: bool) -> str:
    """The translator's policy: read intent, filters, grouping, window; then paraphrase or err."""
    q = question.lower().strip()
    svc = next((s for s in sorted(services, key=len, reverse=True) if re.search(rf"\b{re.escape(s)}\b", q)), None)
    window = _window(q)
    slips = {"mistake": rng.random() < mistake, "paraphrase": rng.random() < paraphrase}
    kind = rng.random()
    if slips["mistake"]:
        slips["paraphrase"] = False
    reqs, lat = "http_requests_total", "http_request_duration_seconds"
    if guess_names:
        reqs, lat = "http_requests", "http_request_latency_seconds"
    filt: list[tuple[str, str, str]] = [("service", "=", svc)] if svc else []
    if "post" in q.split() or "post " in q:
        filt.append(("method", "=", "POST"))
    if re.search(r"\bget request", q):
        filt.append(("method", "=", "GET"))
    code = re.search(r"\b(404|500|503)s\b", q)
    errors = bool(re.search(r"\b(5xx|errors?|fail)", q)) and not code
    if code:
        filt.append(("code", "=", code.group(1)))
    group = None
    if re.search(r"per service|by service|which services|services with|services returning", q):
        group = "service"
    elif "status code" in q:
        group = "code"
    elif "by method" in q:
        group = "method"
    elif "per pod" in q:
        group = "instance"
    top = re.search(r"top (\d+)", q)
    bottom = re.search(r"which (\d+) services get the least", q)
    threshold = None
    if m := re.search(r"above (\d+(?:\.\d+)?)%", q):
        threshold = float(m.group(1)) / 100
    elif m := re.search(r"above (\d+(?:\.\d+)?) seconds?", q):
        threshold = float(m.group(1))
    elif m := re.search(r"more than (\d+) errors? per second", q):
        threshold = float(m.group(1))
        errors = True
    if top or bottom:
        group = group or "service"

    def agg(inner: str, grp: str | None = None, op: str = "sum") -> str:
        g = grp if grp is not None else group
        if g and slips["paraphrase"] and kind < 0.3:
            return f"{op}({inner}) by ({g})"
        return f"{op} by ({g}) ({inner})" if g else f"{op}({inner})"

    def rate_of(metric: str, ms: list[tuple[str, str, str]], win: str = window) -> str:
        if slips["paraphrase"] and 0.3 <= kind < 0.45:
            ms = list(reversed(ms))
        if slips["paraphrase"] and 0.45 <= kind < 0.6:
            return f"increase({_sel(metric, ms, win)}) / {int(_seconds(win))}"
        if slips["paraphrase"] and 0.6 <= kind < 0.7 and win.endswith("m"):
            win = f"{int(_seconds(win))}s"
        if slips["mistake"] and kind < 0.25:
            return _sel(metric, ms)  # forgot rate() on a counter
        if slips["mistake"] and 0.25 <= kind < 0.4:
            win = "1m"
        return f"rate({_sel(metric, ms, win)})"

    err_match = ("code", "=~", "5..")
    if slips["mistake"] and 0.4 <= kind < 0.55:
        err_match = ("code", "=", "5..")  # = where =~ was meant: matches nothing
    if slips["paraphrase"] and 0.7 <= kind < 0.85:
        err_match = ("code", "=~", "50[03]")  # the codes it saw: equal on this data, not in general
    if slips["mistake"] and 0.55 <= kind < 0.65 and filt and filt[0][0] == "service":
        filt = filt[1:]  # dropped the service filter

    quant = None
    for pattern, fixed in QUANTILES:
        if m := re.search(pattern, q):
            quant = fixed if fixed is not None else int(m.group(1)) / 100
            break
    if "down" in q or re.search(r"\binstances\b|\bup\b", q):
        down_test = "up < 1" if slips["paraphrase"] else "up == 0"
        if "how many pods are down" in q:
            return f"count({down_test})"
        if "down" in q:
            return f"{_sel('up', filt)} == 0" if svc else down_test
        return agg(_sel("up", filt))
    if quant is not None:
        if slips["mistake"] and 0.65 <= kind < 0.8:
            quant = 0.9 if quant != 0.9 else 0.99
        by = f"{group}, le" if group else "le"
        if slips["mistake"] and 0.8 <= kind:
            by = group or ""  # forgot le: histogram_quantile then finds no buckets
        inner = f"rate({_sel(lat + '_bucket', filt, window)})"
        expr = f"histogram_quantile({quant:g}, {'sum by (' + by + ') (' + inner + ')' if by else 'sum(' + inner + ')'})"
        return f"{expr} > {threshold:g}" if threshold is not None else expr
    if re.search(r"average|mean", q) and "latency" in q:
        return f"{agg(rate_of(lat + '_sum', filt))} / {agg(rate_of(lat + '_count', filt))}"
    if "memory" in q:
        mem = "process_resident_memory_bytes" if not guess_names else "memory_usage_bytes"
        if "peak" in q:
            return f"max(max_over_time({_sel(mem, filt, window if window != '5m' else '30m')}))"
        if "largest pod" in q:
            return f"max({_sel(mem, filt)})"
        expr = agg(_sel(mem, filt))
        if top:
            expr = f"topk({top.group(1)}, {expr})"
        return f"{expr} / 1048576" if "megabyte" in q else expr
    if "cpu" in q or "cores" in q:
        cpu = "container_cpu_usage_seconds_total" if not guess_names else "cpu_usage_seconds"
        expr = agg(rate_of(cpu, filt))
        return f"topk({top.group(1)}, {expr})" if top else expr
    if re.search(r"how many (requests|errors) did|requests per service in the last", q):
        ms = filt + ([err_match] if errors else [])
        return agg(f"increase({_sel(reqs, ms, window if window != '5m' else '1h')})")
    if re.search(r"fraction|ratio|percentage", q) or (threshold is not None and "%" in q):
        num = agg(rate_of(reqs, filt + [err_match]))
        den = agg(rate_of(reqs, filt))
        expr = f"{num} / {den}"
        if "percentage" in q:
            expr = f"100 * {expr}"
        return f"{expr} > {threshold:g}" if threshold is not None else expr
    ms = filt + ([err_match] if errors else [])
    expr = agg(rate_of(reqs, ms))
    if top:
        expr = f"topk({top.group(1)}, {expr})"
    if bottom:
        expr = f"bottomk({bottom.group(1)}, {expr})"
    return f"{expr} > {threshold:g}" if threshold is not None else expr


def _seconds(window: str) -> float:
    return float(window[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[window[-1]]


@behaviour("sre_promql", "Lab-13: natural language -> PromQL with realistic slips; options paraphrase_rate, "
                         "mistake_rate, guess_rate")
def promql(req: MockRequest) -> Reply:
    system = req.system()
    services = re.findall(r"^service: (\S+)", system, re.MULTILINE) or re.findall(
        rf"\b({SERVICE_WORD})\b", system)
    catalogue = "http_requests_total" in system
    rng = req.rng("sample:promql")
    guess = not catalogue and rng.random() < _rate(req, "guess_rate", 0.5)
    query = translate(req.last_user(), services, rng, paraphrase=_rate(req, "paraphrase_rate", 0.5),
                      mistake=_rate(req, "mistake_rate", 0.2), guess_names=guess)
    return Reply(content=f"```promql\n{query}\n```")


# --- explainer --------------------------------------------------------------------------------------

@behaviour("sre_explain", "Lab-13: explains a detected anomaly from the context given; option speculate_rate")
def explain(req: MockRequest) -> Reply:
    data = _json_in(req.last_user())
    a = data.get("anomaly") or {}
    parts = [f"{data.get('series', 'the series')} moved to {a.get('value')} against a baseline of "
             f"{a.get('baseline')} ({a.get('score')} on the {a.get('detector')} detector) at {a.get('at')}."]
    changes = [c for c in data.get("changes", []) if isinstance(c, dict)]
    near = [c for c in changes if abs(float(c.get("minute", 1e9)) - float(a.get("minute", 0))) <= 5]
    if near:
        parts.append("It starts within five minutes of " + ", ".join(
            f"{c.get('id')} ({c.get('what', 'change')} on {c.get('service')})" for c in near) + ".")
    else:
        parts.append("No deploy or config change in the context lines up with it.")
    if req.rng("sample:explain").random() < _rate(req, "speculate_rate", 0.2):
        parts.append("This is most likely caused by deploy D-9999 of the ingress controller.")
    parts.append("The detector found it; check the runbook before acting.")
    return Reply(content=" ".join(parts))


def install() -> None:
    """Nothing to do: the four behaviours registered themselves when this module was imported."""


__all__ = ["BEHAVIOUR_NAMES", "install", "translate"]
