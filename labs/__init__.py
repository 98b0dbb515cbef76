"""The labs, one package per chapter: `labs/labNN_<topic>/` with `app.py: create_app(settings=None)`.

    python -m labs list            # every lab, its port and make target
    python -m labs serve 06        # what `make lab-06` runs
    python -m labs up              # the mock and every lab at once (what `make up` runs)
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

LABS_DIR = Path(__file__).resolve().parent
MOCK_PORT = 8000
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


def get(key: str | int) -> Lab:
    number = int(str(key).removeprefix("lab"))
    for lab in discover():
        if lab.number == number:
            return lab
    raise KeyError(f"no lab {number:02d}; `python -m labs list` shows the labs that exist")
