"""SLOs as YAML, error budgets and multi-window multi-burn-rate alerts, over a list of events.

    python -c "from shared.slo import seconds; print(seconds('6h'))"      # lab-09: curl -s localhost:8009/slo

For an SLO with target T over a period (e.g. 30 days), the error budget is 1 - T. Over a window w:

    error_rate(w) = bad(w) / total(w)
    burn_rate(w)  = error_rate(w) / (1 - T)          (1.0 spends the budget exactly in the period)
    budget_left   = 1 - bad(period) / ((1 - T) * total(period))

An alert with burn rate B over a long window L and a short window S fires when

    burn_rate(L) >= B  AND  burn_rate(S) >= B

The long window makes it significant; the short one makes it stop soon after the problem does.
The usual 30-day set pages at 14.4x over 1h/5m (2% of the budget in one hour), pages at 6x over
6h/30m (5% in 6 hours), and opens a ticket at 1x over 3d/6h (10% in 3 days).

An event is a dict with `ts` (seconds) and what the SLI reads: `status` and `error_class` (availability:
5xx or a provider/gateway error is bad, a client's 4xx is not an event), `latency_ms` (latency: at most
`threshold_ms` is good; failed calls are not events), `quality` (quality: a score of at least
`threshold` is good; ungraded calls are not events). A lab maps its own records to that shape.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(window: str) -> float:
    """'5m' -> 300.0; windows are a number and one of s, m, h, d."""
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

    def __post_init__(self) -> None:
        if not 0 < self.target < 1:
            raise ValueError(f"SLO {self.name}: target must be in (0, 1), got {self.target}")
        if self.sli not in ("availability", "latency", "quality"):
            raise ValueError(f"SLO {self.name}: unknown SLI {self.sli!r}")

    @property
    def budget(self) -> float:
        return 1.0 - self.target

    def event(self, row: dict[str, Any]) -> bool | None:
        """True = good, False = bad, None = not an event of this SLI."""
        if self.sli == "availability":
            if row["status"] < 500 and row["error_class"] in (None, "client"):
                return None if row["status"] >= 400 else True
            return False
        if self.sli == "latency":
            if row["status"] >= 400:
                return None
            return row["latency_ms"] <= (self.threshold_ms or 1000)
        if row["quality"] is None:
            return None
        return row["quality"] >= (self.threshold if self.threshold is not None else 0.5)


@dataclass
class Alert:
    name: str
    severity: str
    long: str
    short: str
    burn_rate: float

    def __post_init__(self) -> None:
        if seconds(self.short) > seconds(self.long):
            raise ValueError(f"alert {self.name}: the short window {self.short} is longer than {self.long}")


def load(path: Path) -> tuple[list[SLO], list[Alert]]:
    """SLOs and alerts from a YAML file with `slos:` and `alerts:` lists (see fixtures/lab09/slo.yaml)."""
    data = yaml.safe_load(Path(path).read_text())
    return [SLO(**s) for s in data["slos"]], [Alert(**a) for a in data.get("alerts") or []]


def error_rate(events: list[tuple[float, bool]], since: float) -> tuple[int, int, float | None]:
    """(bad, total, bad / total) over the (ts, good) events at or after `since`; the rate is None without events."""
    window = [good for ts, good in events if ts >= since]
    bad = sum(1 for good in window if not good)
    return bad, len(window), (bad / len(window) if window else None)


def burn_rate(rate: float | None, slo: SLO) -> float | None:
    return None if rate is None else rate / slo.budget


def evaluate(rows: list[dict[str, Any]], slos: list[SLO], alerts: list[Alert],
             now: float | None = None) -> dict[str, Any]:
    """Per SLO: events, bad, SLI, budget left, burn rate per alert window, and which alerts fire."""
    now = time.time() if now is None else now
    windows = sorted({w for a in alerts for w in (a.long, a.short)}, key=seconds)
    out = []
    firing = []
    for slo in slos:
        events = [(r["ts"], good) for r in rows if (good := slo.event(r)) is not None]
        bad, total, rate = error_rate(events, now - slo.window_days * 86400)
        allowed = slo.budget * total
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


__all__ = ["SLO", "Alert", "burn_rate", "error_rate", "evaluate", "load", "seconds"]
