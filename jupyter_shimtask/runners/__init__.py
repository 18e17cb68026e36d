"""``run``: one entry point, one RunResult, whichever mode runs the executor."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import settings
from ..errors import ShimTaskError
from ..failures import recorded
from .base import LogSink, Prepared, RunError, RunResult, prepare
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
    """
    from ..workflows import is_workflow, run_workflow

    if is_workflow(task_or_template) or workflow_options:
        options = dict(mode=mode, timeout=timeout, keep=keep, image=image, engine=engine, warm=warm, on_log=on_log)
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
    prepared = prepare(task_or_template, inputs, runs_folder(mode, warm))
    return execute(
        prepared, mode=mode, keep=keep, timeout=timeout, on_log=on_log, image=image, engine=engine, warm=warm
    )


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


__all__ = ["RunError", "RunResult", "executable", "run"]
