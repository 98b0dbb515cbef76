"""What every lab folder holds (STYLE.md), and that its worked exercises run both ways."""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys

import pytest

from labs import discover
from shared.config import REPO_ROOT

LABS = discover()


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_lab_folder_shape(lab):
    readme = (lab.folder / "README.md").read_text()
    body = [ln for ln in readme.splitlines() if ln.strip() and not ln.startswith("#")]
    assert body and any(ln.startswith("|") for ln in body[:6]), "README opens with a chapter -> file -> command table"
    assert "settings" in inspect.signature(lab.app_module().create_app).parameters
    assert (lab.folder / "exercises.py").is_file()
    assert (REPO_ROOT / "tests" / f"lab{lab.key}").is_dir(), "tests mirror the lab"
    assert list((REPO_ROOT / "bench").glob(f"bench_lab{lab.key}_*.py")), "a benchmark under bench/"


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_every_module_has_a_docstring(lab):
    missing = []
    for path in sorted(lab.folder.rglob("*.py")):
        tree = ast.parse(path.read_text())
        if tree.body and not ast.get_docstring(tree):
            missing.append(str(path.relative_to(REPO_ROOT)))
    assert not missing, missing


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_exercises_print_and_emit_json(lab):
    module = f"{lab.package}.exercises"
    human = subprocess.run([sys.executable, "-m", module], cwd=REPO_ROOT, capture_output=True, text=True,
                           timeout=300)
    assert human.returncode == 0, human.stderr[-2000:]
    assert len(human.stdout.strip().splitlines()) >= 6
    machine = subprocess.run([sys.executable, "-m", module, "--json"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=300)
    assert machine.returncode == 0, machine.stderr[-2000:]
    data = json.loads(machine.stdout)
    assert isinstance(data, dict) and len(data) >= 4, "one entry per worked exercise"
