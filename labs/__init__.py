"""The labs, one package per chapter: `labs/labNN_<topic>/` with `app.py: create_app(settings=None)`.

    python -m labs list            # every lab, its port and make target
    python -m labs serve 06        # what `make lab-06` runs
    python -m labs up              # the mock and every lab at once (what `make up` runs)
    python -m labs mock            # the mock with every lab's mock plugin loaded (what `make mock` runs)

A lab whose mock needs lab-specific skills or behaviours (lab-07's travel `agent`, lab-08's golden-set
skill) keeps them in `labs/labNN_<topic>/mock_plugin.py`, which defines `install()` (registering on
import is fine; install may then do nothing). The lab's own code imports it, which is all the
in-process mock needs; `mock_plugins()` lists every plugin as `module:install`, and every server a
reader starts loads them all: `make mock`, `make up`, docker-compose (MOCK_LOAD).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

LABS_DIR = Path(__file__).resolve().parent
MOCK_PORT = 8000
MOCK_PLUGIN = "mock_plugin"  # labs/labNN_<topic>/mock_plugin.py with install()
_NAME = re.compile(r"^lab(\d{2})_[a-z0-9_]+$")


@dataclass(frozen=True)
class Lab:
    number: int
    package: str  # e.g. labs.lab06_rag

    @property
    def port(self) -> int:
        return 8000 + self.number

    @property
    def key(self) -> str:
        return f"{self.number:02d}"

    @property
    def name(self) -> str:
        return self.package.rsplit(".", 1)[1]

    @property
    def folder(self) -> Path:
        return LABS_DIR / self.name

    @property
    def mock_plugin(self) -> str | None:
        """`module:install` for this lab's mock plugin, or None when the lab has none."""
        if (self.folder / f"{MOCK_PLUGIN}.py").is_file():
            return f"{self.package}.{MOCK_PLUGIN}:install"
        return None

    def app_module(self):
        return importlib.import_module(f"{self.package}.app")

    def create_app(self, settings=None):
        return self.app_module().create_app(settings)


def discover() -> list[Lab]:
    """Every lab folder that has an app.py, in chapter order."""
    found = []
    for path in sorted(LABS_DIR.iterdir()):
        match = _NAME.match(path.name)
        if match and (path / "app.py").is_file():
            found.append(Lab(int(match.group(1)), f"labs.{path.name}"))
    return found


def mock_plugins() -> list[str]:
    """Every lab's mock plugin as a `--load` spec (`labs.lab07_agents.mock_plugin:install`), in chapter order."""
    return [lab.mock_plugin for lab in discover() if lab.mock_plugin]


def mock_argv(host: str | None = None, port: int | None = None) -> list[str]:
    """The arguments of `python -m shared.mockllm` that serve the mock with every lab's plugin loaded."""
    where = [*(["--host", host] if host else []), *(["--port", str(port)] if port else [])]
    return [*where, *(arg for spec in mock_plugins() for arg in ("--load", spec))]


def get(key: str | int) -> Lab:
    """A lab by any name a reader may type: 6, "06", "lab06", "lab-06" or its folder, "lab06_rag"."""
    text = str(key).strip().lower()
    for lab in discover():
        if text == lab.name:
            return lab
    number = re.fullmatch(r"(?:lab[-_]?)?(\d{1,2})", text)
    if number:
        for lab in discover():
            if lab.number == int(number.group(1)):
                return lab
    raise KeyError(f"no lab {str(key)!r}; `python -m labs list` shows the labs that exist")
