"""Chapter 13's worked exercises, computed: SLOs for an LLM triage service, a prompt canary playbook,
an NL-to-query eval set, an RCA architecture.

    python -m labs.lab13_sre.exercises          # readable
    python -m labs.lab13_sre.exercises --json   # one JSON object {exercise: {inputs..., answer...}}

None of them calls a model: each is the design as data plus the numbers the lab's mechanisms compute
for it (the service and the benches run the models).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from labs.lab13_sre import canary, nl2query, rca, slo
from labs.lab13_sre.estate import fixture_incidents, load_estate
from labs.lab13_sre.metrics import fixture_db


def slo_for_triage_service() -> dict[str, Any]:
    """Targets for a triage service whose answers are graded; what a bad prompt does to the budget."""
    inputs = {"target": 0.95, "window_days": 30, "triages_per_day": 288, "accuracy_within_bound": 0.975,
              "latency_bound_s": slo.LATENCY_BOUND_MS / 1000, "regression": "accuracy 0.5 for 8 h on day 20"}
    budget = slo.budget_math(inputs["target"], inputs["window_days"], inputs["triages_per_day"],
                             inputs["accuracy_within_bound"])
    rows = slo.simulate()
    at = {day: slo.status([r for r in rows if r["ts"] <= day * 86400], now=day * 86400) for day in (20.0, 20.25, 30.0)}
    good = {day: s["slos"][0] for day, s in at.items()}
    return {**inputs, "answer": {
        **budget,
        "firing_before_regression": [f["alert"] for f in at[20.0]["firing"]],
        "firing_6h_into_regression": [f["alert"] for f in at[20.25]["firing"]],
        "burn_rates_6h_into_regression": good[20.25]["burn_rates"],
        "budget_remaining_end_of_month": good[30.0]["budget_remaining"],
        "sli_end_of_month": good[30.0]["sli_value"]}}


def prompt_canary_playbook() -> dict[str, Any]:
    """Share, hypotheses and stop rules for a prompt canary, and the error rates they really give."""
    inputs = {"share": 0.2, "ratio_h1": 2.0, "alpha": 0.05, "beta": 0.2, "baseline_bad_rate": 0.1,
              "rollback_unit": "prompt version (registry pointer)"}
    t = canary.SPRT(inputs["share"], inputs["ratio_h1"], inputs["alpha"], inputs["beta"])
    oc = canary.operating_characteristics(inputs["share"], inputs["ratio_h1"], inputs["alpha"], inputs["beta"],
                                          inputs["baseline_bad_rate"], trials=300)
    candidate_bad_events_to_roll_back = math.ceil(t.upper / math.log(t.q1 / t.q0))
    return {**inputs, "answer": {
        "q0": round(t.q0, 4), "q1": round(t.q1, 4), "rollback_threshold": round(t.upper, 4),
        "promote_threshold": round(t.lower, 4),
        "consecutive_candidate_bad_events_to_roll_back": candidate_bad_events_to_roll_back,
        "simulated_rollback_when_equal": oc["rollback_when_equal"],
        "simulated_promote_when_2x_worse": oc["promote_when_worse"],
        "steps": ["register the candidate as a new version", f"route {inputs['share']:.0%} of incidents to it",
                  "grade each triage (severity and team confirmed by on-call)",
                  "update the SPRT on every bad triage", "promote: move the live pointer; roll back: leave it",
                  "never change code and prompt in the same rollout"]}}


CASES = [  # (what it shows, prediction, gold)
    ("identical", 'sum(rate(http_requests_total{service="web"}[5m]))', 'sum(rate(http_requests_total{service="web"}[5m]))'),
    ("matcher order", 'sum(rate(http_requests_total{code="404",service="web"}[5m]))',
     'sum(rate(http_requests_total{service="web",code="404"}[5m]))'),
    ("by after the call", 'sum(rate(http_requests_total[5m])) by (service)', 'sum by (service) (rate(http_requests_total[5m]))'),
    ("increase / window = rate", 'sum(increase(http_requests_total{service="web"}[5m]) / 300)',
     'sum(rate(http_requests_total{service="web"}[5m]))'),
    ("codes seen, not 5..", 'sum(rate(http_requests_total{code=~"50[03]"}[5m]))', 'sum(rate(http_requests_total{code=~"5.."}[5m]))'),
    ("forgot le", 'histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{service="checkout"}[5m])))',
     'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="checkout"}[5m])))'),
    ("= for =~", 'sum(rate(http_requests_total{code="5.."}[5m]))', 'sum(rate(http_requests_total{code=~"5.."}[5m]))'),
]


def nl_to_query_eval_set() -> dict[str, Any]:
    """The eval set's shape, and how the three graders disagree on seven hand-picked predictions."""
    data = nl2query.eval_set()
    tags: dict[str, int] = {}
    for q in data["questions"]:
        for tag in q["tags"]:
            tags[tag] = tags.get(tag, 0) + 1
    db, t = fixture_db(data["incident"]), data["eval_time_s"]
    graded = nl2query.grade([p for _, p, _ in CASES], [g for _, _, g in CASES], db, t)
    return {"questions": len(data["questions"]), "incident": data["incident"], "eval_time_s": t, "tags": tags,
            "answer": {"cases": [{"case": name, **g} for (name, _, _), g in zip(CASES, graded, strict=True)],
                       "accuracy_on_cases": {k: round(sum(g[k] for g in graded) / len(graded), 4)
                                             for k in ("exact", "ast", "execution")}}}


def rca_architecture() -> dict[str, Any]:
    """Tools, guards and budgets for the RCA agent, sized from the fixture incidents."""
    estate = load_estate()
    incs = fixture_incidents()
    needed = {}
    for inc in incs:
        needed[inc.id] = rca.needed_calls(inc, estate, rca.entry_service(inc, estate))
    recordings = rca.Recordings.build(incs[0], estate)
    return {"tools": sorted(rca.TOOL_NAMES), "guards": ["step budget", "identical-call refusal (loop guard)",
                                                        "deadline per run", "recorded outputs only"],
            "answer": {"needed_calls": needed, "max_needed": max(needed.values()),
                       "suggested_max_steps": 2 * max(needed.values()),
                       "recordings_per_incident": len(recordings.records) + len(recordings.logs),
                       "scores": ["root cause (service and cause) accuracy", "efficiency = needed / used"]}}


EXERCISES = {
    "slo_for_llm_triage_service": slo_for_triage_service,
    "prompt_canary_playbook": prompt_canary_playbook,
    "nl_to_query_eval_set": nl_to_query_eval_set,
    "rca_architecture": rca_architecture,
}


def main() -> None:
    results = {name: fn() for name, fn in EXERCISES.items()}
    if "--json" in sys.argv:
        print(json.dumps(results))
        return
    for name, result in results.items():
        print(f"== {name} ==")
        for key, value in result.items():
            if key != "answer":
                print(f"  {key}: {value}")
        for key, value in result["answer"].items():
            print(f"  -> {key}: {value}")
        print()


if __name__ == "__main__":
    main()
