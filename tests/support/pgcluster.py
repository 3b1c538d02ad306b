"""A private, throw-away PostgreSQL cluster for tests that must stop or restart the database.

The shared server at 127.0.0.1:5432 is used by other tests and people, so it is never stopped.
`PgCluster` runs `initdb` and `pg_ctl` from /usr/lib/postgresql/<version>/bin in a temporary
folder on a free port (TCP on 127.0.0.1, its unix socket inside the folder), with `trust`
authentication for user `postgres`. PostgreSQL refuses to run as root, so when the tests run as
root the binaries are run as the `postgres` system user (`runuser -u postgres --`) in a folder
owned by that user.

    cluster = PgCluster.create()        # initdb + start; skips loudly (fails under CI) if absent
    url = cluster.url()                 # postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres
    cluster.stop(mode="immediate")      # like a crash; "fast" is a clean shutdown
    cluster.start()                     # same data, same port
    cluster.destroy()

or use the `pg_cluster` pytest fixture (import it into a test module).
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_USER = "postgres"


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl (or $LOA_PG_BINDIR)."""
    candidates = [os.environ["LOA_PG_BINDIR"]] if os.environ.get("LOA_PG_BINDIR") else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True)
    for candidate in candidates:
        path = Path(candidate)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable_reason() -> str | None:
    """Why no private cluster can be started here, or None."""
    if find_bindir() is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return f"running as root and there is no '{PG_USER}' user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


def skip_unless_available() -> None:
    """Skip loudly (fail when CI is set) if a private cluster cannot be started."""
    reason = unavailable_reason()
    if reason is None:
        return
    message = f"!!! PRIVATE POSTGRESQL TESTS NOT RUN: {reason} (apt-get install postgresql) !!!"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class PgCluster:
    """One private PostgreSQL cluster in a temporary folder."""

    def __init__(self, root: Path, port: int, bindir: Path, as_postgres: bool) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = port
        self.bindir = bindir
        self.as_postgres = as_postgres

    # -- lifecycle --------------------------------------------------------------------------
    @classmethod
    def create(cls, port: int = 0, fsync: bool = True) -> PgCluster:
        skip_unless_available()
        bindir = find_bindir()
        assert bindir is not None
        as_postgres = os.geteuid() == 0
        root = Path(tempfile.mkdtemp(prefix="loa-pgcluster-"))
        if as_postgres:
            entry = pwd.getpwnam(PG_USER)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        cluster = cls(root, port or _free_port(), bindir, as_postgres)
        try:
            cluster._run("initdb", "-D", str(cluster.data), "-A", "trust", "-U", PG_USER,
                         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
            with (cluster.data / "postgresql.conf").open("a") as conf:
                conf.write("\n# loa tests\n"
                           f"port = {cluster.port}\n"
                           "listen_addresses = '127.0.0.1'\n"
                           f"unix_socket_directories = '{root}'\n"
                           "max_connections = 100\n"
                           "shared_buffers = 32MB\n"
                           f"fsync = {'on' if fsync else 'off'}\n")
            cluster.start()
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    def _run(self, program: str, *args: str, timeout: float = 60) -> str:
        cmd = [str(self.bindir / program), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", PG_USER, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()}"
                               f"\n{self.log_tail()}")
        return result.stdout

    def start(self) -> None:
        """Start (or restart after a stop) and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: clean shutdown, clients disconnected; `immediate`: like a crash (recovery
        from the WAL at the next start); `smart`: waits for clients (not useful here)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        cmd = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"]
        if self.as_postgres:
            cmd = ["runuser", "-u", PG_USER, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if self.data.exists() and self.running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- use --------------------------------------------------------------------------------
    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A fresh private cluster for one test (removed afterwards, whatever happened)."""
    cluster = PgCluster.create()
    try:
        yield cluster
    finally:
        cluster.destroy()
