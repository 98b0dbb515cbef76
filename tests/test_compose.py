"""docker-compose.yml and the collector/Prometheus configs, checked without Docker (none runs here)."""

from __future__ import annotations

import importlib.util
import re

import yaml

from labs import discover, mock_plugins
from shared.config import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _module_of(command: list[str]) -> str:
    assert command[:2] == ["python", "-m"], command
    return command[2]


def test_every_command_names_a_real_module():
    for name, service in SERVICES.items():
        if "command" not in service or service.get("image", "").startswith(("otel/", "jaegertracing/", "prom/")):
            continue
        module = _module_of(service["command"])
        assert importlib.util.find_spec(module) is not None, f"{name}: no module {module}"


def test_every_lab_has_a_service_on_its_port():
    by_port = {}
    for name, service in SERVICES.items():
        for mapping in service.get("ports", []):
            by_port[int(str(mapping).split(":")[0].split("-")[0])] = name
    for lab in discover():
        assert lab.port in by_port, f"{lab.name} has no compose service on {lab.port}"
        command = SERVICES[by_port[lab.port]]["command"]
        assert command[3:5] == ["serve", lab.key] and str(lab.port) in command
    assert 8000 in by_port and by_port[8000] == "mock"


def test_the_mock_loads_every_lab_plugin():
    """MOCK_LOAD names exactly the plugins `make mock` and `make up` load, so the labs find their behaviours."""
    loads = SERVICES["mock"]["environment"]["MOCK_LOAD"].split(",")
    assert loads == mock_plugins() and loads
    for spec in loads:
        module, _, fn = spec.partition(":")
        assert importlib.util.find_spec(module) is not None and fn == "install", spec


def test_ports_are_unique():
    seen = []
    for service in SERVICES.values():
        seen += [str(p).split(":")[0] for p in service.get("ports", [])]
    assert len(seen) == len(set(seen)), seen


def test_labs_point_at_the_collector_and_the_mock():
    for lab in discover():
        env = next(s for s in SERVICES.values() if str(lab.port) in str(s.get("ports")))["environment"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
        assert env["LLM_API_BASE"] == "http://mock:8000/v1"


def test_collector_forwards_traces_to_jaeger():
    config = yaml.safe_load((REPO_ROOT / "deploy" / "otel-collector.yaml").read_text())
    pipeline = config["service"]["pipelines"]["traces"]
    assert "otlp" in pipeline["receivers"]
    assert any(e.startswith("otlp/jaeger") for e in pipeline["exporters"])
    assert config["exporters"]["otlp/jaeger"]["endpoint"].startswith("jaeger:")
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")


def test_prometheus_scrapes_every_metrics_endpoint():
    config = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    for name, service in SERVICES.items():
        for mapping in service.get("ports", []):
            port = str(mapping).split(":")[0]
            if re.fullmatch(r"80\d\d", port):
                assert f"{name}:{port}" in targets, f"Prometheus does not scrape {name}:{port}"
