"""The run's state, and its checkpoint: one SQLite row per run, rewritten after every step.

    sqlite3 .data/lab07/runs.db "SELECT id, status FROM runs"      # the runs a lab-07 service holds

Everything the runtime needs to continue is in `RunState` (the transcript, the trajectory, the
saga log, the guards' counters, the pattern's memo), so `Runtime.run(id)` after a crash picks up at
the last completed step; the idempotency keys make re-doing that step's calls harmless.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.store import Store

RUNS_SCHEMA = "CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT, state TEXT, updated REAL)"


@dataclass
class RunState:
    id: str
    task: dict[str, Any]
    pattern: str
    model: str
    budget: dict[str, Any]
    deadline_at: float
    mock: dict[str, Any] = field(default_factory=dict)
    auto_approve: bool = False
    defenses: dict[str, bool] = field(default_factory=dict)  # injection.Defenses for this run
    tool_faults: dict[str, float] = field(default_factory=dict)  # tools.ToolFaults for this run
    status: str = "queued"
    reason: str = ""
    answer: str = ""
    step: int = 0
    cost_usd: float = 0.0
    tokens: int = 0
    started_at: float = field(default_factory=time.time)
    messages: list[dict[str, Any]] = field(default_factory=list)
    trajectory: list[dict[str, Any]] = field(default_factory=list)
    saga: list[list[Any]] = field(default_factory=list)  # [tool, args, key] of side effects not yet committed
    compensated: list[dict[str, Any]] = field(default_factory=list)
    epoch: int = 0
    actions: list[str] = field(default_factory=list)
    fresh: list[bool] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    pending: dict[str, Any] | None = None  # a sensitive call waiting for a human
    counts: dict[str, int] = field(default_factory=lambda: {"hallucinated": 0, "blocked": 0, "retries": 0,
                                                            "model_calls": 0, "tool_calls": 0, "redacted": 0})
    memo: dict[str, Any] = field(default_factory=dict)  # the pattern's own state (plan, evidence, trial)
    trace: dict[str, int] = field(default_factory=dict)


class RunExists(Exception):
    """A run with this id is already stored (a client-chosen id used twice)."""


def insert(runs: Store, st: RunState) -> None:
    """Store a NEW run; never replaces one (two POSTs racing with the same id: one wins, one gets RunExists)."""
    try:
        with runs.tx() as db:
            db.execute("INSERT INTO runs VALUES (?,?,?,?)", (st.id, st.status, json.dumps(asdict(st)), time.time()))
    except sqlite3.IntegrityError as exc:
        raise RunExists(st.id) from exc


def save(runs: Store, st: RunState) -> None:
    with runs.tx() as db:
        db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?)", (st.id, st.status, json.dumps(asdict(st)),
                                                                   time.time()))


def load(runs: Store, run_id: str) -> RunState | None:
    row = runs.one("SELECT state FROM runs WHERE id=?", (run_id,))
    return RunState(**json.loads(row["state"])) if row else None
