"""Time series buckets against pandas (pd.cut + groupby) and numpy percentiles on random call logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from labs.lab09_gateway import timeseries
from labs.lab09_gateway.app import create_app
from labs.lab09_gateway.calls import CallRecord
from labs.lab09_gateway.slo import load

SLOS, _ = load()


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def random_log(seed: int, n: int, now: float, window_s: float) -> list[dict]:
    rng = np.random.default_rng(seed)
    ts = now - rng.uniform(-0.1 * window_s, 1.1 * window_s, n)  # some fall outside the window on both sides
    status = rng.choice([200, 200, 200, 200, 429, 500, 502], n)
    cls = [None if s < 400 else ("client" if s == 429 and rng.random() < 0.5 else "provider") for s in status]
    quality = [float(q) if rng.random() < 0.4 else None for q in rng.uniform(0, 1, n)]
    return [{"ts": float(t), "status": int(s), "error_class": c, "latency_ms": float(lat), "cost_usd": float(cost),
             "quality": q}
            for t, s, c, lat, cost, q in zip(ts, status, cls, rng.lognormal(5, 1, n), rng.uniform(0, 1e-3, n),
                                             quality, strict=True)]


@pytest.mark.parametrize("seed", range(5))
def test_buckets_match_pandas_and_numpy(seed):
    now, window_s, buckets = 1_000_000.0, 900.0, 17
    rows = random_log(seed, 400, now, window_s)
    got = timeseries.series(rows, SLOS, window_s, buckets, now=now)

    df = pd.DataFrame(rows)
    edges = np.linspace(now - window_s, now, buckets + 1)
    df["bucket"] = pd.cut(df["ts"], edges, right=False, labels=False)
    df = df.dropna(subset=["bucket"])
    groups = dict(tuple(df.groupby("bucket")))
    assert got["calls"] == [len(groups.get(i, [])) for i in range(buckets)]
    for i in range(buckets):
        g = groups.get(i)
        if g is None:
            assert got["p50_ms"][i] is None and got["error_rate"][i] is None and got["cost_usd"][i] is None
            continue
        ok = g[g["status"] < 400]["latency_ms"].to_numpy()
        for name, q in timeseries.QUANTILES.items():
            want = np.percentile(ok, 100 * q) if len(ok) else None
            assert got[name][i] == (None if want is None else pytest.approx(want, abs=1e-3))
        assert got["error_rate"][i] == pytest.approx((g["status"] >= 400).mean(), abs=1e-4)
        assert got["cost_usd"][i] == pytest.approx(g["cost_usd"].sum(), abs=1e-7)
        graded = g["quality"].dropna()
        assert got["judge_score"][i] == (pytest.approx(graded.mean(), abs=1e-4) if len(graded) else None)
        avail = g[(g["status"] >= 500) | g["error_class"].isin(["provider", "gateway"]) | (g["status"] < 400)]
        bad = (avail["status"] >= 400).mean()
        assert got["burn_rate"]["availability"][i] == pytest.approx(bad / (1 - 0.995), abs=1e-3)
    assert got["cumulative_usd"][-1] == pytest.approx(df["cost_usd"].sum(), abs=1e-7)


def test_the_route_and_its_limits(client):
    client.app.state.lab09.log.add(CallRecord("r1", "acme", "key_acme_demo", "faq", "v1", "assistant",
                                              "mock/assistant", "mock", "litellm", latency_ms=42.0))
    body = client.get("/analysis/timeseries?window_s=60&buckets=6").json()
    assert len(body["t"]) == 6 and sum(body["calls"]) == 1 and body["p50_ms"][-1] == 42.0
    assert client.get("/analysis/timeseries?buckets=0").status_code == 422
    assert client.get("/analysis/timeseries?buckets=501").status_code == 422
    js = client.get("/dashboard/charts.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "Charts" in js.text
    for path in ("/favicon.ico", "/dashboard/favicon.svg"):
        icon = client.get(path)
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
