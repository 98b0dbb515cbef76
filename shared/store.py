"""SQLite for every lab that persists (WAL, a busy timeout, numbered migrations); PostgreSQL on request.

    from shared.store import Store
    store = Store(".data/demo.db", migrations=["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"])
    with store.tx() as db:
        db.execute("INSERT INTO t (v) VALUES (?)", ("hello",))
    Store(path, migrations, url=settings.database_url)    # postgresql://... : shared/pgstore.py

Migration i (1-based) runs once, inside a transaction, and sets `PRAGMA user_version = i` (PostgreSQL:
a row in the schema's `store_meta` table), so a database created by an older version of a lab is
brought forward in order on open. On PostgreSQL the migration holds the schema's advisory lock, so two
replicas starting together migrate once.

A store that cannot reach its database does not fall back to a local file (that would split a user's
data in two) and does not stop the app from starting: every use raises `StoreUnavailable`, which is an
HTTP 503 with the reason wherever it surfaces in a route, and `ping` (the labs' readiness check) raises
it too, so /readyz says 503 and why. The store retries the connection (and its migrations) at most once
a second until the database answers. Start-up work that needs the database (reconciling interrupted runs,
loading fixtures) goes through `when_available`, so a database that is down at start delays that work
instead of stopping the app from starting:

    stop = threading.Event()                              # set on shutdown: the waiting step gives up
    steps = when_available(lambda: reconcile(store), stop)  # done now, or {"database": a warm-up step}
    app = create_service(..., readiness={"store": store.ping}, warmup={**steps})
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException

RETRY_S = 1.0  # an unreachable database is tried again at most this often (each try may wait a timeout)


class StoreUnavailable(HTTPException):
    """The configured database cannot be used; a route that meets it answers 503 with this reason."""

    def __init__(self, reason: str):
        super().__init__(503, reason, headers={"retry-after": "5"})
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def is_postgres(url: str | None) -> bool:
    return bool(url) and url.split("://", 1)[0] in {"postgresql", "postgres"}


class Store:
    def __init__(self, path: str | Path, migrations: Sequence[str] = (), busy_timeout_ms: int = 5000,
                 url: str | None = None):
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.url = url or None
        self.backend = "postgresql" if is_postgres(self.url) else "sqlite"
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._migrations = list(migrations)
        self._ready = False
        self._failure: tuple[float, str] | None = None
        self._pg = None
        if self.url and not is_postgres(self.url):
            self._failure = (float("inf"), f"DATABASE_URL {self.url.split('://', 1)[0]!r}:// is not supported; "
                                           "use postgresql://user:password@host:5432/db, or leave it unset for SQLite")
        elif self.backend == "postgresql":
            # psycopg is imported only by a store that uses PostgreSQL (importing it costs every lab start)
            from shared import pgstore

            self._pg = pgstore.PgBackend(self.url, pgstore.schema_name(self.path.parent.name, self.path.stem),
                                         StoreUnavailable)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._ensure_ready()
        except StoreUnavailable:
            pass  # the app still starts; readiness and every request say why the database is unusable

    def _ensure_ready(self) -> None:
        if self._ready:
            return
        if self._failure is not None and time.monotonic() < self._failure[0] + RETRY_S:
            raise StoreUnavailable(self._failure[1])
        try:
            self._migrate(self._migrations)
        except StoreUnavailable as exc:
            self._failure = (time.monotonic(), exc.reason)
            raise
        self._ready, self._failure = True, None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """One connection per thread (sqlite3 connections must not be shared across threads); SQLite only."""
        if self._pg is not None:
            raise TypeError("a PostgreSQL store has no per-thread connection: use query/one/execute/tx")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _migrate(self, migrations: list[str]) -> None:
        if self._pg is not None:
            return self._pg_migrate(migrations)
        with self._tx() as db:
            current = db.execute("PRAGMA user_version").fetchone()[0]
            for version, script in enumerate(migrations, start=1):
                if version <= current:
                    continue
                for statement in _split_sql(script):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {version}")

    def _pg_migrate(self, migrations: list[str]) -> None:
        pg = self._pg
        with pg.connection() as raw, raw.transaction():
            raw.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (pg.schema,))
            raw.execute(f'CREATE SCHEMA IF NOT EXISTS "{pg.schema}"')
            raw.execute("CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)")
            row = raw.execute("SELECT value FROM store_meta WHERE key = 'user_version'").fetchone()
            current = row[0] if row else 0
            db = pg.wrap(raw)
            for version, script in enumerate(migrations, start=1):
                if version <= current:
                    continue
                for statement in _split_sql(script):
                    db.execute(statement)
                raw.execute("INSERT INTO store_meta VALUES ('user_version', %s) ON CONFLICT (key) "
                            "DO UPDATE SET value = EXCLUDED.value", (version,))
        pg.forget_tables()

    @property
    def schema_version(self) -> int:
        self._ensure_ready()
        if self._pg is not None:
            row = self.one("SELECT value FROM store_meta WHERE key = 'user_version'")
            return row["value"] if row else 0
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: all or nothing, one writer at a time (SQLite: BEGIN IMMEDIATE, serialized
        across threads; PostgreSQL: the schema's advisory lock, serialized across every replica)."""
        self._ensure_ready()
        with self._tx() as db:
            yield db

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        if self._pg is not None:
            pg = self._pg
            with pg.connection() as raw, raw.transaction():
                raw.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (pg.schema,))
                yield pg.wrap(raw)
            return
        with self._write_lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _reader(self) -> Iterator[Any]:
        self._ensure_ready()
        if self._pg is None:
            yield self.conn
            return
        with self._pg.connection() as raw:
            yield self._pg.wrap(raw)

    def query(self, sql: str, params: Sequence[Any] | dict = ()) -> list[dict]:
        with self._reader() as db:
            return [dict(row) for row in db.execute(sql, params).fetchall()]

    def one(self, sql: str, params: Sequence[Any] | dict = ()) -> dict | None:
        with self._reader() as db:
            row = db.execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> int:
        """Run one write statement in its own transaction; returns lastrowid."""
        with self.tx() as db:
            return db.execute(sql, params).lastrowid

    def ping(self) -> bool | str:
        """Readiness: True on SQLite; on PostgreSQL the schema it uses (raises StoreUnavailable when down)."""
        with self._reader() as db:
            ok = db.execute("SELECT 1").fetchone()[0] == 1
        return f"postgresql schema {self._pg.schema}" if ok and self._pg is not None else ok

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
            return
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def when_available(work: Callable[[], Any], stop: threading.Event) -> dict[str, Callable[[], Any]]:
    """Run start-up `work` now when the database answers (so the first request sees what it did) and return
    no warm-up step; when it raises StoreUnavailable, return {"database": step}: a warm-up step (shared.service)
    that retries `work` every RETRY_S until the database answers, or raises once `stop` is set (shutdown).
    Meanwhile /readyz is 503: the store's readiness check gives the reason, this step says it is waiting."""
    try:
        work()
        return {}
    except StoreUnavailable:
        pass

    def step() -> Any:
        while True:
            try:
                return work()
            except StoreUnavailable:
                if stop.wait(RETRY_S):
                    raise
    return {"database": step}


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (sqlite3.execute takes one at a time inside our transaction)."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return [s for s in statements if s]


def dumps(obj: Any) -> str:
    """JSON for a TEXT column: compact, keys sorted so equal objects store equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
