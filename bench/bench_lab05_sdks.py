"""Per-call overhead of the openai SDK, the anthropic SDK and LiteLLM against the mock over HTTP.

    .venv/bin/python bench/bench_lab05_sdks.py      # ~30 s
    -> bench/results/lab05_sdks.json

The mock is served by uvicorn on a loopback port in a background thread; each client path of
sdks.PATHS sends the same question N times over its own connection pool, the paths taking turns
call by call (after 10 warm-up rounds), and the median wall time per call is reported beside raw httpx, the floor: what a path adds
over it is the client's own work (building the request, parsing and validating the response, and
for LiteLLM translating both ways and running its callbacks and cost hooks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time

import uvicorn

import shared  # noqa: F401  (offline environment first)
from labs.lab05_patterns import sdks
from shared.config import REPO_ROOT, get_settings
from shared.mockllm.server import create_app

OUT = REPO_ROOT / "bench" / "results"


def serve() -> tuple[uvicorn.Server, str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(get_settings()), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


async def timed(base: str, n: int) -> dict[str, list[float]]:
    """Round-robin over the paths (one call each per round), so machine load falls on all of them alike."""
    clients = {name: sdks.http_client(name) for name in sdks.PATHS}
    walls: dict[str, list[float]] = {name: [] for name in sdks.PATHS}
    try:
        for round_ in range(n + 10):
            for name, http in clients.items():
                start = time.perf_counter()
                await sdks.PATHS[name](http, base, "What is 6 * 7?")
                if round_ >= 10:  # the first rounds warm connections and caches
                    walls[name].append(time.perf_counter() - start)
    finally:
        for http in clients.values():
            await http.aclose()
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    sdks.warm()
    server, base = serve()
    try:
        report = {"n": args.n, "paths": {}}
        for name, walls in asyncio.run(timed(base, args.n)).items():
            report["paths"][name] = {"median_ms": round(statistics.median(walls) * 1000, 3),
                                     "p90_ms": round(sorted(walls)[int(0.9 * len(walls))] * 1000, 3)}
        floor = report["paths"]["raw_httpx"]["median_ms"]
        for r in report["paths"].values():
            r["over_raw_ms"] = round(r["median_ms"] - floor, 3)
        wire = asyncio.run(sdks.compare("What is 6 * 7?", base))
        report["wire"] = {k: v["wire"] for k, v in wire["paths"].items()}
    finally:
        server.should_exit = True
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lab05_sdks.json").write_text(json.dumps(report, indent=2) + "\n")
    for name, r in report["paths"].items():
        print(f"{name:18s} median {r['median_ms']:7.3f} ms  p90 {r['p90_ms']:7.3f} ms  over raw {r['over_raw_ms']:7.3f} ms")


if __name__ == "__main__":
    main()
