"""The agent runtime: an explicit state machine, checkpointed in SQLite after every step.

    python -m labs.lab07_agents.cli run --task book-01 --pattern react    # one run, printed step by step

    queued -> running -> (waiting_approval -> queued -> running)* -> completed | compensated | stopped | failed

Each step: check the six guards -> the pattern decides (model calls) -> the runtime acts (tool
calls) -> checkpoint. A model call goes through the model's circuit breaker and a jittered retry,
a tool call through validation, the injection defenses, the human-approval rule, the tool's
breaker, bulkhead and retry; both get the run's remaining deadline as their timeout. Every
successful side effect pushes its compensation onto the saga; `book` commits it; any other
ending runs the compensations in reverse. Idempotency keys derive from (run, saga epoch, tool,
arguments), so a run killed at any point and resumed from its checkpoint repeats no side effect.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import labs.lab07_agents.mock_plugin  # noqa: F401  (registers the mock's `agent` and `agent_tot` in-process)
from labs.lab07_agents import guards, injection
from labs.lab07_agents.checkpoint import RunState, insert, load, save
from labs.lab07_agents.patterns import PATTERNS
from labs.lab07_agents.steps import Final, ModelUnavailable
from labs.lab07_agents.tools import COMMIT_TOOLS, TOOLS, DeadlineExceeded, ToolBox, ToolError
from shared import llm
from shared.llm import Model
from shared.resilience import BreakerOpen, Breakers, BulkheadFull, Deadline, is_transient, retry
from shared.store import Store
from shared.telemetry import tracer

TERMINAL = {"completed", "compensated", "stopped", "failed"}


class Runtime:
    def __init__(self, runs: Store, toolbox: ToolBox, registry: Breakers | None = None,
                 defenses: injection.Defenses | None = None, approval_limit: float = 1000.0, attempts: int = 4,
                 model: Model | None = None):
        self.runs, self.toolbox = runs, toolbox
        self.model = model or Model.from_settings()  # settings for every call; each run names its model id
        self.registry = registry or Breakers()
        self.defenses = defenses or injection.Defenses()
        self.approval_limit, self.attempts = approval_limit, attempts
        self.undo_grace_s = 10.0

    # -- state -------------------------------------------------------------------------------------
    def create(self, task: dict[str, Any], pattern: str, model: str, budget: guards.Budget,
               deadline_s: float, mock: dict[str, Any] | None = None, auto_approve: bool = False,
               run_id: str | None = None, **fields: Any) -> RunState:
        deadline_s = min(deadline_s, budget.max_wall_s)  # the wall-time guard is the run's deadline
        st = RunState(run_id or uuid.uuid4().hex[:12], task, pattern, model, budget.as_dict(), time.time() + deadline_s,
                      dict(mock or {}), auto_approve, **fields)
        insert(self.runs, st)  # a new row or RunExists: a reused id never overwrites a run
        return st

    def save(self, st: RunState) -> None:
        save(self.runs, st)

    def load(self, run_id: str) -> RunState | None:
        return load(self.runs, run_id)

    # -- the loop ----------------------------------------------------------------------------------
    def run(self, run_id: str) -> RunState:
        """Drive a run until it ends or waits for a human; safe to call again after a crash."""
        st = self.load(run_id)
        if st is None or st.status in TERMINAL or st.status == "waiting_approval":
            return st
        st.status = "running"
        pattern = PATTERNS[st.pattern]
        with tracer().start_as_current_span(f"invoke_agent {st.pattern}", context=self._trace_parent(st),
                                            attributes={"gen_ai.operation.name": "invoke_agent",
                                                        "gen_ai.agent.name": st.pattern, "lab07.run_id": st.id,
                                                        "gen_ai.request.model": st.model}) as span:
            if not st.trace:
                ctx = span.get_span_context()
                st.trace = {"trace_id": ctx.trace_id, "span_id": ctx.span_id}
            while st.status == "running":
                self._step(st, pattern)
                self.save(st)
            span.set_attribute("lab07.status", st.status)
        return st

    def _step(self, st: RunState, pattern) -> None:
        budget = guards.Budget(**st.budget)
        reason = guards.check(budget, steps=st.step, cost_usd=st.cost_usd, tokens=st.tokens,
                              elapsed_s=time.time() - st.started_at, actions=st.actions, fresh=st.fresh,
                              deadline_s=st.deadline_at - st.started_at)
        if reason:
            return self.finish(st, "stopped", reason)
        st.step += 1
        try:
            if st.pending is not None:
                call, st.pending = st.pending, None
                out: Any = [call]
            else:
                out = pattern.decide(self, st)
        except ModelUnavailable as exc:
            if time.time() >= st.deadline_at:  # the model was cut off by the deadline, not down
                return self.finish(st, "stopped", f"max_wall_time: the run's deadline passed during a model call "
                                                  f"({exc})")
            return self.finish(st, "failed", f"model_unavailable: {exc}")
        if isinstance(out, Final):
            st.answer = out.text
            return self.finish(st, "completed", "answered")
        fresh = False
        for call in out:
            result = self.act(st, call)
            if st.status == "waiting_approval":
                return
            key = guards.action_key(call["tool"], call["args"])
            if "error" not in result and key not in st.seen:
                st.seen.append(key)
                fresh = True
            pattern.observe(self, st, call, result)
        st.fresh.append(fresh)

    def finish(self, st: RunState, status: str, reason: str) -> None:
        """End the run; an unfinished saga is undone first, and a run that had to undo says so."""
        undone = len(st.compensated)
        self.compensate(st)
        st.status = "compensated" if status != "stopped" and len(st.compensated) > undone else status
        st.reason = reason

    def compensate(self, st: RunState, keep: set[str] | None = None) -> None:
        """Undo, newest first, every logged call whose key shows it took effect (except ids in `keep`).

        The saga logs each call with its key BEFORE it runs, so a call whose reply was lost (or a
        process killed mid-call) is still found and undone; undo calls are keyed too.
        """
        grace = Deadline(self.undo_grace_s)  # undo gets its own time: the run's deadline may be what ended it
        while st.saga:
            tool, args, key = st.saga[-1]
            done = self.toolbox.world.lookup(key)
            undo = TOOLS[tool].compensation(args, done) if done else None
            if undo and not (keep and set(map(str, undo[1].values())) & keep):
                try:
                    result = self._call_tool(st, TOOLS[undo[0]], undo[1], self._key(st, "undo", undo[1]), grace)
                except (ToolError, BreakerOpen, BulkheadFull, DeadlineExceeded) as exc:
                    if (not isinstance(exc, ToolError) or exc.retryable) and not grace.expired:
                        time.sleep(0.05)  # an undo must happen: wait out the breaker or bulkhead, then retry
                        continue
                    result = {"error": str(exc)}  # left for a human: GET /ledger shows the violation
                st.compensated.append({"tool": undo[0], "args": undo[1], "result": result})
            st.saga.pop()
            self.save(st)
        st.epoch += 1

    # -- model calls ---------------------------------------------------------------------------------
    def chat(self, st: RunState, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
             kind: str = "model") -> llm.Completion:
        deadline = Deadline(st.deadline_at - time.time())
        breaker = self.registry.breaker(f"model:{st.model}")

        model = self.model.with_model(st.model)

        def once() -> llm.Completion:
            return breaker.call(lambda: model.complete(messages, tools=tools or None, mock=st.mock or None,
                                                       timeout=max(0.05, deadline.remaining())),
                                counts=is_transient)  # a 400 is this run's fault, not the model's health

        start = time.perf_counter()
        try:
            c = retry(once, retryable=is_transient, deadline=deadline, attempts=self.attempts, base_s=0.02,
                      cap_s=0.5, on_retry=lambda n, e: self._count(st, "retries"))
        except Exception as exc:
            raise ModelUnavailable(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
        st.counts["model_calls"] += 1
        st.tokens += c.usage.input_tokens + c.usage.output_tokens
        st.cost_usd += c.cost_usd
        st.trajectory.append({"step": st.step, "kind": kind, "thought": (c.text or "")[:500],
                              "tool_calls": [{"tool": t.name, "args": t.arguments} for t in c.tool_calls],
                              "latency_s": round(time.perf_counter() - start, 4), "cost_usd": c.cost_usd,
                              "tokens": c.usage.input_tokens + c.usage.output_tokens})
        return c

    # -- tool calls ----------------------------------------------------------------------------------
    def act(self, st: RunState, call: dict[str, Any]) -> dict[str, Any]:
        """Execute one call the model asked for; every failure becomes a structured error result."""
        name, start, args = call["tool"], time.perf_counter(), call["args"]
        st.actions.append(guards.action_key(name, args))
        try:
            tool, args = self.toolbox.validate(name, args)
            name = tool.name  # a namespaced name (booking__pay) is the tool it names, for approval and commit
            if why := injection.blocked(self.defenses, st.task, name, args):
                self._count(st, "blocked")
                raise ToolError("blocked", why, tools=sorted(self.model_tools(st)))
            if call.get("rejected"):
                raise ToolError("rejected", "a human rejected this call")
            if self._sensitive(st, name, args) and not call.get("approved") and not st.auto_approve:
                st.pending, st.status = {**call, "args": args}, "waiting_approval"
                return {}
            key = self._key(st, name, args)
            if tool.compensation:
                st.saga.append([name, args, key])
                self.save(st)  # write-ahead: the saga knows about the call before it can take effect
            result = self._call_tool(st, tool, args, key)
            if name in COMMIT_TOOLS:  # committed: undo only what the booking did not use, then forget
                self.compensate(st, keep={*args["hold_ids"], args["payment_id"]})
        except ToolError as exc:
            if exc.code in ("unknown_tool", "invalid_arguments"):
                self._count(st, "hallucinated")
            result = exc.as_result()
        except (BreakerOpen, BulkheadFull, DeadlineExceeded) as exc:
            result = ToolError(type(exc).__name__, str(exc), retryable=not isinstance(exc, DeadlineExceeded)).as_result()
        st.counts["tool_calls"] += 1
        st.trajectory.append({"step": st.step, "kind": "tool", "thought": call.get("thought", ""), "tool": name,
                              "args": args, "result": result,
                              "latency_s": round(time.perf_counter() - start, 4), "cost_usd": 0.0})
        return result

    def _sensitive(self, st: RunState, name: str, args: dict[str, Any]) -> bool:
        if not self.defenses.approval:
            return False
        if name in ("cancel_booking", "refund"):
            return True
        return name == "pay" and self.toolbox.world.quote(args["customer_id"], args["hold_ids"]) > self.approval_limit

    def _call_tool(self, st: RunState, tool, args: dict[str, Any], key: str,
                   deadline: Deadline | None = None) -> dict[str, Any]:
        deadline = deadline or Deadline(st.deadline_at - time.time())
        breaker, bulkhead = self.registry.breaker(f"tool:{tool.name}"), self.registry.bulkhead(tool.name)

        def once() -> dict[str, Any]:
            if deadline.expired:
                raise DeadlineExceeded(f"deadline passed before {tool.name}")
            return bulkhead.run(lambda: breaker.call(lambda: self.toolbox.execute(
                tool, args, key, deadline.remaining())), wait_s=deadline.remaining())

        def retryable(exc: Exception) -> bool:
            return tool.retry_safe and (isinstance(exc, BulkheadFull) or getattr(exc, "retryable", False))

        with tracer().start_as_current_span(f"execute_tool {tool.name}", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool.name,
                "gen_ai.tool.type": "function", "lab07.idempotency_key": key}) as span:
            try:
                return retry(once, retryable=retryable, deadline=deadline, attempts=self.attempts, base_s=0.02,
                             cap_s=0.5, on_retry=lambda n, e: self._count(st, "retries"))
            except Exception as exc:
                span.set_attribute("error.type", getattr(exc, "code", type(exc).__name__))
                raise

    def model_tools(self, st: RunState) -> set[str]:
        return injection.allowed_tools(self.defenses, st.task)

    def present(self, st: RunState, tool: str, result: dict[str, Any]) -> str:
        text, found = injection.present(self.defenses, tool, result)
        st.counts["redacted"] += found
        return text

    def _key(self, st: RunState, name: str, args: dict[str, Any]) -> str:
        material = json.dumps([st.id, st.epoch, name, args], sort_keys=True)
        return hashlib.sha256(material.encode()).hexdigest()[:24]

    def _count(self, st: RunState, what: str) -> None:
        st.counts[what] = st.counts.get(what, 0) + 1

    def _trace_parent(self, st: RunState):
        if not st.trace:
            return None
        ctx = SpanContext(st.trace["trace_id"], st.trace["span_id"], is_remote=True,
                          trace_flags=TraceFlags(TraceFlags.SAMPLED))
        return trace.set_span_in_context(NonRecordingSpan(ctx))

    # -- human in the loop ---------------------------------------------------------------------------
    def decide_pending(self, run_id: str, approve: bool) -> RunState | None:
        st = self.load(run_id)
        if st is None or st.status != "waiting_approval" or st.pending is None:
            return st
        st.pending[("approved" if approve else "rejected")] = True
        st.status = "queued"
        self.save(st)
        return st
