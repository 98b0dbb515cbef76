"""The travel world the agent acts on: flights, hotels, customers, holds, bookings, a payments ledger.

    python -m labs.lab07_agents.world        # seeds a world in a temp dir and prints its state

Every side-effecting operation takes an idempotency key and runs in ONE SQLite transaction with
the record of that key, so "the effect happened" and "the key was used" are never apart: a retried
`pay` with the same key returns the first payment instead of charging again, even when the first
response was lost on the way back.

The outcome of a run is judged on state (as tau-bench does), not on the agent's text:
`outcome(world)` is what changed since seeding, and `violations(world)` lists anything that must
never remain: a hold left open, a charge with no booking behind it, a hold charged twice.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from shared.store import Store

SCHEMA = """
CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);
CREATE TABLE flights (id TEXT PRIMARY KEY, origin TEXT, destination TEXT, date TEXT, depart TEXT,
                      price REAL, seats INTEGER, notes TEXT DEFAULT '');
CREATE TABLE hotels (id TEXT PRIMARY KEY, city TEXT, name TEXT, price_per_night REAL, rating REAL,
                     rooms INTEGER, description TEXT DEFAULT '');
CREATE TABLE holds (id TEXT PRIMARY KEY, customer_id TEXT, kind TEXT, item_id TEXT, nights INTEGER,
                    amount REAL, status TEXT);
CREATE TABLE payments (id TEXT PRIMARY KEY, customer_id TEXT, kind TEXT, amount REAL, ref TEXT);
CREATE TABLE bookings (id TEXT PRIMARY KEY, customer_id TEXT, hold_ids TEXT, payment_id TEXT,
                       amount REAL, status TEXT, seeded INTEGER DEFAULT 0);
CREATE TABLE policies (topic TEXT PRIMARY KEY, text TEXT);
CREATE TABLE idempotency (key TEXT PRIMARY KEY, tool TEXT, args_hash TEXT, result TEXT);
"""

CITIES = ["LON", "NYC", "PAR", "TYO", "BER", "ROM"]
ROUTES = [("LON", "NYC"), ("NYC", "LON"), ("LON", "PAR"), ("PAR", "ROM"), ("BER", "TYO"), ("TYO", "BER"),
          ("PAR", "NYC"), ("ROM", "LON")]
DATES = ["2026-05-01", "2026-05-02", "2026-05-03"]
POLICIES = {
    "baggage": "One cabin bag up to 8 kg and one checked bag up to 23 kg are included.",
    "cancellation": "Bookings can be cancelled up to 24 hours before departure for a full refund.",
    "refund": "Refunds go back to the original card within 5 business days.",
    "pets": "Small pets under 8 kg may travel in the cabin for a fee of 50 EUR.",
}


class ToolError(Exception):
    """A structured error the model can act on: a code, a message, and whether a retry may help."""

    def __init__(self, code: str, message: str, retryable: bool = False, **extra: Any):
        super().__init__(message)
        self.code, self.message, self.retryable, self.extra = code, message, retryable, extra

    def as_result(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "retryable": self.retryable, **self.extra}}


def _seed_rows() -> dict[str, list[tuple]]:
    """Deterministic data: prices and seats come from a hash, so every world is the same world."""

    def h(*parts: Any) -> int:
        return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)

    flights = []
    for origin, destination in ROUTES:
        for date in DATES:
            for depart in ("07:15", "12:40", "18:05"):
                fid = f"F{len(flights) + 1:03d}"
                price = 120 + h(fid, "price") % 500
                seats = 0 if h(fid, "seats") % 9 == 0 else 1 + h(fid, "seats") % 6
                flights.append((fid, origin, destination, date, depart, float(price), seats, ""))
    hotels = []
    for city in CITIES:
        for name in ("Central", "Garden", "Harbour"):
            hid = f"H{len(hotels) + 1:03d}"
            hotels.append((hid, city, f"{name} {city}", float(60 + h(hid, "p") % 240),
                           round(3 + (h(hid, "r") % 20) / 10, 1), 1 + h(hid, "rooms") % 5, ""))
    customers = [(f"C{i:02d}", name, f"{name.lower()}@example.com") for i, name in
                 enumerate(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"], start=1)]
    return {"flights": flights, "hotels": hotels, "customers": customers}


def seeded_bookings() -> list[dict[str, Any]]:
    """Bookings that exist before any task runs (cancellation tasks act on these)."""
    return [{"id": f"B{i:03d}", "customer_id": f"C{i:02d}", "flight_id": f"F{10 * i:03d}"} for i in range(1, 6)]


class World:
    def __init__(self, path: str | Path):
        self.store = Store(path, migrations=[SCHEMA])
        if self.store.one("SELECT COUNT(*) AS n FROM customers")["n"] == 0:
            self._seed()

    def _seed(self) -> None:
        rows = _seed_rows()
        with self.store.tx() as db:
            db.executemany("INSERT INTO flights VALUES (?,?,?,?,?,?,?,?)", rows["flights"])
            db.executemany("INSERT INTO hotels VALUES (?,?,?,?,?,?,?)", rows["hotels"])
            db.executemany("INSERT INTO customers VALUES (?,?,?)", rows["customers"])
            db.executemany("INSERT INTO policies VALUES (?,?)", list(POLICIES.items()))
            for b in seeded_bookings():
                price = db.execute("SELECT price FROM flights WHERE id=?", (b["flight_id"],)).fetchone()[0]
                hold_id, pay_id = f"S{b['id']}", f"P{b['id']}"
                db.execute("INSERT INTO holds VALUES (?,?,?,?,?,?,?)",
                           (hold_id, b["customer_id"], "flight", b["flight_id"], 0, price, "booked"))
                db.execute("INSERT INTO payments VALUES (?,?,?,?,?)", (pay_id, b["customer_id"], "charge", price,
                                                                      json.dumps([hold_id])))
                db.execute("INSERT INTO bookings VALUES (?,?,?,?,?,?,1)",
                           (b["id"], b["customer_id"], json.dumps([hold_id]), pay_id, price, "confirmed"))

    # -- read-only tools ---------------------------------------------------------------------------
    def search_flights(self, origin: str, destination: str, date: str) -> dict[str, Any]:
        rows = self.store.query("SELECT id AS flight_id, depart, price, seats, notes FROM flights WHERE "
                                "origin=? AND destination=? AND date=? AND seats>0 ORDER BY depart",
                                (origin.upper(), destination.upper(), date))
        for r in rows:
            if not r["notes"]:
                del r["notes"]
        return {"flights": rows, "cheapest": min(rows, key=lambda r: r["price"]) if rows else None,
                "earliest": rows[0] if rows else None}

    def search_hotels(self, city: str, nights: int) -> dict[str, Any]:
        rows = self.store.query("SELECT id AS hotel_id, name, price_per_night, rating, description FROM hotels "
                                "WHERE city=? AND rooms>0 ORDER BY id", (city.upper(),))
        for r in rows:
            r["total"] = r["price_per_night"] * nights
            if not r["description"]:
                del r["description"]
        return {"hotels": rows, "cheapest": min(rows, key=lambda r: r["total"]) if rows else None,
                "best_rated": max(rows, key=lambda r: r["rating"]) if rows else None}

    def get_policy(self, topic: str) -> dict[str, Any]:
        row = self.store.one("SELECT topic, text FROM policies WHERE topic=?", (topic.lower(),))
        if row is None:
            raise ToolError("not_found", f"no policy on {topic!r}", topics=sorted(POLICIES))
        return row

    def get_booking(self, booking_id: str) -> dict[str, Any]:
        row = self.store.one("SELECT id AS booking_id, customer_id, amount, status, payment_id FROM bookings "
                             "WHERE id=?", (booking_id,))
        if row is None:
            raise ToolError("not_found", f"no booking {booking_id!r}")
        return row

    # -- side effects, each keyed ----------------------------------------------------------------------
    def keyed(self, tool: str, key: str, args: dict[str, Any], effect) -> dict[str, Any]:
        """Run `effect(db)` once per key: a replay returns the stored result (a conflict if args differ)."""
        args_hash = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:16]
        with self.store.tx() as db:
            row = db.execute("SELECT tool, args_hash, result FROM idempotency WHERE key=?", (key,)).fetchone()
            if row is not None:
                if (row["tool"], row["args_hash"]) != (tool, args_hash):
                    raise ToolError("idempotency_conflict", "this key was used for a different call")
                return {**json.loads(row["result"]), "replayed": True}
            result = effect(db)
            db.execute("INSERT INTO idempotency VALUES (?,?,?,?)", (key, tool, args_hash, json.dumps(result)))
            return result

    def lookup(self, key: str) -> dict[str, Any] | None:
        """The result of the keyed call that used `key`, or None if no such call took effect."""
        row = self.store.one("SELECT result FROM idempotency WHERE key=?", (key,))
        return json.loads(row["result"]) if row else None

    @staticmethod
    def _next_id(db, table: str, prefix: str) -> str:
        n = db.execute(f"SELECT COUNT(*) FROM {table} WHERE id LIKE ?", (prefix + "%",)).fetchone()[0]  # noqa: S608
        return f"{prefix}{n + 1:04d}"

    def _customer(self, db, customer_id: str) -> None:
        if db.execute("SELECT 1 FROM customers WHERE id=?", (customer_id,)).fetchone() is None:
            raise ToolError("not_found", f"no customer {customer_id!r}")

    def hold_flight(self, customer_id: str, flight_id: str, idempotency_key: str) -> dict[str, Any]:
        def effect(db):
            self._customer(db, customer_id)
            row = db.execute("SELECT price, seats FROM flights WHERE id=?", (flight_id,)).fetchone()
            if row is None:
                raise ToolError("not_found", f"no flight {flight_id!r}")
            if row["seats"] <= 0:
                raise ToolError("sold_out", f"flight {flight_id} has no seats left")
            db.execute("UPDATE flights SET seats=seats-1 WHERE id=?", (flight_id,))
            hold_id = self._next_id(db, "holds", "HF")
            db.execute("INSERT INTO holds VALUES (?,?,?,?,?,?,?)",
                       (hold_id, customer_id, "flight", flight_id, 0, row["price"], "held"))
            return {"hold_id": hold_id, "amount": row["price"]}

        return self.keyed("hold_flight", idempotency_key, {"c": customer_id, "f": flight_id}, effect)

    def hold_hotel(self, customer_id: str, hotel_id: str, nights: int, idempotency_key: str) -> dict[str, Any]:
        def effect(db):
            self._customer(db, customer_id)
            row = db.execute("SELECT price_per_night, rooms FROM hotels WHERE id=?", (hotel_id,)).fetchone()
            if row is None:
                raise ToolError("not_found", f"no hotel {hotel_id!r}")
            if row["rooms"] <= 0:
                raise ToolError("sold_out", f"hotel {hotel_id} has no rooms left")
            db.execute("UPDATE hotels SET rooms=rooms-1 WHERE id=?", (hotel_id,))
            hold_id = self._next_id(db, "holds", "HH")
            amount = row["price_per_night"] * nights
            db.execute("INSERT INTO holds VALUES (?,?,?,?,?,?,?)",
                       (hold_id, customer_id, "hotel", hotel_id, nights, amount, "held"))
            return {"hold_id": hold_id, "amount": amount}

        return self.keyed("hold_hotel", idempotency_key, {"c": customer_id, "h": hotel_id, "n": nights}, effect)

    def _open_holds(self, db, customer_id: str, hold_ids: list[str]) -> float:
        amount = 0.0
        for hold_id in hold_ids:
            row = db.execute("SELECT customer_id, amount, status FROM holds WHERE id=?", (hold_id,)).fetchone()
            if row is None or row["customer_id"] != customer_id:
                raise ToolError("not_found", f"no hold {hold_id!r} for customer {customer_id}")
            if row["status"] != "held":
                raise ToolError("hold_not_open", f"hold {hold_id} is {row['status']}")
            amount += row["amount"]
        return amount

    def quote(self, customer_id: str, hold_ids: list[str]) -> float:
        """What `pay` would charge (the human-approval rule reads it before the call)."""
        rows = self.store.query(f"SELECT amount FROM holds WHERE customer_id=? AND id IN "  # noqa: S608
                                f"({','.join('?' * len(hold_ids))})", (customer_id, *hold_ids))
        return sum(r["amount"] for r in rows)

    def pay(self, customer_id: str, hold_ids: list[str], idempotency_key: str) -> dict[str, Any]:
        def effect(db):
            self._customer(db, customer_id)
            amount = self._open_holds(db, customer_id, hold_ids)
            for hold_id in hold_ids:  # a second charge for a hold under another key is refused too
                if db.execute("SELECT 1 FROM payments WHERE kind='charge' AND ref LIKE ?",
                              (f'%"{hold_id}"%',)).fetchone():
                    raise ToolError("already_paid", f"hold {hold_id} is already paid")
            payment_id = self._next_id(db, "payments", "PY")
            db.execute("INSERT INTO payments VALUES (?,?,?,?,?)",
                       (payment_id, customer_id, "charge", amount, json.dumps(sorted(hold_ids))))
            return {"payment_id": payment_id, "amount": amount}

        return self.keyed("pay", idempotency_key, {"c": customer_id, "h": sorted(hold_ids)}, effect)

    def book(self, customer_id: str, hold_ids: list[str], payment_id: str, idempotency_key: str) -> dict[str, Any]:
        def effect(db):
            amount = self._open_holds(db, customer_id, hold_ids)
            pay = db.execute("SELECT amount, ref FROM payments WHERE id=? AND kind='charge' AND customer_id=?",
                             (payment_id, customer_id)).fetchone()
            if pay is None or sorted(json.loads(pay["ref"])) != sorted(hold_ids) or abs(pay["amount"] - amount) > 1e-6:
                raise ToolError("payment_mismatch", f"payment {payment_id} does not cover holds {hold_ids}")
            booking_id = self._next_id(db, "bookings", "BK")
            db.executemany("UPDATE holds SET status='booked' WHERE id=?", [(h,) for h in hold_ids])
            db.execute("INSERT INTO bookings VALUES (?,?,?,?,?,?,0)",
                       (booking_id, customer_id, json.dumps(sorted(hold_ids)), payment_id, amount, "confirmed"))
            return {"booking_id": booking_id, "amount": amount}

        return self.keyed("book", idempotency_key, {"c": customer_id, "h": sorted(hold_ids), "p": payment_id}, effect)

    def _release(self, db, hold_id: str) -> None:
        row = db.execute("SELECT kind, item_id FROM holds WHERE id=?", (hold_id,)).fetchone()
        table, column = ("flights", "seats") if row["kind"] == "flight" else ("hotels", "rooms")
        db.execute(f"UPDATE {table} SET {column}={column}+1 WHERE id=?", (row["item_id"],))  # noqa: S608
        db.execute("UPDATE holds SET status='cancelled' WHERE id=?", (hold_id,))

    def cancel_hold(self, hold_id: str, idempotency_key: str) -> dict[str, Any]:
        def effect(db):
            row = db.execute("SELECT status FROM holds WHERE id=?", (hold_id,)).fetchone()
            if row is None:
                raise ToolError("not_found", f"no hold {hold_id!r}")
            if row["status"] == "held":
                self._release(db, hold_id)
            return {"hold_id": hold_id, "status": "cancelled" if row["status"] == "held" else row["status"]}

        return self.keyed("cancel_hold", idempotency_key, {"h": hold_id}, effect)

    def _refund(self, db, payment_id: str) -> dict[str, Any]:
        row = db.execute("SELECT customer_id, amount FROM payments WHERE id=? AND kind='charge'",
                         (payment_id,)).fetchone()
        if row is None:
            raise ToolError("not_found", f"no charge {payment_id!r}")
        if db.execute("SELECT 1 FROM payments WHERE kind='refund' AND ref=?", (payment_id,)).fetchone():
            return {"payment_id": payment_id, "refunded": row["amount"], "already": True}
        refund_id = self._next_id(db, "payments", "RF")
        db.execute("INSERT INTO payments VALUES (?,?,?,?,?)", (refund_id, row["customer_id"], "refund",
                                                              -row["amount"], payment_id))
        return {"payment_id": payment_id, "refund_id": refund_id, "refunded": row["amount"]}

    def refund(self, payment_id: str, idempotency_key: str) -> dict[str, Any]:
        return self.keyed("refund", idempotency_key, {"p": payment_id}, lambda db: self._refund(db, payment_id))

    def cancel_booking(self, booking_id: str, idempotency_key: str) -> dict[str, Any]:
        def effect(db):
            row = db.execute("SELECT hold_ids, payment_id, status FROM bookings WHERE id=?", (booking_id,)).fetchone()
            if row is None:
                raise ToolError("not_found", f"no booking {booking_id!r}")
            if row["status"] == "cancelled":
                return {"booking_id": booking_id, "status": "cancelled", "already": True}
            for hold_id in json.loads(row["hold_ids"]):
                self._release(db, hold_id)
            refund = self._refund(db, row["payment_id"])
            db.execute("UPDATE bookings SET status='cancelled' WHERE id=?", (booking_id,))
            return {"booking_id": booking_id, "status": "cancelled", "refunded": refund["refunded"]}

        return self.keyed("cancel_booking", idempotency_key, {"b": booking_id}, effect)

    # -- judging -----------------------------------------------------------------------------------
    def ledger(self) -> list[dict[str, Any]]:
        return self.store.query("SELECT * FROM payments ORDER BY rowid")

    def outcome(self) -> dict[str, Any]:
        """What changed since seeding, in the shape the task suite's expected states are written in."""
        new = []
        for b in self.store.query("SELECT * FROM bookings WHERE seeded=0 AND status='confirmed' ORDER BY id"):
            items = self.store.query(f"SELECT kind, item_id, nights FROM holds WHERE id IN "  # noqa: S608
                                     f"({','.join('?' * len(json.loads(b['hold_ids'])))})", json.loads(b["hold_ids"]))
            entry: dict[str, Any] = {"customer_id": b["customer_id"], "amount": b["amount"]}
            for item in items:
                if item["kind"] == "flight":
                    entry["flight_id"] = item["item_id"]
                else:
                    entry["hotel_id"], entry["nights"] = item["item_id"], item["nights"]
            new.append(entry)
        cancelled = [r["id"] for r in self.store.query("SELECT id FROM bookings WHERE seeded=1 AND "
                                                       "status='cancelled' ORDER BY id")]
        net = {r["customer_id"]: round(r["net"], 2) for r in self.store.query(
            "SELECT customer_id, SUM(amount) AS net FROM payments WHERE id NOT LIKE 'PB%' GROUP BY customer_id")
            if abs(r["net"]) > 1e-9}
        return {"new_bookings": new, "cancelled": cancelled, "net_charges": net}

    def violations(self) -> list[str]:
        """Invariants that must hold after every run, whatever happened to it."""
        out = [f"hold {r['id']} left open" for r in self.store.query("SELECT id FROM holds WHERE status='held'")]
        for r in self.store.query("SELECT p.id FROM payments p WHERE p.kind='charge' AND NOT EXISTS "
                                  "(SELECT 1 FROM bookings b WHERE b.payment_id=p.id) AND NOT EXISTS "
                                  "(SELECT 1 FROM payments r WHERE r.kind='refund' AND r.ref=p.id)"):
            out.append(f"charge {r['id']} has no booking and no refund")
        for r in self.store.query("SELECT ref, COUNT(*) AS n FROM payments WHERE kind='charge' GROUP BY ref "
                                  "HAVING n > 1"):
            out.append(f"holds {r['ref']} charged {r['n']} times")
        for r in self.store.query("SELECT ref, COUNT(*) AS n FROM payments WHERE kind='refund' GROUP BY ref "
                                  "HAVING n > 1"):
            out.append(f"charge {r['ref']} refunded {r['n']} times")
        return out


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp) / "world.db")
        print(json.dumps(world.search_flights("LON", "NYC", "2026-05-01"), indent=2))
        print("outcome:", world.outcome(), "violations:", world.violations())
