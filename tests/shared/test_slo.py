"""shared.slo: burn rates and budgets checked against a numpy computation on random event logs, the
two-window alert rule, the SLIs, and the YAML loader refusing SLOs it could not compute."""

from __future__ import annotations

import numpy as np
import pytest

from shared import slo
from shared.config import FIXTURES

NOW = 1e9


def _rows(now: float, minutes: int, error_rate: float) -> list[dict]:
    rows = []
    for m in range(minutes):
        for i in range(100):
            bad = i < error_rate * 100
            rows.append({"ts": now - m * 60 - 1, "status": 500 if bad else 200,
                         "error_class": "provider" if bad else None, "latency_ms": 10.0, "quality": None})
    return rows


@pytest.mark.parametrize("seed", range(8))
def test_burn_rates_and_budget_match_numpy_on_random_logs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    ts = NOW - rng.uniform(0, 4 * 86400, size=n)
    status = rng.choice([200, 200, 200, 429, 500, 503], size=n, p=[0.5, 0.2, 0.1, 0.1, 0.05, 0.05])
    error_class = np.where(status == 429, "client", np.where(status >= 500, "provider", None))
    rows = [{"ts": float(t), "status": int(s), "error_class": c, "latency_ms": 1.0, "quality": None}
            for t, s, c in zip(ts, status, error_class, strict=True)]
    target = float(rng.uniform(0.9, 0.9999))
    s = slo.SLO("availability", "availability", target=target, window_days=2)
    alerts = [slo.Alert("fast", "page", "1h", "5m", 14.4), slo.Alert("slow", "ticket", "3d", "6h", 1.0)]
    out = slo.evaluate(rows, [s], alerts, now=NOW)["slos"][0]

    counted = status != 429  # a client's 4xx is not an availability event
    bad = status >= 500
    for window, span_s in (("5m", 300), ("1h", 3600), ("6h", 6 * 3600), ("3d", 3 * 86400)):
        inside = counted & (ts >= NOW - span_s)
        expected = None if not inside.any() else bad[inside].mean() / (1 - target)
        if expected is None:
            assert out["burn_rates"][window] is None
        else:
            assert out["burn_rates"][window] == pytest.approx(expected, abs=6e-5)
    period = counted & (ts >= NOW - 2 * 86400)
    assert out["events"] == period.sum() and out["bad"] == (bad & period).sum()
    allowed = (1 - target) * period.sum()
    if allowed:
        assert out["budget_remaining"] == pytest.approx(1 - (bad & period).sum() / allowed, abs=6e-5)
    for alert, row in zip(alerts, out["alerts"], strict=True):
        lng, sht = out["burn_rates"][alert.long], out["burn_rates"][alert.short]
        assert row["firing"] == (lng is not None and sht is not None and min(lng, sht) >= alert.burn_rate)


def test_burn_rate_is_error_rate_over_budget_and_alerts_need_both_windows():
    s = slo.SLO("availability", "availability", target=0.99)
    alerts = [slo.Alert("fast", "page", "1h", "5m", 14.4)]
    out = slo.evaluate(_rows(NOW, 60, 0.2), [s], alerts, now=NOW)["slos"][0]
    assert out["burn_rates"]["1h"] == pytest.approx(0.2 / 0.01)
    assert out["alerts"][0]["firing"]
    recovered = _rows(NOW, 10, 0.0) + [{**r, "ts": r["ts"] - 600} for r in _rows(NOW, 50, 0.2)]
    out = slo.evaluate(recovered, [s], alerts, now=NOW)["slos"][0]
    assert out["burn_rates"]["1h"] > 14.4 and out["burn_rates"]["5m"] == 0
    assert not out["alerts"][0]["firing"], "the short window stops the page once the problem stops"


def test_client_errors_do_not_spend_the_availability_budget():
    s = slo.SLO("availability", "availability", target=0.99)
    rows = [{"ts": 1.0, "status": 401, "error_class": "client", "latency_ms": 1.0, "quality": None},
            {"ts": 1.0, "status": 200, "error_class": None, "latency_ms": 1.0, "quality": None}]
    out = slo.evaluate(rows, [s], [], now=2.0)["slos"][0]
    assert out["events"] == 1 and out["bad"] == 0


def test_latency_and_quality_slis():
    rows = [{"ts": 1.0, "status": 200, "error_class": None, "latency_ms": 900.0, "quality": 0.9},
            {"ts": 1.0, "status": 200, "error_class": None, "latency_ms": 2500.0, "quality": 0.4},
            {"ts": 1.0, "status": 502, "error_class": "provider", "latency_ms": 9.0, "quality": None},
            {"ts": 1.0, "status": 200, "error_class": None, "latency_ms": 10.0, "quality": None}]
    lat = slo.SLO("latency", "latency", 0.9, threshold_ms=2000)
    qual = slo.SLO("quality", "quality", 0.9, threshold=0.7)
    out = {s["name"]: s for s in slo.evaluate(rows, [lat, qual], [], now=2.0)["slos"]}
    assert (out["latency"]["events"], out["latency"]["bad"]) == (3, 1), "a failed call is not a latency event"
    assert (out["quality"]["events"], out["quality"]["bad"]) == (2, 1), "an ungraded call is not a quality event"
    assert out["quality"]["sli_value"] == 0.5


def test_no_events_means_no_rate_rather_than_zero():
    out = slo.evaluate([], [slo.SLO("a", "availability", 0.99)], [slo.Alert("x", "page", "1h", "5m", 1)], now=NOW)
    row = out["slos"][0]
    assert row["burn_rates"] == {"5m": None, "1h": None} and row["budget_remaining"] is None
    assert out["firing"] == []


def test_windows_parse_and_bad_ones_are_refused():
    assert [slo.seconds(w) for w in ("30s", "5m", "1.5h", "3d")] == [30, 300, 5400, 3 * 86400]
    for bad in ("5", "1w", "h", "-1h"):
        with pytest.raises(ValueError):
            slo.seconds(bad)


def test_loader_reads_yaml_and_refuses_what_it_could_not_compute(tmp_path):
    slos, alerts = slo.load(FIXTURES / "lab09" / "slo.yaml")
    assert [s.name for s in slos] == ["availability", "latency", "quality"]
    assert [(a.long, a.short, a.burn_rate) for a in alerts] == [("1h", "5m", 14.4), ("6h", "30m", 6), ("3d", "6h", 1)]
    for text, message in (("slos: [{name: a, sli: availability, target: 1.0}]", "target"),
                          ("slos: [{name: a, sli: vibes, target: 0.9}]", "unknown SLI"),
                          ("slos: []\nalerts: [{name: x, severity: page, long: 5m, short: 1h, burn_rate: 2}]",
                           "short window")):
        path = tmp_path / "slo.yaml"
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            slo.load(path)
