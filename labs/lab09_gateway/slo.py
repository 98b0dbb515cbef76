"""SLOs as YAML, error budgets and multi-window multi-burn-rate alerts, from the call log.

    curl -s localhost:8009/slo          # the SLOs in fixtures/lab09/slo.yaml, computed now

For an SLO with target T over a period (30 days), the error budget is 1 - T. Over a window w:

    error_rate(w) = bad(w) / total(w)
    burn_rate(w)  = error_rate(w) / (1 - T)          (1.0 spends the budget exactly in the period)
    budget_left   = 1 - bad(period) / ((1 - T) * total(period))

An alert with burn rate B over a long window L and a short window S fires when

    burn_rate(L) >= B  AND  burn_rate(S) >= B

The long window makes it significant; the short one makes it stop soon after the problem does.
The defaults page at 14.4x over 1h/5m (2% of a 30-day budget in one hour), page at 6x over 6h/30m
(5% in 6 hours), and open a ticket at 1x over 3d/6h (10% in 3 days).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from shared.config import FIXTURES

SLO_FILE = FIXTURES / "lab09" / "slo.yaml"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(window: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", window.strip())
    if not m:
        raise ValueError(f"bad window {window!r}; use e.g. 5m, 1h, 3d")
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass
class SLO:
    name: str
    sli: str  # availability | latency | quality
    target: float
    window_days: float = 30
    threshold_ms: float | None = None
    threshold: float | None = None
    description: str = ""

    @property
    def budget(self) -> float:
        return 1.0 - self.target

    def event(self, row: dict) -> bool | None:
        """True = good, False = bad, None = not an event of this SLI."""
        if self.sli == "availability":
            if row["status"] < 500 and row["error_class"] in (None, "client"):
                return None if row["status"] >= 400 else True
            return False
        if self.sli == "latency":
            if row["status"] >= 400:
                return None
            return row["latency_ms"] <= (self.threshold_ms or 1000)
        if self.sli == "quality":
            if row["quality"] is None:
                return None
            return row["quality"] >= (self.threshold if self.threshold is not None else 0.5)
        raise ValueError(f"unknown SLI {self.sli!r}")


@dataclass
class Alert:
    name: str
    severity: str
    long: str
    short: str
    burn_rate: float


def load(path: Path = SLO_FILE) -> tuple[list[SLO], list[Alert]]:
    data = yaml.safe_load(path.read_text())
    return [SLO(**s) for s in data["slos"]], [Alert(**a) for a in data["alerts"]]


def error_rate(events: list[tuple[float, bool]], since: float) -> tuple[int, int, float | None]:
    window = [good for ts, good in events if ts >= since]
    bad = sum(1 for good in window if not good)
    return bad, len(window), (bad / len(window) if window else None)


def burn_rate(rate: float | None, slo: SLO) -> float | None:
    return None if rate is None else rate / slo.budget


def evaluate(rows: list[dict], slos: list[SLO], alerts: list[Alert], now: float | None = None) -> dict:
    now = time.time() if now is None else now
    out = []
    firing = []
    for slo in slos:
        events = [(r["ts"], good) for r in rows if (good := slo.event(r)) is not None]
        bad, total, rate = error_rate(events, now - slo.window_days * 86400)
        allowed = slo.budget * total
        windows = sorted({w for a in alerts for w in (a.long, a.short)}, key=seconds)
        burn = {w: _round(burn_rate(error_rate(events, now - seconds(w))[2], slo)) for w in windows}
        slo_alerts = []
        for a in alerts:
            b_long, b_short = burn[a.long], burn[a.short]
            fires = b_long is not None and b_short is not None and b_long >= a.burn_rate and b_short >= a.burn_rate
            slo_alerts.append({"alert": a.name, "severity": a.severity, "windows": [a.long, a.short],
                               "threshold": a.burn_rate, "firing": fires})
            if fires:
                firing.append({"slo": slo.name, "alert": a.name, "severity": a.severity})
        out.append({"name": slo.name, "sli": slo.sli, "target": slo.target, "description": slo.description,
                    "events": total, "bad": bad, "sli_value": _round(1 - rate if rate is not None else None),
                    "error_budget": round(slo.budget, 6),
                    "budget_remaining": _round(1 - bad / allowed) if allowed else None,
                    "burn_rates": burn, "alerts": slo_alerts})
    return {"slos": out, "firing": firing}


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)
