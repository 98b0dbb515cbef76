"""One module per behaviour; importing this package registers them all with the engine."""

from shared.mockllm.behaviours import assistant  # noqa: F401
