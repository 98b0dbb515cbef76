"""Lab-07's mock plugin: the `agent` and `agent_tot` behaviours, which know this lab's travel world.

They live with the lab, not in the shared engine (shared/mockllm holds only generic behaviours).
Importing this module registers both with the mock's engine, so the in-process provider answers
`mock/agent` and `mock/agent_tot`; the lab's runtime and suite import it. A separate server loads
it with `python -m shared.mockllm --load labs.lab07_agents.mock_plugin:install`; `make mock`,
`make up` and docker-compose do that for every lab's plugin (`labs.mock_plugins()`).
"""

from __future__ import annotations

from labs.lab07_agents import mock_agent, mock_agent_tot

BEHAVIOUR_NAMES = ("agent", "agent_tot")
__all__ = ["BEHAVIOUR_NAMES", "install", "mock_agent", "mock_agent_tot"]


def install() -> None:
    """Nothing to do: `@behaviour(...)` registered both behaviours when this module was imported.

    It exists so every lab plugin is loaded the same way (`module:install`).
    """
