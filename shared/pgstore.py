"""PostgreSQL under shared.store's interface: the SQLite dialect the labs write, spoken to psycopg 3.

    DATABASE_URL=postgresql://lab:lab@localhost:5432/labs make lab-05     # state in Postgres, not SQLite

shared.store.Store hands a `postgresql://` URL to `PgBackend`; nothing here is imported by a lab.
Each Store path becomes one PostgreSQL schema named after its folder and file (.data/lab05/lab05.db ->
schema `lab05_lab05`), so the tables of every lab and replica sharing one database stay apart, and two
replicas of a lab meet in the same schema wherever their DATA_DIR is.

What is translated, and only this (labs write portable SQL otherwise):
- placeholders `?` and `:name` -> `%s` and `%(name)s` (a literal `%` doubles), outside string literals;
- `INSERT OR IGNORE` -> `ON CONFLICT DO NOTHING`; `INSERT OR REPLACE` -> `ON CONFLICT (primary key) DO
  UPDATE` setting every listed column to the new value and every other one to its default, which is
  what SQLite's delete-then-insert leaves;
- `json_extract(column, '$.key')` -> `(column::jsonb ->> 'key')` (one top-level key of a TEXT column
  holding a JSON object; the value comes back as text, so compare it with a string);
- DDL types: INTEGER -> BIGINT (SQLite integers are 64-bit), REAL -> DOUBLE PRECISION (PostgreSQL's
  REAL is 32-bit: a timestamp would lose its seconds), BLOB -> BYTEA, and `INTEGER PRIMARY KEY` ->
  an identity column (SQLite numbers such a row by itself);
- results: rows index by position and by name like sqlite3.Row; NUMERIC (what SUM and AVG return)
  comes back as int or float, bool goes in as 0/1, as SQLite stores them.

Transactions keep SQLite's meaning. `BEGIN IMMEDIATE` makes SQLite writers to one file take turns, and
code written for it reads, decides and writes inside one `tx()` trusting that. Here `tx()` takes a
transaction-scoped advisory lock keyed by the schema (pg_advisory_xact_lock), so writers to one store
take turns across every connection and every replica: two app instances cannot both see room left in a
budget and both spend it. Reads outside `tx()` take no lock. Errors keep sqlite3's classes too: a
unique violation is a `store.IntegrityError`, a subclass of sqlite3.IntegrityError.
"""

from __future__ import annotations

import queue
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.adapt import Dumper, Loader

POOL_SIZE = 8  # connections per store and process; a request waits for one at most CHECKOUT_TIMEOUT_S
CHECKOUT_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 3


class PgIntegrityError(sqlite3.IntegrityError):
    """A constraint violation from PostgreSQL, as the sqlite3 class callers already catch."""


def schema_name(folder: str, stem: str) -> str:
    raw = re.sub(r"[^a-z0-9_]+", "_", f"{folder}_{stem}".lower()).strip("_") or "store"
    return ("s_" + raw if raw[0].isdigit() else raw)[:63]


class _Row(tuple):
    """A result row like sqlite3.Row: row[0], row["name"], dict(row), unpacking."""

    _index: dict[str, int]

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: psycopg.Cursor):
    if cursor.description is None:
        return tuple
    index = {d.name: i for i, d in enumerate(cursor.description)}

    def make(values: Sequence[Any]) -> _Row:
        row = _Row(values)
        row._index = index
        return row

    return make


class _NumericLoader(Loader):
    """NUMERIC as int when whole, float otherwise (SQLite never hands back a Decimal)."""

    def load(self, data) -> Any:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() and value.is_finite() else float(value)


class _BoolDumper(Dumper):
    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: bool) -> bytes:
        return b"1" if obj else b"0"


_STRING = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")")
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_INSERT_OR = re.compile(r"^\s*INSERT\s+OR\s+(REPLACE|IGNORE)\s+INTO\s+(\w+)\s*(\(([^)]*)\))?", re.I | re.S)
_JSON_EXTRACT = re.compile(r"\bjson_extract\(\s*(\w+)\s*,\s*'\$\.(\w+)'\s*\)", re.I)
_DDL = re.compile(r"^\s*(CREATE\s+TABLE|ALTER\s+TABLE)", re.I)


def _outside_strings(sql: str, fn) -> str:
    parts = _STRING.split(sql)
    return "".join(p if i % 2 else fn(p) for i, p in enumerate(parts))


def placeholders(sql: str) -> str:
    """`?` -> %s, `:name` -> %(name)s, `%` -> %% (psycopg reads % everywhere, literals included)."""
    sql = sql.replace("%", "%%")
    return _outside_strings(sql, lambda p: _NAMED.sub(r"%(\1)s", p.replace("?", "%s")))


def ddl_types(sql: str) -> str:
    def fix(part: str) -> str:
        part = re.sub(r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b",
                      "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", part, flags=re.I)
        part = re.sub(r"\bINTEGER\b", "BIGINT", part, flags=re.I)
        part = re.sub(r"\bREAL\b", "DOUBLE PRECISION", part, flags=re.I)
        return re.sub(r"\bBLOB\b", "BYTEA", part, flags=re.I)

    return _outside_strings(sql, fix) if _DDL.match(sql) else sql


class PgBackend:
    """A small pool of autocommit connections to one schema, and the translation above."""

    def __init__(self, url: str, schema: str, unavailable: type[Exception]):
        # `unavailable` is shared.store.StoreUnavailable (raised for every connection failure); it is
        # handed in rather than imported, so shared.store can import this module lazily without a circle
        self.url, self.schema, self.unavailable = url, schema, unavailable
        self._pool: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(POOL_SIZE)
        self._tables: dict[str, tuple[list[str], list[str]]] = {}
        self._sql: dict[str, str] = {}

    # -- connections --------------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection:
        extra = {} if "connect_timeout" in self.url else {"connect_timeout": CONNECT_TIMEOUT_S}
        try:
            conn = psycopg.connect(self.url, autocommit=True, row_factory=_row_factory, **extra)
        except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
            raise self.unavailable(_reason(exc)) from exc
        conn.adapters.register_loader("numeric", _NumericLoader)
        conn.adapters.register_dumper(bool, _BoolDumper)
        conn.execute(f'SET search_path TO "{self.schema}"')
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if not self._slots.acquire(timeout=CHECKOUT_TIMEOUT_S):
            raise self.unavailable(f"all {POOL_SIZE} connections busy for {CHECKOUT_TIMEOUT_S:.0f} s")
        conn = None
        try:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                conn = self._connect()
            if conn.closed or conn.broken:
                conn = self._connect()
            yield conn
        except psycopg.OperationalError as exc:
            if conn is not None:
                conn.close()
            conn = None
            raise self.unavailable(_reason(exc)) from exc
        finally:
            if conn is not None and not conn.closed:
                self._pool.put(conn)
            self._slots.release()

    def wrap(self, conn: psycopg.Connection) -> PgConnection:
        return PgConnection(self, conn)

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return

    # -- statements ---------------------------------------------------------------------------------
    def translate(self, conn: psycopg.Connection, sql: str) -> str:
        out = self._sql.get(sql)
        if out is None:
            out = placeholders(_JSON_EXTRACT.sub(r"(\1::jsonb ->> '\2')", self._upsert(conn, ddl_types(sql))))
            self._sql[sql] = out
        return out

    def _upsert(self, conn: psycopg.Connection, sql: str) -> str:
        m = _INSERT_OR.match(sql)
        if m is None:
            return sql
        kind, table, cols = m.group(1).upper(), m.group(2), m.group(4)
        head = f"INSERT INTO {table}" + (f" ({cols})" if cols else "")
        body = head + " " + sql[m.end():].lstrip()
        if kind == "IGNORE":
            return body + " ON CONFLICT DO NOTHING"
        columns, key = self.table(conn, table)
        listed = [c.strip() for c in cols.split(",")] if cols else columns
        sets = [f"{c} = EXCLUDED.{c}" if c in listed else f"{c} = DEFAULT" for c in columns if c not in key]
        action = "DO UPDATE SET " + ", ".join(sets) if sets else "DO NOTHING"
        return f"{body} ON CONFLICT ({', '.join(key)}) {action}"

    def table(self, conn: psycopg.Connection, table: str) -> tuple[list[str], list[str]]:
        """(columns in order, primary-key columns) of a table in this schema."""
        if table not in self._tables:
            cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "ORDER BY ordinal_position", (self.schema, table.lower())).fetchall()]
            key = [r[0] for r in conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
                (f'"{self.schema}".{table.lower()}',)).fetchall()]
            self._tables[table] = (cols, key)
        return self._tables[table]

    def forget_tables(self) -> None:
        self._tables.clear()
        self._sql.clear()


class PgCursor:
    """What `db.execute(...)` returns inside a transaction: fetchone/fetchall/rowcount/lastrowid."""

    def __init__(self, cur: psycopg.Cursor, lastrowid: int | None = None):
        self._cur, self.lastrowid = cur, lastrowid

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    def fetchone(self):
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self):
        return self._cur.fetchall() if self._cur.description else []

    def __iter__(self):
        return iter(self.fetchall())


class PgConnection:
    """The sqlite3.Connection surface the labs use (execute, executemany), over one psycopg connection."""

    def __init__(self, backend: PgBackend, conn: psycopg.Connection):
        self.backend, self.raw = backend, conn

    def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> PgCursor:
        translated = self.backend.translate(self.raw, sql)
        identity = None
        m = re.match(r"^\s*INSERT\s+INTO\s+(\w+)", translated, re.I)
        if m and "RETURNING" not in translated.upper():
            identity = self._identity(m.group(1))
            if identity:
                translated += f" RETURNING {identity}"
        with _errors():
            cur = self.raw.execute(translated, params)
        lastrowid = None
        if identity and cur.description:
            row = cur.fetchone()
            lastrowid = row[0] if row else None
        return PgCursor(cur, lastrowid)

    def executemany(self, sql: str, rows) -> PgCursor:
        with _errors():
            cur = self.raw.cursor()
            cur.executemany(self.backend.translate(self.raw, sql), list(rows))
        return PgCursor(cur)

    def _identity(self, table: str) -> str | None:
        key = ("identity", table)
        cache = self.backend._tables
        if key not in cache:
            rows = self.raw.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "AND is_identity = 'YES'", (self.backend.schema, table.lower())).fetchall()
            cache[key] = ([rows[0][0]] if rows else [], [])  # type: ignore[index]
        cols = cache[key][0]  # type: ignore[index]
        return cols[0] if cols else None


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except psycopg.IntegrityError as exc:
        raise PgIntegrityError(str(exc)) from exc


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"PostgreSQL unavailable: {text}"[:300]
