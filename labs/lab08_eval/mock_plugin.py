"""Lab-08's mock plugin: the skill on `assistant` that answers the golden sets (see `candidates.py`).

`install()` registers it; a separate server loads it with
`python -m shared.mockllm --load labs.lab08_eval.mock_plugin:install`, and `make mock`, `make up` and
docker-compose do that for every lab's plugin (`labs.mock_plugins()`).
"""

from __future__ import annotations

from labs.lab08_eval.candidates import install

__all__ = ["install"]
