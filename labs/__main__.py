"""python -m labs list | serve NN | mock | up | doctor"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

import shared  # noqa: F401  (offline environment first)
from labs import MOCK_PORT, discover, get, mock_argv


def cmd_list(_: argparse.Namespace) -> int:
    print(f"{'lab':<6}{'package':<28}{'port':<7}make target")
    for lab in discover():
        print(f"{lab.key:<6}{lab.package:<28}{lab.port:<7}make lab-{lab.key}")
    print(f"{'mock':<6}{'shared.mockllm':<28}{MOCK_PORT:<7}make mock")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    lab = get(args.lab)
    host, port = args.host, args.port or lab.port
    app = lab.create_app()
    print(f"\n{lab.name} serving on http://{host}:{port}   docs: http://{host}:{port}/docs")
    print(f"try:  curl -s http://{host}:{port}/readyz\n", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=os.environ.get("LOG_LEVEL", "info").lower())
    return 0


def cmd_mock(args: argparse.Namespace) -> int:
    """The mock provider with every lab's mock plugin loaded (`labs.mock_plugins()`): what `make mock` runs."""
    from shared.mockllm.__main__ import main as serve_mock

    serve_mock(mock_argv(args.host, args.port))
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """One supervisor: start the mock and every lab as child processes; Ctrl-C stops all."""
    children: dict[str, subprocess.Popen] = {}
    py = sys.executable
    off = args.port_offset
    specs = [("mock", [py, "-m", "shared.mockllm", *mock_argv(args.host, MOCK_PORT + off)], MOCK_PORT + off)]
    specs += [(lab.name, [py, "-m", "labs", "serve", lab.key, "--host", args.host, "--port", str(lab.port + off)],
               lab.port + off) for lab in discover()]
    for name, command, port in specs:
        children[name] = subprocess.Popen(command)
        print(f"started {name:<22} http://{args.host}:{port}  (pid {children[name].pid})", flush=True)
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
                    print(f"!! {name} exited with code {code}; the others keep running", flush=True)
                    del children[name]
            time.sleep(0.5)
    finally:
        for proc in children.values():
            proc.terminate()
        for proc in children.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        print("all stopped")
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
    sub.add_parser("doctor").set_defaults(fn=cmd_doctor)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
