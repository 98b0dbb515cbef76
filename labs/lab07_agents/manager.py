"""The run queue behind the HTTP service: bounded (backpressure), a few workers, resume on start.

    curl -s localhost:8007/runs -H 'content-type: application/json' -d '{"task": "book-01"}'   # 429 when full

A bounded queue is the backpressure: when `queue_size` runs are already waiting, a new run is
refused with 429 and a Retry-After instead of piling up until every run misses its deadline. On
start, runs the previous process left queued or running are put back on the queue: their
checkpoints carry everything needed to continue.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from labs.lab07_agents.checkpoint import RunState
from labs.lab07_agents.guards import Budget
from labs.lab07_agents.injection import Defenses
from labs.lab07_agents.runtime import TERMINAL, Runtime
from labs.lab07_agents.tools import ToolBox, ToolFaults
from labs.lab07_agents.world import World
from shared.llm import Model
from shared.resilience import Breakers
from shared.store import Store


class QueueFull(Exception):
    pass


class RunManager:
    def __init__(self, world: World, runs: Store, registry: Breakers, workers: int = 2, queue_size: int = 8,
                 model: Model | None = None):
        self.world, self.runs, self.registry = world, runs, registry
        self.model = model or Model.from_settings()
        self.queue: queue.Queue[str] = queue.Queue(maxsize=queue_size)
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.workers = workers

    def start(self) -> None:
        for _ in range(self.workers):
            t = threading.Thread(target=self._work, daemon=True)
            t.start()
            self._threads.append(t)
        for row in self.runs.query("SELECT id FROM runs WHERE status IN ('queued', 'running') ORDER BY updated"):
            try:
                self.queue.put_nowait(row["id"])
            except queue.Full:
                break

    def stop(self) -> None:
        self._stop.set()

    def runtime(self, st: RunState | None = None, defenses: Defenses | None = None,
                tool_faults: dict[str, float] | None = None) -> Runtime:
        faults = ToolFaults(**(tool_faults if tool_faults is not None else st.tool_faults if st else {}))
        d = defenses or (Defenses(**st.defenses) if st and st.defenses else Defenses())
        return Runtime(self.runs, ToolBox(self.world, faults), self.registry, d, model=self.model)

    def submit(self, task: dict[str, Any], pattern: str, model: str, budget: Budget, deadline_s: float,
               mock: dict[str, Any], tool_faults: dict[str, float], defenses: Defenses,
               auto_approve: bool, run_id: str | None = None) -> RunState:
        if self.queue.full():
            raise QueueFull(f"{self.queue.maxsize} runs are already waiting")
        rt = self.runtime(defenses=defenses, tool_faults=tool_faults)
        st = rt.create(task, pattern, model, budget, deadline_s, mock, auto_approve, run_id,
                       defenses=defenses.as_dict(), tool_faults=dict(tool_faults))
        try:
            self.enqueue(st.id)
        except QueueFull:  # another request took the last slot: this run was never accepted, so it is not kept
            self.runs.execute("DELETE FROM runs WHERE id=?", (st.id,))
            raise
        return st

    def decide(self, st: RunState, approve: bool) -> RunState:
        """Record a human's decision and queue the run; a full queue leaves the run waiting, decision unrecorded."""
        rt = self.runtime(st)
        pending = dict(st.pending or {})
        st = rt.decide_pending(st.id, approve)
        try:
            self.enqueue(st.id)
        except QueueFull:
            st.status, st.pending = "waiting_approval", pending  # as it was: the client can retry the decision
            rt.save(st)
            raise
        return st

    def enqueue(self, run_id: str) -> None:
        try:
            self.queue.put_nowait(run_id)
        except queue.Full as exc:
            raise QueueFull("the run queue is full") from exc

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                run_id = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            st = self.runtime().load(run_id)
            if st is not None:
                self.runtime(st).run(run_id)

    def wait(self, run_id: str, timeout_s: float) -> RunState | None:
        """Block until the run ends or waits for a human (what `"wait": true` does)."""
        end = time.monotonic() + timeout_s
        while True:
            st = self.runtime().load(run_id)
            if st is None or st.status in TERMINAL or st.status == "waiting_approval" or time.monotonic() > end:
                return st
            time.sleep(0.02)

