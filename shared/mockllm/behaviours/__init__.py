"""One module per behaviour; importing this package registers them all with the engine.

Only generic behaviours live here. A behaviour or skill that knows one lab's world lives in that lab's
mock plugin (`labs/<lab>/mock_plugin.py`, e.g. lab-07's `agent`), loaded with `--load` (see README.md).

One import line per behaviour module (unsorted on purpose: each engineer adds one line).
"""
# ruff: noqa: I001

from shared.mockllm.behaviours import assistant  # noqa: F401
from shared.mockllm.behaviours import noisy  # noqa: F401
from shared.mockllm.behaviours import reasoning  # noqa: F401
from shared.mockllm.behaviours import judge  # noqa: F401
from shared.mockllm.behaviours import gullible  # noqa: F401
from shared.mockllm.behaviours import rag  # noqa: F401
