"""SQLite for every lab that persists: WAL, a busy timeout, and numbered schema migrations.

    from shared.store import Store
    store = Store(".data/demo.db", migrations=["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"])
    with store.tx() as db:
        db.execute("INSERT INTO t (v) VALUES (?)", ("hello",))

Migration i (1-based) runs once, inside a transaction, and sets `PRAGMA user_version = i`, so a
database created by an older version of a lab is brought forward in order on open.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Store:
    def __init__(self, path: str | Path, migrations: Sequence[str] = (), busy_timeout_ms: int = 5000):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._migrate(list(migrations))

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
        """One connection per thread (sqlite3 connections must not be shared across threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _migrate(self, migrations: list[str]) -> None:
        with self.tx() as db:
            current = db.execute("PRAGMA user_version").fetchone()[0]
            for version, script in enumerate(migrations, start=1):
                if version <= current:
                    continue
                for statement in _split_sql(script):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {version}")

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE): all or nothing, serialized across threads."""
        with self._write_lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] | dict = ()) -> list[dict]:
        return [dict(row) for row in self.conn.execute(sql, params).fetchall()]

    def one(self, sql: str, params: Sequence[Any] | dict = ()) -> dict | None:
        row = self.conn.execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> int:
        """Run one write statement in its own transaction; returns lastrowid."""
        with self.tx() as db:
            return db.execute(sql, params).lastrowid

    def ping(self) -> bool:
        return self.conn.execute("SELECT 1").fetchone()[0] == 1

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


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
