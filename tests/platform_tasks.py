"""Tasks whose executors look at the pod around them: variables, secrets, retries, timeouts."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import time
from typing import Any

from flytekit import current_context, kwtypes
from flytekit.core.base_task import TaskMetadata
from flytekit.core.interface import Interface
from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask
from flytekit.exceptions.user import FlyteRecoverableException, FlyteUserRuntimeException
from flytekit.extend import ShimTaskExecutor
from flytekit.models.security import Secret

VARIABLES = (
    "FLYTE_INTERNAL_EXECUTION_ID",
    "FLYTE_INTERNAL_EXECUTION_PROJECT",
    "FLYTE_INTERNAL_EXECUTION_DOMAIN",
    "FLYTE_INTERNAL_EXECUTION_WORKFLOW",
    "FLYTE_ATTEMPT_NUMBER",
    "FLYTE_INTERNAL_TASK_PROJECT",
    "FLYTE_INTERNAL_TASK_DOMAIN",
    "FLYTE_INTERNAL_TASK_NAME",
    "FLYTE_INTERNAL_TASK_VERSION",
)


class PodTask(PythonCustomizedContainerTask):
    """A template-only task with one str output; ``retries`` and ``timeout`` go into its metadata."""

    def __init__(self, name: str, executor: type, retries: int = 0, timeout: float | None = None, **kwargs: Any):
        super().__init__(
            name=name,
            task_config=None,
            container_image="shimtask-runtime:test",
            executor_type=executor,
            task_type="pod-sample",
            interface=Interface(inputs=kwtypes(), outputs=kwtypes(out=str)),
            metadata=TaskMetadata(retries=retries, timeout=datetime.timedelta(seconds=timeout) if timeout else None),
            **kwargs,
        )

    def get_custom(self, settings: Any) -> Any:
        return {}


class VariablesExecutor(ShimTaskExecutor):
    """The platform's variables as the executor sees them, and the execution id flytekit read from them."""

    def execute_from_model(self, tt, **inputs):
        seen = {name: os.environ.get(name) for name in VARIABLES}
        seen["context_execution_id"] = current_context().execution_id.name
        return json.dumps(seen)


class SecretExecutor(ShimTaskExecutor):
    """Reads g/k through flytekit, prints it (the log must not show it), returns where and what it found."""

    def execute_from_model(self, tt, **inputs):
        value = current_context().secrets.get(group="g", key="k")
        print(f"the secret is {value}")
        folder = os.environ.get("FLYTE_SECRETS_DEFAULT_DIR", "")
        path = os.path.join(folder, "g", "k")
        return json.dumps(
            {
                "sha256": hashlib.sha256(value.encode()).hexdigest(),
                "folder": folder,
                "mode": oct(os.stat(path).st_mode & 0o777) if folder else None,
                "writable": os.access(path, os.W_OK) if folder else None,
                "in_environment": any(value in item for item in os.environ.values()),
            }
        )


class OtherSecretExecutor(ShimTaskExecutor):
    """Reads g/other, which the task does not request."""

    def execute_from_model(self, tt, **inputs):
        return current_context().secrets.get(group="g", key="other")


class FlakyExecutor(ShimTaskExecutor):
    """Fails with FlyteRecoverableException on attempts 0 and 1 (a SYSTEM error, as every shim error is)."""

    def execute_from_model(self, tt, **inputs):
        attempt = int(os.environ["FLYTE_ATTEMPT_NUMBER"])
        if attempt < 2:
            raise FlyteRecoverableException(f"flaky on attempt {attempt}")
        return f"ok on attempt {attempt}"


class FlakyUserExecutor(ShimTaskExecutor):
    """Fails on attempts 0 and 1 with a USER recoverable error, the kind the task's retries cover."""

    def execute_from_model(self, tt, **inputs):
        attempt = int(os.environ["FLYTE_ATTEMPT_NUMBER"])
        if attempt < 2:
            raise FlyteUserRuntimeException(FlyteRecoverableException(f"busy on attempt {attempt}"))
        return f"ok on attempt {attempt}"


class BrokenUserExecutor(ShimTaskExecutor):
    """A USER non-recoverable error: never retried."""

    def execute_from_model(self, tt, **inputs):
        raise FlyteUserRuntimeException(ValueError("bad input"))


class SecretThenSleepExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        current_context().secrets.get(group="g", key="k")
        time.sleep(60)
        return "woke up"


class SleepExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        time.sleep(30)
        return "woke up"


variables = PodTask("variables", VariablesExecutor)
with_secret = PodTask("with_secret", SecretExecutor, secret_requests=[Secret(group="g", key="k")])
env_var_secret = PodTask(
    "env_var_secret",
    SecretExecutor,
    secret_requests=[Secret(group="g", key="k", mount_requirement=Secret.MountType.ENV_VAR, env_var="G_K_VALUE")],
)
unrequested_secret = PodTask("unrequested_secret", OtherSecretExecutor, secret_requests=[Secret(group="g", key="k")])
flaky = PodTask("flaky", FlakyExecutor)
flaky_retries_5 = PodTask("flaky_retries_5", FlakyExecutor, retries=5)
flaky_retries_2 = PodTask("flaky_retries_2", FlakyExecutor, retries=2)
flaky_retries_1 = PodTask("flaky_retries_1", FlakyExecutor, retries=1)
flaky_user = PodTask("flaky_user", FlakyUserExecutor, retries=2)
broken_user = PodTask("broken_user", BrokenUserExecutor, retries=3)
sleeps = PodTask("sleeps", SleepExecutor, timeout=3)
quick_with_timeout = PodTask("quick_with_timeout", VariablesExecutor, timeout=3)
secret_then_sleep = PodTask("secret_then_sleep", SecretThenSleepExecutor, secret_requests=[Secret(group="g", key="k")])
