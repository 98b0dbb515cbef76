"""One Settings object, read from environment variables only.

    python -c "from shared.config import get_settings; print(get_settings().model_dump_json(indent=2))"

Importing this module sets the offline switches before LiteLLM, tiktoken, transformers or
huggingface_hub are imported anywhere, so no lab downloads anything at run time.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "fixtures"


def _litellm_tokenizer_dir() -> str | None:
    """LiteLLM ships tiktoken's cl100k/o200k/p50k files; point tiktoken there instead of the internet."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    return str(path) if path.is_dir() else None


def apply_offline_environment() -> dict[str, str]:
    """Set (without overriding a user's explicit choice) the variables that keep libraries offline."""
    wanted = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_OFFLINE_MODE": "true",
        "TOKENIZERS_PARALLELISM": "false",
        "ANONYMIZED_TELEMETRY": "false",
    }
    tok = _litellm_tokenizer_dir()
    if tok:
        wanted["TIKTOKEN_CACHE_DIR"] = tok
    for key, value in wanted.items():
        os.environ.setdefault(key, value)
    return {k: os.environ[k] for k in wanted}


OFFLINE_ENV = apply_offline_environment()


class Settings(BaseSettings):
    """Everything a lab can be told from outside. Field `llm_model` reads `LLM_MODEL`, and so on."""

    # frozen: get_settings() hands the same instance to every caller until the environment changes.
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False, frozen=True)

    llm_model: str = Field("mock/assistant", description="LiteLLM model id; mock/<behaviour> needs no server")
    llm_api_base: str | None = Field(None, description="Base URL of an OpenAI-compatible server")
    llm_api_key: str | None = Field(None, description="Key for the provider (or the gateway)")
    llm_timeout_s: float = Field(60.0, gt=0)
    embed_model: str = Field("mock/embedding", description="LiteLLM embedding model id")
    data_dir: Path = Field(REPO_ROOT / ".data", description="Where labs keep SQLite files and artefacts")
    log_level: str = "INFO"
    database_url: str | None = Field(None, description="postgresql://user:pass@host:5432/db puts the labs' state "
                                                       "(shared.store) in PostgreSQL; unset: SQLite under DATA_DIR")
    vector_store: str = Field("faiss", description="lab-06's dense index: faiss (in process) or qdrant")
    qdrant_url: str | None = Field(None, description="http://host:6333 of a Qdrant server; unset: Qdrant's "
                                                     "embedded local mode in a folder under DATA_DIR")
    qdrant_api_key: str | None = None
    # HNSW in Qdrant (VECTOR_STORE=qdrant, index kind hnsw): graph degree, build beam, search beam
    qdrant_hnsw_m: int = Field(32, ge=4, le=128, description="edges per node of Qdrant's HNSW graph")
    qdrant_hnsw_ef_construct: int = Field(80, ge=4, le=1024, description="candidates kept while building it")
    qdrant_hnsw_ef: int = Field(64, ge=1, le=4096, description="candidates kept while searching (hnsw_ef)")

    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str | None = None
    otel_traces_sampler_arg: float = 1.0

    mock_host: str = "127.0.0.1"
    mock_port: int = 8000

    def lab_dir(self, lab: str) -> Path:
        """A lab's own folder under DATA_DIR, created on first use."""
        path = Path(self.data_dir) / lab
        path.mkdir(parents=True, exist_ok=True)
        return path


_cached: tuple[tuple, Settings] | None = None


def get_settings(**overrides) -> Settings:
    """Settings from the environment as it is now; keyword overrides win (tests pass data_dir=tmp_path).

    Reading the environment through pydantic-settings costs ~1 ms, which every model call would pay,
    so the result is reused until one of the variables it reads changes.
    """
    global _cached
    if overrides:
        return Settings(**overrides)
    key = tuple(sorted((k.lower(), v) for k, v in os.environ.items() if k.lower() in Settings.model_fields))
    if _cached is None or _cached[0] != key:
        _cached = (key, Settings())
    return _cached[1]
