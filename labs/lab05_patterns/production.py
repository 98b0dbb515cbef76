"""Production patterns: idempotency keys, per-tenant isolation and quotas, PII masking.

    curl -s localhost:8005/chat -H 'content-type: application/json' -H 'idempotency-key: order-42' \
      -d '{"messages": [{"role": "user", "content": "What is 6 * 7?"}]}'      # twice: one model call

Idempotency: the first request with a key stores (tenant, key, hash of the body, response); a retry
with the same key and body gets the stored response without a second model call (and its cost);
the same key with a different body is a 422, and a retry while the first is still running a 409.

Quotas per tenant: a token bucket for requests per minute (capacity rpm, refill rpm/60 per second)
and a daily token budget; either exhausted is a 429 with retry-after. The budget is reserved, not
just checked: admitting a call holds its prompt tokens plus its output cap (max_tokens, lowered to
what is left of the day), and the call's real usage replaces the hold when it ends. Concurrent
calls therefore cannot overshoot the day together, and the last call of the day gets a shorter
answer (finish_reason "length") instead of a bill past the budget. Holds and usage live in the store,
and admitting reads and writes them in one store transaction (writers take turns: SQLite's write lock,
PostgreSQL's advisory lock), so replicas of the service sharing one PostgreSQL database cannot overshoot
the day together either. The rate bucket is per replica (n replicas admit up to n x rpm). Everything a tenant stores is
keyed by its id, so one tenant never sees another's idempotency keys or usage.

PII masking replaces emails, phone numbers, card numbers (Luhn-checked), IBANs, US SSNs and IPv4
addresses with typed placeholders (<EMAIL_1>) before the prompt leaves the service; the mapping
stays here and puts the originals back into the reply the caller sees.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.config import FIXTURES
from shared.store import Store, dumps

SCHEMA = """
CREATE TABLE idempotency (
    tenant TEXT NOT NULL, key TEXT NOT NULL, body_hash TEXT NOT NULL, status TEXT NOT NULL,
    response TEXT, created_at REAL NOT NULL, PRIMARY KEY (tenant, key)
);
CREATE TABLE usage (
    tenant TEXT NOT NULL, day TEXT NOT NULL, requests INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0, PRIMARY KEY (tenant, day)
);
"""


class Conflict(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def body_hash(body: Any) -> str:
    return hashlib.sha256(dumps(body).encode()).hexdigest()


HOLDS_SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_holds (
    id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, day TEXT NOT NULL, tokens INTEGER NOT NULL,
    created_at REAL NOT NULL
)"""


class IdempotencyStore:
    def __init__(self, store: Store):
        self.store = store

    def begin(self, tenant: str, key: str, body: Any) -> dict[str, Any] | None:
        """Claim the key; returns the stored response if this is a replay (raises Conflict on misuse)."""
        digest = body_hash(body)
        with self.store.tx() as db:  # read and claim in one transaction: two replicas cannot both claim
            row = db.execute("SELECT body_hash, status, response FROM idempotency WHERE tenant = ? AND key = ?",
                             (tenant, key)).fetchone()
            if row is None:
                db.execute("INSERT INTO idempotency (tenant, key, body_hash, status, created_at) "
                           "VALUES (?, ?, ?, 'running', ?)", (tenant, key, digest, time.time()))
                return None
        if row["body_hash"] != digest:
            raise Conflict(422, f"idempotency key {key!r} was used with a different request body")
        if row["status"] == "running":
            raise Conflict(409, f"a request with idempotency key {key!r} is still in progress")
        return json.loads(row["response"])

    def finish(self, tenant: str, key: str, response: dict[str, Any]) -> None:
        self.store.execute("UPDATE idempotency SET status = 'done', response = ? WHERE tenant = ? AND key = ?",
                           (dumps(response), tenant, key))

    def abandon(self, tenant: str, key: str) -> None:
        """A failed call frees its key, so the client's retry really retries."""
        self.store.execute("DELETE FROM idempotency WHERE tenant = ? AND key = ? AND status = 'running'",
                           (tenant, key))


@dataclass
class Tenant:
    id: str
    rpm: int
    daily_tokens: int
    models: list[str]
    tokens: float = 0.0
    refilled_at: float = field(default_factory=time.monotonic)


class QuotaExceeded(Exception):
    def __init__(self, message: str, retry_after_s: float):
        super().__init__(message)
        self.retry_after_s = retry_after_s


DEFAULT_MAX_OUTPUT = 4096  # the output cap a call gets (and holds) when it names none: the most ChatRequest allows
HOLD_TTL_S = 600.0  # a hold older than any call can run (a stream never started) stops counting


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _seconds_to_midnight_utc() -> float:
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()


@dataclass
class Reservation:
    """Tokens held against a tenant's day while a call runs: its prompt plus its output cap."""
    id: int
    tenant: str
    day: str
    tokens: int
    max_output: int  # the max_tokens the call must be sent with, so it cannot spend past the hold
    created_at: float = field(default_factory=time.monotonic)


class Tenants:
    """Tenant registry (fixtures/lab05/tenants.json), rate buckets in memory (per replica), budget holds
    and daily usage in the store (shared by every replica on one database)."""

    def __init__(self, store: Store, path: Path | None = None):
        raw = json.loads((path or FIXTURES / "lab05" / "tenants.json").read_text())["tenants"]
        self.tenants = {tid: Tenant(tid, cfg["rpm"], cfg["daily_tokens"], cfg["models"], tokens=cfg["rpm"])
                        for tid, cfg in raw.items()}
        self.store = store
        self._lock = threading.Lock()
        self._holds_table = False

    def get(self, tenant_id: str | None) -> Tenant | None:
        return self.tenants.get(tenant_id or "public")

    def _tx(self):
        """A store transaction; the holds table is made on first use (a store opened with SCHEMA alone
        works: tests and older databases)."""
        if not self._holds_table:
            with self.store.tx() as db:
                db.execute(HOLDS_SCHEMA)
            self._holds_table = True
        return self.store.tx()

    def _room(self, db, tenant: Tenant, day: str) -> tuple[dict[str, Any], int, int]:
        """(the day's usage row, tokens held in flight, tokens left), inside transaction `db`; holds
        older than HOLD_TTL_S (a call that never ended) are dropped first."""
        db.execute("DELETE FROM budget_holds WHERE created_at < ?", (time.time() - HOLD_TTL_S,))
        row = db.execute("SELECT requests, tokens, cost_usd FROM usage WHERE tenant = ? AND day = ?",
                         (tenant.id, day)).fetchone()
        row = dict(row) if row else {"requests": 0, "tokens": 0, "cost_usd": 0.0}
        held = db.execute("SELECT COALESCE(SUM(tokens), 0) FROM budget_holds WHERE tenant = ? AND day = ?",
                          (tenant.id, day)).fetchone()[0]
        return row, int(held), tenant.daily_tokens - row["tokens"] - int(held)

    def usage(self, tenant_id: str) -> dict[str, Any]:
        day, t = _today(), self.tenants[tenant_id]
        with self._tx() as db:
            row, held, left = self._room(db, t, day)
        return {"tenant": tenant_id, "day": day, **row, "daily_tokens": t.daily_tokens, "rpm": t.rpm,
                "held_in_flight": held, "tokens_left": max(0, left), "models": t.models}

    def admit(self, tenant: Tenant, prompt_tokens: int, max_tokens: int | None = None) -> Reservation:
        """Take one request from the rate bucket and hold the call's tokens against today's budget.

        The hold is prompt_tokens + the output cap; the cap is max_tokens (DEFAULT_MAX_OUTPUT if
        None) lowered to what the day has left. Raises QuotaExceeded, taking nothing, when either
        limit refuses. Every Reservation must end in settle() or release()."""
        day = _today()
        with self._lock, self._tx() as db:
            _, held, left = self._room(db, tenant, day)
            if left <= prompt_tokens:
                # held tokens come back within seconds when the calls in flight end; spent ones at midnight
                retry = 1.0 if held and left + held > prompt_tokens else _seconds_to_midnight_utc()
                if left <= 0 and not held:
                    msg = f"tenant {tenant.id!r} used its {tenant.daily_tokens} tokens for today"
                else:
                    msg = (f"tenant {tenant.id!r} has {max(0, left)} of its {tenant.daily_tokens} daily tokens left"
                           f" ({held} held by calls in flight); this prompt alone is {prompt_tokens}")
                raise QuotaExceeded(msg, retry)
            now = time.monotonic()
            bucket = min(tenant.rpm, tenant.tokens + (now - tenant.refilled_at) * tenant.rpm / 60)
            tenant.tokens, tenant.refilled_at = bucket, now
            if bucket < 1:
                raise QuotaExceeded(f"tenant {tenant.id!r} is over {tenant.rpm} requests per minute",
                                    (1 - bucket) * 60 / tenant.rpm)
            tenant.tokens -= 1
            cap = min(max_tokens or DEFAULT_MAX_OUTPUT, left - prompt_tokens)
            rid = db.execute("INSERT INTO budget_holds (tenant, day, tokens, created_at) VALUES (?, ?, ?, ?)",
                             (tenant.id, day, prompt_tokens + cap, time.time())).lastrowid
            return Reservation(rid, tenant.id, day, prompt_tokens + cap, cap)

    def release(self, r: Reservation) -> None:
        """The call spent nothing (it failed before the provider answered): drop its hold."""
        with self._tx() as db:
            db.execute("DELETE FROM budget_holds WHERE id = ?", (r.id,))

    def settle(self, r: Reservation, tokens: int, cost_usd: float) -> None:
        """Replace the hold by what the call really used, in one transaction, so no other call sees the
        freed tokens before the spent ones are counted."""
        with self._tx() as db:
            db.execute("DELETE FROM budget_holds WHERE id = ?", (r.id,))
            self._add_usage(db, r.tenant, tokens, cost_usd, r.day)

    def record(self, tenant_id: str, tokens: int, cost_usd: float, day: str | None = None) -> None:
        with self._tx() as db:
            self._add_usage(db, tenant_id, tokens, cost_usd, day)

    @staticmethod
    def _add_usage(db, tenant_id: str, tokens: int, cost_usd: float, day: str | None) -> None:
        db.execute("INSERT INTO usage (tenant, day, requests, tokens, cost_usd) VALUES (?, ?, 1, ?, ?) "
                   "ON CONFLICT (tenant, day) DO UPDATE SET requests = usage.requests + 1, "
                   "tokens = usage.tokens + excluded.tokens, cost_usd = usage.cost_usd + excluded.cost_usd",
                   (tenant_id, day or _today(), tokens, cost_usd))


def luhn_ok(digits: str) -> bool:
    """Luhn: double every second digit from the right (minus 9 if > 9); the sum must be 0 mod 10."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


PII_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")),
    ("CARD", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    ("SSN", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("PHONE", re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)|\d{2,4})[ .-]\d{3,4}[ .-]?\d{3,4}\b")),
    ("IPV4", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")),
]


@dataclass
class Masked:
    text: str
    mapping: dict[str, str]  # placeholder -> original (never sent to the model)

    def unmask(self, text: str | None) -> str | None:
        if text is None:
            return None
        for placeholder, original in self.mapping.items():
            text = text.replace(placeholder, original)
        return text

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for placeholder in self.mapping:
            kind = placeholder.strip("<>").rsplit("_", 1)[0]
            out[kind] = out.get(kind, 0) + 1
        return out


def mask_pii(text: str, mapping: dict[str, str] | None = None) -> Masked:
    """Replace PII with stable placeholders; the same value gets the same placeholder everywhere."""
    mapping = dict(mapping or {})
    reverse = {v: k for k, v in mapping.items()}
    for kind, pattern in PII_PATTERNS:
        def repl(m: re.Match[str], kind: str = kind) -> str:
            value = m.group()
            if kind == "CARD" and not luhn_ok(re.sub(r"\D", "", value)):
                return value  # a long number that fails Luhn is an order id, not a card
            if value not in reverse:
                n = sum(1 for k in mapping if k.startswith(f"<{kind}_")) + 1
                reverse[value] = f"<{kind}_{n}>"
                mapping[reverse[value]] = value
            return reverse[value]

        text = pattern.sub(repl, text)
    return Masked(text, mapping)


def mask_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Masked]:
    mapping: dict[str, str] = {}
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            masked = mask_pii(content, mapping)
            mapping = masked.mapping
            m = {**m, "content": masked.text}
        out.append(m)
    return out, Masked("", mapping)
