"""``run``: one entry point, one RunResult, whichever mode runs the executor."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import settings
from ..errors import ShimTaskError
from ..failures import recorded
from ..platform import PodSpec, pod_spec
from ..platform.secrets import Redactor, unrequested_read
from .base import Attempt, LogSink, Prepared, RunError, RunResult, prepare
from .subprocess import executable

if TYPE_CHECKING:
    from ..workflows import WorkflowResult

MODES = ("process", "subprocess", "image")


@recorded
def run(
    task_or_template: Any,
    inputs: dict[str, Any] | None = None,
    *,
    mode: str | None = None,
    timeout: float | None = None,
    keep: bool | None = None,
    image: str | None = None,
    engine: str | None = None,
    warm: bool | None = None,
    on_log: LogSink | None = None,
    secrets: Mapping[str, str] | None = None,
    retries: bool = True,
    **workflow_options: Any,
) -> RunResult | WorkflowResult:
    """Run the executor the template names, on ``inputs``; outputs come back as Python values.

    ``task_or_template``: a task object, a TaskTemplate message, or a path to a ``.pb``/``.json`` file.
    ``mode``: ``process`` (in this interpreter), ``subprocess`` (the real ``pyflyte-execute``) or
    ``image`` (the same inside a container). ``keep`` keeps the run folder for inspection.
    ``warm`` (default ``ShimTask.warm``) sends subprocess runs to a long-lived worker process and
    image runs to a long-lived container per engine, image and workspace; the worker forks a fresh
    pyflyte-execute child per run. ``warm=False`` starts a fresh process or container instead.
    Some runs go cold anyway, with a note in ``result.notes``: a template that sets ``FLYTE_*``
    variables (flytekit reads them at import), and in image mode one with resource limits (they
    and OOM detection need a container of the run's own), another command than pyflyte-execute,
    or an image ENTRYPOINT. Timeouts and Ctrl-C kill a warm run's process group (the worker stays).
    A workflow (``@workflow``, ``ImperativeWorkflow`` or launch plan) runs node by node, each
    node as the platform runs it; see ``jupyter_shimtask.workflows.run_workflow`` (which also
    takes ``modes``, ``images``, ``cache`` and ``parallelism``) and its ``WorkflowResult``.

    Every attempt runs in the pod the platform would give it (``jupyter_shimtask.platform``): Flyte's
    execution variables, the requested ``secrets`` (``{"group/key": value}``, over
    ``ShimTask.secrets_path``) as the secret webhook delivers them, and the task's ``timeout``
    (``timeout=`` may only make it stricter). Failed attempts are retried by flytepropeller's rules
    (``ShimTask.system_retries``, ``ShimTask.ignore_retry_cause``); ``retries=False`` stops after the
    first attempt. ``result.attempts`` lists each attempt.
    """
    from ..workflows import is_workflow, run_workflow

    if is_workflow(task_or_template) or workflow_options:
        options = dict(mode=mode, timeout=timeout, keep=keep, image=image, engine=engine, warm=warm, on_log=on_log)
        options.update(secrets=secrets, retries=retries)
        return run_workflow(task_or_template, inputs, **options, **workflow_options)
    config = settings()
    mode = mode or config.mode
    if mode not in MODES:
        raise ShimTaskError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "process" and timeout is not None:
        raise ShimTaskError("timeout needs mode subprocess or image: an in-process run cannot be stopped safely")
    timeout = timeout if timeout is not None else (config.timeout or None)
    keep = config.keep if keep is None else keep
    warm = config.warm if warm is None else warm
    return run_attempts(
        lambda: prepare(task_or_template, inputs, runs_folder(mode, warm)),
        Attempts(mode, keep, timeout, image, engine, warm, on_log, secrets, retries),
    )


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
    options = {"mode": how.mode, "keep": how.keep, "image": how.image, "engine": how.engine, "warm": how.warm}
    started = time.perf_counter()
    attempts: list[Attempt] = []
    errors: list[RunError] = []
    while True:
        pod = spec.attempt(len(attempts))
        try:
            with pod.delivered(in_container=how.mode == "image") as delivered:
                prepared = replace(prepared, pod=delivered)
                result = execute(
                    prepared, timeout=delivered.timeout_seconds(), on_log=sink.write if sink else None, **options
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


def execute(
    prepared: Prepared,
    *,
    mode: str,
    keep: bool,
    timeout: float | None,
    on_log: LogSink | None,
    image: str | None,
    engine: str | None,
    warm: bool,
) -> RunResult:
    """Run a prepared run in ``mode`` (settings already resolved)."""
    config = settings()
    if mode == "process":
        from .process import run_in_process

        return run_in_process(prepared, keep=keep, on_log=on_log)
    if mode == "subprocess":
        from .subprocess import run_in_subprocess

        return run_in_subprocess(prepared, keep=keep, timeout=timeout, on_log=on_log, warm=warm)
    from .image import run_in_image

    return run_in_image(
        prepared, keep=keep, timeout=timeout, on_log=on_log, image=image, engine=engine or config.engine, warm=warm
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


__all__ = ["Attempt", "RunError", "RunResult", "executable", "run"]
