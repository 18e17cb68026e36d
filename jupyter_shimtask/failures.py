"""The failures of this session (runs, cells, usage), kept by ``failure_log()`` for ``%shimtask why``.

What an error document says (the executor's frames, the cause, what the kind means) is read by
``diagnosis``; a failure draws itself through ``views``.
"""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .diagnosis import ExecutorTraceback, cause_of, kind_meaning, read_traceback
from .state import state

if TYPE_CHECKING:
    from .runners.base import RunResult

FailureKind = Literal["run", "cell", "usage"]
__all__ = ["ExecutorTraceback", "Failure", "FailureLog", "cause_of", "failure_log", "kind_meaning", "read_traceback"]


@dataclass(frozen=True)
class Failure:
    """One failure of this session: a run, a ``%%shimtask`` cell, or a magic used wrongly."""

    kind: FailureKind
    task: str
    message: str
    detail: str = ""
    result: RunResult | None = None
    at: float = field(default_factory=time.time)

    def __str__(self) -> str:
        if self.result is not None:
            from .views import failure_text

            return failure_text(self.result, fold=False)
        head = f"{self.kind} failure" + (f" ({self.task})" if self.task else "") + f": {self.message}"
        return f"{head}\n{self.detail}" if self.detail and self.detail != self.message else head

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        from .views import failure_html

        return failure_html(self)


class FailureLog:
    """The last failures of this session, newest last."""

    def __init__(self, size: int = 50):
        self._entries: deque[Failure] = deque(maxlen=size)

    def add(self, failure: Failure) -> Failure:
        self._entries.append(failure)
        return failure

    def run(self, result: RunResult) -> Failure:
        if hasattr(result, "nodes"):  # a WorkflowResult: the failing node's own run is the failure to show
            failed = result.nodes.get(result.error.node_id) if result.error else None
            if failed is not None:
                return self.run(failed)
            return self.add(Failure("run", result.workflow, str(result.error or "failed")))
        error = result.error
        message = cause_of(error) if error else "failed"
        return self.add(Failure("run", result.task_name, message, error.detail if error else "", result))

    def error(self, kind: FailureKind, error: BaseException, task: str = "", detail: str = "") -> Failure:
        return self.add(Failure(kind, task, str(error).splitlines()[0] if str(error) else type(error).__name__, detail))

    def last(self, task: str | None = None) -> Failure | None:
        for failure in reversed(self._entries):
            if task is None or failure.task == task:
                return failure
        return None

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def failure_log() -> FailureLog:
    """This session's failures, held by its kernel-wide state."""
    return state().part(FailureLog)


def recorded(run: Callable[..., RunResult]) -> Callable[..., RunResult]:
    """Wrap ``run`` so that every failed result is kept in the failure log."""

    @functools.wraps(run)
    def wrapper(*args: Any, **kwargs: Any) -> RunResult:
        result = run(*args, **kwargs)
        if not result.ok:
            failure_log().run(result)
        return result

    return wrapper
