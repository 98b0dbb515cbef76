"""What one step of a pattern can come to: tool calls to make, a final answer, or no model to ask.

    python -c "from labs.lab07_agents.steps import Final; print(Final('done'))"

A pattern's `decide(rt, st)` returns a list of calls ([{"tool", "args", "id", "thought"}]) or `Final(text)`;
the runtime raises `ModelUnavailable` when the model cannot be reached within the run's retries and deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from labs.lab07_agents.checkpoint import RunState


@dataclass
class Final:
    """The agent's answer to the user: the run ends here."""

    text: str


class ModelUnavailable(Exception):
    """The model call failed after its retries, or its breaker is open, within the run's deadline."""


class AgentRuntime(Protocol):
    """What a pattern may ask of the runtime (runtime.Runtime is the one implementation). Patterns are
    written against this, so they need not import the runtime that imports them."""

    defenses: Any
    toolbox: Any

    def chat(self, st: RunState, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
             kind: str = "model") -> Any: ...

    def compensate(self, st: RunState, keep: set[str] | None = None) -> None: ...

    def model_tools(self, st: RunState) -> set[str]: ...

    def present(self, st: RunState, tool: str, result: dict[str, Any]) -> str: ...

    def _count(self, st: RunState, what: str) -> None: ...
