import sqlite3
import threading

import pytest

from shared.store import Store

V1 = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
V2 = "ALTER TABLE items ADD COLUMN qty INTEGER NOT NULL DEFAULT 0;"


def test_wal_and_busy_timeout(tmp_path):
    store = Store(tmp_path / "a.db", [V1])
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_migrations_apply_in_order_once(tmp_path):
    path = tmp_path / "a.db"
    Store(path, [V1]).execute("INSERT INTO items (name) VALUES ('a')")
    upgraded = Store(path, [V1, V2])
    assert upgraded.schema_version == 2
    assert upgraded.one("SELECT name, qty FROM items") == {"name": "a", "qty": 0}
    again = Store(path, [V1, V2])  # reopening does not re-run migrations
    assert again.schema_version == 2


def test_failed_transaction_leaves_no_trace(tmp_path):
    store = Store(tmp_path / "a.db", [V1])
    store.execute("INSERT INTO items (name) VALUES ('kept')")
    with pytest.raises(sqlite3.IntegrityError):
        with store.tx() as db:
            db.execute("INSERT INTO items (name) VALUES ('half')")
            db.execute("INSERT INTO items (name) VALUES ('kept')")  # UNIQUE violation
    assert [r["name"] for r in store.query("SELECT name FROM items")] == ["kept"]


def test_concurrent_writers_do_not_lose_rows(tmp_path):
    store = Store(tmp_path / "a.db", [V1])

    def write(prefix):
        for i in range(50):
            store.execute("INSERT INTO items (name) VALUES (?)", (f"{prefix}-{i}",))

    threads = [threading.Thread(target=write, args=(p,)) for p in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.one("SELECT COUNT(*) AS n FROM items")["n"] == 200
