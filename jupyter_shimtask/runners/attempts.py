"""A task's run: its attempts in the platform's pod, each in a mode, one RunResult whichever mode runs it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypedDict

from ..config import settings
from ..errors import ShimTaskError
from ..platform import PodSpec, pod_spec
from ..platform.secrets import Redactor, unrequested_read
from .base import Attempt, LogSink, Prepared, RunError, RunResult, prepare

MODES = ("process", "subprocess", "image")


class RunOptions(TypedDict, total=False):
    """How to run a task: ``run``'s keyword arguments (see ``jupyter_shimtask.run``); unset ones come from settings."""

    mode: str | None
    timeout: float | None
    keep: bool | None
    image: str | None
    engine: str | None
    warm: bool | None
    on_log: LogSink | None
    secrets: Mapping[str, str] | None
    retries: bool


def run_task(task_or_template: Any, inputs: dict[str, Any] | None, options: RunOptions) -> RunResult:
    """One task's run, its attempts retried by the platform's rules (``options`` as ``run`` takes them)."""
    config = settings()
    mode = options.get("mode") or config.mode
    if mode not in MODES:
        raise ShimTaskError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    timeout = options.get("timeout")
    if mode == "process" and timeout is not None:
        raise ShimTaskError("timeout needs mode subprocess or image: an in-process run cannot be stopped safely")
    timeout = timeout if timeout is not None else (config.timeout or None)
    keep = options.get("keep")
    keep = config.keep if keep is None else keep
    warm = options.get("warm")
    warm = config.warm if warm is None else warm
    how = Attempts(
        mode,
        keep,
        timeout,
        options.get("image"),
        options.get("engine"),
        warm,
        options.get("on_log"),
        options.get("secrets"),
        options.get("retries", True),
    )
    return run_attempts(lambda: prepare(task_or_template, inputs, runs_folder(mode, warm)), how)


@dataclass(frozen=True)
class Attempts:
    """How to run the attempts of one task run (settings already resolved); ``workflow``/``execution_id``
    place it in a workflow's execution."""

    mode: str
    keep: bool
    timeout: float | None
    image: str | None
    engine: str | None
    warm: bool
    on_log: LogSink | None
    secrets: Mapping[str, str] | None = None
    retries: bool = True
    execution_id: str | None = None
    workflow: str | None = None


def run_attempts(make_prepared: Callable[[], Prepared], how: Attempts) -> RunResult:
    """Attempts in the platform's pod, retried by flytepropeller's rules; ``make_prepared`` gives each its run."""
    prepared = make_prepared()
    try:
        spec = pod_spec(
            prepared.template,
            settings(),
            secrets=how.secrets,
            timeout=how.timeout,
            execution_id=how.execution_id,
            workflow=how.workflow,
        )
    except BaseException:
        prepared.folder.remove(keep=False)
        raise
    sink = Redactor(spec.redact.values, how.on_log) if how.on_log else None
    started = time.perf_counter()
    attempts: list[Attempt] = []
    errors: list[RunError] = []
    while True:
        pod = spec.attempt(len(attempts))
        try:
            with pod.delivered(in_container=how.mode == "image") as delivered:
                prepared = replace(prepared, pod=delivered)
                result = execute(
                    prepared, how, timeout=delivered.timeout_seconds(), on_log=sink.write if sink else None
                )
        finally:
            if sink:
                sink.flush()
        result = _as_platform_reports(result, spec)
        if result.ok:
            attempts.append(Attempt(pod.attempt, None, result.seconds, workdir=result.workdir))
            break
        assert result.error is not None
        errors.append(result.error)
        retry = spec.retry.after(errors) if how.retries else None
        next_step = retry.describe() if retry else ""
        attempts.append(Attempt(pod.attempt, result.error, result.seconds, next_step, result.workdir))
        if retry is None or not retry.again:
            break
        prepared = make_prepared()
    result.attempts = attempts
    result.seconds = time.perf_counter() - started
    result.notes += _retry_notes(spec, attempts, how.mode)
    return result


def runs_folder(mode: str, warm: bool) -> Path | None:
    """Where a run's folder goes: warm image runs need the folder their container sees."""
    if mode == "image" and warm:
        from .image import warm_folder

        return warm_folder()
    return None


def execute(prepared: Prepared, how: Attempts, *, timeout: float | None, on_log: LogSink | None) -> RunResult:
    """Run a prepared run in ``how.mode`` (settings already resolved); ``timeout`` and ``on_log`` are the attempt's."""
    if how.mode == "process":
        from .process import run_in_process

        return run_in_process(prepared, keep=how.keep, on_log=on_log)
    if how.mode == "subprocess":
        from .subprocess import run_in_subprocess

        return run_in_subprocess(prepared, keep=how.keep, timeout=timeout, on_log=on_log, warm=how.warm)
    from .image import run_in_image

    engine = how.engine or settings().engine
    return run_in_image(
        prepared, keep=how.keep, timeout=timeout, on_log=on_log, image=how.image, engine=engine, warm=how.warm
    )


def _as_platform_reports(result: RunResult, spec: PodSpec) -> RunResult:
    """The attempt's failure as the platform records it, with no secret value in its text, logs or kept folder."""
    error = result.error
    if error is not None and error.code == "Timeout" and spec.timeout is not None:
        if spec.timeout.source == "task":
            error = RunError(
                "USER",
                "TimeoutExpired",
                f"task execution timeout [{spec.timeout.seconds:g}s] expired: {spec.timeout.describe()} "
                f"stopped the attempt; raise the task's timeout= if it needs longer",
                error.message,
                recoverable=True,
            )
        else:
            error = replace(error, message=f"{error.message} ({spec.timeout.describe()})")
    if error is not None:
        error = unrequested_read(error, list(spec.requests), spec.unrequested) or error
        error = replace(error, message=spec.redact(error.message), detail=spec.redact(error.detail))
    result.error = error
    result.logs = spec.redact(result.logs)
    if result.workdir is not None:
        spec.redact.scrub_folder(result.workdir)
    return result


def _retry_notes(spec: PodSpec, attempts: list[Attempt], mode: str) -> list[str]:
    notes = []
    retried = [attempt.next for attempt in attempts if attempt.next.startswith("retried")]
    from_system = sum("system budget" in text for text in retried)
    task_retries = spec.retry.task_retries
    if from_system and not spec.retry.ignore_retry_cause:
        notes.append(
            f"{from_system} of {len(retried)} retries came from the platform's system budget "
            f"(ShimTask.system_retries = {spec.retry.system_retries}, propeller's max-node-retries-system-failures): "
            f"the executor's errors left pyflyte-execute as SYSTEM errors, so the task's retries={task_retries} "
            "did not apply; raise jupyter_shimtask.user_error(...) for errors its retries should cover"
        )
    if spec.timeout is not None and spec.timeout.source == "task" and mode == "process":
        notes.append(
            f"{spec.timeout.describe()} is not enforced in process mode (a run in this interpreter cannot be "
            "stopped); mode subprocess or image enforces it"
        )
    return notes
