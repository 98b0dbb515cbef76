"""The Collector's traces pipeline is the third PII layer: redaction and tail sampling, in the right
order, with patterns that catch what the gateway's own redaction catches (checked with Python's re on
the RE2-compatible subset the Collector's Go regexp accepts)."""

from __future__ import annotations

import random
import re

import pytest
import yaml

from labs.lab09_gateway import redaction, sampling
from shared.config import REPO_ROOT

CONFIG = yaml.safe_load((REPO_ROOT / "deploy" / "otel-collector.yaml").read_text())
PROCESSORS = CONFIG["service"]["pipelines"]["traces"]["processors"]
# replace_all_patterns(attributes, "value", "<regex>", "[KIND]") with OTTL's backslash-escaped strings
OTTL = re.compile(r'^replace_all_patterns\(attributes, "value", "((?:[^"\\]|\\.)*)", "\[(\w+)\]"\)$')


def _ottl_string(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def transform_patterns(context: str) -> dict[str, re.Pattern[str]]:
    block = next(b for b in CONFIG["processors"]["transform/pii"]["trace_statements"] if b["context"] == context)
    found = {}
    for statement in block["statements"]:
        if m := OTTL.match(statement):
            found[m.group(2)] = re.compile(_ottl_string(m.group(1)))
    return found


def test_the_traces_pipeline_redacts_then_samples_then_batches():
    assert PROCESSORS[0] == "memory_limiter", "refuse data under memory pressure before doing work on it"
    assert PROCESSORS[-1] == "batch"
    order = {name: i for i, name in enumerate(PROCESSORS)}
    # the sampler holds whole traces in memory for decision_wait: only redacted ones
    assert order["transform/pii"] < order["redaction/pii"] < order["tail_sampling"] < order["batch"]
    for name in PROCESSORS:
        assert name in CONFIG["processors"], f"{name} is in the pipeline but not configured"


def test_tail_sampling_mirrors_the_gateway_policy():
    policies = {p["type"]: p for p in CONFIG["processors"]["tail_sampling"]["policies"]}
    default = sampling.TailSampler()
    assert policies["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    assert policies["latency"]["latency"]["threshold_ms"] == default.slow_ms
    assert policies["probabilistic"]["probabilistic"]["sampling_percentage"] == pytest.approx(100 * default.p)


@pytest.mark.parametrize("context", ["span", "spanevent"])
def test_transform_patterns_are_re2_safe_and_cover_every_kind(context):
    patterns = transform_patterns(context)
    assert set(patterns) == set(redaction.PATTERNS)
    blocked = CONFIG["processors"]["redaction/pii"]["blocked_values"]
    for regex in [p.pattern for p in patterns.values()] + blocked:
        # Go's regexp (RE2) has no lookaround and no backreferences
        assert not re.search(r"\(\?<?[=!]|\\[1-9]", regex), regex
        re.compile(regex)


def _samples(rng: random.Random) -> list[str]:
    name = "".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 8)))
    card = "4111111111111111" if rng.random() < 0.5 else "5555555555554444"
    card = " ".join(card[i:i + 4] for i in range(0, 16, 4)) if rng.random() < 0.5 else card
    key = "sk-" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(16, 40)))
    phone = f"+{rng.randint(1, 99)} {rng.randint(10, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
    return [f"mail {name}@example.{rng.choice(['com', 'org', 'io'])} now", f"card {card} thanks",
            f"my key is {key}.", f"call me on {phone} today"]


def test_collector_patterns_catch_what_the_gateway_redacts():
    """On random PII: whatever kind the gateway's redaction finds, the Collector's transform rewrites
    and its redaction backstop would mask (so a service without its own redaction is still covered)."""
    rng = random.Random(9)
    patterns = transform_patterns("span")
    blocked = [re.compile(b) for b in CONFIG["processors"]["redaction/pii"]["blocked_values"]]
    for _ in range(50):
        for text in _samples(rng):
            kinds = redaction.redact_with_counts(text).found
            assert kinds, text
            for kind in kinds:
                assert patterns[kind].search(text), (kind, text)
            rewritten = text
            for kind, pattern in patterns.items():
                rewritten = pattern.sub(f"[{kind}]", rewritten)
            assert rewritten == redaction.redact(text), text
            assert any(b.search(text) for b in blocked) and not any(b.search(rewritten) for b in blocked)
