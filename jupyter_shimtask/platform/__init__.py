"""What the platform does around a task's container, from the template alone.

Every run mode applies the same ``Pod`` (one per attempt): the variables Flyte's container plugin
sets, the requested secrets as the secret webhook delivers them, the task's timeout and the retry
rules of flytepropeller. Modes apply it; they do not compute it.
"""

from .env import RUN_TIME_VARIABLES, is_run_time
from .pod import Pod, PodSpec, Timeout, describe, pod_spec
from .retries import Retry, RetryPolicy
from .secrets import SECRETS_MOUNT, SecretError, SecretRequest, prompt_variable

__all__ = [
    "RUN_TIME_VARIABLES",
    "SECRETS_MOUNT",
    "Pod",
    "PodSpec",
    "Retry",
    "RetryPolicy",
    "SecretError",
    "SecretRequest",
    "Timeout",
    "describe",
    "is_run_time",
    "pod_spec",
    "prompt_variable",
]
