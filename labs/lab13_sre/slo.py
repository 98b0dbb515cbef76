"""SLIs and SLOs for an LLM triage service whose outputs are graded: error budget and burn-rate alerts.

    curl -s localhost:8013/slo
    python -m labs.lab13_sre.slo          # a month of triage traffic with a prompt regression on day 20

The math lives in `shared.slo` (lab-09 uses it too); this module maps triage events onto it. A triage
is an event with `latency_ms` and a grade: good when it was confirmed correct AND answered within the
bound (quality 1.0), bad otherwise (0.0); fixtures/lab13/slo.yaml sets the targets and alert windows.

    budget (events)  = (1 - T) * N
    burn rate        = (1 - accuracy_within_bound) / (1 - T)
    days to exhaust  = window_days / burn rate
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

from labs.lab13_sre.estate import FIXTURES
from shared import slo as shared_slo

SLO_FILE = FIXTURES / "slo.yaml"
LATENCY_BOUND_MS = 10_000.0


def load() -> tuple[list[shared_slo.SLO], list[shared_slo.Alert]]:
    return shared_slo.load(SLO_FILE)


def event(ts: float, correct: bool, latency_ms: float, bound_ms: float = LATENCY_BOUND_MS) -> dict[str, Any]:
    """One triage as shared.slo reads it (status 200: the call itself succeeded)."""
    return {"ts": ts, "status": 200, "error_class": None, "latency_ms": latency_ms,
            "quality": 1.0 if correct and latency_ms <= bound_ms else 0.0}


def simulate(days: float = 30, per_hour: float = 12, accuracy: float = 0.975, slow_share: float = 0.005,
             regression_at_day: float | None = 20, regression_accuracy: float = 0.5, regression_hours: float = 8,
             seed: int = 13) -> list[dict[str, Any]]:
    """Triage traffic (Poisson arrivals) with an optional prompt regression window; timestamps from 0."""
    rng = random.Random(seed)
    rows, t, end = [], 0.0, days * 86400
    while True:
        t += rng.expovariate(per_hour / 3600)
        if t >= end:
            return rows
        bad_window = regression_at_day is not None and 0 <= t - regression_at_day * 86400 < regression_hours * 3600
        acc = regression_accuracy if bad_window else accuracy
        latency = rng.lognormvariate(math.log(2500), 0.5) * (5 if rng.random() < slow_share else 1)
        rows.append(event(t, rng.random() < acc, latency))


def status(rows: list[dict[str, Any]], now: float) -> dict[str, Any]:
    slos, alerts = load()
    return shared_slo.evaluate(rows, slos, alerts, now=now)


def budget_math(target: float, window_days: float, events_per_day: float, accuracy: float) -> dict[str, Any]:
    """The worked numbers for an SLO on graded outputs."""
    n = events_per_day * window_days
    budget_events = (1 - target) * n
    burn = (1 - accuracy) / (1 - target)
    return {"target": target, "window_days": window_days, "events_in_window": round(n),
            "error_budget_events": round(budget_events, 1), "burn_rate_at_accuracy": round(burn, 4),
            "days_to_exhaust": round(window_days / burn, 2) if burn > 0 else None,
            # the fast page (14.4x) needs this share of bad triages; above 1 it can never fire
            "bad_share_that_pages_fast": round(14.4 * (1 - target), 4)}


def timeline(rows: list[dict[str, Any]], every_h: float = 6, days: float = 30) -> list[dict[str, Any]]:
    """Status sampled every few hours: budget left and firing alerts over the month (for the bench plot)."""
    out = []
    t = every_h * 3600
    while t <= days * 86400:
        s = status([r for r in rows if r["ts"] <= t], now=t)
        good = s["slos"][0]
        out.append({"hour": round(t / 3600, 1), "budget_remaining": good["budget_remaining"],
                    "burn_1h": good["burn_rates"].get("1h"), "firing": [f["alert"] for f in s["firing"]
                                                                         if f["slo"] == good["name"]]})
        t += every_h * 3600
    return out


def main() -> None:
    rows = simulate()
    month = 30 * 86400
    during = status([r for r in rows if r["ts"] <= 20 * 86400 + 5 * 3600], now=20 * 86400 + 5 * 3600)
    print("five hours into the regression:", json.dumps(during["firing"]))
    print("end of month:", json.dumps({s["name"]: {k: s[k] for k in ("events", "bad", "sli_value", "budget_remaining")}
                                       for s in status(rows, now=month)["slos"]}))
    print(json.dumps(budget_math(0.95, 30, 288, 0.975)))


if __name__ == "__main__":
    main()
