"""shared.store's contract, run on SQLite and on PostgreSQL: the labs' SQL means the same on both."""

import sqlite3
import threading
import time

import pytest

from shared.store import Store, StoreUnavailable

V1 = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, price REAL, note TEXT);"
V2 = "ALTER TABLE items ADD COLUMN qty INTEGER NOT NULL DEFAULT 0;"
KV = "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT, hits INTEGER NOT NULL DEFAULT 0, at REAL);"


def test_migrations_apply_in_order_once(tmp_path, store_url):
    path = tmp_path / "a.db"
    Store(path, [V1], url=store_url).execute("INSERT INTO items (name) VALUES ('a')")
    upgraded = Store(path, [V1, V2], url=store_url)
    assert upgraded.schema_version == 2
    assert upgraded.one("SELECT name, qty FROM items") == {"name": "a", "qty": 0}
    assert Store(path, [V1, V2], url=store_url).schema_version == 2  # reopening runs nothing again


def test_rows_types_and_placeholders(tmp_path, store_url):
    store = Store(tmp_path / "a.db", [V1], url=store_url)
    now = time.time()
    first = store.execute("INSERT INTO items (name, price, note) VALUES (?, ?, ?)", ("50% off", now, "it's"))
    second = store.execute("INSERT INTO items (name, price) VALUES (:name, :price)", {"name": "b", "price": 2.5})
    assert second == first + 1, "lastrowid numbers rows as SQLite does"
    row = store.one("SELECT id, name, price, note FROM items WHERE name LIKE '50%'")
    assert row == {"id": first, "name": "50% off", "price": now, "note": "it's"}, "REAL keeps a timestamp exactly"
    with store.tx() as db:
        got = db.execute("SELECT name, price FROM items ORDER BY id").fetchall()
        assert [tuple(r) for r in got] == [("50% off", now), ("b", 2.5)] and got[1]["name"] == got[1][0] == "b"
        assert db.execute("UPDATE items SET price = price * 2 WHERE name = ?", ("b",)).rowcount == 1
    totals = store.one("SELECT COUNT(*) AS n, SUM(price) AS s, AVG(id) AS a FROM items")
    assert totals["n"] == 2 and isinstance(totals["n"], int) and totals["s"] == pytest.approx(now + 5.0)
    assert isinstance(totals["a"], float | int), "an aggregate comes back as a number, never a Decimal"


def test_insert_or_replace_and_ignore(tmp_path, store_url):
    store = Store(tmp_path / "a.db", [KV], url=store_url)
    store.execute("INSERT INTO kv (k, v, hits, at) VALUES (?, ?, ?, ?)", ("a", "one", 5, 1.0))
    store.execute("INSERT OR IGNORE INTO kv (k, v) VALUES (?, ?)", ("a", "ignored"))
    assert store.one("SELECT v, hits FROM kv WHERE k='a'") == {"v": "one", "hits": 5}
    store.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", ("a", "two"))
    # REPLACE deletes the old row: columns the statement does not name are back to their defaults
    assert store.one("SELECT v, hits, at FROM kv WHERE k='a'") == {"v": "two", "hits": 0, "at": None}
    with store.tx() as db:
        db.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?)", [("a", "x", 1, 2.0), ("b", "y", 3, 4.0)])
    assert store.query("SELECT k, v, hits FROM kv ORDER BY k") == [{"k": "a", "v": "x", "hits": 1},
                                                                   {"k": "b", "v": "y", "hits": 3}]


def test_failed_transaction_leaves_no_trace(tmp_path, store_url):
    store = Store(tmp_path / "a.db", [V1], url=store_url)
    store.execute("INSERT INTO items (name) VALUES ('kept')")
    with pytest.raises(sqlite3.IntegrityError):  # PostgreSQL's unique violation, as the class labs catch
        with store.tx() as db:
            db.execute("INSERT INTO items (name) VALUES ('half')")
            db.execute("INSERT INTO items (name) VALUES ('kept')")
    assert [r["name"] for r in store.query("SELECT name FROM items")] == ["kept"]
    store.execute("INSERT INTO items (name) VALUES ('after')")  # the store is usable after a failure
    assert store.one("SELECT COUNT(*) AS n FROM items")["n"] == 2


def test_concurrent_read_modify_write_loses_nothing(tmp_path, store_url):
    """Read, decide, write inside tx() from 4 threads and 2 Store objects (two replicas): writers take
    turns, so no increment is lost; a plain read-modify-write without the lock would lose some."""
    replicas = [Store(tmp_path / "a.db", [KV], url=store_url) for _ in range(2)]
    replicas[0].execute("INSERT INTO kv (k, hits) VALUES ('n', 0)")

    def bump(store):
        for _ in range(15):
            with store.tx() as db:
                n = db.execute("SELECT hits FROM kv WHERE k='n'").fetchone()["hits"]
                db.execute("UPDATE kv SET hits = ? WHERE k='n'", (n + 1,))

    threads = [threading.Thread(target=bump, args=(replicas[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert replicas[1].one("SELECT hits FROM kv WHERE k='n'")["hits"] == 60


def test_each_store_path_is_its_own_namespace(tmp_path, store_url):
    a = Store(tmp_path / "one" / "x.db", [KV], url=store_url)
    b = Store(tmp_path / "two" / "x.db", [KV], url=store_url)
    a.execute("INSERT INTO kv (k) VALUES ('only-in-a')")
    assert b.query("SELECT k FROM kv") == [] and a.ping()


def test_an_unusable_database_url_is_unavailable_not_a_fallback(tmp_path, pg_cluster):
    dead = pg_cluster.url.rsplit(":", 1)[0] + ":1/postgres"  # nothing listens on port 1
    for url, why in ((dead, "PostgreSQL unavailable"), ("mysql://x@y/z", "not supported"),
                     (pg_cluster.url.rsplit("/", 1)[0] + "/no_such_db", "no_such_db")):
        store = Store(tmp_path / "a.db", [KV], url=url)  # constructing does not raise: the app can start
        with pytest.raises(StoreUnavailable) as exc:
            store.ping()
        assert why in str(exc.value) and exc.value.status_code == 503
        with pytest.raises(StoreUnavailable):
            store.query("SELECT 1")
    assert not (tmp_path / "a.db").exists(), "no silent fallback to a local SQLite file"
