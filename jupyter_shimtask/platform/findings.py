"""What ``check`` can tell, from the template alone, about the pod the platform will give it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from ..executor_source import executor_uses
from .secrets import SECRETS_MOUNT, requested

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    code: str
    path: str
    message: str
    severity: Severity = "warning"

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""  # a finding about the task as a whole has no path
        return f"{self.severity}: {self.code}{where}: {self.message}"


USER_ERROR_MARKERS = ("FlyteUserRuntimeException", "user_error")


def platform_findings(template: TaskTemplate, task: Any = None) -> list[Finding]:
    return [
        *_retry_findings(template, task),
        *_secret_findings(template),
        *_resource_findings(template),
        *_timeout_findings(template),
    ]


def _timeout_findings(template: TaskTemplate) -> list[Finding]:
    """A timeout shorter than the time the task's image was measured to take to start (by an image run here)."""
    from ..state import state
    from .pod import task_timeout

    timeout = task_timeout(template)
    measured = state().image_starts.get(template.container.image) if timeout else None
    if timeout is None or measured is None or measured[0] <= timeout:
        return []
    seconds, how = measured
    return [
        Finding(
            "timeout-below-start",
            "metadata.timeout",
            f"timeout={timeout:g}s is shorter than the {seconds:.1f}s {how}, measured here with image "
            f"{template.container.image}: every attempt would time out before the executor runs (a pod that pulls "
            "the image starts slower still); raise the task's timeout=",
            "error",
        )
    ]


def _retry_findings(template: TaskTemplate, task: Any) -> list[Finding]:

    retries = template.metadata.retries.retries
    if not retries or _raises_user_errors(task):
        return []
    return [
        Finding(
            "retries-never-apply",
            "metadata.retries",
            f"retries={retries} covers USER errors only, but whatever a ShimTaskExecutor raises leaves "
            "pyflyte-execute as a SYSTEM error, which the platform retries from its own budget "
            "(max-node-retries-system-failures, 3 by default) instead; raise jupyter_shimtask.user_error(...) "
            "(FlyteUserRuntimeException around flytekit.exceptions.user.FlyteRecoverableException) for errors "
            "the task's retries should cover",
        )
    ]


def _raises_user_errors(task: Any) -> bool:
    return executor_uses(task, *USER_ERROR_MARKERS)


def _secret_findings(template: TaskTemplate) -> list[Finding]:
    from ..template import template_to_dict

    requests = requested(template)
    findings = []
    names = {request.name.lower() for request in requests}
    for path, group, key in _secret_references(template_to_dict(template).get("custom", {}), "custom"):
        name = f"{group}/{key}" if group else key
        if name.lower() not in names:
            findings.append(
                Finding(
                    "secret-not-requested",
                    path,
                    f"custom names secret {name}, which the template does not request, so the platform will not "
                    f"mount it and reading it fails; add secret_requests=[Secret(group={group!r}, key={key!r})] "
                    "to the task",
                    "error",
                )
            )
    for index, request in enumerate(requests):
        path = f"security_context.secrets[{index}]"
        if not request.group:
            findings.append(
                Finding(
                    "secret-without-group",
                    path,
                    f"secret {request.key} has no group; the platform's Kubernetes secret injector needs both "
                    "group and key and refuses the pod",
                )
            )
        elif request.group_version and request.as_file:
            findings.append(
                Finding(
                    "secret-group-version",
                    path,
                    f"secret {request.name} has group_version {request.group_version!r}: flytekit looks for "
                    f"{SECRETS_MOUNT}/{request.group.lower()}/{request.group_version.lower()}/{request.key.lower()}, "
                    f"but the Kubernetes secret injector mounts {SECRETS_MOUNT}/{request.file}",
                )
            )
    return findings


def _secret_references(value: Any, path: str) -> list[tuple[str, str, str]]:
    """flytekit ``Secret``s serialized into ``custom`` (dicts with a string ``group`` and ``key``), as plugins do."""
    if isinstance(value, dict):
        group, key = value.get("group"), value.get("key")
        if "group" in value and isinstance(group, (str, type(None))) and isinstance(key, str) and key:
            return [(path, group or "", key)]
        return [hit for key, item in value.items() for hit in _secret_references(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [hit for index, item in enumerate(value) for hit in _secret_references(item, f"{path}[{index}]")]
    return []


def _resource_findings(template: TaskTemplate) -> list[Finding]:
    from flyteidl.core.tasks_pb2 import Resources

    from .resources import quantity

    findings = []
    resources = template.container.resources
    for side in ("requests", "limits"):
        for entry in getattr(resources, side):
            path = f"container.resources.{side}"
            name = Resources.ResourceName.Name(entry.name).lower()
            if entry.name == Resources.GPU:
                findings.append(
                    Finding(
                        "resources-gpu",
                        path,
                        f"gpu={entry.value}: local runs get no GPU (image mode passes no --gpus), so code that needs "
                        "one fails here or falls back to the CPU",
                    )
                )
            elif entry.name in (Resources.STORAGE, Resources.EPHEMERAL_STORAGE):
                findings.append(
                    Finding(
                        "resources-storage",
                        path,
                        f"{name}={entry.value} is not enforced by local runs; the platform evicts a pod that "
                        "writes more",
                    )
                )
            elif entry.name == Resources.CPU and side == "limits":
                cores = os.cpu_count() or 1
                try:
                    wanted = quantity(entry.value)
                except Exception:
                    continue
                if wanted > Decimal(cores):
                    findings.append(
                        Finding(
                            "resources-cpu",
                            path,
                            f"cpu={entry.value} is more than this machine's {cores} cores; image mode caps it "
                            f"at {cores}, so a run here is slower than the pod",
                        )
                    )
    return findings
