"""Idempotency keys, tenants and quotas, PII masking."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.lab05_patterns import production
from labs.lab05_patterns.production import IdempotencyStore, Tenants, luhn_ok, mask_messages, mask_pii
from shared.store import Store


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "p.db", migrations=[production.SCHEMA])


def test_idempotency_replays_and_refuses_misuse(store):
    idem = IdempotencyStore(store)
    assert idem.begin("acme", "k1", {"a": 1}) is None
    with pytest.raises(production.Conflict) as running:
        idem.begin("acme", "k1", {"a": 1})
    assert running.value.status == 409
    idem.finish("acme", "k1", {"text": "42"})
    assert idem.begin("acme", "k1", {"a": 1}) == {"text": "42"}
    with pytest.raises(production.Conflict) as changed:
        idem.begin("acme", "k1", {"a": 2})
    assert changed.value.status == 422
    assert idem.begin("public", "k1", {"a": 2}) is None, "keys are per tenant"


def test_an_abandoned_key_can_be_retried(store):
    idem = IdempotencyStore(store)
    idem.begin("acme", "k", {"a": 1})
    idem.abandon("acme", "k")
    assert idem.begin("acme", "k", {"a": 1}) is None


def _tenants(store, tmp_path, **budgets):
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps({"tenants": {tid: {"rpm": rpm, "daily_tokens": daily, "models": ["*"]}
                                            for tid, (rpm, daily) in budgets.items()}}))
    return Tenants(store, path)


def test_rate_bucket_and_daily_budget(store, tmp_path):
    tenants = _tenants(store, tmp_path, t=(2, 100), u=(5, 100))
    t = tenants.get("t")
    tenants.release(tenants.admit(t, 5))
    tenants.release(tenants.admit(t, 5))
    with pytest.raises(production.QuotaExceeded) as over:
        tenants.admit(t, 5)
    assert 0 < over.value.retry_after_s <= 30
    tenants.record("u", 100, 0.01)
    with pytest.raises(production.QuotaExceeded) as spent:
        tenants.admit(tenants.get("u"), 5)
    assert "used its 100 tokens" in str(spent.value) and spent.value.retry_after_s > 1, "spent tokens return at midnight"
    assert tenants.usage("t")["tokens"] == 0, "one tenant's usage never lands on another"
    assert tenants.get("nobody") is None and tenants.get(None) is None


def test_a_hold_caps_the_output_and_blocks_what_it_holds(store, tmp_path):
    tenants = _tenants(store, tmp_path, t=(100, 100))
    t = tenants.get("t")
    first = tenants.admit(t, 30, max_tokens=40)
    assert (first.tokens, first.max_output) == (70, 40)
    assert tenants.usage("t")["tokens_left"] == 30 and tenants.usage("t")["held_in_flight"] == 70
    second = tenants.admit(t, 10)  # no max_tokens: the cap is what the day has left
    assert second.max_output == 20
    with pytest.raises(production.QuotaExceeded) as busy:
        tenants.admit(t, 1)
    assert busy.value.retry_after_s == 1.0, "held tokens come back when the calls in flight end"
    tenants.settle(first, 35, 0.0)  # used less than it held: the rest is free again
    tenants.release(second)
    assert tenants.usage("t")["tokens_left"] == 65 and tenants.usage("t")["held_in_flight"] == 0
    with pytest.raises(production.QuotaExceeded):
        tenants.admit(t, 65)  # a prompt that fills the day leaves no room for a single output token


def test_a_hold_nobody_ends_expires(store, tmp_path, monkeypatch):
    tenants = _tenants(store, tmp_path, t=(100, 100))
    tenants.admit(tenants.get("t"), 90)  # e.g. a stream the client never started reading
    assert tenants.usage("t")["tokens_left"] == 0
    monkeypatch.setattr(production, "HOLD_TTL_S", -1.0)
    assert tenants.usage("t")["tokens_left"] == 100


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["admit", "settle", "release"]), st.integers(1, 60),
                          st.one_of(st.none(), st.integers(1, 80)), st.floats(0, 1)), max_size=40))
def test_holds_and_settles_never_overshoot_the_day(tmp_path_factory, ops):
    """Any interleaving of admits and ends: spent + held never exceeds the budget, provided each call
    uses no more output than the max_tokens it was given (the provider enforces that)."""
    tmp = tmp_path_factory.mktemp("holds")
    tenants = _tenants(Store(tmp / "p.db", migrations=[production.SCHEMA]), tmp, t=(10_000, 300))
    t, open_holds = tenants.get("t"), []
    for op, prompt, max_tokens, used_fraction in ops:
        if op == "admit":
            try:
                open_holds.append((tenants.admit(t, prompt, max_tokens), prompt))
            except production.QuotaExceeded:
                pass
        elif open_holds:
            hold, prompt_used = open_holds.pop(0)
            if op == "settle":
                tenants.settle(hold, prompt_used + int(used_fraction * hold.max_output), 0.0)
            else:
                tenants.release(hold)
        u = tenants.usage("t")
        assert u["tokens"] + u["held_in_flight"] <= 300 and u["tokens_left"] >= 0


def _luhn_reference(number: str) -> bool:
    digits = [int(d) for d in number]
    checksum = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return checksum % 10 == 0


@settings(max_examples=200, deadline=None)
@given(st.text("0123456789", min_size=2, max_size=19))
def test_luhn_matches_the_divmod_formulation(number):
    assert luhn_ok(number) == _luhn_reference(number)


def _card(rng: random.Random) -> str:
    body = "4" + "".join(rng.choice("0123456789") for _ in range(14))
    check = next(d for d in "0123456789" if luhn_ok(body + d))
    return body + check


@pytest.mark.parametrize("seed", range(20))
def test_masking_finds_generated_pii_and_unmasks_it(seed):
    rng = random.Random(seed)
    user = "".join(rng.choice("abcdefghij") for _ in range(rng.randint(3, 9)))
    email = f"{user}.{rng.randint(1, 99)}@{rng.choice(['example.com', 'mail.example.org'])}"
    card = _card(rng)
    grouped = " ".join(card[i:i + 4] for i in range(0, 16, 4))
    phone = f"+{rng.randint(1, 99)} {rng.randint(10, 999)} {rng.randint(100, 9999)} {rng.randint(1000, 9999)}"
    text = f"Hi, I am {user}. Mail {email}, call {phone}, card {grouped}, order {rng.randint(10**11, 10**12)}."
    masked = mask_pii(text)
    for secret in (email, grouped, phone):
        assert secret not in masked.text
    assert masked.counts() == {"EMAIL": 1, "CARD": 1, "PHONE": 1}
    assert "order" in masked.text and str(text.split("order ")[1][:-1]) in masked.text, "order ids survive"
    assert masked.unmask(masked.text) == text


def test_same_value_same_placeholder_across_messages():
    messages, masked = mask_messages([{"role": "user", "content": "I am ada@example.com"},
                                      {"role": "assistant", "content": "Noted, ada@example.com"},
                                      {"role": "user", "content": "and bob@example.com, ssn 123-45-6789"}])
    assert messages[0]["content"] == "I am <EMAIL_1>" and messages[1]["content"] == "Noted, <EMAIL_1>"
    assert messages[2]["content"] == "and <EMAIL_2>, ssn <SSN_1>"
    assert masked.unmask("write to <EMAIL_2>") == "write to bob@example.com"


def test_text_without_pii_is_untouched():
    text = "The deploy at 10:30 on 2026-11-29 moved 3.5 GB across 12 nodes (build 1234567890123)."
    assert mask_pii(text).text == text
