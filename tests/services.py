"""Every service under test: the mock provider and each lab discovered under labs/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from labs import discover
from shared.config import REPO_ROOT, Settings


@dataclass(frozen=True)
class ServiceUnderTest:
    name: str
    readme: Path | None
    factory: Callable[[Settings], FastAPI]

    def __str__(self) -> str:
        return self.name


def _mock_factory(settings: Settings) -> FastAPI:
    from shared.mockllm.server import create_app

    return create_app(settings)


def _home_factory(settings: Settings) -> FastAPI:
    from labs.home import create_app

    return create_app(settings)


def services() -> list[ServiceUnderTest]:
    mock_readme = REPO_ROOT / "shared" / "mockllm" / "README.md"
    out = [ServiceUnderTest("mockllm", mock_readme if mock_readme.exists() else None, _mock_factory)]
    for lab in discover():
        readme = lab.folder / "README.md"
        out.append(ServiceUnderTest(lab.name, readme if readme.exists() else None, lab.create_app))
    out.append(ServiceUnderTest("home", None, _home_factory))  # the page `make up` serves beside the labs
    return out


SERVICES = services()


@contextmanager
def warm_client(app: FastAPI, timeout_s: float = 120.0, what: str = "start-up work did not finish") -> Iterator[Any]:
    """A TestClient over `app` (its start-up run, exceptions answered as 500s as a server would) that yields
    once the app's warm-up has finished: the tests then call it as a caller who waited for /readyz."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as client:
        warmup = getattr(app.state, "warmup", None)
        assert warmup is None or warmup.wait(timeout_s), what
        yield client


@contextmanager
def serve_in_thread(app: FastAPI, timeout_s: float = 20.0) -> Iterator[str]:
    """Serve `app` on a free loopback port in a daemon thread (for clients that need a real socket:
    SDKs given a base URL, a browser, a client that disconnects); yields the base URL once /healthz answers."""
    import threading
    import time

    import httpx
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_in_subprocess(argv: list[str], env: dict[str, str], ready_url: str, timeout_s: float = 60.0) -> Iterator[None]:
    """Run a server command (what a reader types) until `ready_url` answers 200; stop it afterwards.
    A server that exits early fails the test with the end of its stderr."""
    import subprocess
    import time

    import httpx

    proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, f"{argv} did not start"
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)
