"""Warm workers: a long-lived process (or container) that forks a fresh child per run.

The child runs pyflyte-execute's own entry point on the same files with the same arguments and
environment as a cold run, so ``finish`` reads the same outputs and error documents. The worker
holds a lease connection from its owner and exits when the owner does, however it ends. Runs
from several threads get a worker each (one run at a time per worker, as a cold run has its process
to itself); a worker that must go (stale, hung) is retired: it stops when its run has ended.
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

from ..state import state
from .base import WORKER_DIR, LogSink, RunError, stoppable
from .proc import LogFollower, ctrl_c_interrupts, end_process, kill_group

READY_SECONDS = 60.0
HANDSHAKE_SECONDS = 10.0
SOCKET_PATH_BYTES = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


class WorkerFailure(Exception):
    """The worker could not take the run (crashed, hung or stale); a fresh one may."""


@dataclass(eq=False)  # a worker is itself: the pool keeps sets of workers by identity
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
    """Workers by key, one run at a time each; started on first use, replaced when they die, stopped at exit.

    A run never shares its worker (or warm container) with another run going on: a key whose workers
    are all busy gets one more, up to ``ShimTask.parallelism``, and further runs wait for one to be
    free. ``workers`` holds each key's first worker, ``extras`` the others; idle ones exit after
    ``ShimTask.warm_idle`` seconds on their own.
    """

    def __init__(self) -> None:
        self.workers: dict[tuple, Worker] = {}
        self.extras: dict[tuple, list[Worker]] = {}
        self.lock = threading.Lock()  # simultaneous first runs start the workers they need, no more
        self.freed = threading.Condition(self.lock)
        self.busy: set[Worker] = set()  # the workers a run has claimed

    def get(self, key: tuple, make_worker: Callable[[], Worker]) -> Worker:
        """A worker of ``key`` for one run, claimed until ``release``: an idle one, a new one, or the first freed."""
        from ..config import settings

        with self.freed:
            while True:
                workers = self._alive(key)
                worker = next((worker for worker in workers if worker not in self.busy), None)
                if worker is None and len(workers) < max(1, settings().parallelism):
                    worker = make_worker()
                    worker.start()
                    self._keep(key, [*workers, worker])
                if worker is not None:
                    self.busy.add(worker)
                    return worker
                self.freed.wait(0.5)

    def _alive(self, key: tuple) -> list[Worker]:
        """``key``'s workers after retiring the dead ones (an extra takes a dead first worker's place)."""
        workers = self._of(key)
        for worker in [worker for worker in workers if not worker.alive() and worker not in self.busy]:
            workers.remove(worker)
            worker.retire()
        self._keep(key, workers)
        return workers

    def _of(self, key: tuple) -> list[Worker]:
        return [worker for worker in [self.workers.get(key), *self.extras.get(key, [])] if worker is not None]

    def _keep(self, key: tuple, workers: list[Worker]) -> None:
        """``workers`` become ``key``'s: the first in ``workers``, the rest in ``extras``."""
        self.workers.pop(key, None)
        self.extras.pop(key, None)
        if workers:
            self.workers[key] = workers[0]
        if workers[1:]:
            self.extras[key] = workers[1:]

    def release(self, worker: Worker) -> None:
        """The run on ``worker`` has ended: another may take it."""
        with self.freed:
            self.busy.discard(worker)
            self.freed.notify_all()

    def discard(self, key: tuple, worker: Worker | None = None) -> None:
        """Take ``key``'s workers (only ``worker``, when given) out of the pool and retire them."""
        with self.lock:
            pooled = self._of(key)
            self._keep(key, [found for found in pooled if worker is not None and found is not worker])
        for found in [worker] if worker is not None else pooled:
            found.retire()

    def stop_all(self) -> None:
        with self.lock:
            workers = [worker for key in list(self.workers) for worker in self._of(key)]
            self.workers, self.extras = {}, {}
        for worker in workers:
            worker.stop()


def warm_pool() -> Pool:
    """This process's warm pool, held by its kernel-wide state (which stops it at exit)."""
    return state().part(Pool, stop=Pool.stop_all)


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
    place: Callable[[Worker], contextlib.AbstractContextManager] | None = None,
) -> tuple[int | None, RunError | None]:
    """One run through the pool, on a worker of its own; a worker that cannot take it is replaced once.

    ``place(worker)`` puts the run where that worker sees it, for the run's length. Raises WorkerFailure
    when a worker cannot be started at all.
    """
    for attempt in range(2):
        worker = warm_pool().get(key, make_worker)
        try:
            with place(worker) if place is not None else contextlib.nullcontext():
                return worker.run(request, timeout=timeout, on_log=on_log)
        except WorkerFailure as failure:
            warm_pool().discard(key, worker)
            if attempt:
                return None, RunError("SYSTEM", "WorkerFailed", str(failure))
        finally:
            warm_pool().release(worker)
    raise AssertionError("unreachable")
