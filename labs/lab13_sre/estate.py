"""The fictional production estate and its incidents: services, owners, runbooks, and telemetry that agrees.

    python -m labs.lab13_sre.estate INC-2041          # one incident: alerts, deploys, logs, the truth
    curl -s localhost:8013/incidents/INC-2041

`fixtures/lab13/estate.yaml` holds the estate (13 services, 7 teams, who calls whom, the runbook's
first line); `fixtures/lab13/incidents.yaml` holds hand-written incident specs (cause, root service,
onset, magnitude). `render(spec)` turns a spec into consistent telemetry over one hour at one-minute
steps: per-service request rate, error ratio, p99 latency, CPU, memory and `up`; the alerts those
series fire (with duplicates from two pods and unrelated noise); log lines; deploys and config
changes (innocent ones included, some on symptom services, to mislead); and the truth (root service,
cause, owning team, severity). `generate(n, seed)` makes more specs from the same templates.

Propagation: a fault at service r raises the error ratio of every service that calls r, directly or
not, attenuated by `HOP_DECAY` per hop, and adds latency the same way; the root cause is therefore
the deepest alerting service, not the loudest one.
Severity (the truth): SEV1 if the customer-facing edge (`web`) sees >= 20% errors, SEV2 at >= 5% or
p99 > 2 s, SEV3 otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from shared.config import REPO_ROOT

FIXTURES = REPO_ROOT / "fixtures" / "lab13"
STEP_S = 60
MINUTES = 60
HOP_DECAY = 0.6
EDGE = "web"
CAUSES = ("bad_deploy", "dependency_outage", "resource_exhaustion", "config_change", "traffic_spike",
          "cert_expiry", "noisy_neighbour")
SEVERITIES = ("SEV1", "SEV2", "SEV3")
# which services each template can start at (a PSP outage is a dependency outage, a leak needs a process ...)
CAUSE_SERVICES = {
    "bad_deploy": ("checkout", "payments", "auth", "catalog", "search", "inventory", "gateway", "sessions"),
    "dependency_outage": ("psp", "orders-db", "cache", "queue"),
    "resource_exhaustion": ("cache", "search", "sessions", "orders-db", "inventory"),
    "config_change": ("orders-db", "auth", "search", "checkout", "gateway", "cache"),
    "traffic_spike": ("gateway", "search", "catalog"),
    "cert_expiry": ("psp", "auth"),
    "noisy_neighbour": ("cache", "queue", "search"),
}
CAUSE_LOGS = {
    "bad_deploy": "panic: runtime error: invalid memory address or nil pointer dereference (version {version})",
    "config_change": "timeout acquiring connection from pool (pool_size={pool}, waited 5000ms)",
    "resource_exhaustion": "container {service} OOMKilled (memory limit 2048Mi), restarting",
    "traffic_spike": "request queue full (depth 4096), shedding load with 503",
    "noisy_neighbour": "slow operation: 840ms (cpu throttled 62% of the last period, node shared with {other})",
}


@dataclass(frozen=True)
class Service:
    name: str
    team: str
    tier: int
    customer_facing: bool
    calls: tuple[str, ...]
    runbook: str


@dataclass(frozen=True)
class Estate:
    services: dict[str, Service]
    teams: dict[str, dict[str, str]]

    def callers(self, name: str) -> list[str]:
        return sorted(s.name for s in self.services.values() if name in s.calls)

    def upstream(self, name: str) -> dict[str, int]:
        """Every service that depends on `name`, directly or not, with its hop distance."""
        seen, frontier, hop = {name: 0}, [name], 0
        while frontier:
            hop += 1
            nxt = [c for f in frontier for c in self.callers(f) if c not in seen]
            for c in nxt:
                seen[c] = hop
            frontier = sorted(set(nxt))
        return seen

    def depth(self, name: str) -> int:
        """Hops from the edge to `name` along calls (the edge is 0)."""
        return self.upstream(name).get(EDGE, 0)

    def owner(self, name: str) -> str:
        return self.services[name].team


@cache
def load_estate(path: Path = FIXTURES / "estate.yaml") -> Estate:
    data = yaml.safe_load(Path(path).read_text())
    services = {name: Service(name, s["team"], s["tier"], s["customer_facing"], tuple(s["calls"]), s["runbook"])
                for name, s in data["services"].items()}
    for s in services.values():
        unknown = [c for c in s.calls if c not in services]
        if unknown or s.team not in data["teams"]:
            raise ValueError(f"estate.yaml: {s.name} calls unknown {unknown} or has unknown team {s.team}")
    return Estate(services, data["teams"])


@dataclass(frozen=True)
class Spec:
    id: str
    cause: str
    service: str
    onset_min: int = 30
    magnitude: float = 0.6  # 0..1: how hard the fault hits the root service
    seed: int = 0
    title: str = ""


@dataclass
class Incident:
    spec: Spec
    series: dict[str, dict[str, list[float]]]  # service -> metric -> per-minute values
    alerts: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    deploys: list[dict[str, Any]]
    config_changes: list[dict[str, Any]]
    truth: dict[str, Any]
    edge_requests: list[dict[str, Any]] = field(default_factory=list)  # per minute: total, bad, p99

    @property
    def id(self) -> str:
        return self.spec.id

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.spec.title, "alerts": len(self.alerts),
                "services_alerting": sorted({a["service"] for a in self.alerts}),
                "onset_min": self.spec.onset_min}

    def public(self) -> dict[str, Any]:
        """What an on-call engineer sees: everything but the truth."""
        return {"id": self.id, "title": self.spec.title, "alerts": self.alerts, "deploys": self.deploys,
                "config_changes": self.config_changes, "logs": self.logs}


def _ts(minute: float) -> str:
    whole = int(minute)
    return f"2025-03-14T09:{whole:02d}:{int(round((minute - whole) * 60)):02d}Z" if whole < 60 else \
        f"2025-03-14T10:{whole - 60:02d}:00Z"


def _base(svc: Service, rng: random.Random) -> dict[str, float]:
    rps = {1: 400.0, 2: 150.0}[svc.tier] * rng.uniform(0.8, 1.2)
    return {"rps": rps, "err": 0.002 * rng.uniform(0.5, 1.5), "p99_ms": rng.uniform(80, 220),
            "cpu": rng.uniform(0.2, 0.45), "mem_mb": rng.uniform(500, 1100)}


def render(spec: Spec, estate: Estate | None = None) -> Incident:
    """Telemetry for one incident spec (deterministic in spec.seed)."""
    estate = estate or load_estate()
    if spec.cause not in CAUSES:
        raise ValueError(f"unknown cause {spec.cause!r}; one of {CAUSES}")
    if spec.service not in estate.services:
        raise ValueError(f"unknown service {spec.service!r}")
    rng = random.Random(f"{spec.id}|{spec.seed}")
    nrng = np.random.default_rng(rng.randrange(2**32))
    t = np.arange(MINUTES + 1, dtype=float)
    t0, m, r = spec.onset_min, spec.magnitude, spec.service
    on = (t >= t0).astype(float)
    base = {name: _base(s, rng) for name, s in estate.services.items()}
    series: dict[str, dict[str, np.ndarray]] = {}
    for name, b in base.items():
        noise = nrng.normal(0, 1, size=(5, t.size))
        series[name] = {
            "rps": b["rps"] * (1 + 0.04 * noise[0]),
            "error_ratio": np.clip(b["err"] * (1 + 0.3 * noise[1]), 0, 1),
            "p99_ms": b["p99_ms"] * (1 + 0.05 * noise[2]),
            "cpu": np.clip(b["cpu"] + 0.02 * noise[3], 0, 1),
            "mem_mb": b["mem_mb"] + 5 * noise[4],
            "up": np.ones_like(t),
        }
    root = series[r]
    err_at_root = 0.0
    if spec.cause == "bad_deploy":
        err_at_root = 0.15 + 0.5 * m
        root["p99_ms"] = root["p99_ms"] * (1 + on)
    elif spec.cause == "config_change":
        err_at_root = 0.08 + 0.3 * m
        root["p99_ms"] = root["p99_ms"] + on * 4000 * m
    elif spec.cause == "resource_exhaustion":
        ramp = np.clip((t - (t0 - 20)) / 20, 0, 1)
        root["mem_mb"] = root["mem_mb"] + ramp * (2048 - base[r]["mem_mb"])
        restarts = (t >= t0) & ((t - t0) % 4 < 2)  # OOM-kill, restart, fill, kill again
        root["mem_mb"] = np.where(restarts, base[r]["mem_mb"] * 0.6, root["mem_mb"])
        root["up"] = np.where(restarts & ((t - t0) % 4 == 0), 0.0, 1.0)
        err_at_root = 0.1 + 0.4 * m
    elif spec.cause == "dependency_outage":
        root["up"] = 1 - on
        root["rps"] = root["rps"] * (1 - on)
        err_at_root = 1.0
    elif spec.cause == "traffic_spike":
        for name in estate.upstream(r):
            series[name]["rps"] = series[name]["rps"] * (1 + on * (1 + 2 * m))
        root["cpu"] = np.clip(root["cpu"] + on * 0.55, 0, 0.99)
        root["p99_ms"] = root["p99_ms"] * (1 + on * 6 * m)
        err_at_root = 0.04 + 0.25 * m
    elif spec.cause == "cert_expiry":
        err_at_root = 0.0  # the service is healthy; its callers cannot complete a TLS handshake
    elif spec.cause == "noisy_neighbour":
        root["cpu"] = np.clip(root["cpu"] + on * 0.4, 0, 0.99)
        root["p99_ms"] = root["p99_ms"] * (1 + on * 8 * m)
        err_at_root = 0.02 + 0.1 * m
    root["error_ratio"] = np.clip(root["error_ratio"] + on * err_at_root, 0, 1)
    callee_err = 0.3 + 0.6 * m if spec.cause == "cert_expiry" else err_at_root
    for name, hop in estate.upstream(r).items():
        if hop == 0:
            continue
        share = callee_err * HOP_DECAY ** (hop - 1)
        series[name]["error_ratio"] = np.clip(series[name]["error_ratio"] + on * share, 0, 1)
        series[name]["p99_ms"] = series[name]["p99_ms"] + on * root["p99_ms"].mean() * 0.5 * HOP_DECAY ** hop
    out = {name: {k: [round(float(v), 4) for v in arr] for k, arr in s.items()} for name, s in series.items()}
    deploys, changes = _changes(spec, estate, rng)
    alerts = _alerts(out, estate, spec, rng)
    logs = _logs(spec, estate, out, rng, deploys)
    web = out[EDGE]
    edge = [{"minute": int(i), "total": int(web["rps"][i] * STEP_S),
             "bad": int(round(web["rps"][i] * STEP_S * web["error_ratio"][i])), "p99_ms": web["p99_ms"][i]}
            for i in range(t.size)]
    peak_err = max(web["error_ratio"][t0:]) if t0 <= MINUTES else 0.0
    peak_p99 = max(web["p99_ms"][t0:]) if t0 <= MINUTES else 0.0
    severity = "SEV1" if peak_err >= 0.20 else "SEV2" if peak_err >= 0.05 or peak_p99 > 2000 else "SEV3"
    truth = {"service": r, "cause": spec.cause, "team": estate.owner(r), "severity": severity,
             "onset": _ts(t0), "peak_edge_error_ratio": round(peak_err, 4)}
    return Incident(spec, out, alerts, logs, deploys, changes, truth, edge)


def _changes(spec: Spec, estate: Estate, rng: random.Random) -> tuple[list[dict], list[dict]]:
    names = sorted(estate.services)
    symptoms = [s for s in estate.upstream(spec.service) if s != spec.service]
    deploys = []
    for i in range(rng.randint(2, 4)):  # innocent deploys, one on a symptom service when there is one
        svc = rng.choice(symptoms) if i == 0 and symptoms else rng.choice(names)
        minute = rng.randint(0, MINUTES - 5)
        deploys.append({"id": f"D-{spec.id[-4:]}-{i}", "service": svc, "at": _ts(minute), "minute": minute,
                        "version": f"v{rng.randint(1, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 9)}",
                        "author": rng.choice(["ana", "bo", "chen", "dev", "eli", "fay"])})
    changes = []
    for i in range(rng.randint(0, 2)):
        svc = rng.choice(names)
        minute = rng.randint(0, MINUTES - 5)
        changes.append({"id": f"C-{spec.id[-4:]}-{i}", "service": svc, "at": _ts(minute), "minute": minute,
                        "key": rng.choice(["log_level", "feature.recommendations", "timeouts.read_ms"]),
                        "old": "info", "new": "debug"})
    if spec.cause == "bad_deploy":
        deploys.append({"id": f"D-{spec.id[-4:]}-bad", "service": spec.service, "at": _ts(spec.onset_min - 1),
                        "minute": spec.onset_min - 1, "version": f"v{rng.randint(2, 9)}.{rng.randint(0, 40)}.0",
                        "author": rng.choice(["gus", "hal", "ivy"])})
    if spec.cause == "config_change":
        changes.append({"id": f"C-{spec.id[-4:]}-bad", "service": spec.service, "at": _ts(spec.onset_min - 1),
                        "minute": spec.onset_min - 1, "key": "db.pool_size", "old": "50", "new": "2"})
    key = lambda d: d["minute"]  # noqa: E731
    return sorted(deploys, key=key), sorted(changes, key=key)


def _alerts(out: dict[str, dict[str, list[float]]], estate: Estate, spec: Spec,
            rng: random.Random) -> list[dict[str, Any]]:
    """What Alertmanager would send: a rule per symptom, `for: 3m`, one alert per pod (two pods each)."""
    alerts: list[dict[str, Any]] = []

    def fire(service: str, name: str, minute: int, value: float, severity: str) -> None:
        for pod in (0, 1):
            if pod and rng.random() < 0.3:
                continue
            alerts.append({"id": f"A-{len(alerts):03d}", "alertname": name, "service": service,
                           "labels": {"severity": severity, "pod": f"{service}-{pod}", "env": "prod"},
                           "starts_at": _ts(minute + pod * 0.5), "minute": minute + pod * 0.5,
                           "value": round(value, 4)})

    rules = (("HighErrorRate", "error_ratio", lambda v, b: v > 0.05, "critical"),
             ("HighLatencyP99", "p99_ms", lambda v, b: v > max(3 * b, 1000), "warning"),
             ("MemoryNearLimit", "mem_mb", lambda v, b: v > 1800, "warning"),
             ("TargetDown", "up", lambda v, b: v < 0.5, "critical"),
             ("CPUSaturated", "cpu", lambda v, b: v > 0.85, "warning"))
    for service, s in out.items():
        for name, metric, breach, severity in rules:
            values = s[metric]
            b = float(np.median(values[:10]))
            run = 0
            for minute, v in enumerate(values):
                run = run + 1 if breach(v, b) else 0
                if run == 3:  # `for: 3m`
                    fire(service, name, minute, v, severity)
                    break
    if spec.cause == "cert_expiry":
        fire(spec.service, "CertificateExpiresSoon", 2, 0.0, "info")
    for _ in range(rng.randint(1, 2)):  # unrelated noise: a disk filling slowly, a flapping probe
        svc = rng.choice(sorted(estate.services))
        fire(svc, rng.choice(["DiskSpaceLow", "ProbeFlapping"]), rng.randint(0, MINUTES - 1),
             round(rng.uniform(0.8, 0.9), 3), "info")
    alerts.sort(key=lambda a: (a["minute"], a["id"]))
    return alerts


def _logs(spec: Spec, estate: Estate, out: dict[str, dict[str, list[float]]], rng: random.Random,
          deploys: list[dict]) -> list[dict[str, Any]]:
    logs: list[dict[str, Any]] = []
    r, t0 = spec.service, spec.onset_min

    def line(service: str, minute: float, level: str, msg: str) -> None:
        logs.append({"id": f"L-{len(logs):04d}", "service": service, "at": _ts(minute), "minute": round(minute, 2),
                     "level": level, "msg": msg})

    for _ in range(12):  # background chatter everywhere
        svc = rng.choice(sorted(estate.services))
        line(svc, rng.uniform(0, MINUTES), "INFO", rng.choice(
            ["GET /healthz 200", "cache warm: 98% hit ratio", "gc pause 12ms", "rotated log file"]))
    other = rng.choice([s for s in ("queue", "cache", "search") if s != r])
    version = next((d["version"] for d in deploys if d["id"].endswith("-bad")), "")
    template = CAUSE_LOGS.get(spec.cause)
    if template:
        for k in range(4):
            line(r, t0 + k * 2 + rng.random(), "ERROR", template.format(version=version, pool=2, service=r, other=other))
    if spec.cause == "noisy_neighbour":
        line(other, t0 - 1, "INFO", "scheduled compaction started on shared node pool-b")
    for name, hop in estate.upstream(r).items():
        if hop == 0:
            continue
        callee = next((c for c in estate.services[name].calls if c in estate.upstream(r)), r)
        if spec.cause == "cert_expiry" and hop == 1:
            msg = f"TLS handshake with {r} failed: x509: certificate has expired or is not yet valid"
        elif spec.cause == "dependency_outage" and hop == 1:
            msg = f"dial tcp {r}:5432: connect: connection refused"
        else:
            msg = f"upstream {callee} returned 503 (retries exhausted)"
        for k in range(2):
            line(name, t0 + hop + k * 3 + rng.random(), "ERROR", msg)
    logs.sort(key=lambda entry: entry["minute"])
    for i, entry in enumerate(logs):
        entry["id"] = f"L-{i:04d}"
    return logs


# --- the fixture incidents and the generator ---------------------------------------------------------

@cache
def fixture_specs(path: Path = FIXTURES / "incidents.yaml") -> tuple[Spec, ...]:
    return tuple(Spec(**s) for s in yaml.safe_load(Path(path).read_text())["incidents"])


@cache
def fixture_incident(incident_id: str) -> Incident | None:
    spec = next((s for s in fixture_specs() if s.id == incident_id), None)
    return render(spec) if spec else None


def fixture_incidents() -> list[Incident]:
    return [fixture_incident(s.id) for s in fixture_specs()]


def generate(n: int, seed: int = 0, estate: Estate | None = None) -> list[Spec]:
    """n more incident specs from the templates: a cause, a service it can start at, an onset, a magnitude."""
    estate = estate or load_estate()
    rng = random.Random(seed)
    specs = []
    for i in range(n):
        cause = CAUSES[i % len(CAUSES)] if i < len(CAUSES) else rng.choice(CAUSES)
        service = rng.choice(CAUSE_SERVICES[cause])
        specs.append(Spec(id=f"GEN-{seed:03d}-{i:03d}", cause=cause, service=service,
                          onset_min=rng.randint(22, 38), magnitude=round(rng.uniform(0.1, 1.0), 2),
                          seed=rng.randrange(10**6), title=f"{cause.replace('_', ' ')} at {service} (generated)"))
    return specs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("incident", nargs="?", default="INC-2041")
    args = ap.parse_args()
    inc = fixture_incident(args.incident)
    if inc is None:
        raise SystemExit(f"no incident {args.incident}; ids: {[s.id for s in fixture_specs()]}")
    print(json.dumps({**inc.public(), "truth": inc.truth, "spec": asdict(inc.spec)}, indent=2)[:6000])


if __name__ == "__main__":
    main()


__all__ = ["CAUSES", "EDGE", "SEVERITIES", "Estate", "Incident", "Spec", "fixture_incident", "fixture_incidents",
           "fixture_specs", "generate", "load_estate", "render"]
