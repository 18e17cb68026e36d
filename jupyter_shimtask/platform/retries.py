"""Whether the platform starts another attempt, by flytepropeller's rules.

``nodeExecutor.isEligibleForRetry`` (``flytepropeller/pkg/controller/nodes/executor.go``, flyte
v1.16) with the node-config defaults ``max-node-retries-system-failures: 3``,
``default-max-attempts: 1`` and ``ignore-retry-cause: false``:

- only a recoverable failure is retried (an error document's kind ``RECOVERABLE``);
- a SYSTEM failure is retried while the earlier SYSTEM failures are fewer than the system budget;
- a USER failure while its attempt number, counting USER failures only, is below the task's
  ``retries + 1`` (the node's ``MinAttempts``);
- with ``ignore-retry-cause`` every failure counts against ``retries + 1``.

Failures a run detects itself count the way the pod plugin reports them: an exit without an error
document and an out-of-memory kill are recoverable USER failures, the task's own timeout is the
recoverable USER failure ``TimeoutExpired``. A run's own problems (a timeout given to ``run``, a
warm worker that died, outputs that do not decode) are not retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..runners.base import RunError

# Codes of failures a run finds without an error document, which the pod plugin makes retryable USER failures.
RETRYABLE_USER_CODES = frozenset({"OOMKilled", "ProcessFailed", "ContainerFailed", "TimeoutExpired"})


@dataclass(frozen=True)
class Retry:
    """The decision after a failed attempt."""

    again: bool
    budget: str  # "system", "user" or "all" (ignore_retry_cause); "" when the failure is not retryable
    used: int  # retries of this budget used once this one starts
    limit: int
    reason: str = ""

    def describe(self) -> str:
        if not self.budget:
            return self.reason
        names = {
            "system": "the platform's system budget (SYSTEM error)",
            "user": "the task's retries (USER error)",
            "all": "the task's retries (ignore_retry_cause)",
        }
        if self.again:
            return f"retried from {names[self.budget]}, {self.used} of {self.limit}"
        return f"not retried: {names[self.budget]} is used up ({self.limit})"


@dataclass(frozen=True)
class RetryPolicy:
    task_retries: int
    system_retries: int = 3
    ignore_retry_cause: bool = False

    def after(self, errors: list[RunError]) -> Retry:
        """The decision once ``errors`` (one per attempt so far, the last one just now) have happened."""
        last = errors[-1]
        kind, recoverable = counted_as(last)
        if not recoverable:
            return Retry(False, "", 0, 0, f"not retried: a non-recoverable {kind} error")
        earlier = errors[:-1]
        earlier_system = sum(counted_as(error)[0] == "SYSTEM" for error in earlier)
        if self.ignore_retry_cause:
            current, limit, budget = len(earlier) + 1, self.task_retries + 1, "all"
        elif kind == "SYSTEM":
            return Retry(earlier_system < self.system_retries, "system", earlier_system + 1, self.system_retries)
        else:
            current, limit, budget = len(earlier) + 1 - earlier_system, self.task_retries + 1, "user"
        return Retry(current < limit, budget, current, limit - 1)


def counted_as(error: RunError) -> tuple[str, bool]:
    """The kind and recoverability the platform records for ``error``."""
    if error.code in RETRYABLE_USER_CODES:
        return "USER", True
    return error.kind, error.recoverable
