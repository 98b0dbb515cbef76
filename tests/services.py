"""Every service under test: the mock provider and each lab discovered under labs/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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


def services() -> list[ServiceUnderTest]:
    mock_readme = REPO_ROOT / "shared" / "mockllm" / "README.md"
    out = [ServiceUnderTest("mockllm", mock_readme if mock_readme.exists() else None, _mock_factory)]
    for lab in discover():
        readme = lab.folder / "README.md"
        out.append(ServiceUnderTest(lab.name, readme if readme.exists() else None, lab.create_app))
    return out


SERVICES = services()


@contextmanager
def serve_in_thread(app: FastAPI, timeout_s: float = 20.0) -> Iterator[str]:
    """Serve `app` on a free loopback port in a daemon thread (for clients that need a real socket:
    SDKs given a base URL, a browser, a client that disconnects); yields the base URL once /healthz answers."""
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
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
