"""Warm workers: a long-lived process (or container) that forks a fresh child per run.

The child runs pyflyte-execute's own entry point on the same files with the same arguments and
environment as a cold run, so ``finish`` reads the same outputs and error documents. The worker
holds a lease connection from its owner and exits when the owner does, however it ends. Runs
from several threads share a worker; a worker that must go (stale, hung) is retired: it stops
when the runs under way on it have ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..state import state
from .base import WORKER_DIR, LogSink, RunError, stoppable
from .proc import LogFollower, ctrl_c_interrupts, end_process, kill_group

READY_SECONDS = 60.0
HANDSHAKE_SECONDS = 10.0
SOCKET_PATH_BYTES = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


class WorkerFailure(Exception):
    """The worker could not take the run (crashed, hung or stale); a fresh one may."""


@dataclass
class Worker:
    """One worker, started by the command ``launch`` gives for its socket path; ``cleanup`` runs when it stops."""

    launch: Callable[[Path], list[str]]
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="shimtask-worker-")))
    cleanup: Callable[[], None] | None = None
    env: dict[str, str] | None = None  # the worker's start-up environment (default: this process's)
    process: subprocess.Popen | None = None
    lease: socket.socket | None = None
    active: int = 0  # runs under way; a retired worker stops when the last one ends
    retired: bool = False

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
            env=self.env,
        )
        answered = threading.Event()  # "ready", or the output ended
        lines: list[str] = []

        def watch() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                lines.append(line)
                if line.strip() == "ready":
                    answered.set()
            answered.set()

        threading.Thread(target=watch, daemon=True).start()
        try:
            answered.wait(READY_SECONDS)
            if "ready\n" not in lines or self.process.poll() is not None:
                raise WorkerFailure("the warm worker did not start: " + "".join(lines[-20:]).strip())
            self.lease = self._connect()
            self.lease.sendall(b'{"lease": true}\n')
        except BaseException as error:
            self.stop()
            if isinstance(error, OSError):
                raise WorkerFailure(f"the warm worker took no lease ({error})") from error
            raise

    def _connect(self) -> socket.socket:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(HANDSHAKE_SECONDS)
        folder = os.open(self.folder, os.O_PATH) if len(bytes(self.socket_path)) > SOCKET_PATH_BYTES else None
        try:  # a path longer than a socket address holds is reached through the folder's descriptor (Linux)
            connection.connect(str(self.socket_path) if folder is None else f"/proc/self/fd/{folder}/worker.sock")
        except OSError:
            connection.close()
            raise
        finally:
            if folder is not None:
                os.close(folder)
        return connection

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and self.socket_path.exists()

    def stop(self) -> None:
        if self.process is not None:
            end_process(self.process)
            self.process = None
        if self.cleanup is not None:
            self.cleanup()
            self.cleanup = None
        if self.lease is not None:
            self.lease.close()
            self.lease = None
        shutil.rmtree(self.folder, ignore_errors=True)  # the socket, and what flytekit made at import

    def retire(self) -> None:
        """Stop now if idle, else when the runs under way end (they belong to other callers)."""
        self.retired = True
        if self.active == 0:
            self.stop()

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
        try:
            connection = self._connect()
        except OSError as exc:
            raise WorkerFailure(f"the warm worker did not answer ({exc})") from exc
        stream = connection.makefile("rb")
        self.active += 1
        try:
            try:
                connection.sendall(json.dumps(request).encode() + b"\n")
                first = json.loads(stream.readline() or b"null")
            except (OSError, ValueError) as exc:
                raise WorkerFailure(f"the warm worker did not answer ({exc})") from exc
            if not first or "pid" not in first:
                raise WorkerFailure((first or {}).get("restart", "the warm worker closed the connection"))
            tail = LogFollower(log, on_log)
            stopped = threading.Event()

            def stop() -> None:  # the worker kills the run's process group when its connection closes
                stopped.set()
                connection.shutdown(socket.SHUT_RDWR)

            try:
                with stoppable(stop):
                    status, failure = self._await_status(connection, stream, timeout, stopped)
            finally:
                tail.stop()
            if failure is not None and failure.code == "WorkerDied":
                kill_group(first["pid"])
            return status, failure
        finally:
            # shut down, not only closed: a kept traceback (IPython keeps the KeyboardInterrupt's) must
            # not hold the socket open, or the worker would not see the client go and the run would go on
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            stream.close()
            connection.close()
            self.active -= 1
            if self.retired and self.active == 0:
                self.stop()

    def _await_status(self, connection: socket.socket, stream, timeout: float | None, stopped: threading.Event):
        connection.settimeout(timeout)
        try:
            with ctrl_c_interrupts():
                line = stream.readline()
        except TimeoutError:
            return None, RunError("SYSTEM", "Timeout", f"no result after {timeout:g}s; the run was killed")
        if not line and stopped.is_set():
            return None, RunError("SYSTEM", "Stopped", "the run was stopped")
        if not line:
            self.stop()
            return None, RunError("SYSTEM", "WorkerDied", "the warm worker stopped during the run; it will be replaced")
        return json.loads(line)["status"], None


class Pool:
    """Workers by key; each is started on first use, replaced when it dies, stopped at exit."""

    def __init__(self) -> None:
        self.workers: dict[tuple, Worker] = {}
        self.lock = threading.Lock()  # simultaneous first runs start one worker, not one each

    def get(self, key: tuple, make_worker: Callable[[], Worker]) -> Worker:
        with self.lock:
            worker = self.workers.get(key)
            if worker is None or not worker.alive():
                if worker is not None:
                    del self.workers[key]
                    worker.retire()
                worker = make_worker()
                worker.start()
                self.workers[key] = worker
            return worker

    def discard(self, key: tuple, worker: Worker | None = None) -> None:
        """Take the worker for ``key`` (only if it is ``worker``, when given) out of the pool and retire it."""
        with self.lock:
            found = self.workers.get(key)
            if found is not None and (worker is None or found is worker):
                del self.workers[key]
        if worker is not None:
            worker.retire()
        elif found is not None:
            found.retire()

    def stop_all(self) -> None:
        with self.lock:
            workers, self.workers = list(self.workers.values()), {}
        for worker in workers:
            worker.stop()


def warm_pool() -> Pool:
    """This process's warm pool, held by its kernel-wide state (which stops it at exit)."""
    return state().part(Pool, stop=Pool.stop_all)


def __getattr__(name: str) -> Any:
    if name == "pool":  # ``warm.pool``: the same pool, for callers that read it as a name
        return warm_pool()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def worker_code(worker_dir: str) -> str:
    """``python -c`` code that starts the warm worker from ``worker_dir`` (arguments: socket path, idle seconds)."""
    return f"import sys; sys.path.insert(0, {worker_dir!r}); import shimtask_warm_worker; shimtask_warm_worker.main()"


def local_worker(python: str, idle_seconds: float, env: dict[str, str] | None = None) -> Callable[[], Worker]:
    """A worker beside this kernel, started with ``env``; it exits when the kernel does, or after ``idle_seconds``."""

    def launch(socket_path: Path) -> list[str]:
        return [python, "-c", worker_code(str(WORKER_DIR)), str(socket_path), str(idle_seconds)]

    return lambda: Worker(launch, env=env)


def run_warm(
    key: tuple,
    make_worker: Callable[[], Worker],
    request: dict,
    *,
    timeout: float | None,
    on_log: LogSink | None,
) -> tuple[int | None, RunError | None]:
    """One run through the pool; a worker that cannot take it is replaced once.

    Raises WorkerFailure when a worker cannot be started at all.
    """
    for attempt in range(2):
        worker = warm_pool().get(key, make_worker)
        try:
            return worker.run(request, timeout=timeout, on_log=on_log)
        except WorkerFailure as failure:
            warm_pool().discard(key, worker)
            if attempt:
                return None, RunError("SYSTEM", "WorkerFailed", str(failure))
    raise AssertionError("unreachable")
