"""Lab-02 tests share a 2-core box: one torch thread, and torch's first optimizer step paid once."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    torch.set_num_threads(1)
    yield
