"""The runners' one process toolkit: process groups, Ctrl-C, kill, log tail and exit verdicts."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..platform.resources import memory_limit
from .base import LogSink, Prepared, RunError, stoppable

TAIL_LINES = 20  # how much of a run's log a failure without an error document carries


def run_process_group(
    command: list[str], *, env: dict[str, str], cwd: str, timeout: float | None, on_log: LogSink | None
) -> tuple[int | None, str, RunError | None]:
    """Run ``command`` in its own process group, streaming output; the group never outlives the call."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
        errors="replace",
        preexec_fn=_die_with_parent,
    )
    lines: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if on_log:
                on_log(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    failure = None
    try:
        with ctrl_c_interrupts(), stoppable(lambda: kill_group(process.pid)):
            process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        failure = RunError("SYSTEM", "Timeout", f"no result after {timeout:g}s; the process group was killed")
    finally:
        end_process(process)
        reader.join(timeout=5)
    return process.returncode, "".join(lines), failure


@contextlib.contextmanager
def ctrl_c_interrupts() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt while we wait (importing flytekit makes SIGINT call exit(1))."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid``, if it is still there."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def end_process(process: subprocess.Popen) -> None:
    """Kill ``process``'s group and collect the process."""
    kill_group(process.pid)
    process.wait()


def _parent_death_signal() -> Callable[[], None] | None:
    """prctl(PR_SET_PDEATHSIG, SIGKILL), bound before any fork (Linux); None elsewhere."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_signal() -> None:  # in the forked child, before exec: no imports, no locks
        prctl(1, signal.SIGKILL)
        if os.getppid() != parent:  # the parent is already gone
            os._exit(137)

    return set_signal


# A run's process must not outlive this process, even when it is killed with SIGKILL
_die_with_parent = _parent_death_signal() if sys.platform.startswith("linux") else None


class LogFollower:
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


def log_tail(logs: str) -> str:
    """The last lines of a run's log, which a failure without an error document carries."""
    return "\n".join(logs.strip().splitlines()[-TAIL_LINES:])


def read_log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def exit_reason(status: int) -> str:
    """An exit status as a person reads it: ``exit status 1``, ``signal 11 (SIGSEGV)``."""

    def name(number: int) -> str:
        try:
            return f" ({signal.Signals(number).name})"
        except ValueError:
            return ""

    if status < 0:
        return f"signal {-status}{name(-status)}"
    if status > 128:  # a shell or a container reports death by signal N as 128 + N
        return f"exit status {status}{name(status - 128)}"
    return f"exit status {status}"


def exit_failure(
    prepared: Prepared,
    status: int | None,
    logs: str,
    *,
    container: str | None = None,
    out_of_memory: bool = False,
) -> RunError | None:
    """The verdict on a non-zero exit that left no error document: out of memory, a command that could not
    start, a crash. ``container`` names the program of a container run (its exit codes follow a shell's)."""
    tail = log_tail(logs)
    if container is not None:
        memory = memory_limit(prepared.template)
        if out_of_memory:
            reason = f"the container ran out of memory (limit {memory or 'none'}) and was killed"
            return RunError("SYSTEM", "OOMKilled", reason, tail)
        if status == 137 and memory:  # SIGKILL under a limit; some engines (Podman on cgroup v1) do not flag it
            reason = f"the container was killed (SIGKILL) under its {memory} memory limit"
            return RunError("SYSTEM", "OOMKilled", reason, tail)
    if any(prepared.folder.outputs.glob("error*.pb")):
        return None
    reason = exit_reason(status) if status is not None else "an engine error"
    if container is None:
        return RunError("SYSTEM", "ProcessFailed", f"pyflyte-execute ended with {reason}", tail)
    if status in (126, 127):
        reason = f"{container} could not be started in the image (exit {status})"
        return RunError("SYSTEM", "ContainerFailed", reason, tail)
    return RunError("SYSTEM", "ContainerFailed", f"the container ended with {reason}", tail)
