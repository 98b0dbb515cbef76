"""Every service under test: the mock provider and each lab discovered under labs/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from labs import discover
from shared.config import REPO_ROOT, Settings


@dataclass(frozen=True)
class ServiceUnderTest:
    name: str
    readme: Path | None
    factory: Callable[[Settings], FastAPI]

    def __str__(self) -> str:
        return self.name


def _mock_factory(settings: Settings) -> FastAPI:
    from shared.mockllm.server import create_app

    return create_app(settings)


def services() -> list[ServiceUnderTest]:
    mock_readme = REPO_ROOT / "shared" / "mockllm" / "README.md"
    out = [ServiceUnderTest("mockllm", mock_readme if mock_readme.exists() else None, _mock_factory)]
    for lab in discover():
        readme = lab.folder / "README.md"
        out.append(ServiceUnderTest(lab.name, readme if readme.exists() else None, lab.create_app))
    return out


SERVICES = services()
