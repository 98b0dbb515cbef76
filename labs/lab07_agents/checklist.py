"""The production checklist, run as an audit: each item passes or fails on an agent configuration, with evidence.

    curl -s localhost:8007/checklist                 # the running service's configuration, probed live
    curl -s localhost:8007/checklist -H 'content-type: application/json' -d '{"budget": {"max_steps": 25}}'

An `AgentConfig` says what a deployed agent is set up with: its budgets, the tools (side effect,
idempotency key, compensation, approval, breaker), retries, checkpointing, injection defenses,
tracing and its queue. `running_config` builds one from this service's live objects, not from a
copy of their values: the budget and defenses a run gets when POST /runs names none, each tool's
approval rule as the runtime decides it (`Runtime._sensitive`), the breaker registry's settings,
the runs store answering a ping, the tracer recording a span, the queue's bound. `audit` then
checks every item on the config alone, so a submitted config is judged exactly as the live one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from labs.lab07_agents.injection import Defenses
from labs.lab07_agents.manager import RunManager
from labs.lab07_agents.tools import COMMIT_TOOLS, TOOLS, Tool
from shared.schemas import StrictModel
from shared.telemetry import tracer

DEFENSES = tuple(Defenses.all().as_dict())  # the six layers
MAX_RETRY_ATTEMPTS = 10  # more attempts than this turns one outage into a retry storm


class BudgetCfg(StrictModel):
    """The run's guards; None means the guard is not set."""

    max_steps: int | None = Field(None, ge=1, le=100_000)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000_000)
    max_cost_usd: float | None = Field(None, gt=0, le=100_000)
    max_wall_s: float | None = Field(None, gt=0, le=86_400)
    repeat_limit: int | None = Field(None, ge=2, le=1000, description="the loop detector")
    patience: int | None = Field(None, ge=1, le=1000, description="steps without progress before stopping")


class ToolCfg(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
    side_effect: bool = False
    idempotency_key: bool = Field(False, description="the runtime passes a derived key with every call")
    compensated_by: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
    approval: Literal["always", "over_limit", "never"] = "never"
    breaker: bool = Field(False, description="the tool has its own circuit breaker")
    role: Literal["action", "commit", "compensation"] = Field(
        "action", description="commit ends a saga (book); a compensation undoes another tool's effect")


class BreakersCfg(StrictModel):
    threshold: int | None = Field(None, ge=1, le=1000, description="failures in a row that open a breaker")
    cooldown_s: float | None = Field(None, gt=0, le=3600)


class RetryCfg(StrictModel):
    attempts: int = Field(1, ge=1, le=1000)
    jitter: Literal["full", "equal", "none"] = "none"
    only_retry_safe: bool = Field(False, description="side-effecting calls are retried only when keyed")


class CheckpointCfg(StrictModel):
    enabled: bool = False
    every: Literal["step", "run"] = "step"


class DefensesCfg(StrictModel):
    spotlight: bool = False
    detector: bool = False
    gating: bool = False
    allowlist: bool = False
    pinning: bool = False
    approval: bool = False


class TracingCfg(StrictModel):
    enabled: bool = False
    per_step: bool = Field(False, description="a span for every model call and tool call, under the run's span")


class AgentConfig(StrictModel):
    """An agent's production configuration; every field left out is the unsafe choice."""

    budget: BudgetCfg = Field(default_factory=BudgetCfg)
    deadline_s: float | None = Field(None, gt=0, le=86_400, description="passed down to every call")
    tools: list[ToolCfg] = Field(default_factory=list, max_length=100)
    breakers: BreakersCfg = Field(default_factory=BreakersCfg)
    retry: RetryCfg = Field(default_factory=RetryCfg)
    checkpoint: CheckpointCfg = Field(default_factory=CheckpointCfg)
    defenses: DefensesCfg = Field(default_factory=DefensesCfg)
    tracing: TracingCfg = Field(default_factory=TracingCfg)
    queue_size: int | None = Field(None, ge=1, le=1_000_000, description="bounded run queue (backpressure)")


@dataclass
class Item:
    id: str
    item: str
    ok: bool
    evidence: str


def _unset(obj: BaseModel, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if getattr(obj, n) is None]


def _budgets(c: AgentConfig) -> list[Item]:
    b = c.budget
    out = []
    for key, name, what in [("step_budget", "max_steps", "a step budget"), ("token_budget", "max_tokens", "a token budget"),
                            ("cost_budget", "max_cost_usd", "a cost budget")]:
        value = getattr(b, name)
        out.append(Item(key, f"{what} is set", value is not None,
                        f"budget.{name} = {value}" if value is not None else f"budget.{name} is not set"))
    missing = _unset(b, ("max_wall_s",)) + (["deadline_s"] if c.deadline_s is None else [])
    out.append(Item("wall_time", "a wall-time limit, and a deadline passed down to every call", not missing,
                    f"not set: {', '.join(missing)}" if missing else
                    f"budget.max_wall_s = {b.max_wall_s}, deadline_s = {c.deadline_s}"))
    missing = _unset(b, ("repeat_limit", "patience"))
    out.append(Item("loop_guards", "a loop detector and a no-progress guard", not missing,
                    f"not set: {', '.join(missing)}" if missing else
                    f"budget.repeat_limit = {b.repeat_limit}, budget.patience = {b.patience}"))
    return out


def _tools(c: AgentConfig) -> list[Item]:
    effects = [t for t in c.tools if t.side_effect]
    names = {t.name for t in c.tools}
    no_breaker = [t.name for t in c.tools if not t.breaker]
    unset = _unset(c.breakers, ("threshold", "cooldown_s"))
    ok = bool(c.tools) and not no_breaker and not unset
    why = ("no tools are declared" if not c.tools else
           "; ".join(filter(None, [f"no breaker: {', '.join(no_breaker)}" if no_breaker else "",
                                   f"breakers.{' and breakers.'.join(unset)} not set" if unset else ""])))
    breakers = Item("breakers_per_tool", "a circuit breaker per tool, with a threshold and a cooldown", ok,
                    why if not ok else f"{len(c.tools)} tools, each its own breaker; threshold "
                    f"{c.breakers.threshold}, cooldown {c.breakers.cooldown_s}s")
    unkeyed = [t.name for t in effects if not t.idempotency_key]
    keys = Item("idempotency_keys", "every side-effecting tool takes an idempotency key", bool(c.tools) and not unkeyed,
                "no tools are declared" if not c.tools else
                f"side effects without a key: {', '.join(unkeyed)}" if unkeyed else
                f"{len(effects)} side-effecting tools, all keyed: {', '.join(t.name for t in effects)}")
    # an action that cannot be undone (no compensation) must wait for a human; a commit ends a saga
    # whose charge already passed the approval rule, and a compensation is the undo itself
    bad_undo = [f"{t.name} -> {t.compensated_by}" for t in effects if t.compensated_by and t.compensated_by not in names]
    ungated = [t.name for t in effects if t.role == "action" and not t.compensated_by and t.approval == "never"]
    gated = [f"{t.name} ({t.approval})" for t in effects if t.approval != "never"]
    approval = Item("approval_for_irreversible",
                    "a side-effecting tool with no compensation needs human approval",
                    bool(c.tools) and not ungated and not bad_undo,
                    "no tools are declared" if not c.tools else "; ".join(filter(None, [f"irreversible, no approval: {', '.join(ungated)}" if ungated else "",
                                            f"compensation is not a tool: {', '.join(bad_undo)}" if bad_undo else ""]))
                    or f"approval: {', '.join(gated) or 'none needed'}; undone by a saga: "
                    f"{', '.join(t.name for t in effects if t.compensated_by) or 'none'}")
    return [breakers, keys, approval]


def _runtime(c: AgentConfig) -> list[Item]:
    r = c.retry
    problems = [p for p, bad in [("no retries: one transient error fails the call", r.attempts < 2),
                                 (f"attempts {r.attempts} > {MAX_RETRY_ATTEMPTS}", r.attempts > MAX_RETRY_ATTEMPTS),
                                 (f"jitter is {r.jitter}, not full", r.attempts > 1 and r.jitter != "full"),
                                 ("retries side effects that carry no key",
                                  r.attempts > 1 and not r.only_retry_safe)] if bad]
    off = [d for d in DEFENSES if not getattr(c.defenses, d)]
    cp, tr = c.checkpoint, c.tracing
    return [
        Item("retries", "bounded retries with full jitter, only where a retry cannot repeat an effect", not problems,
             "; ".join(problems) or f"{r.attempts} attempts, {r.jitter} jitter, only retry-safe calls"),
        Item("checkpointing", "the run's state is checkpointed after every step", cp.enabled and cp.every == "step",
             "checkpointing is off" if not cp.enabled else f"checkpoint every {cp.every}"),
        Item("injection_defenses", "all six injection defenses are on", not off,
             f"off: {', '.join(off)}" if off else f"on: {', '.join(DEFENSES)}"),
        Item("tracing", "tracing is on, with a span per model and tool call", tr.enabled and tr.per_step,
             "tracing is off" if not tr.enabled else "per-step spans" if tr.per_step else "one span per run only"),
        Item("backpressure", "the run queue is bounded (a full queue answers 429)", c.queue_size is not None,
             f"queue_size = {c.queue_size}" if c.queue_size is not None else "queue_size is not set: unbounded"),
    ]


def audit(config: AgentConfig) -> list[Item]:
    """Every checklist item, in the chapter's order: budgets, tools, runtime."""
    return [*_budgets(config), *_tools(config), *_runtime(config)]


def report(config: AgentConfig, source: str) -> dict[str, Any]:
    items = audit(config)
    return {"source": source, "passed": sum(i.ok for i in items), "failed": sum(not i.ok for i in items),
            "items": [vars(i) for i in items], "config": config.model_dump()}


# -- the running service, probed --------------------------------------------------------------------------

def _approval(sensitive: Callable[[Any, str, dict[str, Any]], bool], name: str) -> str:
    """Ask the runtime's own rule. It reads the arguments only for a conditional rule (pay over a limit):
    with no arguments that rule cannot decide, which is what "over_limit" means."""
    try:
        return "always" if sensitive(None, name, {}) else "never"
    except (KeyError, TypeError):
        return "over_limit"


def _undo(tool: Tool) -> str | None:
    """The tool that undoes this one (its compensation names it; the ids it would fill do not matter here)."""
    return tool.compensation({}, {"hold_id": "", "payment_id": ""})[0] if tool.compensation else None


def _store_ok(ping: Callable[[], Any]) -> bool:
    try:
        return bool(ping())
    except Exception:  # noqa: BLE001  (a store that is down fails the item, it does not fail the audit)
        return False


def running_config(manager: RunManager, run_defaults: BaseModel) -> AgentConfig:
    """The configuration a run gets from this service when POST /runs sets nothing but the task.

    `run_defaults`: the POST /runs body model built with its defaults (budget, deadline, defenses).
    """
    defenses = Defenses(**run_defaults.defenses.model_dump())
    rt = manager.runtime(defenses=defenses)
    compensations = {_undo(t) for t in TOOLS.values()} - {None}
    tools = [ToolCfg(name=t.name, side_effect=t.side_effect, idempotency_key=t.side_effect and t.keyed,
                     compensated_by=_undo(t),
                     approval=_approval(rt._sensitive, t.name) if t.side_effect else "never",
                     breaker=True,  # the runtime asks the registry for `tool:<name>`: one breaker per tool
                     role="commit" if t.name in COMMIT_TOOLS else "compensation" if t.name in compensations
                     else "action") for t in TOOLS.values()]
    span = tracer().start_span("checklist probe")  # never ended, so never exported: it only asks "recording?"
    recording = span.is_recording()
    return AgentConfig(
        budget=BudgetCfg(**run_defaults.budget.model_dump()), deadline_s=run_defaults.deadline_s, tools=tools,
        breakers=BreakersCfg(threshold=manager.registry.threshold, cooldown_s=manager.registry.cooldown_s),
        # tenacity's wait_random_exponential is full jitter; the runtime retries a tool only if Tool.retry_safe
        retry=RetryCfg(attempts=rt.attempts, jitter="full", only_retry_safe=True),
        checkpoint=CheckpointCfg(enabled=_store_ok(manager.runs.ping), every="step"),
        defenses=DefensesCfg(**defenses.as_dict()),
        tracing=TracingCfg(enabled=recording, per_step=recording),
        queue_size=manager.queue.maxsize or None)

