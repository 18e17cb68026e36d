"""Subprocess mode: the real pyflyte-execute, with exactly the template's container args."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from ..config import settings
from ..errors import ShimTaskError
from ..platform import is_run_time
from .base import (
    PROBE_DIR,
    LogSink,
    Prepared,
    RunError,
    RunResult,
    exit_reason,
    finish,
    host_command,
    import_roots,
    kill_group,
    stoppable,
)

# Read by an interpreter (or the dynamic loader, or the C library) as it starts: a warm worker cannot
# take them from a run's request, so it must have started with the run's own values.
STARTUP_NAMES = frozenset({"TZ", "PATH", "LANG", "LANGUAGE", "HOME"})
STARTUP_PREFIXES = ("PYTHON", "LD_", "LC_", "MALLOC_")
SET_PER_RUN = frozenset({"PYTHONPATH", "PYTHONUNBUFFERED"})  # the worker applies these to each child


def executable(name: str) -> str:
    """``name`` from this interpreter's own bin folder first, so the kernel's flytekit runs it."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise ShimTaskError(f"{name} not found next to {sys.executable} or on PATH; is flytekit installed?")
    return found


def child_env(prepared: Prepared, *, python_path: list[str], tmp: str) -> dict[str, str]:
    env = {**os.environ, **prepared.env}
    existing = [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*python_path, *existing]))
    env["TMPDIR"] = tmp
    env["SHIMTASK_PROBE"] = str(prepared.folder.probe)
    env.pop("FLYTE_FAIL_ON_ERROR", None)
    return env


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
        _kill_group(process)
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


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_in_subprocess(
    prepared: Prepared,
    *,
    keep: bool,
    timeout: float | None = None,
    on_log: LogSink | None = None,
    warm: bool = False,
) -> RunResult:
    started = time.perf_counter()
    try:
        host_command(prepared)
        command = [executable(prepared.args[0]), *prepared.args[1:]]
        python_path = [str(PROBE_DIR), *import_roots(prepared)]
        if carried := [entry for entry in python_path if os.pathsep in entry]:
            raise ShimTaskError(
                f"{carried[0]} holds {os.pathsep!r}, which PYTHONPATH cannot carry: use a workspace "
                f"(ShimTask.workspace) and a notebook folder whose paths have no {os.pathsep!r}"
            )
        env = child_env(prepared, python_path=python_path, tmp=str(prepared.folder.tmp))
        if prepared.pod is not None:
            env.update(prepared.pod.env())
        env.update(memory_watch(prepared))
    except BaseException:
        prepared.folder.remove(keep=False)
        raise
    notes = []
    if warm and (reason := cold_only(env)):
        warm = False
        notes.append(f"cold run: {reason}")
    if (missing := not_on_path(prepared)) is not None:
        return finish(prepared, mode="subprocess", logs="", started=started, keep=keep, failure=missing)
    try:
        with ctrl_c_interrupts():  # also while a warm worker starts
            if warm:
                status, logs, failure = _run_warm(prepared, command, env, python_path, timeout, on_log)
            else:
                status, logs, failure = run_process_group(
                    command, env=env, cwd=str(prepared.folder.root), timeout=timeout, on_log=on_log
                )
    except BaseException:
        prepared.folder.remove(keep=False)
        raise
    if failure is None:
        failure = memory_failure(prepared)
    if failure is None and status:
        failure = _exit_failure(prepared, status, logs)
    result = finish(prepared, mode="subprocess", logs=logs, started=started, keep=keep, failure=failure)
    result.notes[:0] = notes
    return result


def cold_only(env: Mapping[str, str], worker_env: Mapping[str, str] = os.environ) -> str | None:
    """Why a warm worker (started with ``worker_env``) would not behave like a fresh process for ``env``."""
    for name in env:
        if name.startswith(("FLYTE_", "_F_")) and not is_run_time(name) and worker_env.get(name) != env[name]:
            return f"the template sets {name}, which flytekit reads when it is imported"
    return None


def startup_env(env: Mapping[str, str]) -> dict[str, str]:
    """The part of ``env`` a process reads as it starts (and cannot take later from a request)."""
    return {
        name: value
        for name, value in env.items()
        if (name in STARTUP_NAMES or name.startswith(STARTUP_PREFIXES)) and name not in SET_PER_RUN
    }


def startup_difference(
    env: Mapping[str, str], worker_env: Mapping[str, str], started: str = "the warm worker"
) -> str | None:
    """Why a process (``started``) begun with ``worker_env`` would not behave as a fresh process with ``env`` does."""
    wanted, found = startup_env(env), startup_env(worker_env)
    for name in sorted(set(wanted) | set(found)):
        if wanted.get(name) != found.get(name):
            return f"the run's {name} is not the one {started} started with, and a process reads it as it starts"
    return None


def not_on_path(prepared: Prepared) -> RunError | None:
    """A template whose PATH has no pyflyte-execute fails in its container (exit 127); so it does here."""
    path = prepared.env.get("PATH")
    name = Path(prepared.args[0]).name
    if path is None or shutil.which(name, path=path):
        return None
    return RunError(
        "SYSTEM",
        "ProcessFailed",
        f"{name} is not on the PATH the template sets ({path}): its container would exit 127; "
        "fix container.env PATH or leave it unset",
    )


def memory_watch(prepared: Prepared) -> dict[str, str]:
    """The variable that has the probe kill the run's process group once it holds more than the template's
    memory limit, while the run goes on (as the pod's memory cgroup would); none without a limit."""
    from .image import memory_limit, quantity

    limit = memory_limit(prepared)
    return {"SHIMTASK_MEMORY_LIMIT": str(int(quantity(limit)))} if limit else {}


def memory_failure(prepared: Prepared) -> RunError | None:
    """OOMKilled, as the platform's cgroup would: the run was killed above the template's memory limit, or
    (the check after the run, for what the watch missed) its peak memory went above it."""
    import json

    from .image import memory_limit, quantity

    limit = memory_limit(prepared)
    if not limit or not prepared.folder.probe.exists():
        return None
    with contextlib.suppress(ValueError, OSError):
        record = json.loads(prepared.folder.probe.read_text())
        if killed_kb := record.get("memory_killed_kb"):
            return RunError(
                "SYSTEM",
                "OOMKilled",
                f"the run held {killed_kb // 1024} MiB, above the template's {limit} memory limit, and was killed "
                "as its container would be (OOMKilled): raise limits mem= or use less memory",
            )
        peak_kb = record.get("peak_rss_kb")
        if peak_kb and peak_kb * 1024 > quantity(limit):
            return RunError(
                "SYSTEM",
                "OOMKilled",
                f"the run's peak memory ({peak_kb // 1024} MiB) is above the template's {limit} memory limit; "
                "its container would be killed (OOMKilled): raise limits mem= or use less memory",
            )
    return None


def _run_warm(
    prepared: Prepared,
    command: list[str],
    env: dict[str, str],
    python_path: list[str],
    timeout: float | None,
    on_log: LogSink | None,
) -> tuple[int | None, str, RunError | None]:
    from .warm import local_worker, run_warm

    log = prepared.folder.root / "run.log"
    request = {
        "args": command,
        "env": env,
        "cwd": str(prepared.folder.root),
        "python_path": python_path[1:],
        "log": str(log),
    }
    # one worker per start-up environment: TZ, PYTHONHASHSEED, LD_LIBRARY_PATH... act as in a fresh process
    starting = startup_env(env)
    worker_env = {**{k: v for k, v in os.environ.items() if k not in startup_env(os.environ)}, **starting}
    make_worker = local_worker(sys.executable, idle_seconds=settings().warm_idle, env=worker_env)
    key = ("subprocess", sys.executable, tuple(sorted(starting.items())))
    status, failure = run_warm(key, make_worker, request, timeout=timeout, on_log=on_log)
    return status, log.read_text(errors="replace") if log.exists() else "", failure


def _exit_failure(prepared: Prepared, status: int, logs: str) -> RunError | None:
    """A non-zero exit without an error document (killed, crashed interpreter, bad arguments)."""
    if any(prepared.folder.outputs.glob("error*.pb")):
        return None
    tail = "\n".join(logs.strip().splitlines()[-20:])
    return RunError("SYSTEM", "ProcessFailed", f"pyflyte-execute ended with {exit_reason(status)}", tail)
