"""What every lab folder holds (STYLE.md), and that its worked exercises run both ways."""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys

import pytest

from labs import discover
from shared.config import REPO_ROOT, get_settings

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
def test_thin_app(lab):
    """app.py reads as a table of contents: at most 300 lines, create_app at most 60, routers built outside."""
    source = (lab.folder / "app.py").read_text()
    assert len(source.splitlines()) <= 300, f"app.py has {len(source.splitlines())} lines"
    create = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "create_app")
    assert create.end_lineno - create.lineno + 1 <= 60, f"create_app has {create.end_lineno - create.lineno + 1} lines"
    assert "fuzz_skip" not in source, "no test-only switches in production code"


# An OpenAI-compatible proxy forwards the fields it does not know (the provider judges its own API).
FORWARDS_UNKNOWN_FIELDS = {("lab09_gateway", "/v1/chat/completions"), ("lab09_gateway", "/v1/embeddings")}


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_request_bodies_reject_unknown_fields(lab, tmp_path):
    """Every JSON body schema (nested ones too) says additionalProperties: false (shared.schemas.StrictModel)."""
    app = lab.create_app(get_settings(data_dir=tmp_path))
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    loose: list[str] = []

    def visit(schema: dict, where: str, seen: set[str]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            if name not in seen:
                seen.add(name)
                visit(components[name], f"{where} {name}", seen)
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for part in schema.get(key, []):
                visit(part, where, seen)
        if schema.get("type") == "object" and "properties" in schema and schema.get("additionalProperties") is not False:
            loose.append(where)
        for sub in [*schema.get("properties", {}).values(), schema.get("items"), schema.get("additionalProperties")]:
            if isinstance(sub, dict) and sub:
                visit(sub, where, seen)

    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            body = (op.get("requestBody") or {}).get("content", {}).get("application/json")
            if body and (lab.name, path) not in FORWARDS_UNKNOWN_FIELDS:
                visit(body["schema"], f"{method.upper()} {path}:", set())
    assert not loose, "bodies that accept unknown fields: " + "; ".join(loose)


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
