"""Network / queue / prefill / decode: the prefill fit against numpy on random data, the split summing to
the latency, and a provider whose TTFT grows with the prompt recovered from real streamed calls."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from labs.lab09_gateway import latency
from labs.lab09_gateway.app import create_app

ACME = {"authorization": "Bearer sk-lab09-acme"}


@pytest.mark.parametrize("seed", range(8))
def test_prefill_fit_matches_numpy_polyfit(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(10, 4000, rng.integers(3, 60)).astype(float)
    y = rng.uniform(5, 200) + rng.uniform(0, 0.5) * x + rng.normal(0, 5, len(x))
    fit = latency.prefill_fit(list(x), list(y))
    b, a = np.polyfit(x, y, 1)
    if b >= 0:
        assert fit["b_ms_per_token"] == pytest.approx(b, rel=1e-9) and fit["a_ms"] == pytest.approx(a, rel=1e-9)
    r2 = 1 - np.sum((y - np.polyval([b, a], x)) ** 2) / np.sum((y - y.mean()) ** 2)
    assert fit["r2"] == pytest.approx(r2, rel=1e-9)


def test_a_negative_slope_or_one_prompt_length_is_not_a_prefill_rate():
    assert latency.prefill_fit([100, 200, 300], [30, 20, 10])["b_ms_per_token"] == 0.0
    assert latency.prefill_fit([100, 100], [30, 20])["b_ms_per_token"] is None
    row = {"ttft_ms": 40.0, "decode_ms": 50.0, "queue_ms": 1.0, "latency_ms": 95.0, "input_tokens": 100,
           "output_tokens": 11}
    assert latency.split_call(row, None)["prefill"] is None and latency.split_call(row, None)["network"] is None


@pytest.mark.parametrize("seed", range(5))
def test_the_parts_sum_to_the_latency(seed):
    rng = np.random.default_rng(seed)
    b = float(rng.uniform(0, 0.3))
    for _ in range(20):
        ttft, decode, queue = rng.uniform(1, 300, 3)
        row = {"ttft_ms": ttft, "decode_ms": decode, "queue_ms": queue, "input_tokens": int(rng.integers(1, 3000)),
               "output_tokens": int(rng.integers(1, 500)), "latency_ms": ttft + decode + queue + rng.uniform(0, 5)}
        p = latency.split_call(row, b)
        total = p["network"] + p["queue"] + p["prefill"] + p["decode"] + p["gateway"]
        assert total == pytest.approx(row["latency_ms"]) and 0 <= p["prefill"] <= row["ttft_ms"]
        assert p["network"] + p["prefill"] == pytest.approx(p["network_plus_prefill"])
        tokens = row["output_tokens"]
        assert p["tpot"] == (pytest.approx(decode / (tokens - 1)) if tokens > 1 else None)


def test_a_provider_whose_ttft_grows_with_the_prompt(settings):
    """The mock told to take 0.5 ms per prompt word before its first chunk: the fit finds a prefill
    rate, and the route and the dashboard data show the split."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        # a non-streamed call first (not in the split): the first call pays LiteLLM's import and set-up
        client.post("/v1/chat/completions", headers=ACME,
                    json={"model": "assistant", "messages": [{"role": "user", "content": "What is 1 + 1?"}]})
        for words in (5, 30, 60, 90, 120, 5, 60, 120):
            body = {"model": "assistant", "stream": True,
                    "messages": [{"role": "user", "content": "What is 2 + 2? " + "please " * words}]}
            headers = {**ACME, "x-mock-ttft-ms": str(0.5 * words), "x-mock-tpot-ms": "1"}
            with client.stream("POST", "/v1/chat/completions", headers=headers, json=body) as r:
                assert r.status_code == 200
                "".join(r.iter_text())
        got = client.get("/analysis/latency/components").json()["models"]["assistant"]
        dash = client.get("/dashboard/data").json()["components"]["assistant"]
        assert client.get("/analysis/latency/components?window_s=0").status_code == 422
    fit = got["prefill_fit"]
    assert got["calls"] == 8 and fit["n"] == 8
    # 0.5 ms a word, about a token a word; the CPU is shared, so the bound is loose
    assert 0.1 < fit["b_ms_per_token"] < 1.5 and fit["r2"] is not None, fit
    m = got["median_ms"]
    assert m["prefill"] > 0 and m["decode"] >= 0 and m["network"] >= 0
    assert m["tpot"] is None, "one-token answers ('4') have no time per output token"
    assert dash["prefill_fit"]["n"] == 8
