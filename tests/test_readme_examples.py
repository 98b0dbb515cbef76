"""Every README curl example runs, in order, against the service in-process, and shows what it says."""

from __future__ import annotations

import pytest

from shared.config import get_settings
from shared.testing import readme_examples
from tests.services import SERVICES, warm_client

WITH_README = [s for s in SERVICES if s.readme is not None]


@pytest.mark.parametrize("service", WITH_README, ids=str)
def test_readme_curl_examples(service, tmp_path):
    from shared.testing import check_example

    examples = readme_examples(service.readme)
    assert examples, f"{service.readme} shows no curl example"
    app = service.factory(get_settings(data_dir=tmp_path / "data"))
    with warm_client(app) as client:  # as `make lab-NN`, then a reader
        problems = []
        for example in examples:
            problems += check_example(client, example)
    assert not problems, "\n".join(problems)


def _calls_a_model(service) -> bool:
    """A lab whose code imports the model layer; the others answer the same on any transport."""
    return any("shared.llm" in path.read_text(encoding="utf-8") for path in service.readme.parent.rglob("*.py"))


LABS_WITH_A_MODEL = [s for s in WITH_README if s.name.startswith("lab") and _calls_a_model(s)]


@pytest.mark.slow
@pytest.mark.parametrize("service", LABS_WITH_A_MODEL, ids=str)
def test_readme_examples_give_the_same_answers_with_the_mock_over_http(service, tmp_path, live_mock):
    """As docker-compose runs the labs: LLM_MODEL=openai/mock/assistant with LLM_API_BASE at the mock
    server. A lab that picks its own mock behaviour must find it on this transport too, so every README
    example shows the same answers; only the model's address differs (`openai/mock/x` for `mock/x`)."""
    from shared.testing import check_example

    settings = get_settings(data_dir=tmp_path / "data", llm_model="openai/mock/assistant",
                            llm_api_base=f"{live_mock}/v1", llm_api_key="mock-key",
                            embed_model="openai/mock/embedding")
    app = service.factory(settings)
    with warm_client(app) as client:
        problems = []
        for example in readme_examples(service.readme):
            problems += check_example(client, example, rewrite=lambda text: text.replace("openai/mock/", "mock/"))
    assert not problems, "\n".join(problems)


def test_every_lab_has_a_readme():
    missing = [s.name for s in SERVICES if s.readme is None and s.name.startswith("lab")]
    assert not missing, f"labs without README.md: {missing}"


def test_the_labs_that_call_a_model_are_run_over_http_too():
    """The transport test must not silently shrink: the labs whose READMEs show model answers are in it."""
    names = {s.name for s in LABS_WITH_A_MODEL}
    assert {"lab05_patterns", "lab06_rag", "lab07_agents", "lab08_eval", "lab09_gateway"} <= names
