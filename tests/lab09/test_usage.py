"""Cache hit rate and tokens per conversation: the aggregates against pandas on random call logs, the
top-k + `other` bound, and 10,000 conversations that do not make 10,000 metric series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prometheus_client import REGISTRY, generate_latest

from labs.lab09_gateway import usage
from labs.lab09_gateway.calls import BoundedLabel, CallRecord
from labs.lab09_gateway.metering import Metering


def random_log(seed: int, n: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        inp = int(rng.integers(1, 2000))
        rows.append({"route": str(rng.choice(["assistant", "reasoning"])), "tenant": str(rng.choice(["acme", "globex"])),
                     "conversation": None if rng.random() < 0.1 else f"c{int(rng.zipf(1.5)) % 40}",
                     "status": 200 if rng.random() < 0.9 else 500, "input_tokens": inp,
                     "cached_tokens": int(rng.integers(0, inp + 1)), "output_tokens": int(rng.integers(0, 500)),
                     "request_id": str(i)})
    return rows


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("by", ["route", "tenant"])
def test_aggregates_match_pandas(seed, by):
    rows = random_log(seed, 300)
    got = {g["name"]: g for g in usage.aggregate(rows, by, top=10)["groups"]}
    df = pd.DataFrame(rows)
    df = df[df["status"] < 400]
    df["tokens"] = df["input_tokens"] + df["output_tokens"]
    for name, g in df.groupby(by):
        mine = got[name]
        assert mine["cache_hit_rate"] == pytest.approx(g["cached_tokens"].sum() / g["input_tokens"].sum(), abs=1e-4)
        per_conv = g.dropna(subset=["conversation"]).groupby("conversation")["tokens"].sum().to_numpy()
        assert mine["conversations"] == len(per_conv)
        assert mine["tokens_per_conversation"]["mean"] == pytest.approx(per_conv.mean(), abs=1e-3)
        assert mine["tokens_per_conversation"]["p95"] == pytest.approx(np.percentile(per_conv, 95), abs=1e-3)


def test_top_k_conversations_then_one_other_row():
    rows = random_log(3, 500)
    got = usage.aggregate(rows, "conversation", top=5)
    df = pd.DataFrame(rows)
    df = df[df["status"] < 400].fillna({"conversation": usage.NO_CONVERSATION})
    totals = (df["input_tokens"] + df["output_tokens"]).groupby(df["conversation"]).sum().sort_values(ascending=False)
    names = [g["name"] for g in got["groups"]]
    assert len(names) == 6 and names[-1] == "other"
    assert names[:5] == list(totals.index[:5])
    other = got["groups"][-1]
    assert other["groups"] == len(totals) - 5
    assert other["input_tokens"] + other["output_tokens"] == totals.iloc[5:].sum()
    assert sum(g["calls"] for g in got["groups"]) == got["total"]["calls"] == len(df)


def _series(prefix: str) -> int:
    return sum(len(m.samples) for m in REGISTRY.collect() if m.name.startswith(prefix))


def test_ten_thousand_conversations_do_not_make_ten_thousand_series():
    """The cardinality trap: every call of a fresh conversation, from ever-new tenants, features and prompt
    versions, adds to the token and cost metrics; the series stay bounded (bounded labels, no conversation)."""
    tenant, feature, version = BoundedLabel(50, ["acme"]), BoundedLabel(20), BoundedLabel(20)
    before = _series("gateway_tokens"), _series("gateway_cost")
    for i in range(10_000):
        record = CallRecord(f"r{i}", tenant(f"t{i}"), "key", feature(f"f{i}"), version(f"v{i}"), "assistant",
                            "mock/assistant", "mock", "litellm", conversation=f"conv-{i}", input_tokens=100,
                            cached_tokens=40, output_tokens=10, cost_usd=1e-6)
        Metering._count(record, 200)
    after = _series("gateway_tokens"), _series("gateway_cost")
    text = generate_latest(REGISTRY).decode()
    assert after[0] > 0 and "gateway_tokens" in text and 'kind="cached"' in text
    # 51 tenant values (50 + other) x 3 kinds, each a _total and a _created sample
    assert after[0] - before[0] <= 51 * 3 * 2
    assert after[1] - before[1] <= 51 * 21 * 21 * 2
    assert "conv-" not in text and "conversation" not in text
