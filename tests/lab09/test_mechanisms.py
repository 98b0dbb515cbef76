"""The chapter's mechanisms against references: percentiles (numpy), KL (scipy), Luhn, buckets, SLO math."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import entropy

from labs.lab09_gateway import drift, latency, redaction, sampling, slo
from labs.lab09_gateway.keys import TokenBucket
from shared import slo as shared_slo
from shared.config import REPO_ROOT


@pytest.mark.parametrize("seed", range(5))
def test_percentile_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    x = list(rng.lognormal(3, 1, size=int(rng.integers(1, 300))))
    for q in (0.0, 0.5, 0.9, 0.99, 1.0):
        assert latency.percentile(x, q) == pytest.approx(np.percentile(x, q * 100))


@pytest.mark.parametrize("seed", range(5))
def test_kl_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(7))
    assert drift.kl(p, q) == pytest.approx(entropy(p, q))
    assert drift.kl(p, p) == pytest.approx(0.0, abs=1e-12)


def test_drift_flags_a_topic_shift_and_not_a_stable_mix():
    ref = [{"input_tokens": 20, "topic": "billing"}] * 50 + [{"input_tokens": 20, "topic": "code"}] * 50
    same = drift.drift(ref, ref[:40] + ref[50:90])
    shifted = drift.drift(ref, [{"input_tokens": 900, "topic": "travel"}] * 40)
    assert not same["drifted"] and shifted["drifted"]
    assert shifted["features"]["topic"]["kl"] > 1 and shifted["features"]["prompt_length"]["kl"] > 1


def test_luhn_against_known_numbers():
    assert redaction.luhn_ok("4111111111111111") and redaction.luhn_ok("79927398713")
    assert not redaction.luhn_ok("1234567890123456")


@pytest.mark.parametrize("text,kinds", [
    ("write to a.b+c@example.co.uk today", {"EMAIL"}),
    ("card 5555-5555-5555-4444 please", {"CARD"}),
    ("call +1 (415) 555-0134", {"PHONE"}),
    ("token sk-proj-ABCDEFGHIJKLMNOPQRSTUV", {"KEY"}),
    ("order 1234 5678 9012 3456 on 2024-05-01, version 1.2.3", set()),
])
def test_redaction_finds_what_it_should(text, kinds):
    r = redaction.redact_with_counts(text)
    assert set(r.found) == kinds
    for kind in kinds:
        assert f"[{kind}]" in r.text


def test_redaction_prefilter_never_skips_what_the_patterns_would_redact():
    """`redact` skips the four patterns when its prefilter finds nothing: on random strings dense in digits,
    separators, @ and key prefixes, that must only happen where the full redaction changes nothing."""
    rng = np.random.default_rng(3)
    atoms = list("0123456789") * 4 + list(" ().+-:/@_x") + ["sk-", "AKIA", "ghp_", "abcdefghijklmnop", ".com"]
    for _ in range(3000):
        text = "".join(rng.choice(atoms, size=int(rng.integers(1, 40))))
        assert redaction.redact(text) == redaction.redact_with_counts(text).text, text
    assert redaction.redact("127.0.0.1:8009") == "127.0.0.1:8009"  # what most span attributes look like


def test_token_bucket_refills_at_its_rate():
    b = TokenBucket(rate=2.0, capacity=2, last=0.0)
    assert b.take(0.0) == 0 and b.take(0.0) == 0
    assert b.take(0.0) == pytest.approx(0.5)
    assert b.take(0.25) == pytest.approx(0.25)
    assert b.take(0.5) == 0


def test_the_gateway_slos_load_and_read_call_log_rows():
    """The lab's SLO file through shared.slo (whose math tests/shared/test_slo.py checks against numpy)."""
    slos, alerts = slo.load()
    assert {s.name for s in slos} == {"availability", "latency", "quality"} and len(alerts) == 3
    row = {"ts": 1.0, "status": 502, "error_class": "provider", "latency_ms": 30.0, "quality": None}
    out = {s["name"]: s for s in shared_slo.evaluate([row], slos, alerts, now=2.0)["slos"]}
    assert out["availability"]["bad"] == 1 and out["latency"]["events"] == 0 and out["quality"]["events"] == 0


def test_tail_sampling_keeps_every_error_and_slow_trace():
    sampler = sampling.TailSampler(p=0.2, slow_ms=500)
    rows = [{"trace_id": f"{i:032x}", "request_id": str(i), "status": 500 if i % 10 == 0 else 200,
             "error_type": None, "latency_ms": 900 if i % 10 == 1 else 50} for i in range(2000)]
    out = sampling.kept_fraction(rows, sampler)
    assert out["by_reason"]["error"] == 200 and out["by_reason"]["slow"] == 200
    rest = out["by_reason"]["sampled"] / (out["by_reason"]["sampled"] + out["by_reason"]["dropped"])
    assert rest == pytest.approx(0.2, abs=0.03)


def test_a_call_that_needed_a_retry_or_fallback_counts_as_an_error_trace():
    """The live sampler keeps a trace holding a failed attempt's span; the what-if over the call log must
    agree, or under load (when attempts time out and are retried) the two disagree."""
    sampler = sampling.TailSampler(p=0.0, slow_ms=1e9)
    base = {"trace_id": "0" * 32, "request_id": "r", "status": 200, "error_type": None, "latency_ms": 10}
    assert sampling.kept_fraction([base], sampler)["kept"] == 0
    for changed in ({"attempts": 2}, {"fallback": 1}, {"status": 502}, {"error_type": "timeout"}):
        assert sampling.kept_fraction([base | changed], sampler)["by_reason"]["error"] == 1, changed


def test_exercises_run_both_ways():
    human = subprocess.run([sys.executable, "-m", "labs.lab09_gateway.exercises"], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=120)
    assert human.returncode == 0, human.stderr[-1000:]
    machine = subprocess.run([sys.executable, "-m", "labs.lab09_gateway.exercises", "--json"], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=120)
    data = json.loads(machine.stdout)
    assert len(data) == 6
    assert data["burn_rate_alert"]["answer"]["firing"] == ["page-fast"]
    assert data["sampling_policy"]["answer"]["kept_fraction"] == pytest.approx(0.0975, abs=0.01)
    assert "[CARD]" in data["redaction_check"]["answer"]["redacted"]
    assert "1234 5678 9012 3456" in data["redaction_check"]["answer"]["redacted"]


def test_output_and_quality_drift_are_told_apart_from_input_drift():
    """Same prompts, longer answers and lower judge scores: output and quality drift, no input drift."""
    rng = np.random.default_rng(4)
    ref = [{"input_tokens": int(t), "topic": "billing", "output_tokens": int(o), "quality": float(q)}
           for t, o, q in zip(rng.integers(20, 60, 200), rng.integers(20, 60, 200), rng.uniform(0.8, 1, 200),
                              strict=True)]
    cur = [{**r, "output_tokens": r["output_tokens"] * 20, "quality": r["quality"] - 0.5} for r in ref[:80]]
    out = drift.drift(ref, cur)
    assert out["drifted_kinds"] == ["output", "quality"]
    f = out["features"]
    assert f["output_length"]["kl"] == pytest.approx(entropy(drift.distribution(
        [drift.length_bin(r["output_tokens"]) for r in cur], drift.LENGTH_BINS), drift.distribution(
        [drift.length_bin(r["output_tokens"]) for r in ref], drift.LENGTH_BINS)), abs=1e-4)
    assert out["quality"]["mean_current"] < out["quality"]["mean_reference"] - 0.4
    ungraded = drift.drift([{**r, "quality": None} for r in ref], [{**r, "quality": None} for r in ref[:50]])
    assert ungraded["features"]["judge_score"]["kl"] is None and not ungraded["drifted"]
