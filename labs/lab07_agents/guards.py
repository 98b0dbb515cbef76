"""Six loop-termination guards; the first one that trips stops the run and names the reason.

    python -m labs.lab07_agents.exercises      # the loop-detector exercise

| guard            | trips when                                                          |
| ---------------- | ------------------------------------------------------------------- |
| max_steps        | steps >= max_steps                                                  |
| max_cost         | cost_usd >= max_cost_usd                                            |
| max_wall_time    | elapsed_s >= max_wall_s (the run's deadline)                        |
| repeated_action  | the same (tool, arguments) was issued `repeat_limit` times in a row |
| no_progress      | `patience` steps in a row produced no new successful result         |
| token_budget     | tokens >= max_tokens                                                |
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Budget:
    max_steps: int = 25
    max_cost_usd: float = 0.05
    max_wall_s: float = 30.0
    max_tokens: int = 60_000
    repeat_limit: int = 3
    patience: int = 6

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def action_key(tool: str, args: Any) -> str:
    return tool + json.dumps(args, sort_keys=True, default=str)


def repeated_action(actions: list[str], limit: int) -> bool:
    """The loop detector: the last `limit` actions are one and the same."""
    return len(actions) >= limit and len(set(actions[-limit:])) == 1


def no_progress(fresh: list[bool], patience: int) -> bool:
    """`fresh[i]`: step i produced a successful result not seen before."""
    return len(fresh) >= patience and not any(fresh[-patience:])


def check(budget: Budget, *, steps: int, cost_usd: float, elapsed_s: float, tokens: int,
          actions: list[str], fresh: list[bool], deadline_s: float | None = None) -> str | None:
    """The reason to stop now, or None to go on.

    `deadline_s` is the run's own deadline when the caller set one shorter than `max_wall_s`: once it
    has passed, every call fails fast, and a run that went on would trip a misleading guard (the same
    call repeated, or no progress) instead of saying that time ran out.
    """
    if steps >= budget.max_steps:
        return f"max_steps: {steps} steps reached the limit of {budget.max_steps}"
    if cost_usd >= budget.max_cost_usd:
        return f"max_cost: ${cost_usd:.6f} reached the limit of ${budget.max_cost_usd}"
    wall = min(budget.max_wall_s, deadline_s) if deadline_s is not None else budget.max_wall_s
    if elapsed_s >= wall:
        return f"max_wall_time: {elapsed_s:.2f}s reached the limit of {wall:g}s"
    if repeated_action(actions, budget.repeat_limit):
        return f"repeated_action: the same call {budget.repeat_limit} times in a row"
    if no_progress(fresh, budget.patience):
        return f"no_progress: {budget.patience} steps without a new result"
    if tokens >= budget.max_tokens:
        return f"token_budget: {tokens} tokens reached the limit of {budget.max_tokens}"
    return None
