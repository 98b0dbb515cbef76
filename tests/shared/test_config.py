import os

from shared.config import OFFLINE_ENV, get_settings


def test_offline_switches_are_set_before_libraries_load():
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "LITELLM_LOCAL_MODEL_COST_MAP"):
        assert os.environ[key] == OFFLINE_ENV[key]
    assert os.path.isdir(os.environ["TIKTOKEN_CACHE_DIR"])


def test_settings_come_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LLM_MODEL", "openai/gpt-4o-mini")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    s = get_settings()
    assert s.llm_model == "openai/gpt-4o-mini"
    assert s.data_dir == tmp_path
    assert s.lab_dir("lab99").is_dir()


def test_default_model_is_the_mock(monkeypatch):
    monkeypatch.delenv("LLM_MODEL", raising=False)
    assert get_settings().llm_model.startswith("mock/")
