"""Incident records and a model card filled from the lab's measured numbers.

    curl -s localhost:8012/model-card

An incident record is what the on-call writes when a guard misses (or over-blocks): severity, what
happened, which audit rows show it, the status. The model card (Mitchell et al., 2019; the shape NIST
AI RMF's MAP/MEASURE functions and ISO/IEC 42001 ask a deployer to keep) states intended use, the
evaluations with their numbers, and limitations. Its numbers are never typed in: they come from the
latest finished red-team run of this service, or from the bench's results file, and the card says which.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from shared.store import Store

INCIDENTS_SCHEMA = """
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    description TEXT NOT NULL,
    audit_seqs TEXT NOT NULL,
    status TEXT NOT NULL
);
"""
TARGETS = {"over_refusal": 0.02, "harmful_compliance": 0.01}


class Incidents:
    def __init__(self, store: Store):
        self.store = store

    def record(self, title: str, severity: str, description: str, audit_seqs: list[int]) -> dict[str, Any]:
        with self.store.tx() as db:
            cur = db.execute("INSERT INTO incidents (ts, title, severity, description, audit_seqs, status) "
                             "VALUES (?, ?, ?, ?, ?, 'open')",
                             (time.time(), title, severity, description, json.dumps(audit_seqs)))
            incident_id = cur.lastrowid
        return self.get(incident_id)

    def get(self, incident_id: int) -> dict[str, Any] | None:
        row = self.store.one("SELECT * FROM incidents WHERE id=?", (incident_id,))
        if row:
            row["audit_seqs"] = json.loads(row["audit_seqs"])
        return row

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.store.query("SELECT * FROM incidents ORDER BY id DESC LIMIT ?", (limit,))
        for r in rows:
            r["audit_seqs"] = json.loads(r["audit_seqs"])
        return rows


def model_card(run: dict[str, Any] | None, source: str, model_id: str, held_out: dict[str, float] | None) -> dict[str, Any]:
    """A model card for the guarded assistant; `run` is a red-team result (summary per config)."""
    card: dict[str, Any] = {
        "model": model_id,
        "intended_use": "A support assistant for a file-sync product, behind lab-12's layered guard. Not for "
                        "medical, legal or financial advice; not for unattended tool use on untrusted content.",
        "out_of_scope": ["autonomous actions with side effects on untrusted input", "users under 13"],
        "evaluations": None,
        "targets": TARGETS,
        "limitations": [
            "Perfect defense is impossible: the guard lowers attack success, it does not remove it.",
            "The rules were written knowing the attack families; the held-out classifier recall is the honest "
            "estimate of how the guard does on a family nobody wrote a rule for.",
            "The red-team target is a mock whose obedience is a tunable policy; numbers on a real model differ.",
        ],
        "governance": {"frameworks": ["NIST AI RMF 1.0", "EU AI Act (transparency, logging)", "ISO/IEC 42001"],
                       "audit_log": "hash-chained, crypto-shredding erasure (POST /audit/verify)",
                       "incidents": "GET /incidents"},
        "source": source,
    }
    if run is not None:
        s = run["summary"]
        card["evaluations"] = {name: {"asr": v["asr"], "ci95": v["ci95"], "over_refusal": v["over_refusal"],
                                      "harmful_compliance": v["harmful_compliance"]} for name, v in s.items()}
        if "all" in s:
            best = s["all"]
            card["meets_targets"] = {"over_refusal": (best["over_refusal"] or 0) < TARGETS["over_refusal"],
                                     "harmful_compliance": best["harmful_compliance"] < TARGETS["harmful_compliance"]}
    if held_out:
        card["held_out_family_recall"] = held_out
    return card


def bench_results(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None
