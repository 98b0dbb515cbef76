"""An incident's telemetry as Prometheus series: what NL->PromQL questions are asked against and graded on.

    python -m labs.lab13_sre.metrics INC-2041 | head        # series names and their last values

From the per-minute service telemetry (estate.py) it writes, per service:

    http_requests_total{service, code, method}            counters (codes 200, 404, 500, 503; GET, POST)
    http_request_duration_seconds_bucket{service, le}     a cumulative histogram (+ _count, _sum)
    process_resident_memory_bytes{service, instance}       a gauge per pod
    container_cpu_usage_seconds_total{service, instance}   a counter per pod
    up{service, instance}                                   1 or 0 per pod

Latency is drawn log-normal with its median at a quarter of the p99 (sigma = ln 4 / 2.326), so the
histogram's 0.99 quantile lands near the p99 series. Counters are cumulative sums of per-minute
increments and start from a service-specific offset (counters rarely start at zero).
"""

from __future__ import annotations

import math
import sys
from functools import cache

from labs.lab13_sre.estate import Incident, fixture_incident
from labs.lab13_sre.promql import DB, Series

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, math.inf)
CODES = {"200": 0.97, "404": 0.03}  # shares of the good requests
METRICS = ("http_requests_total", "http_request_duration_seconds_bucket", "http_request_duration_seconds_count",
           "http_request_duration_seconds_sum", "process_resident_memory_bytes",
           "container_cpu_usage_seconds_total", "up")
SIGMA = math.log(4) / 2.326
INSTANCES = 2


def _lognorm_cdf(x: float, median: float) -> float:
    if math.isinf(x):
        return 1.0
    return 0.5 * (1 + math.erf(math.log(x / median) / (SIGMA * math.sqrt(2))))


def series_of(inc: Incident) -> DB:
    out: list[Series] = []
    minutes = len(next(iter(inc.series.values()))["rps"])
    t = [60.0 * i for i in range(minutes)]

    def counter(labels: dict[str, str], per_minute: list[float], start: float) -> None:
        total, vs = start, []
        for inc_ in per_minute:
            total += inc_
            vs.append(round(total, 3))
        out.append(Series(labels, t, vs))

    for k, (service, s) in enumerate(sorted(inc.series.items())):
        reqs = [r * 60 for r in s["rps"]]
        post_share = 0.6 if service in ("checkout", "payments", "psp", "orders-db") else 0.2
        for method, share in (("GET", 1 - post_share), ("POST", post_share)):
            for code in ("200", "404", "500", "503"):
                if code in CODES:
                    per = [n * share * (1 - e) * CODES[code] for n, e in zip(reqs, s["error_ratio"], strict=True)]
                else:  # errors split 30% 500, 70% 503, except a crashed deploy answers 500s
                    frac = 0.3 if code == "500" else 0.7
                    per = [n * share * e * frac for n, e in zip(reqs, s["error_ratio"], strict=True)]
                counter({"__name__": "http_requests_total", "service": service, "code": code, "method": method},
                        per, 1000.0 * (k + 1))
        cum = {le: [] for le in BUCKETS}
        sums = []
        for n, p99 in zip(reqs, s["p99_ms"], strict=True):
            median = p99 / 1000 / 4
            for le in BUCKETS:
                cum[le].append(n * _lognorm_cdf(le, median))
            sums.append(n * median * math.exp(SIGMA**2 / 2))
        for le in BUCKETS:
            counter({"__name__": "http_request_duration_seconds_bucket", "service": service,
                     "le": "+Inf" if math.isinf(le) else repr(le)}, cum[le], 0.0)
        counter({"__name__": "http_request_duration_seconds_count", "service": service}, reqs, 0.0)
        counter({"__name__": "http_request_duration_seconds_sum", "service": service}, sums, 0.0)
        for pod in range(INSTANCES):
            inst = {"service": service, "instance": f"{service}-{pod}"}
            skew = 1.0 + 0.1 * pod
            out.append(Series({"__name__": "process_resident_memory_bytes", **inst}, t,
                              [round(m * skew * 2**20) for m in s["mem_mb"]]))
            counter({"__name__": "container_cpu_usage_seconds_total", **inst}, [c * 60 * skew for c in s["cpu"]],
                    5000.0)
            out.append(Series({"__name__": "up", **inst}, t, list(s["up"])))
    return DB(out)


@cache
def fixture_db(incident_id: str = "INC-2041") -> DB:
    inc = fixture_incident(incident_id)
    if inc is None:
        raise KeyError(incident_id)
    return series_of(inc)


def promtool_series(db: DB) -> list[dict[str, str]]:
    """The series as promtool's `input_series` (explicit values, one a minute)."""
    rows = []
    for s in db.series:
        name = s.labels["__name__"]
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()) if k != "__name__")
        rows.append({"series": f"{name}{{{labels}}}", "values": " ".join(repr(v) for v in s.v)})
    return rows


if __name__ == "__main__":
    db = fixture_db(sys.argv[1] if len(sys.argv) > 1 else "INC-2041")
    for s in db.series[:40]:
        print(s.labels, s.v[-1])
    print(f"... {len(db.series)} series, {len(db.series[0].v)} samples each")
