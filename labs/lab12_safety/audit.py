"""An append-only, hash-chained audit log of guard decisions, with erasure that keeps the chain valid.

    curl -s -X POST localhost:8012/audit/verify

    h_i = SHA-256(h_{i-1} || canonical JSON of row i),   h_0 = 64 zeros

Each row stores the decision, the layers and reasons, the subject (a user id) and
c_i = HMAC-SHA256(k_subject, text): a keyed hash of the text, never the text, in the chained row.
The text itself sits in a separate, erasable table. Editing any chained row changes its hash and
breaks every link after it (verify names the first broken row); SQLite triggers refuse UPDATE and
DELETE on the chain, so only someone going around the application can edit it at all.

GDPR's right to erasure (Art. 17) and an audit trail's immutability pull in opposite directions.
Erasing a subject deletes their texts and destroys their key k_subject (crypto-shredding): the
chained rows remain, so the chain still verifies, but c_i can no longer be linked to any text, even
by someone who guesses it (the hash is keyed). What stays is the fact that a decision was made,
when, and by which layer: what an auditor needs, and no personal content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from shared.store import Store

GENESIS = "0" * 64
AUDIT_SCHEMA = """
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    decision TEXT NOT NULL,
    layers TEXT NOT NULL,
    content_hmac TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TABLE subject_keys (subject TEXT PRIMARY KEY, key TEXT NOT NULL);
CREATE TABLE contents (seq INTEGER PRIMARY KEY, subject TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE erasures (subject_hash TEXT NOT NULL, ts REAL NOT NULL, rows INTEGER NOT NULL);
"""
CHAINED = ("seq", "ts", "subject", "kind", "decision", "layers", "content_hmac", "prev_hash")


def row_hash(row: dict[str, Any]) -> str:
    canonical = json.dumps({k: row[k] for k in CHAINED}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((row["prev_hash"] + canonical).encode()).hexdigest()


class AuditLog:
    def __init__(self, store: Store):
        self.store = store

    def _key(self, db, subject: str) -> str:
        row = db.execute("SELECT key FROM subject_keys WHERE subject=?", (subject,)).fetchone()
        if row is not None:
            return row["key"]
        key = secrets.token_hex(32)
        db.execute("INSERT INTO subject_keys (subject, key) VALUES (?, ?)", (subject, key))
        return key

    def append(self, subject: str, kind: str, decision: str, layers: list[dict[str, Any]], text: str) -> dict[str, Any]:
        with self.store.tx() as db:
            last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            key = self._key(db, subject)
            row = {"seq": (last["seq"] + 1) if last else 1, "ts": round(time.time(), 3), "subject": subject,
                   "kind": kind, "decision": decision,
                   "layers": json.dumps(layers, sort_keys=True, separators=(",", ":")),
                   "content_hmac": hmac.new(bytes.fromhex(key), text.encode(), hashlib.sha256).hexdigest(),
                   "prev_hash": last["hash"] if last else GENESIS}
            row["hash"] = row_hash(row)
            db.execute(f"INSERT INTO audit ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
            db.execute("INSERT INTO contents (seq, subject, text) VALUES (?, ?, ?)", (row["seq"], subject, text))
        return row

    def rows(self, limit: int = 50, subject: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE a.subject=?", (subject, limit)) if subject else ("", (limit,))
        out = self.store.query(f"SELECT a.*, c.text FROM audit a LEFT JOIN contents c ON c.seq = a.seq {where} "
                               f"ORDER BY a.seq DESC LIMIT ?", params)
        for r in out:
            r["layers"] = json.loads(r["layers"])
        return out

    def verify(self) -> dict[str, Any]:
        prev = GENESIS
        rows = self.store.query("SELECT * FROM audit ORDER BY seq")
        for r in rows:
            if r["prev_hash"] != prev or row_hash(r) != r["hash"]:
                return {"ok": False, "rows": len(rows), "first_bad_seq": r["seq"],
                        "why": "prev_hash does not link" if r["prev_hash"] != prev else "row content changed"}
            prev = r["hash"]
        return {"ok": True, "rows": len(rows), "head": prev}

    def erase(self, subject: str) -> dict[str, Any]:
        """Crypto-shred a subject: delete their texts and key; the chained rows (and the chain) stay."""
        with self.store.tx() as db:
            n = db.execute("DELETE FROM contents WHERE subject=?", (subject,)).rowcount
            had_key = db.execute("DELETE FROM subject_keys WHERE subject=?", (subject,)).rowcount
            db.execute("INSERT INTO erasures (subject_hash, ts, rows) VALUES (?, ?, ?)",
                       (hashlib.sha256(subject.encode()).hexdigest(), time.time(), n))
        return {"subject": subject, "texts_deleted": n, "key_destroyed": bool(had_key), "chain": self.verify()}

    def content_matches(self, seq: int, text: str) -> bool | None:
        """Does `text` match row seq's keyed hash? None once the subject's key is destroyed."""
        row = self.store.one("SELECT a.content_hmac, k.key FROM audit a LEFT JOIN subject_keys k ON k.subject = a.subject "
                             "WHERE a.seq=?", (seq,))
        if row is None or row["key"] is None:
            return None
        return hmac.compare_digest(row["content_hmac"], hmac.new(bytes.fromhex(row["key"]), text.encode(),
                                                                 hashlib.sha256).hexdigest())
