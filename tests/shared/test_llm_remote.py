"""The same shared.llm calls against an OpenAI-compatible server: what `LLM_MODEL=openai/...` does."""

from shared import llm
from shared.config import get_settings


def test_openai_provider_path_against_the_mock_over_http(live_mock, tmp_path):
    settings = get_settings(data_dir=tmp_path, llm_model="openai/mock/assistant",
                            llm_api_base=f"{live_mock}/v1", llm_api_key="not-a-real-key")
    result = llm.complete("What is 9 * 9?", settings=settings)
    assert result.text == "81"
    assert result.usage.input_tokens > 0 and result.cost_usd > 0  # priced as mock/* through the openai/ prefix
    streamed = list(llm.stream("What is the capital of Italy?", settings=settings))
    assert "".join(e.delta for e in streamed) == "Rome" and streamed[-1].completion.usage.output_tokens > 0
    vectors = llm.embed(["a b c"], settings=settings, model="openai/mock/embedding")
    assert len(vectors[0]) > 0


def test_faults_travel_as_headers(live_mock, tmp_path):
    settings = get_settings(data_dir=tmp_path, llm_model="openai/mock/assistant",
                            llm_api_base=f"{live_mock}/v1", llm_api_key="k")
    try:
        llm.complete("hi", settings=settings, mock={"error_status": 429})
    except Exception as exc:  # LiteLLM maps the server's 429 to its RateLimitError
        assert "RateLimit" in type(exc).__name__
    else:
        raise AssertionError("a 429 fault must raise")
