"""One run's pod: computed from the template and the settings once, then one ``Pod`` per attempt."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .env import execution_env, new_execution_id
from .retries import RetryPolicy
from .secrets import (
    SECRETS_MOUNT,
    HandedSecret,
    Redactor,
    SecretRequest,
    delivery_env,
    hand_over,
    provided,
    requested,
    secret_files,
)

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

    from ..config import ShimTask


@dataclass(frozen=True)
class Timeout:
    """The limit an attempt runs under: the task's ``metadata.timeout``, or a stricter one given to ``run``."""

    seconds: float
    source: Literal["task", "run"]
    task_seconds: float | None = None

    def describe(self) -> str:
        if self.source == "task":
            return f"the task's timeout ({self.seconds:g}s, metadata.timeout)"
        own = f"; the task's own is {self.task_seconds:g}s" if self.task_seconds else ""
        return f"the run's timeout ({self.seconds:g}s{own})"


@dataclass(frozen=True)
class PodSpec:
    """What the platform puts around every attempt of one run: variables, secrets, timeout, retry rules."""

    template: TaskTemplate
    execution_id: str
    project: str
    domain: str
    requests: tuple[SecretRequest, ...]
    handed: tuple[HandedSecret, ...]
    unrequested: tuple[str, ...]  # secrets the run was given that the template does not request
    timeout: Timeout | None
    retry: RetryPolicy
    redact: Redactor = field(repr=False, compare=False)
    workflow: str | None = None  # the workflow a node runs in; None: a single-task execution

    def attempt(self, number: int) -> Pod:
        env = execution_env(
            self.template,
            execution_id=self.execution_id,
            project=self.project,
            domain=self.domain,
            attempt=number,
            workflow=self.workflow,
        )
        return Pod(self, number, env)


@dataclass(frozen=True)
class Pod:
    """One attempt's pod. ``secrets_folder`` is set while ``delivered`` holds the secret files."""

    spec: PodSpec
    attempt: int
    variables: dict[str, str]
    secrets_folder: Path | None = None
    env_values: bool = True

    @property
    def timeout(self) -> Timeout | None:
        return self.spec.timeout

    @property
    def secrets(self) -> tuple[HandedSecret, ...]:
        return self.spec.handed

    def env(self) -> dict[str, str]:
        """Variables for a process on this machine: secret files where they were written."""
        target = str(self.secrets_folder) if self.secrets_folder else ""
        return {**self.variables, **delivery_env(self.secrets, target, env_values=True)}

    def container_env(self) -> dict[str, str]:
        """Variables for a container that mounts ``secrets_folder`` at the webhook's path (no values in them)."""
        return {**self.variables, **delivery_env(self.secrets, SECRETS_MOUNT, env_values=False)}

    def container_mounts(self) -> dict[str, tuple[str, str]]:
        """In-container path -> (host path, access): the secret files, read-only, where the webhook mounts them."""
        return {SECRETS_MOUNT: (str(self.secrets_folder), "ro")} if self.secrets_folder else {}

    @contextlib.contextmanager
    def delivered(self, *, in_container: bool = False) -> Iterator[Pod]:
        """This pod with its secret files written to a private folder, which is removed when the block ends."""
        with secret_files(list(self.secrets), env_values=not in_container) as folder:
            yield replace(self, secrets_folder=folder, env_values=not in_container)

    def timeout_seconds(self) -> float | None:
        return self.spec.timeout.seconds if self.spec.timeout else None


def task_timeout(template: TaskTemplate) -> float | None:
    duration = template.metadata.timeout
    seconds = duration.seconds + duration.nanos / 1e9
    return seconds or None


def pod_spec(
    template: TaskTemplate,
    config: ShimTask,
    *,
    secrets: Mapping[str, str] | None = None,
    timeout: float | None = None,
    execution_id: str | None = None,
    workflow: str | None = None,
) -> PodSpec:
    """The pod for a run of ``template``; raises SecretError when a requested secret was not given.

    ``execution_id`` and ``workflow`` place the run in a workflow's execution (its nodes share both).
    """
    requests = requested(template)
    given = provided(secrets, config.secrets_path)
    handed, unrequested = hand_over(requests, given)
    own = task_timeout(template)
    limit = None
    if own and (timeout is None or own <= timeout):
        limit = Timeout(own, "task", own)
    elif timeout:
        limit = Timeout(timeout, "run", own)
    return PodSpec(
        template=template,
        execution_id=execution_id or new_execution_id(),
        project=config.project,
        domain=config.domain,
        requests=tuple(requests),
        handed=tuple(handed),
        unrequested=tuple(unrequested),
        timeout=limit,
        retry=RetryPolicy(template.metadata.retries.retries, config.system_retries, config.ignore_retry_cause),
        redact=Redactor(given.values()),
        workflow=workflow,
    )


def describe(template: TaskTemplate, config: Any) -> list[tuple[str, str]]:
    """The template's secrets (names only), retries and timeout, and what a run here does with them."""
    requests = requested(template)
    retries = template.metadata.retries.retries
    own = task_timeout(template)
    try:
        given = {name.lower() for name in provided(None, config.secrets_path)}
    except Exception:  # an unreadable secrets_path is reported when a run needs it
        given = set()
    where = {True: "found in ShimTask.secrets_path", False: "a run needs it: secrets= or --secret"}
    secrets = [f"{request.name} ({where[request.name.lower() in given]})" for request in requests]
    if config.ignore_retry_cause:
        retry = f"{retries}, counting every failure (ShimTask.ignore_retry_cause); runs replay them"
    else:
        retry = (
            f"{retries} for USER errors; SYSTEM errors (whatever an executor raises, unless through user_error) "
            f"get the platform's {config.system_retries} instead; runs replay both (retries=False: one attempt)"
        )
    timeout = f"{own:g}s per attempt; subprocess and image runs stop at it, process runs do not" if own else "none"
    return [("secrets", "; ".join(secrets) or "none requested"), ("retries", retry), ("timeout", timeout)]
