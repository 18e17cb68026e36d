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
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..config import settings
from ..errors import ShimTaskError
from ..platform import is_run_time
from .base import PROBE_DIR, LogSink, Prepared, RunError, RunResult, finish, import_roots, kill_group, stoppable


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
    command = [executable(prepared.args[0]), *prepared.args[1:]]
    python_path = [str(PROBE_DIR), *import_roots(prepared)]
    env = child_env(prepared, python_path=python_path, tmp=str(prepared.folder.tmp))
    if prepared.pod is not None:
        env.update(prepared.pod.env())
    notes = []
    if warm and (reason := cold_only(env)):
        warm = False
        notes.append(f"cold run: {reason}")
    try:
        if warm:
            status, logs, failure = _run_warm(prepared, command, env, python_path, timeout, on_log)
        else:
            status, logs, failure = run_process_group(
                command, env=env, cwd=str(prepared.folder.root), timeout=timeout, on_log=on_log
            )
    except BaseException:
        prepared.folder.remove(keep=False)
        raise
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
    make_worker = local_worker(sys.executable, idle_seconds=settings().warm_idle)
    status, failure = run_warm(("subprocess", sys.executable), make_worker, request, timeout=timeout, on_log=on_log)
    return status, log.read_text(errors="replace") if log.exists() else "", failure


def _exit_failure(prepared: Prepared, status: int, logs: str) -> RunError | None:
    """A non-zero exit without an error document (killed, crashed interpreter, bad arguments)."""
    if any(prepared.folder.outputs.glob("error*.pb")):
        return None
    tail = "\n".join(logs.strip().splitlines()[-20:])
    reason = f"signal {-status}" if status < 0 else f"exit status {status}"
    return RunError("SYSTEM", "ProcessFailed", f"pyflyte-execute ended with {reason}", tail)
