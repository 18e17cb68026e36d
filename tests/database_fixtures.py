"""A real PostgreSQL server on loopback for the tests that need one, started and removed by the tests.

Debian's server binaries (the ``postgresql`` package) run as the ``postgres`` user when the tests
run as root, on a free port, with password authentication. Locally the tests skip, with the reason,
when the binaries are absent; under CI they fail instead (``.ci/run`` installs the server).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import IN_CI

SERVER_BINARIES = [Path("/usr/lib/postgresql/15/bin"), *sorted(Path("/usr/lib/postgresql").glob("*/bin"))]


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    user: str
    password: str
    name: str = "postgres"

    @property
    def uri(self) -> str:
        """A SQLAlchemy URL without the password (that comes from a secret)."""
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{self.name}"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI must run the database tests: .ci/run installs postgresql)")
    pytest.skip(f"{reason} (install Debian's postgresql package; bash .ci/run does)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(name="postgres", scope="session")
def postgres_fixture() -> Iterator[Database]:
    """A fresh cluster with a ``people`` table, reachable only on 127.0.0.1 with a password."""
    binaries = next((path for path in SERVER_BINARIES if (path / "initdb").exists()), None)
    if binaries is None:
        _unavailable("PostgreSQL's server binaries (initdb, postgres) are not installed")
    try:
        import psycopg2
    except ImportError:
        _unavailable("psycopg2 is not installed (pip install -e '.[test]')")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="shimtask-postgres-"))
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    password = os.urandom(12).hex()
    secret_file = folder / "password"
    secret_file.write_text(password)
    if as_user:
        shutil.chown(secret_file, "postgres")
    data, port = folder / "data", _free_port()
    server = None
    try:
        subprocess.run(
            [*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256",
             f"--pwfile={secret_file}"],
            check=True, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        server = subprocess.Popen(
            [*as_user, str(binaries / "postgres"), "-D", str(data), "-p", str(port), "-k", str(folder),
             "-c", "listen_addresses=127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password=password)
                break
            except psycopg2.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with connection, connection.cursor() as cursor:
            cursor.execute("create table people (id integer primary key, name text not null)")
            cursor.executemany("insert into people values (%s, %s)", [(i, f"person {i}") for i in range(10)])
        connection.close()
        yield Database("127.0.0.1", port, "postgres", password)
    finally:
        if server is not None:
            pid_file = data / "postmaster.pid"
            with contextlib.suppress(OSError, ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)  # fast shutdown
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        shutil.rmtree(folder, ignore_errors=True)
