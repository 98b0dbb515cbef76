"""What one step of a pattern can come to: tool calls to make, a final answer, or no model to ask.

    python -c "from labs.lab07_agents.steps import Final; print(Final('done'))"

A pattern's `decide(rt, st)` returns a list of calls ([{"tool", "args", "id", "thought"}]) or `Final(text)`;
the runtime raises `ModelUnavailable` when the model cannot be reached within the run's retries and deadline.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Final:
    """The agent's answer to the user: the run ends here."""

    text: str


class ModelUnavailable(Exception):
    """The model call failed after its retries, or its breaker is open, within the run's deadline."""
