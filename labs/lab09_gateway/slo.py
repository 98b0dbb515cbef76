"""The gateway's SLOs: fixtures/lab09/slo.yaml, computed over the call log.

    curl -s localhost:8009/slo          # error budgets, burn rates per window, firing alerts

The arithmetic (error budget 1 - T, burn rate = error rate / budget, multi-window multi-burn-rate
alerts) is shared/slo.py, which other labs use too. What is lab-09's: the SLOs themselves
(availability, latency under 2 s, graded quality; the three alert pairs of the 30-day recipe) and
the events they read, the call-log rows (ts, status, error_class, latency_ms, quality).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labs.lab09_gateway.calls import CallLog
from shared import slo
from shared.config import FIXTURES

SLO_FILE = FIXTURES / "lab09" / "slo.yaml"


def load(path: Path = SLO_FILE) -> tuple[list[slo.SLO], list[slo.Alert]]:
    return slo.load(path)


def status(log: CallLog, slos: list[slo.SLO], alerts: list[slo.Alert]) -> dict[str, Any]:
    """Every SLO over the call rows of its longest period."""
    return slo.evaluate(log.window(max(s.window_days for s in slos) * 86400), slos, alerts)
