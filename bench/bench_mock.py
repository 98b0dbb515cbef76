"""How fast is the mock, and does its structured-output ladder show? Writes bench/results/mock.json + .png.

    .venv/bin/python bench/bench_mock.py                  # ~2 minutes on 2 shared cores
    .venv/bin/python bench/bench_mock.py --requests 5000 --concurrency 64

0. Against the floor: a raw ASGI app (no framework, no engine) serving the bytes the mock answered,
   under the same uvicorn settings, loaded by the same client, the two interleaved over --rounds
   rounds (medians reported; the machine is shared). Targets: the mock's throughput >= 50% of the raw
   app's non-streaming and >= 40% streaming; server CPU per request beside it.

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
    return listening(proc, port, 60, "mock server")


def listening(proc: subprocess.Popen, port: int, timeout_s: float, what: str) -> subprocess.Popen:
    """`proc` once it accepts connections on `port`; raises (with its stderr) if it exits or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited: {proc.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"{what} did not start within {timeout_s:g} s")


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


CHAT = {"model": "assistant", "messages": [{"role": "user", "content": "What is 6 * 7?"}]}
STREAMED = {"model": "assistant", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Summarize: " + " ".join(
                f"Sentence {i} about the outage timeline." for i in range(40))}]}


def raw_app(payload: dict):
    """The floor: an ASGI app that reads the request and sends fixed bytes, in the writes the mock makes
    (one for JSON; for a stream with no TPOT, every event in one write, then the end of the body)."""
    chat = payload["chat"].encode()
    stream = "".join(payload["stream"]).encode()

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        if b'"stream": true' not in raw:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-length", str(len(chat)).encode()), (b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": chat})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"cache-control", b"no-cache"), (b"content-type", b"text/event-stream; charset=utf-8")]})
        await send({"type": "http.response.body", "body": stream, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    return app


def serve_raw(port: int, payload_file: str) -> None:
    import uvicorn

    uvicorn.run(raw_app(json.loads(Path(payload_file).read_text())), host="127.0.0.1", port=port, log_level="warning")


def start_raw(port: int, payload_file: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, __file__, "--serve-raw", str(port), str(payload_file)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return listening(proc, port, 30, "raw ASGI server")


async def fetch_bytes(base: str) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.post(base + "/v1/chat/completions", json=CHAT) as r:
            chat = (await r.read()).decode()
        async with session.post(base + "/v1/chat/completions", data=json.dumps(STREAMED).encode(),
                                headers={"content-type": "application/json"}) as r:
            stream = (await r.read()).decode()
    cut = stream.index("\n\n") + 2
    return {"chat": chat, "stream": [stream[:cut], stream[cut:]]}


def vs_raw(n: int, concurrency: int, rounds: int) -> dict:
    """The mock and the raw app, interleaved round by round (order swapped each round)."""
    import tempfile

    mock_port, raw_port = free_port(), free_port()
    mock = start_server(mock_port)
    procs = [mock]
    try:
        payload = asyncio.run(fetch_bytes(f"http://127.0.0.1:{mock_port}"))
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(payload, f)
        raw = start_raw(raw_port, Path(f.name))
        procs.append(raw)
        servers = {"mock": (mock_port, mock.pid), "raw_asgi": (raw_port, raw.pid)}
        runs: dict[str, dict[str, list[dict]]] = {k: {"non_streaming": [], "streaming": []} for k in servers}
        for r in range(rounds):
            order = list(servers) if r % 2 == 0 else list(servers)[::-1]
            for mode, body, stream, count in [("non_streaming", CHAT, False, n), ("streaming", STREAMED, True, n // 2)]:
                for name in order:
                    port, pid = servers[name]
                    runs[name][mode].append(asyncio.run(load(f"http://127.0.0.1:{port}/v1/chat/completions", body,
                                                             count, concurrency, stream, pid)))
        out: dict = {"rounds": rounds, "concurrency": concurrency}
        for mode, target in (("non_streaming", 0.5), ("streaming", 0.4)):
            med = {name: {k: statistics.median(x[k] for x in runs[name][mode])
                          for k in ("requests_per_s", "server_cpu_us_per_request", "p50_ms")} for name in servers}
            ratios = [m["requests_per_s"] / w["requests_per_s"]
                      for m, w in zip(runs["mock"][mode], runs["raw_asgi"][mode], strict=True)]
            out[mode] = {**med, "mock_share_of_raw_rps": round(statistics.median(ratios), 3),
                         "mock_share_of_raw_rps_range": [round(min(ratios), 3), round(max(ratios), 3)],
                         "cpu_ratio_mock_over_raw": round(med["mock"]["server_cpu_us_per_request"]
                                                          / med["raw_asgi"]["server_cpu_us_per_request"], 2),
                         "target_share": target, "target_met": statistics.median(ratios) >= target}
            print(f"  vs raw ASGI {mode}: {out[mode]}")
        return out
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def plot(result: dict, path: Path) -> None:
    """Throughput and server CPU per request, mock vs raw ASGI, both response modes, from the JSON."""
    # lazy: the --serve-raw subprocess imports this module to serve, and must not pay for matplotlib
    from shared.plots import plt, save

    v = result["vs_raw_asgi"]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
    for j, name in enumerate(("mock", "raw_asgi")):
        ax[0].bar([i + j * 0.4 for i in range(2)], [v[m][name]["requests_per_s"] for m in ("non_streaming", "streaming")],
                  0.4, label=name)
        ax[1].bar([i + j * 0.4 for i in range(2)],
                  [v[m][name]["server_cpu_us_per_request"] for m in ("non_streaming", "streaming")], 0.4, label=name)
    for a, title, unit in zip(ax, ("requests/s (median of rounds)", "server CPU µs per request"),
                              ("requests per second", "server CPU per request (µs)"), strict=True):
        a.set_xticks([0.2, 1.2], ["non-streaming", "streaming"])
        a.set_title(title)
        a.set_xlabel("response mode")
        a.set_ylabel(unit)
    fig.suptitle(f"mock vs a raw ASGI app serving the same bytes: {v['non_streaming']['mock_share_of_raw_rps']:.0%} "
                 f"/ {v['streaming']['mock_share_of_raw_rps']:.0%} of its throughput")
    fig.legend(*ax[0].get_legend_handles_labels(), loc="outside lower center", ncols=2)  # off the bars
    save(fig, path)


PLOTS = {"mock.png": plot}


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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve-raw", nargs=2, metavar=("PORT", "PAYLOAD"), help=argparse.SUPPRESS)
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    args = parser.parse_args()
    if args.serve_raw:
        serve_raw(int(args.serve_raw[0]), args.serve_raw[1])
        return
    if args.replot:
        from shared.plots import replot  # lazy, as in plot()

        replot(RESULTS, PLOTS)
        return
    load_at_start = round(os.getloadavg()[0], 2)  # other work on the machine: the wall-clock numbers depend on it
    print(f"load average at start: {load_at_start} on {os.cpu_count()} CPUs")
    print("against a raw ASGI app serving the same bytes:")
    raw = vs_raw(args.requests, args.concurrency, args.rounds)
    print("HTTP (server in its own process):")
    http = http_scenarios(args.requests, args.concurrency)
    print("in-process:")
    local = in_process(2000)
    print("structured-output ladder (mock/fallible via instructor):")
    steps = ladder(args.ladder_prompts)
    result = {"vs_raw_asgi": raw, "http": http, "in_process": local, "ladder": steps,
              "ratios": {"streaming_vs_non_streaming_rps": round(http["chat_streaming"]["requests_per_s"]
                                                                 / http["chat_non_streaming"]["requests_per_s"], 3)},
              "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                          "load_average_at_start": load_at_start}}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, RESULTS.with_suffix(".png"))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
