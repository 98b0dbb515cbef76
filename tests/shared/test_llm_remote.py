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


def test_the_model_handle_reaches_a_behaviour_the_same_way_on_both_transports(live_mock, tmp_path):
    """Model.for_behaviour keeps the transport: `mock/rag` in-process, `openai/mock/rag` over HTTP; both
    answer the same question with the same words."""
    prompt = ("Sources:\n[refund-31] Refunds: The refund window for annual plans is 30 days.\n\n"
              "Question: What is the refund window for annual plans?")
    local = llm.Model.from_settings(get_settings(data_dir=tmp_path))
    remote = llm.Model.from_settings(get_settings(data_dir=tmp_path, llm_model="openai/mock/assistant",
                                                  llm_api_base=f"{live_mock}/v1", llm_api_key="k"))
    assert (local.for_behaviour("rag").id, remote.for_behaviour("rag").id) == ("mock/rag", "openai/mock/rag")
    assert local.is_mock and remote.is_mock and remote.behaviour == "assistant"
    a, b = local.for_behaviour("rag").complete(prompt).text, remote.for_behaviour("rag").complete(prompt).text
    assert a == b and "30 days" in a and "[refund-31]" in a


def test_the_model_handle_carries_its_settings_to_every_call(live_mock, tmp_path, monkeypatch):
    """Built once from Settings: the environment at call time changes nothing."""
    model = llm.Model.from_settings(get_settings(data_dir=tmp_path, llm_model="openai/mock/assistant",
                                                 llm_api_base=f"{live_mock}/v1", llm_api_key="k"))
    monkeypatch.setenv("LLM_API_BASE", "http://127.0.0.1:9/v1")  # nothing listens there
    monkeypatch.setenv("LLM_MODEL", "mock/judge")
    assert model.complete("What is 9 * 9?").text == "81"
    assert model.with_mock(variant="x").mock == {"variant": "x"} and model.mock == {}


def test_a_real_provider_keeps_its_own_model_whatever_behaviour_a_lab_asks_for(tmp_path):
    real = llm.Model.from_settings(get_settings(data_dir=tmp_path, llm_model="openai/gpt-4o-mini"))
    assert not real.is_mock and real.behaviour is None and real.for_behaviour("rag") is real
