"""How fast is the mock, and does its structured-output ladder show? Writes bench/results/mock.json.

    .venv/bin/python bench/bench_mock.py                  # ~1 minute on a laptop
    .venv/bin/python bench/bench_mock.py --requests 5000 --concurrency 64

1. HTTP throughput: the server runs in its own process (`python -m shared.mockllm`, one uvicorn
   worker) and this process loads it with aiohttp at a fixed concurrency. Reported per scenario:
   requests/s, p50 / p99 latency, the server's CPU time per request (steady even on a busy machine)
   and, for streams, time to first chunk. The lab-09 gateway
   benchmark sits in front of this server, so it must not be the bottleneck (target >= 1,000
   non-streaming requests/s).
2. In-process overhead: one engine plan, and one `shared.llm.complete` through LiteLLM's custom
   provider (what every lab pays per call when LLM_MODEL=mock/...).
3. The reliability ladder: `mock/fallible` through instructor in each mode, first-attempt
   success and mean attempts (re-asks fix every failure).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "mock.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "DATA_DIR": str(ROOT / ".data" / "bench-mock")}
    proc = subprocess.Popen([sys.executable, "-m", "shared.mockllm", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"mock server exited: {proc.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("mock server did not start within 60 s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def load(url: str, body: dict, n: int, concurrency: int, stream: bool, server_pid: int) -> dict:
    """Requests/s and latency from this process; the server's own CPU per request from its CPU clock.

    On a shared machine the wall-clock numbers swing with whatever else runs (the load generator
    shares the cores too); CPU per request does not, and 1 / (CPU per request) is what one core
    given to the server alone could sustain.
    """
    import aiohttp

    payload = json.dumps(body).encode()
    latencies: list[float] = []
    first_chunk: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(todo) -> None:
            nonlocal errors
            for _ in todo:
                start = time.perf_counter()
                async with session.post(url, data=payload, headers={"content-type": "application/json"}) as resp:
                    if stream:
                        await resp.content.readany()
                        first_chunk.append(time.perf_counter() - start)
                    await resp.read()
                    errors += resp.status != 200
                latencies.append(time.perf_counter() - start)

        async def run(count: int) -> float:
            todo = iter(range(count))
            start = time.perf_counter()
            await asyncio.gather(*[worker(todo) for _ in range(concurrency)])
            return time.perf_counter() - start

        await run(concurrency * 4)  # warm-up: connections opened, caches filled
        latencies.clear()
        first_chunk.clear()
        errors = 0
        cpu_before = cpu_seconds(server_pid)
        elapsed = await run(n)
        cpu_used = cpu_seconds(server_pid) - cpu_before
    out = {"requests": n, "concurrency": concurrency, "errors": errors, "requests_per_s": round(n / elapsed, 1),
           "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
           "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
           "server_cpu_us_per_request": round(cpu_used / n * 1e6, 1),
           "server_cpu_bound_rps": round(n / cpu_used, 1) if cpu_used else None}
    if stream:
        out["ttfc_p50_ms"] = round(percentile(first_chunk, 0.50) * 1000, 2)
    return out


def http_scenarios(n: int, concurrency: int) -> dict:
    port = free_port()
    proc = start_server(port)
    base = f"http://127.0.0.1:{port}"
    chat = {"model": "assistant", "messages": [{"role": "user", "content": "What is 6 * 7?"}]}
    long_text = "Summarize: " + " ".join(f"Sentence {i} about the outage timeline." for i in range(40))
    streamed = {"model": "assistant", "stream": True, "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": long_text}]}
    anthropic = {"model": "assistant", "max_tokens": 64, "messages": [{"role": "user", "content": "What is 6 * 7?"}]}
    try:
        results = {}
        for name, path, body, stream, count in [
            ("chat_non_streaming", "/v1/chat/completions", chat, False, n),
            ("chat_streaming", "/v1/chat/completions", streamed, True, max(n // 3, 100)),
            ("anthropic_messages", "/v1/messages", anthropic, False, max(n // 2, 100)),
        ]:
            results[name] = asyncio.run(load(base + path, body, count, concurrency, stream, proc.pid))
            print(f"  {name:20s} {results[name]}")
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def in_process(n: int) -> dict:
    from shared import llm
    from shared.mockllm.engine import MockEngine, MockRequest

    engine = MockEngine()
    body = {"model": "assistant", "messages": [{"role": "user", "content": "What is 6 * 7?"}]}
    engine.complete(MockRequest.from_openai(body))
    start = time.perf_counter()
    for _ in range(n):
        engine.complete(MockRequest.from_openai(body))
    plan_us = (time.perf_counter() - start) / n * 1e6
    llm.complete("What is 6 * 7?")
    timings = []
    for _ in range(max(n // 10, 50)):
        t = time.perf_counter()
        llm.complete("What is 6 * 7?")
        timings.append(time.perf_counter() - t)
    out = {"engine_plan_us": round(plan_us, 1), "llm_complete_p50_ms": round(statistics.median(timings) * 1000, 3),
           "llm_complete_p99_ms": round(percentile(timings, 0.99) * 1000, 3)}
    out["litellm_overhead_ratio"] = round(out["llm_complete_p50_ms"] * 1000 / plan_us, 1)
    print(f"  in-process {out}")
    return out


def ladder(n: int) -> dict:
    from pydantic import BaseModel

    from shared import llm

    class Person(BaseModel):
        name: str
        age: int
        email: str

    out = {}
    for mode in ("md_json", "json", "tools", "json_schema"):
        first_ok, attempts = 0, []
        for i in range(n):
            text = f"Record {i}: Ada Lovelace, aged {20 + i}, writes to ada{i}@engine.org"
            result = llm.structured(text, Person, model="mock/fallible", mode=mode, max_retries=2)
            first_ok += result.attempts == 1
            attempts.append(result.attempts)
        out[mode] = {"first_attempt_success": round(first_ok / n, 3), "mean_attempts": round(sum(attempts) / n, 3)}
        print(f"  ladder {mode:12s} {out[mode]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--ladder-prompts", type=int, default=300)
    args = parser.parse_args()
    load_at_start = round(os.getloadavg()[0], 2)  # other work on the machine: the wall-clock numbers depend on it
    print(f"load average at start: {load_at_start} on {os.cpu_count()} CPUs")
    print("HTTP (server in its own process):")
    http = http_scenarios(args.requests, args.concurrency)
    print("in-process:")
    local = in_process(2000)
    print("structured-output ladder (mock/fallible via instructor):")
    steps = ladder(args.ladder_prompts)
    result = {"http": http, "in_process": local, "ladder": steps,
              "ratios": {"streaming_vs_non_streaming_rps": round(http["chat_streaming"]["requests_per_s"]
                                                                 / http["chat_non_streaming"]["requests_per_s"], 3)},
              "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                          "load_average_at_start": load_at_start}}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
