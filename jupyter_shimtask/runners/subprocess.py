"""Subprocess mode: the real pyflyte-execute, with exactly the template's container args."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..config import settings
from ..errors import ShimTaskError
from ..platform import is_run_time
from ..platform.resources import memory_limit, quantity
from ..worker.shimtask_output_probe import ENV_VAR as PROBE_VARIABLE
from .base import WORKER_DIR, LogSink, Prepared, RunError, RunResult, finishing, host_command, import_roots
from .proc import ctrl_c_interrupts, exit_failure, read_log, run_process_group
from .warm import local_worker, run_warm

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
    env[PROBE_VARIABLE] = str(prepared.folder.probe)
    env.pop("FLYTE_FAIL_ON_ERROR", None)
    return env


def run_in_subprocess(
    prepared: Prepared,
    *,
    keep: bool,
    timeout: float | None = None,
    on_log: LogSink | None = None,
    warm: bool = False,
) -> RunResult:
    with finishing(prepared, mode="subprocess", keep=keep) as run:
        host_command(prepared)
        command = [executable(prepared.args[0]), *prepared.args[1:]]
        python_path = [str(WORKER_DIR), *import_roots(prepared)]
        if carried := [entry for entry in python_path if os.pathsep in entry]:
            raise ShimTaskError(
                f"{carried[0]} holds {os.pathsep!r}, which PYTHONPATH cannot carry: use a workspace "
                f"(ShimTask.workspace) and a notebook folder whose paths have no {os.pathsep!r}"
            )
        env = child_env(prepared, python_path=python_path, tmp=str(prepared.folder.tmp))
        if prepared.pod is not None:
            env.update(prepared.pod.env())
        env.update(memory_watch(prepared))
        if warm and (reason := cold_only(env)):
            warm = False
            run.notes.append(f"cold run: {reason}")
        if (missing := not_on_path(prepared)) is not None:
            run.failure = missing
        else:
            run.logs, run.failure = _run(Launch(prepared, command, env, python_path, timeout, on_log), warm=warm)
    return run.result


@dataclass(frozen=True)
class Launch:
    """How pyflyte-execute starts for one run: its command, environment and import path, and its limits."""

    prepared: Prepared
    command: list[str]
    env: dict[str, str]
    python_path: list[str]  # the worker folder first
    timeout: float | None
    on_log: LogSink | None


def _run(launch: Launch, *, warm: bool) -> tuple[str, RunError | None]:
    """The run, cold or warm, and its verdict from what the process left (before ``finish`` reads the folder)."""
    prepared = launch.prepared
    with ctrl_c_interrupts():  # also while a warm worker starts
        if warm:
            status, logs, failure = _run_warm(launch)
        else:
            status, logs, failure = run_process_group(
                launch.command,
                env=launch.env,
                cwd=str(prepared.folder.root),
                timeout=launch.timeout,
                on_log=launch.on_log,
            )
    if failure is None:
        failure = memory_failure(prepared)
    if failure is None and status:
        failure = exit_failure(prepared, status, logs)
    return logs, failure


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
    limit = memory_limit(prepared.template)
    return {"SHIMTASK_MEMORY_LIMIT": str(int(quantity(limit)))} if limit else {}


def memory_failure(prepared: Prepared) -> RunError | None:
    """OOMKilled, as the platform's cgroup would: the run was killed above the template's memory limit, or
    (the check after the run, for what the watch missed) its peak memory went above it."""
    limit = memory_limit(prepared.template)
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


def _run_warm(launch: Launch) -> tuple[int | None, str, RunError | None]:
    env, log = launch.env, launch.prepared.folder.root / "run.log"
    request = {
        "args": launch.command,
        "env": env,
        "cwd": str(launch.prepared.folder.root),
        "python_path": launch.python_path[1:],  # the worker has its own folder first already
        "log": str(log),
    }
    # one worker per start-up environment: TZ, PYTHONHASHSEED, LD_LIBRARY_PATH... act as in a fresh process
    starting = startup_env(env)
    worker_env = {**{k: v for k, v in os.environ.items() if k not in startup_env(os.environ)}, **starting}
    make_worker = local_worker(sys.executable, idle_seconds=settings().warm_idle, env=worker_env)
    key = ("subprocess", sys.executable, tuple(sorted(starting.items())))
    status, failure = run_warm(key, make_worker, request, timeout=launch.timeout, on_log=launch.on_log)
    return status, read_log(log), failure
