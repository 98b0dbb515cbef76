"""Every README curl example runs, in order, against the service in-process, and shows what it says."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shared.config import get_settings
from shared.testing import readme_examples
from tests.services import SERVICES

WITH_README = [s for s in SERVICES if s.readme is not None]


@pytest.mark.parametrize("service", WITH_README, ids=str)
def test_readme_curl_examples(service, tmp_path):
    from shared.testing import check_example

    examples = readme_examples(service.readme)
    assert examples, f"{service.readme} shows no curl example"
    app = service.factory(get_settings(data_dir=tmp_path / "data"))
    with TestClient(app, raise_server_exceptions=False) as client:
        warmup = getattr(app.state, "warmup", None)
        assert warmup is None or warmup.wait(120), "start-up work did not finish"  # as `make lab-NN` + a reader
        problems = []
        for example in examples:
            problems += check_example(client, example)
    assert not problems, "\n".join(problems)


def test_every_lab_has_a_readme():
    missing = [s.name for s in SERVICES if s.readme is None]
    assert not missing, f"labs without README.md: {missing}"
