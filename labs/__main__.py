"""python -m labs list | serve NN | mock | up | home | doctor"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import shared  # noqa: F401  (offline environment first)
from labs import MOCK_PORT, discover, get, mock_argv


def cmd_list(_: argparse.Namespace) -> int:
    print(f"{'lab':<6}{'package':<28}{'port':<7}make target")
    for lab in discover():
        print(f"{lab.key:<6}{lab.package:<28}{lab.port:<7}make lab-{lab.key}")
    print(f"{'mock':<6}{'shared.mockllm':<28}{MOCK_PORT:<7}make mock")
    return 0


def uvicorn_log_config(level: str) -> dict:
    """uvicorn's own logging, plus the project's loggers (`aieng.*`: warm-up progress, jobs) in the same
    format, so `make lab-06` shows "warm-up 2/2: index done in 21.3 s" beside uvicorn's lines."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["aieng"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


def serve(app, host: str, port: int) -> None:
    """uvicorn until Ctrl-C, then exit at once.

    After uvicorn has drained its connections, interpreter teardown (torch, tokenizers, thousands of
    modules) takes 3-10 s more for nothing: spans are flushed and logs written first, committed SQLite
    transactions are already durable, and a job cut short is marked interrupted on the next start.
    """
    import logging

    import uvicorn

    from shared import telemetry

    code = 0
    level = os.environ.get("LOG_LEVEL", "info").lower()
    try:
        uvicorn.run(app, host=host, port=port, log_level=level, log_config=uvicorn_log_config(level))
    except SystemExit as exc:  # uvicorn exits 1 when it cannot bind the port
        code = exc.code if isinstance(exc.code, int) else 1
    telemetry.flush(2000)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        lab = get(args.lab)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    host, port = args.host, args.port or lab.port
    app = lab.create_app()
    print(f"\n{lab.name} serving on http://{host}:{port}   docs: http://{host}:{port}/docs")
    print(f"try:  curl -s http://{host}:{port}/readyz\n", flush=True)
    serve(app, host, port)
    return 0


def cmd_home(args: argparse.Namespace) -> int:
    from labs.home import HOME_PORT, create_app

    port = args.port or HOME_PORT + args.port_offset
    print(f"home page on http://{args.host}:{port}/", flush=True)
    serve(create_app(host=args.host, port_offset=args.port_offset), args.host, port)
    return 0


def cmd_mock(args: argparse.Namespace) -> int:
    """The mock provider with every lab's mock plugin loaded (`labs.mock_plugins()`): what `make mock` runs."""
    from shared.mockllm.__main__ import main as serve_mock

    serve_mock(mock_argv(args.host, args.port))
    return 0


def _relay(name: str, proc: subprocess.Popen, width: int, lock: threading.Lock) -> None:
    """Copy one child's output to ours, each line prefixed with the service's name."""
    for line in proc.stdout:
        with lock:
            sys.stdout.write(f"{name:<{width}} | {line}")
            sys.stdout.flush()


def _announce_when_ready(urls: dict[str, str], home: str, began: float, stop: threading.Event,
                         lock: threading.Lock, exited: dict[str, int], timeout_s: float = 900) -> None:
    """Poll every /readyz; print one line once all answer 200 (naming any service that exited instead,
    since it will never be ready), or, at the timeout, which are still not ready."""
    import httpx

    waiting = dict(urls)
    while waiting and not stop.is_set() and time.monotonic() - began < timeout_s:
        for name, url in list(waiting.items()):
            if name in exited:
                del waiting[name]
                continue
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    del waiting[name]
            except httpx.HTTPError:
                pass
        stop.wait(1.0)
    if stop.is_set():
        return
    took = time.monotonic() - began
    with lock:
        if waiting:
            print(f"== not ready after {timeout_s:.0f} s: {', '.join(waiting)} (see their lines above)", flush=True)
        elif exited:
            gone = ", ".join(f"{name} (exited with code {code})" for name, code in exited.items())
            print(f"== ready in {took:.0f} s except {gone}: home {home}/", flush=True)
        else:
            print(f"== all ready in {took:.0f} s: home {home}/  "
                  + "  ".join(f"{name} {url}" for name, url in urls.items()), flush=True)


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn for children: the kernel sends the child SIGTERM when the supervisor dies, even by
    SIGKILL, so a killed `make up` leaves no lab holding its port. Linux only (None elsewhere). libc is
    loaded here, in the parent: between fork and exec the child may only make the system call."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    PR_SET_PDEATHSIG = 1

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))

    return arm


def cmd_up(args: argparse.Namespace) -> int:
    """One supervisor: start the mock, every lab and the home page as child processes; Ctrl-C stops all."""
    from labs.home import HOME_PORT

    children: dict[str, subprocess.Popen] = {}
    py = sys.executable
    off = args.port_offset
    specs = [("mock", [py, "-m", "shared.mockllm", *mock_argv(args.host, MOCK_PORT + off)], MOCK_PORT + off)]
    specs += [(lab.name, [py, "-m", "labs", "serve", lab.key, "--host", args.host, "--port", str(lab.port + off)],
               lab.port + off) for lab in discover()]
    specs += [("home", [py, "-m", "labs", "home", "--host", args.host, "--port-offset", str(off)], HOME_PORT + off)]
    width = max(len(name) for name, _, _ in specs)
    lock = threading.Lock()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # lines reach the relay as they are written
    began = time.monotonic()
    arm = die_with_parent()
    for name, command, port in specs:
        children[name] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                          bufsize=1, env=env, errors="replace", preexec_fn=arm)
        threading.Thread(target=_relay, args=(name, children[name], width, lock), daemon=True).start()
        with lock:
            print(f"started {name:<{width}} http://{args.host}:{port}  (pid {children[name].pid})", flush=True)
    urls = {name: f"http://{args.host}:{port}" for name, _, port in specs if name != "home"}
    stop_event = threading.Event()
    exited: dict[str, int] = {}
    threading.Thread(target=_announce_when_ready, daemon=True,
                     args=(urls, f"http://{args.host}:{HOME_PORT + off}", began, stop_event, lock, exited)).start()
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and children:
            for name, proc in list(children.items()):
                code = proc.poll()
                if code is not None:
                    with lock:
                        print(f"!! {name} exited with code {code}; the others keep running", flush=True)
                    exited[name] = code
                    del children[name]
            time.sleep(0.5)
    finally:
        stop_event.set()
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # uvicorn's graceful path: drain, flush, exit
        deadline = time.monotonic() + 10
        for proc in children.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
        print("all stopped", flush=True)
    return 0


def cmd_doctor(_: argparse.Namespace) -> int:
    from shared.doctor import run

    return run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labs")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list").set_defaults(fn=cmd_list)
    serve = sub.add_parser("serve")
    serve.add_argument("lab")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(fn=cmd_serve)
    mock = sub.add_parser("mock", help="serve the mock LLM provider with every lab's mock plugin loaded")
    mock.add_argument("--host", default=None, help="default MOCK_HOST (127.0.0.1)")
    mock.add_argument("--port", type=int, default=None, help="default MOCK_PORT (8000)")
    mock.set_defaults(fn=cmd_mock)
    up = sub.add_parser("up")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port-offset", type=int, default=0, help="shift every port (tests use this)")
    up.set_defaults(fn=cmd_up)
    home = sub.add_parser("home", help="the page listing every lab with live readiness (make up starts it)")
    home.add_argument("--host", default="127.0.0.1")
    home.add_argument("--port", type=int, default=None, help="default 8080 + --port-offset")
    home.add_argument("--port-offset", type=int, default=0, help="where the labs it lists are (tests use this)")
    home.set_defaults(fn=cmd_home)
    sub.add_parser("doctor").set_defaults(fn=cmd_doctor)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
