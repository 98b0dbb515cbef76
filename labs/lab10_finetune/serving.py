"""Merge, multi-adapter serving and generation: `curl -s localhost:8010/generate -d '{"prompt": "2+3="}'`.

One base model stays in memory; every adapter trained on it is loaded beside the others
(peft `load_adapter`) and chosen per request with `set_adapter`, so N adapters cost one base plus
N small A·B pairs instead of N full copies. Merging folds B·A·α/r into W for a plain checkpoint
that serves at base-model speed but carries one adapter only.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from labs.lab10_finetune import model as M


def list_models(models_dir: Path) -> dict[str, list[dict[str, Any]]]:
    bases = [{"name": M.BASE_NAME, "built": (models_dir / M.BASE_NAME / "config.json").is_file()}]
    adapters, reward_models = [], []
    if models_dir.is_dir():
        for path in sorted(models_dir.iterdir()):
            if path.name.startswith("."):  # a trainer's partial output, or the build lock
                continue
            if path.name != M.BASE_NAME and (path / "config.json").is_file():
                bases.append({"name": path.name, "built": True})
            if (path / "reward" / "config.json").is_file():
                reward_models.append({"name": path.name})
            cfg = path / "adapter" / "adapter_config.json"
            if cfg.is_file():
                meta = json.loads(cfg.read_text())
                adapters.append({"name": path.name, "base": Path(meta.get("base_model_name_or_path", "")).name,
                                 "r": meta.get("r"), "lora_alpha": meta.get("lora_alpha")})
    return {"bases": bases, "adapters": adapters, "reward_models": reward_models}


def warm() -> str:
    """Pay transformers' and peft's imports (seconds) at start-up, not on the first /generate."""
    import transformers

    M.import_libraries()  # heavy: paid here, in the warmup thread, behind the lock a request's import also takes

    return f"transformers {transformers.__version__}"


class Server:
    """Keeps one PeftModel per base path, with every requested adapter loaded into it."""

    def __init__(self, models_dir: Path):
        self.models_dir = models_dir
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    def generate(self, base: str, adapter: str | None, prompts: list[str], max_new_tokens: int) -> list[str]:
        from peft import PeftModel

        with self._lock:
            if base not in self._loaded:
                self._loaded[base] = M.load(base)
            model, tok = self._loaded[base]
            if adapter is None:
                if isinstance(model, PeftModel):
                    with model.disable_adapter():
                        return M.generate(model, tok, prompts, max_new_tokens)
                return M.generate(model, tok, prompts, max_new_tokens)
            path = str(self.models_dir / adapter / "adapter")
            if not isinstance(model, PeftModel):
                model = PeftModel.from_pretrained(model, path, adapter_name=adapter).eval()
                self._loaded[base] = (model, tok)
            elif adapter not in model.peft_config:
                model.load_adapter(path, adapter_name=adapter)
            model.set_adapter(adapter)
            return M.generate(model, tok, prompts, max_new_tokens)
