"""Warm workers: a long-lived process per (python, workspace) that forks a fresh child per run.

The child runs pyflyte-execute's own entry point on the same files with the same arguments and
environment as a cold run, so ``finish`` reads the same outputs and error documents.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .base import PROBE_DIR, LogSink, RunError

READY_SECONDS = 60.0
HANDSHAKE_SECONDS = 10.0


class WorkerFailure(Exception):
    """The worker could not take the run (crashed, hung or stale); a fresh one may."""


@dataclass
class Worker:
    """One worker process, started by ``command`` (which must end with the socket path)."""

    launch: Callable[[Path], list[str]]
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="shimtask-worker-")))
    process: subprocess.Popen | None = None

    @property
    def socket_path(self) -> Path:
        return self.folder / "worker.sock"

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.launch(self.socket_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()
        lines: list[str] = []

        def watch() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                lines.append(line)
                if line.strip() == "ready":
                    ready.set()

        threading.Thread(target=watch, daemon=True).start()
        if not ready.wait(READY_SECONDS) or self.process.poll() is not None:
            self.stop()
            raise WorkerFailure("the warm worker did not start: " + "".join(lines[-20:]).strip())

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and self.socket_path.exists()

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, 9)
            self.process.wait()
            self.process = None
        for path in (self.socket_path, self.folder):
            with contextlib.suppress(OSError):
                path.unlink() if path.is_socket() else path.rmdir()

    def run(
        self,
        request: dict,
        *,
        timeout: float | None,
        on_log: LogSink | None,
    ) -> tuple[int | None, RunError | None]:
        """Send one run; returns (exit status, failure). Raises WorkerFailure if not taken."""
        log = Path(request["log"])
        log.touch()
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.settimeout(HANDSHAKE_SECONDS)
            try:
                connection.connect(str(self.socket_path))
                connection.sendall(json.dumps(request).encode() + b"\n")
                stream = connection.makefile("rb")
                first = json.loads(stream.readline() or b"null")
            except (OSError, ValueError) as exc:
                raise WorkerFailure(f"the warm worker did not answer ({exc})") from exc
            if not first or "pid" not in first:
                raise WorkerFailure((first or {}).get("restart", "the warm worker closed the connection"))
            tail = _Tail(log, on_log)
            try:
                status, failure = self._await_status(connection, stream, timeout)
            finally:
                tail.stop()
            if failure is not None and failure.code == "WorkerDied":
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(first["pid"], 9)
            return status, failure
        finally:
            connection.close()

    def _await_status(self, connection: socket.socket, stream, timeout: float | None):
        from .subprocess import ctrl_c_interrupts

        connection.settimeout(timeout)
        try:
            with ctrl_c_interrupts():
                line = stream.readline()
        except TimeoutError:
            return None, RunError("SYSTEM", "Timeout", f"no result after {timeout:g}s; the run was killed")
        if not line:
            self.stop()
            return None, RunError("SYSTEM", "WorkerDied", "the warm worker stopped during the run; it will be replaced")
        return json.loads(line)["status"], None


class _Tail:
    """Streams a growing log file to the sink until stopped."""

    def __init__(self, path: Path, sink: LogSink | None):
        self.path, self.sink, self.done = path, sink, threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        with open(self.path, errors="replace") as handle:
            while True:
                chunk = handle.read()
                if chunk and self.sink:
                    self.sink(chunk)
                if not chunk:
                    if self.done.is_set():
                        return
                    time.sleep(0.02)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=5)


class Pool:
    """Workers by key; each is started on first use, replaced when it dies, stopped at exit."""

    def __init__(self) -> None:
        self.workers: dict[tuple, Worker] = {}
        atexit.register(self.stop_all)

    def get(self, key: tuple, launch: Callable[[Path], list[str]]) -> Worker:
        worker = self.workers.get(key)
        if worker is None or not worker.alive():
            if worker is not None:
                worker.stop()
            worker = Worker(launch)
            worker.start()
            self.workers[key] = worker
        return worker

    def discard(self, key: tuple) -> None:
        worker = self.workers.pop(key, None)
        if worker is not None:
            worker.stop()

    def stop_all(self) -> None:
        for key in list(self.workers):
            self.discard(key)


pool = Pool()


def local_launch(python: str, idle_seconds: float) -> Callable[[Path], list[str]]:
    """A worker beside this kernel; it exits when the kernel does, or after ``idle_seconds``."""

    def launch(socket_path: Path) -> list[str]:
        code = f"import sys; sys.path.insert(0, {str(PROBE_DIR)!r}); import shimtask_worker; shimtask_worker.main()"
        return [python, "-c", code, str(socket_path), str(idle_seconds)]

    return launch


def run_warm(
    key: tuple,
    launch: Callable[[Path], list[str]],
    request: dict,
    *,
    timeout: float | None,
    on_log: LogSink | None,
) -> tuple[int | None, RunError | None]:
    """One run through the pool; a worker that cannot take it is replaced once."""
    for attempt in range(2):
        worker = pool.get(key, launch)
        try:
            return worker.run(request, timeout=timeout, on_log=on_log)
        except WorkerFailure as failure:
            pool.discard(key)
            if attempt:
                return None, RunError("SYSTEM", "WorkerFailed", str(failure))
    raise AssertionError("unreachable")
