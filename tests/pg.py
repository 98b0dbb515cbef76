"""A throwaway PostgreSQL cluster for the tests: initdb + pg_ctl on a free port, removed afterwards.

    from tests.pg import pg_cluster, pg_url   # noqa: F401   (fixtures: the cluster, and one fresh database per test)

PostgreSQL refuses to run as root, and CI runs as root: then the cluster runs as `nobody` (runuser),
in a temporary folder that user owns. initdb writes to /dev/null through a shell, and a few container
images ship /dev/null without write permission for other users; there the commands run in a private
mount namespace with a writable file bound over /dev/null (unshare -m), which changes nothing outside
them. Where PostgreSQL is not installed, or cannot be started here, the tests that need it are skipped
with the reason; TEST_DATABASE_URL=postgresql://... uses a server you already run instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

USER = "nobody"


def _bin_dir() -> Path | None:
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self):
        self.dir: Path | None = None
        self.url: str | None = None
        self.skip_reason: str | None = None
        self._prefix: list[str] = []
        self._bin: Path | None = None

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self._prefix, *args], capture_output=True, text=True, timeout=60)

    def start(self) -> None:
        if os.environ.get("TEST_DATABASE_URL"):
            self.url = os.environ["TEST_DATABASE_URL"]
            return
        self._bin = _bin_dir()
        if self._bin is None:
            self.skip_reason = "PostgreSQL is not installed (no initdb/pg_ctl; Debian: apt-get install postgresql)"
            return
        self.dir = Path(tempfile.mkdtemp(prefix="aieng-pg-"))
        if os.geteuid() == 0:
            if not shutil.which("runuser"):
                self.skip_reason = "running as root and `runuser` is missing: PostgreSQL will not run as root"
                return
            shutil.chown(self.dir, USER)
            self.dir.chmod(0o700)
            self._prefix = ["runuser", "-u", USER, "--"]
            if not os.stat("/dev/null").st_mode & stat.S_IWOTH:
                devnull = self.dir / "devnull"
                devnull.touch(mode=0o666)
                devnull.chmod(0o666)
                self._prefix = ["unshare", "-m", "sh", "-c", f'mount --bind {devnull} /dev/null && exec "$@"', "sh",
                                *self._prefix]
        data, port = self.dir / "data", _free_port()
        init = self._run(str(self._bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                         "--no-sync", "--no-instructions")
        if init.returncode != 0:
            self.skip_reason = f"initdb failed: {(init.stderr or init.stdout).strip()[-300:]}"
            return
        opts = f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off " \
               "-c full_page_writes=off -c max_connections=200"
        up = self._run(str(self._bin / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"), "-o", opts, "-w",
                       "start")
        if up.returncode != 0:
            log = (self.dir / "log").read_text()[-300:] if (self.dir / "log").exists() else up.stderr
            self.skip_reason = f"pg_ctl start failed: {log.strip()}"
            return
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        if self.dir is None:
            return
        if self.url and self._bin:
            self._run(str(self._bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = self.url = None

    def fresh_database(self) -> str:
        """A new empty database on the cluster; its URL."""
        import psycopg  # the PostgreSQL tests only

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def pg_cluster():
    cluster = Cluster()
    try:
        cluster.start()
        if cluster.url is None:
            pytest.skip(cluster.skip_reason or "no PostgreSQL")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """A fresh database on the session's cluster, so no test sees another's tables."""
    return pg_cluster.fresh_database()
