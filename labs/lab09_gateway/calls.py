"""The call log: one row per gateway call (who, what, how long, how many tokens, what it cost).

    curl -s 'localhost:8009/calls?limit=5' -H 'authorization: Bearer sk-lab09-acme'

Rows are buffered in memory and written in batches by a background thread (like a span batch
processor), so a request never waits on SQLite; every read flushes first. Message content goes to
a separate table, only when capture is on, already redacted, keyed by a hash of the user id so a
right-to-deletion request can find it. User ids never become metric labels (`BoundedLabel`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import operator
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any

from shared.store import Store

SCHEMA = """
CREATE TABLE calls (
    request_id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    trace_id TEXT,
    tenant TEXT NOT NULL,
    key_id TEXT NOT NULL,
    feature TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    user_hash TEXT,
    route TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    path TEXT NOT NULL,
    operation TEXT NOT NULL,
    stream INTEGER NOT NULL,
    status INTEGER NOT NULL,
    error_type TEXT,
    error_class TEXT,
    attempts INTEGER NOT NULL,
    fallback INTEGER NOT NULL,
    queue_ms REAL NOT NULL,
    ttft_ms REAL,
    decode_ms REAL,
    latency_ms REAL NOT NULL,
    chunks INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    topic TEXT NOT NULL,
    kept INTEGER NOT NULL,
    disconnected INTEGER NOT NULL,
    quality REAL
);
CREATE INDEX calls_ts ON calls (ts);
CREATE INDEX calls_user ON calls (user_hash);
CREATE TABLE contents (
    request_id TEXT PRIMARY KEY,
    user_hash TEXT,
    request TEXT NOT NULL,
    response TEXT
);
CREATE INDEX contents_user ON contents (user_hash);
"""

# migration 2: the conversation a call belongs to (x-conversation-id), for tokens per conversation (usage.py)
CONVERSATIONS = """
ALTER TABLE calls ADD COLUMN conversation TEXT;
CREATE INDEX calls_conversation ON calls (conversation);
"""

ATTRIBUTION = ("tenant", "key_id", "feature", "prompt_version", "route", "model")  # what cost is grouped by

# by key, not by the tenant label: past BoundedLabel's limit, many tenants share the label "other"
_OWN_KEYS = "key_id IN (SELECT key_id FROM keys WHERE tenant = ?)"


@dataclass
class CallRecord:
    request_id: str
    tenant: str
    key_id: str
    feature: str
    prompt_version: str
    route: str
    model: str
    provider: str
    path: str
    operation: str = "chat"
    stream: bool = False
    ts: float = field(default_factory=time.time)
    trace_id: str | None = None
    user_hash: str | None = None
    status: int = 200
    error_type: str | None = None
    error_class: str | None = None
    attempts: int = 1
    fallback: bool = False
    queue_ms: float = 0.0
    ttft_ms: float | None = None
    decode_ms: float | None = None
    latency_ms: float = 0.0
    chunks: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    topic: str = "other"
    kept: bool = True
    disconnected: bool = False
    quality: float | None = None
    conversation: str | None = None


CALL_COLUMNS = tuple(f.name for f in fields(CallRecord))
CALL_INSERT = (f"INSERT OR REPLACE INTO calls ({', '.join(CALL_COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(CALL_COLUMNS))})")
# a record's values in column order (dataclasses.asdict deep-copies every field: 30 us a row against 0.6)
_row = operator.attrgetter(*CALL_COLUMNS)


def user_hash(user_id: str | None, secret: bytes) -> str | None:
    """A keyed hash: joins a user's rows without storing who they are."""
    if not user_id:
        return None
    return hmac.new(secret, user_id.encode(), hashlib.sha256).hexdigest()[:32]


class BoundedLabel:
    """A metric label with at most `max_values` values; later ones become "other" (the cardinality trap)."""

    def __init__(self, max_values: int, allowed: list[str] | None = None):
        self.max_values = max_values
        self.values: set[str] = set(allowed or [])
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if not value:
            return "none"
        with self._lock:
            if value in self.values:
                return value
            if len(self.values) < self.max_values:
                self.values.add(value)
                return value
        return "other"


class CallLog:
    """Buffered writer plus the read queries the analysis modules use."""

    def __init__(self, store: Store, on_flush=None, interval_s: float = 0.2):
        self.store = store
        self._buffer: list[CallRecord] = []
        self._contents: list[tuple[str, str | None, str, str | None]] = []
        self._decisions: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._on_flush = on_flush
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True, name="lab09-calllog")
        self._thread.start()

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self.flush()

    def add(self, record: CallRecord, content: tuple[str, str | None] | None = None) -> None:
        with self._lock:
            self._buffer.append(record)
            if content is not None:
                self._contents.append((record.request_id, record.user_hash, content[0], content[1]))

    def mark_kept(self, trace_id: str, kept: bool, reason: str = "") -> None:
        """The tail sampler's decision for a trace, applied to its call rows at the next flush."""
        with self._lock:
            self._decisions.append((int(kept), trace_id))

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                rows, self._buffer = self._buffer, []
                contents, self._contents = self._contents, []
                decisions, self._decisions = self._decisions, []
            with self.store.tx() as db:
                if rows:
                    db.executemany(CALL_INSERT, [_row(r) for r in rows])
                if contents:
                    db.executemany("INSERT OR REPLACE INTO contents VALUES (?, ?, ?, ?)", contents)
                if decisions:  # after the inserts: a decision comes when the request's root span ends
                    db.executemany("UPDATE calls SET kept = ? WHERE trace_id = ?", decisions)
                if self._on_flush is not None:
                    self._on_flush(db)

    def query(self, sql: str, params: list[Any] | tuple = ()) -> list[dict]:
        self.flush()
        return self.store.query(sql, params)

    def recent(self, limit: int = 50, since: float | None = None, tenant: str | None = None) -> list[dict]:
        """Newest first; with `tenant`, only calls made with that tenant's keys (its own view)."""
        where, params = [], []
        if since is not None:
            where.append("ts >= ?")
            params.append(since)
        if tenant is not None:
            where.append(_OWN_KEYS)
            params.append(tenant)
        sql = "SELECT * FROM calls" + (" WHERE " + " AND ".join(where) if where else "")
        return self.query(sql + " ORDER BY ts DESC LIMIT ?", [*params, limit])

    def get(self, request_id: str, tenant: str | None = None) -> dict | None:
        self.flush()
        if tenant is None:
            return self.store.one("SELECT * FROM calls WHERE request_id = ?", [request_id])
        return self.store.one(f"SELECT * FROM calls WHERE request_id = ? AND {_OWN_KEYS}", [request_id, tenant])

    def content(self, request_id: str) -> dict | None:
        self.flush()
        row = self.store.one("SELECT * FROM contents WHERE request_id = ?", [request_id])
        if row:
            row["request"] = json.loads(row["request"])
        return row

    def window(self, seconds_back: float) -> list[dict]:
        """Every call of the last `seconds_back` seconds, oldest first (what the analyses read)."""
        return self.query("SELECT * FROM calls WHERE ts >= ? ORDER BY ts", [time.time() - seconds_back])

    def cost_by(self, by: str, window_s: float) -> list[dict]:
        """Calls, spend and tokens grouped by one attribution column, most expensive first."""
        if by not in ATTRIBUTION:
            raise ValueError(f"cannot group by {by!r}; one of {ATTRIBUTION}")
        rows = self.query(
            f"SELECT {by} AS name, COUNT(*) AS calls, SUM(cost_usd) AS cost_usd, SUM(input_tokens) AS input_tokens, "
            f"SUM(output_tokens) AS output_tokens FROM calls WHERE ts >= ? GROUP BY {by} ORDER BY cost_usd DESC",
            [time.time() - window_s])
        for row in rows:
            row["cost_usd"] = round(row["cost_usd"] or 0.0, 8)
        return rows

    def kept(self, limit: int) -> list[dict]:
        """The newest calls whose traces the tail sampler kept."""
        return self.query("SELECT request_id, trace_id, ts, route, tenant, status, error_type, latency_ms, "
                          "cost_usd, attempts, fallback FROM calls WHERE kept = 1 ORDER BY ts DESC LIMIT ?", [limit])

    def dropped(self, trace_id: str) -> bool:
        """True when a call of this trace exists and the tail sampler dropped its spans."""
        return bool(self.query("SELECT 1 FROM calls WHERE trace_id = ? AND kept = 0 LIMIT 1", [trace_id]))

    def grade(self, request_id: str, score: float) -> bool:
        self.flush()
        with self.store.tx() as db:
            return db.execute("UPDATE calls SET quality = ? WHERE request_id = ?", [score, request_id]).rowcount > 0

    def forget_user(self, uhash: str) -> int:
        """Right to deletion: drop the user's stored content and unlink their rows (metrics stay)."""
        self.flush()
        with self.store.tx() as db:
            removed = db.execute("DELETE FROM contents WHERE user_hash = ?", [uhash]).rowcount
            db.execute("UPDATE calls SET user_hash = NULL WHERE user_hash = ?", [uhash])
        return removed
