"""The variables Flyte's container plugin puts into every task pod.

The list is flyteplugins' ``GetExecutionEnvVars`` and ``GetContextEnvVars``
(``flyteplugins/go/tasks/pluginmachinery/flytek8s/k8s_resource_adds.go``, flyte v1.16). Left out,
because they need a cluster: ``FLYTE_EXECUTION_URL`` (only with a console URL configured) and
``_F_L_MIN_SIZE_MB`` / ``_F_L_MAX_SIZE_MB`` (only with literal offloading enabled).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

EXECUTION_ID_LENGTH = 20  # flyteadmin: "a" and 19 random characters (pkg/common/executions.go)

# Set by the platform for each attempt and read by flytekit when a task runs (entrypoint.setup_execution,
# SecretsManager), not when it is imported, so a warm worker that imported flytekit without them behaves
# as a fresh process that has them. FLYTE_INTERNAL_EXECUTION_ID's presence is also read at import (it picks
# flytekit's log format); the warm worker imports flytekit with it set, as every run has it.
RUN_TIME_VARIABLES = frozenset(
    {
        "FLYTE_INTERNAL_EXECUTION_WORKFLOW",
        "FLYTE_INTERNAL_EXECUTION_ID",
        "FLYTE_INTERNAL_EXECUTION_PROJECT",
        "FLYTE_INTERNAL_EXECUTION_DOMAIN",
        "FLYTE_ATTEMPT_NUMBER",
        "FLYTE_INTERNAL_TASK_PROJECT",
        "FLYTE_INTERNAL_TASK_DOMAIN",
        "FLYTE_INTERNAL_TASK_NAME",
        "FLYTE_INTERNAL_TASK_VERSION",
        "FLYTE_SECRETS_DEFAULT_DIR",
        "FLYTE_SECRETS_FILE_PREFIX",
        "FLYTE_SECRETS_ENV_PREFIX",
    }
)
RUN_TIME_PREFIXES = ("_FSEC_",)  # secrets as environment variables, read when the executor asks for them


def is_run_time(name: str) -> bool:
    """Whether flytekit reads ``name`` only while a task runs (so a warm worker may take it per run)."""
    return name in RUN_TIME_VARIABLES or name.startswith(RUN_TIME_PREFIXES)


def new_execution_id() -> str:
    return "a" + uuid.uuid4().hex[: EXECUTION_ID_LENGTH - 1]


def execution_env(
    template: TaskTemplate, *, execution_id: str, project: str, domain: str, attempt: int, workflow: str | None = None
) -> dict[str, str]:
    """The plugin's variables for ``attempt`` of ``template`` in the execution ``execution_id``.

    ``workflow`` is the workflow a node belongs to; a single task runs in the workflow flyteadmin
    wraps around it (``.flytegen.<task>``, in the task's project and domain). The execution's own
    project and domain are where it was launched.
    """
    task = template.id
    task_project = task.project or project
    task_domain = task.domain or domain
    return {
        "FLYTE_INTERNAL_EXECUTION_WORKFLOW": f"{task_project}:{task_domain}:{workflow or '.flytegen.' + task.name}",
        "FLYTE_INTERNAL_EXECUTION_ID": execution_id,
        "FLYTE_INTERNAL_EXECUTION_PROJECT": project,
        "FLYTE_INTERNAL_EXECUTION_DOMAIN": domain,
        "FLYTE_ATTEMPT_NUMBER": str(attempt),
        "FLYTE_INTERNAL_TASK_PROJECT": task_project,
        "FLYTE_INTERNAL_TASK_DOMAIN": task_domain,
        "FLYTE_INTERNAL_TASK_NAME": task.name,
        "FLYTE_INTERNAL_TASK_VERSION": task.version,
    }


@contextlib.contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``variables`` set for the block (a run in this interpreter), as it was after."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
