"""Virtual API keys per tenant: authentication (401), budgets (403) and token-bucket rate limits (429).

    curl -s localhost:8009/v1/chat/completions -H 'authorization: Bearer sk-lab09-acme' ...

Token bucket (capacity b, refill rate r per second), for a request at time t:

    tokens = min(b, tokens + r * (t - t_last));  allow if tokens >= 1 (then tokens -= 1)
    otherwise retry_after = (1 - tokens) / r seconds

Keys are stored as SHA-256 hashes; the raw key is shown once, when it is created. The budget is
checked before a call (spent >= budget -> 403) and charged after it, from the price map: a soft
budget, as LiteLLM's proxy keeps it, which the calls in flight at the moment it runs out can overshoot
by their own cost. lab-05 (production.py) shows the hard variant, which holds each call's worst case.

The admin surface (/admin/*, replay, right to deletion, every tenant's call log) takes a separate
admin key: LAB09_ADMIN_KEY, or `sk-lab09-admin` for the local lab (logged as a warning at start).
No key or a wrong one -> 401; a tenant's virtual key, valid but not an admin's -> 403.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from fastapi import Request

from shared.config import FIXTURES
from shared.service import ServiceError
from shared.store import Store

TENANTS_FILE = FIXTURES / "lab09" / "tenants.yaml"
DEFAULT_ADMIN_KEY = "sk-lab09-admin"
log = logging.getLogger("lab09.keys")

SCHEMA = """
CREATE TABLE keys (
    key_hash TEXT PRIMARY KEY,
    key_id TEXT UNIQUE NOT NULL,
    tenant TEXT NOT NULL,
    budget_usd REAL NOT NULL,
    rate_per_s REAL NOT NULL,
    burst INTEGER NOT NULL,
    spent_usd REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
"""


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class TokenBucket:
    rate: float
    capacity: float
    tokens: float = field(default=-1.0)
    last: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def take(self, now: float | None = None) -> float:
        """0.0 when allowed, else the seconds to wait for one token."""
        now = time.monotonic() if now is None else now
        self.tokens = min(self.capacity, self.tokens + self.rate * max(now - self.last, 0.0))
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class VirtualKey:
    key_id: str
    tenant: str
    budget_usd: float
    rate_per_s: float
    burst: int
    spent_usd: float

    def public(self) -> dict:
        return {"key_id": self.key_id, "tenant": self.tenant, "budget_usd": self.budget_usd,
                "spent_usd": round(self.spent_usd, 8), "rate_per_s": self.rate_per_s, "burst": self.burst}


class KeyStore:
    """The keys table plus in-memory buckets and spend (spend is written through on every charge)."""

    def __init__(self, store: Store, seed_file: Path = TENANTS_FILE):
        self.store = store
        self._pending: dict[str, float] = {}
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._cache: dict[str, VirtualKey] = {}
        self.tenants: list[str] = []
        self._seed(seed_file)

    def _seed(self, seed_file: Path) -> None:
        data = yaml.safe_load(seed_file.read_text())
        for tenant in data["tenants"]:
            self.tenants.append(tenant["name"])
            for key in tenant.get("keys", []):
                self.store.execute(
                    "INSERT OR IGNORE INTO keys VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                    [key_hash(key["key"]), key["id"], tenant["name"], key.get("budget_usd", tenant["budget_usd"]),
                     key.get("rate_per_s", tenant["rate_per_s"]), key.get("burst", tenant["burst"]), time.time()])

    def create(self, tenant: str, budget_usd: float, rate_per_s: float, burst: int) -> tuple[str, VirtualKey]:
        raw = "sk-lab09-" + secrets.token_urlsafe(18)
        key_id = "key_" + secrets.token_hex(4)
        self.store.execute("INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                           [key_hash(raw), key_id, tenant, budget_usd, rate_per_s, burst, time.time()])
        if tenant not in self.tenants:
            self.tenants.append(tenant)
        return raw, VirtualKey(key_id, tenant, budget_usd, rate_per_s, burst, 0.0)

    def list(self) -> list[VirtualKey]:
        rows = self.store.query("SELECT * FROM keys ORDER BY created, key_id")
        return [self._from_row(r) for r in rows]

    @staticmethod
    def _from_row(row: dict) -> VirtualKey:
        return VirtualKey(row["key_id"], row["tenant"], row["budget_usd"], row["rate_per_s"], row["burst"],
                          row["spent_usd"])

    def lookup(self, raw: str) -> VirtualKey | None:
        h = key_hash(raw)
        with self._lock:
            if h in self._cache:
                return self._cache[h]
        row = self.store.one("SELECT * FROM keys WHERE key_hash = ?", [h])
        if row is None:
            return None
        key = self._from_row(row)
        with self._lock:
            self._cache[h] = key
        return key

    def identify(self, authorization: str | None, api_key_header: str | None = None) -> VirtualKey:
        """The caller's key; 401 without a valid one."""
        raw = raw_key(authorization, api_key_header)
        if not raw:
            raise ServiceError(401, "missing API key: send 'Authorization: Bearer <key>'", "invalid_api_key")
        key = self.lookup(raw)
        if key is None:
            raise ServiceError(401, "invalid API key", "invalid_api_key")
        return key

    def admit(self, key: VirtualKey) -> None:
        """403 past the key's budget, 429 (with retry-after) past its rate."""
        if key.spent_usd >= key.budget_usd:
            raise ServiceError(403, f"budget exhausted for key {key.key_id}: spent ${key.spent_usd:.6f} of "
                               f"${key.budget_usd:.6f}", "budget_exceeded", key_id=key.key_id)
        with self._lock:
            bucket = self._buckets.setdefault(key.key_id, TokenBucket(key.rate_per_s, key.burst))
            wait = bucket.take()
        if wait > 0:
            raise ServiceError(429, f"rate limit of {key.rate_per_s:g} requests/s for key {key.key_id}",
                               "rate_limit_exceeded", headers={"retry-after": str(max(1, math.ceil(wait)))},
                               retry_after_s=round(wait, 3))

    def charge(self, key: VirtualKey, usd: float) -> None:
        """Spend counts at once in memory; it reaches SQLite with the call log's next batch (`persist`)."""
        if usd <= 0:
            return
        with self._lock:
            key.spent_usd += usd
            self._pending[key.key_id] = self._pending.get(key.key_id, 0.0) + usd

    def persist(self, db) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        db.executemany("UPDATE keys SET spent_usd = spent_usd + ? WHERE key_id = ?",
                       [(usd, key_id) for key_id, usd in pending.items()])


def raw_key(authorization: str | None, api_key_header: str | None = None) -> str:
    """The key a client sent: `Authorization: Bearer <key>` (what the openai SDK sends) or `x-api-key`."""
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return (api_key_header or "").strip()


class AdminGuard:
    """Who may call the operator routes: the admin key, or (where a route allows it) a tenant's own key."""

    def __init__(self, keys: KeyStore, admin_key: str | None = None):
        self.keys = keys
        self.admin_key = admin_key or os.environ.get("LAB09_ADMIN_KEY") or DEFAULT_ADMIN_KEY
        if self.admin_key == DEFAULT_ADMIN_KEY:
            log.warning("lab09 admin key is the lab default %r: set LAB09_ADMIN_KEY anywhere but your laptop",
                        DEFAULT_ADMIN_KEY)
        self._admin_hash = key_hash(self.admin_key)

    def _is_admin(self, raw: str) -> bool:
        return hmac.compare_digest(key_hash(raw), self._admin_hash)

    def is_admin(self, authorization: str | None, api_key_header: str | None = None) -> bool:
        raw = raw_key(authorization, api_key_header)
        return bool(raw) and self._is_admin(raw)

    def require_admin(self, request: Request) -> None:
        """A route dependency: the admin key, else 401 (none, or a wrong one) or 403 (a tenant's key)."""
        self.caller(request.headers.get("authorization"), request.headers.get("x-api-key"))

    def tenant_or_admin(self, request: Request) -> str | None:
        """A route dependency: None for the admin (sees every tenant), a tenant's name for its own key."""
        return self.caller(request.headers.get("authorization"), request.headers.get("x-api-key"),
                           tenants_allowed=True)

    def admin_request(self, request: Request) -> bool:
        return self.is_admin(request.headers.get("authorization"), request.headers.get("x-api-key"))

    def caller(self, authorization: str | None, api_key_header: str | None = None,
               tenants_allowed: bool = False) -> str | None:
        """None for the admin; the tenant's name for its own key where `tenants_allowed`; else 401 / 403."""
        raw = raw_key(authorization, api_key_header)
        if not raw:
            raise ServiceError(401, "this route needs the admin key: send 'Authorization: Bearer <admin key>'",
                               "missing_admin_key", headers={"www-authenticate": 'Bearer realm="lab09-admin"'})
        if self._is_admin(raw):
            return None
        key = self.keys.lookup(raw)
        if key is None:
            raise ServiceError(401, "invalid admin key", "invalid_admin_key",
                               headers={"www-authenticate": 'Bearer realm="lab09-admin"'})
        if not tenants_allowed:
            raise ServiceError(403, f"key {key.key_id} belongs to tenant {key.tenant!r}; this route needs the "
                               "admin key", "admin_only")
        return key.tenant
