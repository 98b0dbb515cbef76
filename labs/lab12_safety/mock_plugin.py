"""Lab-12's mock plugin: the `safety_target` (the red-team target) and `safety_judge` behaviours.

    python -m shared.mockllm --load labs.lab12_safety.mock_plugin:install     # the mock over HTTP with them

They live with the lab, not in the shared engine. Importing this module registers both, so the
in-process provider answers `mock/safety_target` and `mock/safety_judge`; the lab's modules import it.
`make mock`, `make up` and docker-compose load every lab's plugin (`labs.mock_plugins()`).
"""

from __future__ import annotations

from labs.lab12_safety import mock_judge, mock_target

BEHAVIOUR_NAMES = ("safety_target", "safety_judge")
__all__ = ["BEHAVIOUR_NAMES", "install", "mock_judge", "mock_target"]


def install() -> None:
    """Nothing to do: `@behaviour(...)` registered both behaviours when this module was imported."""
