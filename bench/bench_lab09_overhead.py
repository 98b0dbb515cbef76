"""The gateway's added latency over calling the mock directly, beside a bare pass-through proxy's and the
LiteLLM proxy's, in one run.

    .venv/bin/python bench/bench_lab09_overhead.py        # writes bench/results/lab09_overhead.json + .png

Four servers on loopback, each its own process: the mock (`python -m shared.mockllm`), the lab-09
gateway (pass-through route `assistant-http`, LLM_API_BASE at the mock), the floor of the gateway's
own stack: a minimal ASGI proxy on the same uvicorn and httpx, no spans, no keys, bytes relayed as
they arrive (target: the gateway's added p50 within 2x of it at 1 and 32 clients, streaming and not),
the same floor on the gateway's own connection pool (labs/lab09_gateway/pool.py: what is left is the
gateway's own work, since the pool is a change to the stack, not to the gateway's logic),
and the LiteLLM proxy (`litellm --config`, pointing at the same mock) when it can start. For each of non-streaming /
streaming x 1 / 32 concurrent clients x content capture off / on (the targets interleaved in
ROUNDS rounds), the client measures end-to-end latency (streams: until [DONE]); added latency =
percentile(via) - percentile(direct), pooled over all rounds for the table, and per round for the
ratios the targets are judged on (the median over rounds of gateway added / floor added). The gateway's
spans stored are counted against the requests made and the upstream attempts the call log records (no
span lost under load). The gateway runs its
tail sampler with p=1 (LAB09_SAMPLE_RATE=1): every trace is still held until its root span ends and
then handed to the exporter, so the buffering is in the measured path and every request must leave
its span in the store; the sampler's own counts are checked against the requests too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "lab09_overhead.json"
# requests per scenario and target, over all rounds. At 60 and 320 (before) a one-client p50 rested on 15
# samples a round, and the same floor's 32-client added p50 measured 25 and 53 ms in one run.
N = {1: 480, 32: 1920}
# Each round runs every target once, back to back, so a round is a paired comparison taken under one
# machine state; the targets are judged on the median over rounds of the per-round ratio, which one
# disturbed round cannot move (the pooled percentiles are reported beside it).
ROUNDS = 6
MASTER_KEY = "sk-bench-" + "0123456789abcdef" * 2  # the proxy refuses to start without a strong one
ADMIN = {"authorization": "Bearer sk-bench-admin"}
BODY = {"messages": [{"role": "user", "content": "What is the capital of Japan?"}]}


def passthrough_app(upstream: str, linear_pool: bool = False):
    """The floor: read the body, forward it with one shared httpx.AsyncClient, relay the answer's bytes.
    `linear_pool`: the client's pool is the gateway's (labs/lab09_gateway/pool.py) instead of httpcore's,
    so the floor runs on the same stack as the gateway."""
    state: dict[str, httpx.AsyncClient] = {}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                state["client"] = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=256,
                                                                                     max_keepalive_connections=256))
                if linear_pool:
                    from labs.lab09_gateway.pool import use_linear_pools

                    use_linear_pools(state["client"])
                await send({"type": "lifespan.startup.complete"})
            await state["client"].aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        client = state["client"]
        request = client.build_request("POST", upstream + "/chat/completions", content=body,
                                       headers={"content-type": "application/json"})
        resp = await client.send(request, stream=True)
        try:
            await send({"type": "http.response.start", "status": resp.status_code,
                        "headers": [(b"content-type", resp.headers.get("content-type", "application/json").encode())]})
            async for chunk in resp.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await resp.aclose()
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def start(cmd: list[str], env: dict, health: str, timeout: float = 90) -> subprocess.Popen | None:
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"{cmd[0]} exited: {proc.stderr.read().decode()[-800:]}")
            return None
        try:
            if httpx.get(health, timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.terminate()
    return None


async def one(client: httpx.AsyncClient, url: str, model: str, stream: bool, headers: dict) -> float:
    body = {**BODY, "model": model, "stream": stream}
    t = time.perf_counter()
    if stream:
        async with client.stream("POST", url, json=body, headers=headers) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: [DONE]"):
                    break
        assert r.status_code == 200
    else:
        r = await client.post(url, json=body, headers=headers)
        assert r.status_code == 200, r.text[:200]
    return (time.perf_counter() - t) * 1000


async def load(url: str, model: str, stream: bool, concurrency: int, headers: dict, n: int | None = None,
               warmup: int = 10) -> list[float]:
    n = N[concurrency] if n is None else n
    out: list[float] = []
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        for _ in range(warmup):
            await one(client, url, model, stream, headers)
        queue = list(range(n))

        async def worker():
            while queue:
                queue.pop()
                out.append(await one(client, url, model, stream, headers))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far: a server's cost per request,
    which a busy machine stretches far less than it stretches latency."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def pct(x: list[float], q: float) -> float:
    xs = sorted(x)
    h = (len(xs) - 1) * q
    lo = int(h)
    return xs[lo] + (h - lo) * (xs[min(lo + 1, len(xs) - 1)] - xs[lo])


def round_ratios(row: dict, via: str, floor: str) -> list[float | None]:
    """Per round: (via's p50 - direct's p50) / (floor's p50 - direct's p50), all three from that round. A round
    whose floor added nothing (at or below zero) bounds nothing: its ratio is None (unbounded), or 0 when via
    added nothing either."""
    out: list[float | None] = []
    for d, v, f in zip(row["direct"]["p50_ms_by_round"], row[via]["p50_ms_by_round"], row[floor]["p50_ms_by_round"],
                       strict=True):
        added, floor_added = v - d, f - d
        out.append(round(added / floor_added, 3) if floor_added > 0 else (0.0 if added <= 0 else None))
    return out


def median_ratio(ratios: list[float | None]) -> float | None:
    """The median, an unbounded (None) ratio ranking above every number; None when the median is unbounded."""
    xs = sorted(ratios, key=lambda x: (x is None, x or 0.0))
    mid = xs[len(xs) // 2 - 1: len(xs) // 2 + 1] if len(xs) % 2 == 0 else [xs[len(xs) // 2]]
    return None if None in mid else round(sum(mid) / len(mid), 3)


def within_2x(ratio: float | None) -> bool:
    return ratio is not None and ratio <= 2


def plot(result: dict, path: Path) -> None:
    """Added p50 and p99 per scenario, gateway beside the LiteLLM proxy (capture off), from the JSON."""
    # lazy: the pass-through server subprocess imports this module, and must not pay for matplotlib
    from shared.plots import plt, save

    rows = [r for r in result["results"] if not r["capture"]]
    labels = [f"{'stream' if r['stream'] else 'json'}\nc={r['concurrency']}" for r in rows]
    # the targets this run measured (results from before the pass-through floor, or without the proxy, lack one)
    targets = [(t, label) for t, label in (("passthrough", "bare pass-through (floor)"),
                                           ("passthrough_linear", "floor on the gateway's pool"),
                                           ("gateway", "lab-09 gateway"),
                                           ("litellm_proxy", "LiteLLM proxy")) if all(t in r for r in rows)]
    width = 0.8 / len(targets)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for ax, key in zip(axes, ("added_p50_ms", "added_p99_ms"), strict=True):
        xs = range(len(rows))
        for i, (t, label) in enumerate(targets):
            ax.bar([x + (i - (len(targets) - 1) / 2) * width for x in xs], [r[t][key] for r in rows], width, label=label)
        ax.set_xticks(list(xs), labels)
        ax.set_xlabel("response mode, concurrent clients")
        ax.set_ylabel("ms over calling the mock directly")
        ax.set_title(key.replace("_", " "))
    # one legend for both panels, above them: the bars reach the top of either panel
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=4, fontsize=9)
    save(fig, path)


PLOTS = {"lab09_overhead.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        from shared.plots import replot  # lazy, as in plot()

        replot(OUT, PLOTS)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-lab09-"))
    py = sys.executable
    mock_port, gw_port, proxy_port, pass_port, linear_port = (free_port() for _ in range(5))
    procs = []
    try:
        mock = start([py, "-m", "shared.mockllm", "--port", str(mock_port)], {}, f"http://127.0.0.1:{mock_port}/healthz")
        assert mock, "the mock did not start"
        procs.append(mock)
        gw_env = {"DATA_DIR": str(tmp / "gw"), "LLM_API_BASE": f"http://127.0.0.1:{mock_port}/v1", "LOG_LEVEL": "WARNING",
                  "LAB09_ADMIN_KEY": ADMIN["authorization"][7:], "LAB09_SAMPLE_RATE": "1"}
        gateway = start([py, "-m", "uvicorn", "labs.lab09_gateway.app:create_app", "--factory", "--port", str(gw_port),
                         "--log-level", "warning", "--no-access-log"], gw_env, f"http://127.0.0.1:{gw_port}/readyz")
        assert gateway, "the gateway did not start"
        procs.append(gateway)
        floors = {}
        for name, port, linear in (("passthrough", pass_port, False), ("passthrough_linear", linear_port, True)):
            floors[name] = start([py, "-c", "import sys, uvicorn; sys.path.insert(0, 'bench'); "
                                  "from bench_lab09_overhead import passthrough_app; "
                                  f"uvicorn.run(passthrough_app('http://127.0.0.1:{mock_port}/v1', {linear}), "
                                  f"port={port}, log_level='warning', access_log=False)"], {},
                                 f"http://127.0.0.1:{mock_port}/healthz")
            assert floors[name], f"the pass-through proxy ({name}) did not start"
            procs.append(floors[name])
            wait_for_port(port)
        passthrough = floors["passthrough"]
        cfg = tmp / "litellm.yaml"
        cfg.write_text(json.dumps({"model_list": [{"model_name": "assistant", "litellm_params": {
            "model": "openai/assistant", "api_base": f"http://127.0.0.1:{mock_port}/v1", "api_key": "mock"}}],
            "litellm_settings": {"telemetry": False, "drop_params": True}}))
        litellm_bin = shutil.which("litellm", path=str(Path(py).parent))
        proxy = None
        proxy_note = "litellm CLI not found"
        if litellm_bin:
            proxy = start([litellm_bin, "--config", str(cfg), "--port", str(proxy_port), "--num_workers", "1"],
                          {"LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": MASTER_KEY},
                          f"http://127.0.0.1:{proxy_port}/health/liveliness", timeout=120)
            proxy_note = "running" if proxy else "did not start (see stderr above)"
        if proxy:
            procs.append(proxy)
        bench_key = httpx.post(f"http://127.0.0.1:{gw_port}/admin/keys", headers=ADMIN, json={
            "tenant": "bench", "budget_usd": 1000, "rate_per_s": 1e5, "burst": 100000}).json()["key"]
        targets = {"direct": (f"http://127.0.0.1:{mock_port}/v1/chat/completions", "assistant", {}),
                   "passthrough": (f"http://127.0.0.1:{pass_port}/v1/chat/completions", "assistant", {}),
                   "passthrough_linear": (f"http://127.0.0.1:{linear_port}/v1/chat/completions", "assistant", {}),
                   "gateway": (f"http://127.0.0.1:{gw_port}/v1/chat/completions", "assistant-http",
                               {"authorization": f"Bearer {bench_key}"})}
        if proxy:
            targets["litellm_proxy"] = (f"http://127.0.0.1:{proxy_port}/v1/chat/completions", "assistant",
                                        {"authorization": f"Bearer {MASTER_KEY}"})
        results = []
        gateway_requests = 0
        load_before = os.getloadavg()
        pids = {"direct": mock.pid, "passthrough": passthrough.pid, "passthrough_linear": floors["passthrough_linear"].pid,
                "gateway": gateway.pid}
        if proxy:
            pids["litellm_proxy"] = proxy.pid
        for capture in (False, True):
            r = httpx.put(f"http://127.0.0.1:{gw_port}/admin/capture", headers=ADMIN, json={"enabled": capture})
            assert r.status_code == 200, r.text
            for stream in (False, True):
                for c in (1, 32):
                    row = {"capture": capture, "stream": stream, "concurrency": c, "n": N[c]}
                    names = [n for n in targets if not capture or n != "litellm_proxy"]
                    by_round: dict[str, list[list[float]]] = {n: [] for n in names}
                    cpu = {n: 0.0 for n in names}  # the target's own server process (the mock's for direct)
                    # interleaved rounds: on a shared machine a burst of load lands on every target alike
                    for r in range(ROUNDS):
                        for name in names:
                            url, model, headers = targets[name]
                            warmup = 10 if r == 0 else 0
                            cpu0 = cpu_s(pids[name])  # the warm-up requests count too (the divisor has them)
                            by_round[name].append(asyncio.run(load(url, model, stream, c, headers, N[c] // ROUNDS,
                                                                   warmup)))
                            cpu[name] += cpu_s(pids[name]) - cpu0
                            if name == "gateway":
                                gateway_requests += N[c] // ROUNDS + warmup
                    for name, rounds in by_round.items():
                        lat = [x for one_round in rounds for x in one_round]
                        row[name] = {"p50_ms": round(pct(lat, 0.5), 3), "p99_ms": round(pct(lat, 0.99), 3),
                                     "server_cpu_ms_per_request": round(cpu[name] / (N[c] // ROUNDS * ROUNDS + 10) * 1e3, 3),
                                     "p50_ms_by_round": [round(pct(x, 0.5), 3) for x in rounds]}
                    results.append(row)
                    print(json.dumps(row))
        for r in results:
            d = r["direct"]  # measured in the same rounds as the row's other targets
            for name in ("passthrough", "passthrough_linear", "gateway", "litellm_proxy"):
                if name in r:
                    r[name]["added_p50_ms"] = round(r[name]["p50_ms"] - d["p50_ms"], 3)
                    r[name]["added_p99_ms"] = round(r[name]["p99_ms"] - d["p99_ms"], 3)
            pt = r["passthrough"]["added_p50_ms"]  # the floor's added p50; at or below zero it bounds nothing
            r["gateway_over_passthrough_added_p50"] = round(r["gateway"]["added_p50_ms"] / pt, 2) if pt > 0 else None
            r["gateway_over_passthrough_added_p50_by_round"] = round_ratios(r, "gateway", "passthrough")
            r["gateway_over_passthrough_added_p50_median"] = median_ratio(r["gateway_over_passthrough_added_p50_by_round"])
            r["within_2x_of_passthrough"] = within_2x(r["gateway_over_passthrough_added_p50_median"])
            r["gateway_over_passthrough_cpu"] = round(r["gateway"]["server_cpu_ms_per_request"]
                                                      / max(r["passthrough"]["server_cpu_ms_per_request"], 1e-9), 2)
            # the same floor on the gateway's own connection pool: what the gateway's own work adds
            lin = r["passthrough_linear"]["added_p50_ms"]
            r["gateway_over_same_pool_floor_added_p50"] = round(r["gateway"]["added_p50_ms"] / lin, 2) if lin > 0 else None
            r["gateway_over_same_pool_floor_added_p50_by_round"] = round_ratios(r, "gateway", "passthrough_linear")
            r["gateway_over_same_pool_floor_added_p50_median"] = median_ratio(
                r["gateway_over_same_pool_floor_added_p50_by_round"])
            r["within_2x_of_same_pool_floor"] = within_2x(r["gateway_over_same_pool_floor_added_p50_median"])
            r["gateway_over_same_pool_floor_cpu"] = round(
                r["gateway"]["server_cpu_ms_per_request"]
                / max(r["passthrough_linear"]["server_cpu_ms_per_request"], 1e-9), 2)
            if "gateway" in r and "litellm_proxy" in r:
                for q in ("p50", "p99"):
                    gw = r["gateway"][f"added_{q}_ms"]  # a ratio over an added time at or below zero means nothing
                    r[f"proxy_over_gateway_added_{q}"] = round(r["litellm_proxy"][f"added_{q}_ms"] / gw, 2) if gw > 0 else None
        httpx.get(f"http://127.0.0.1:{gw_port}/traces?limit=1", timeout=30)  # flushes the span batch
        time.sleep(1.0)
        sampler = httpx.get(f"http://127.0.0.1:{gw_port}/analysis/sampling", timeout=30).json()["live"]
        db = sqlite3.connect(tmp / "gw" / "telemetry.db")
        spans = db.execute("SELECT COUNT(*) FROM spans WHERE name = 'chat openai/assistant'").fetchone()[0]
        server = db.execute("SELECT COUNT(*) FROM spans WHERE kind = 'SERVER' AND name LIKE 'POST /v1/chat%'").fetchone()[0]
        # one GenAI span per upstream attempt: a call the gateway retried (an upstream that closed a kept-alive
        # connection as the request went out, say) has two, and the call log says how many attempts each made
        calls = sqlite3.connect(tmp / "gw" / "lab09" / "lab09.db")
        logged, attempts, retried, disconnects = calls.execute(
            "SELECT COUNT(*), SUM(attempts), SUM(attempts > 1), SUM(disconnected) FROM calls").fetchone()
        summary = {"requests_through_gateway": gateway_requests, "calls_logged": logged, "upstream_attempts": attempts,
                   "calls_retried": retried, "calls_recorded_as_disconnects": disconnects,
                   "genai_spans_stored": spans, "server_spans_stored": server, "spans_lost": attempts - spans,
                   "tail_sampler": {k: sampler[k] for k in ("policy", "traces", "kept", "dropped", "spans_exported")},
                   "litellm_proxy": proxy_note,
                   "gateway_within_2x_of_passthrough": {
                       f"{'stream' if r['stream'] else 'json'}_c{r['concurrency']}{'_capture' if r['capture'] else ''}":
                           r["within_2x_of_passthrough"] for r in results},
                   "gateway_within_2x_of_same_pool_floor": {
                       f"{'stream' if r['stream'] else 'json'}_c{r['concurrency']}{'_capture' if r['capture'] else ''}":
                           r["within_2x_of_same_pool_floor"] for r in results},
                   "machine": f"{os.cpu_count()} CPUs, shared",
                   "load_average_1m": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
                   "rounds": ROUNDS, "results": results}
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(summary, indent=2))
        plot(summary, OUT.with_suffix(".png"))
        print(json.dumps({k: v for k, v in summary.items() if k != "results"}))
        assert spans == attempts and server == logged == gateway_requests == sampler["traces"] == sampler["kept"], \
            "spans lost under load"
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
