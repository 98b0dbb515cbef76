"""shared.llm through LiteLLM to the in-process mock, with GenAI spans and metrics recorded."""

import pytest
from pydantic import BaseModel

from shared import llm
from shared.telemetry import query_spans, setup_telemetry


@pytest.fixture(autouse=True)
def _telemetry(settings):
    setup_telemetry(settings)


def test_complete_records_a_genai_span():
    result = llm.complete("What is 19 + 23?", temperature=0, seed=1)
    assert result.text == "42"
    assert result.usage.input_tokens > 0 and result.cost_usd > 0
    span = query_spans(name="chat mock/assistant", limit=1)[0]
    attrs = span["attributes"]
    assert span["kind"] == "CLIENT"
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "mock"
    assert "gen_ai.system" not in attrs
    assert attrs["gen_ai.request.model"] == "mock/assistant"
    assert attrs["gen_ai.usage.input_tokens"] == result.usage.input_tokens
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert attrs["gen_ai.request.temperature"] == 0


def test_errors_set_error_type():
    with pytest.raises(Exception) as caught:  # noqa: B017  (LiteLLM's class for 503 varies by version)
        llm.complete("hello", mock={"error_status": 503})
    span = query_spans(name="chat mock/assistant", limit=1)[0]
    assert span["status"] == "ERROR"
    assert span["attributes"]["error.type"] == type(caught.value).__name__


def test_stream_ends_with_usage():
    events = list(llm.stream("What is the capital of Japan?"))
    assert "".join(e.delta for e in events) == "Tokyo"
    final = events[-1]
    assert final.done and final.completion.usage.output_tokens >= 1


def test_embed_and_structured():
    vectors = llm.embed(["password reset", "reset my password", "quarterly revenue"])
    import numpy as np

    a, b, c = (np.array(v) for v in vectors)
    assert a @ b > a @ c

    class Person(BaseModel):
        name: str
        age: int

    out = llm.structured("Grace Hopper is 85 years old", Person)
    assert out.value.model_dump() == {"name": "Grace Hopper", "age": 85}
    assert out.attempts == 1 and out.usage.input_tokens > 0


def test_metrics_exposed_in_prometheus():
    from prometheus_client import REGISTRY, generate_latest

    llm.complete("What is 1 + 1?")
    text = generate_latest(REGISTRY).decode()
    assert "gen_ai_client_token_usage" in text and "gen_ai_client_operation_duration" in text
