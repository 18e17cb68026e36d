"""``run``: one entry point for a task or a workflow, one result, every failure recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .failures import recorded

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .runners.base import RunResult
    from .workflows import WorkflowResult
    from .workflows.execute import WorkflowRunOptions


@recorded
def run(
    task_or_template: Any, inputs: dict[str, Any] | None = None, **options: Unpack[WorkflowRunOptions]
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

    Keyword arguments: ``mode``, ``timeout``, ``keep``, ``image``, ``engine``, ``warm``, ``on_log``,
    ``secrets``, ``retries`` (``runners.attempts.RunOptions``); a workflow takes those of
    ``workflows.execute.WorkflowRunOptions`` as well.
    """
    from .runners.attempts import RunOptions, run_task
    from .workflows import is_workflow, run_workflow

    if is_workflow(task_or_template) or set(options) - RunOptions.__optional_keys__:
        return run_workflow(task_or_template, inputs, **options)
    return run_task(task_or_template, inputs, options)  # type: ignore[arg-type]
