"""What a failed run's error document says, for a person: the executor's own exception and frames
(``read_traceback``: flytekit's frames folded away), the cause line (``cause_of``), and what the
error's kind does on the platform (``kind_meaning``). Used by the failure log and the displays alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runners.base import RunError

FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<function>.+?)\s*$')
TRACEBACK_START = "Traceback (most recent call last):"
# frames of the machinery around the executor: flytekit, its protobufs, this package's run probes
LIBRARY_PARTS = ("/flytekit/", "/flyteidl/", "/jupyter_shimtask/worker/", "<frozen ", "/site-packages/click/")
# errors this package detects itself; the platform does not see them as such
OWN_CODES = {
    "PositionalOutputs": "on the platform the run succeeds with its outputs silently swapped in about half the runs",
    "MissingOutputs": "on the platform the node fails: a declared output is missing from outputs.pb",
    "NoOutputs": "on the platform the node fails: the task wrote neither outputs nor an error document",
    "OutputDecode": "on the platform a downstream node fails reading these outputs",
    "Timeout": "the timeout given to this run stopped it; on the platform only the task's own timeout applies",
    "TimeoutExpired": "on the platform the task's timeout fails the attempt and it is retried from the task's retries",
    "OOMKilled": "on the platform the pod is OOM-killed, a USER failure retried from the task's retries",
    "SecretNotRequested": "on the platform the secret is not mounted either: the read fails on every attempt",
    "WorkerDied": "a local warm worker died; the platform starts one pod per attempt and is not affected",
    "WorkerFailed": "a local warm worker failed; the platform starts one pod per attempt and is not affected",
}


@dataclass(frozen=True)
class Frame:
    path: str
    line: int
    function: str
    code: str = ""

    @property
    def library(self) -> bool:
        return any(part in self.path for part in LIBRARY_PARTS)

    def __str__(self) -> str:
        head = f'  File "{self.path}", line {self.line}, in {self.function}'
        return f"{head}\n    {self.code}" if self.code else head


@dataclass(frozen=True)
class ExecutorTraceback:
    """The executor's exception and the frames that led to it (innermost last)."""

    exception: str
    frames: list[Frame] = field(default_factory=list)

    @property
    def own(self) -> list[Frame]:
        return [frame for frame in self.frames if not frame.library]

    @property
    def folded(self) -> int:
        return len(self.frames) - len(self.own)

    def text(self, fold: bool = True) -> str:
        """The traceback, the executor's own frames first (or all frames with ``fold=False``)."""
        frames = self.own if fold else self.frames
        lines = [TRACEBACK_START, *map(str, frames)]
        if fold and self.folded:
            lines.append(f"  ({self.folded} flytekit frame{'s' if self.folded != 1 else ''} folded away)")
        return "\n".join([*lines, self.exception])


def read_traceback(text: str) -> ExecutorTraceback | None:
    """The last Python traceback in ``text`` (an error document's message, a log), or None."""
    lines = text.splitlines()
    starts = [index for index, line in enumerate(lines) if line.strip() == TRACEBACK_START]
    if not starts:
        return None
    block = lines[starts[-1] + 1 :]
    frames: list[Frame] = []
    index = 0
    while index < len(block):
        match = FRAME.match(block[index])
        if match:
            code, index = _frame_code(block, index + 1)
            frames.append(Frame(match["path"], int(match["line"]), match["function"], code))
            continue
        stripped = block[index].strip()
        if stripped and not set(stripped) <= set("^~ ") and not block[index].startswith(" " * 6):
            exception = _exception_lines(block[index:])
            return ExecutorTraceback(exception, frames)
        index += 1
    return ExecutorTraceback("", frames)


def _frame_code(block: list[str], index: int) -> tuple[str, int]:
    """The source line under a frame (and skip the ``^^^^`` markers below it)."""
    code = ""
    if index < len(block) and not FRAME.match(block[index]) and _indent(block[index]) > _indent(block[index - 1]):
        code = block[index].strip()
        index += 1
    while index < len(block) and block[index].strip() and set(block[index].strip()) <= set("^~ "):
        index += 1
    return code, index


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _exception_lines(rest: list[str]) -> str:
    """The exception line, and lines that continue it, up to a blank line or the next section."""
    kept = []
    for line in rest:
        if not line.strip() or line.strip() in ("Message:", "Trace:"):
            break
        kept.append(line.strip())
    return "\n".join(kept)


def cause_of(error: RunError) -> str:
    """One line: the executor's own exception when the error document holds one, else the message."""
    traceback = read_traceback(error.detail) if error.detail else None
    if traceback and traceback.exception:
        return traceback.exception.splitlines()[0]
    return error.message


def kind_meaning(error: RunError) -> str:
    """What the platform does with an error of this kind."""
    if error.code in OWN_CODES:
        return f"{error.code}: {OWN_CODES[error.code]}"
    if error.kind == "SYSTEM" and error.recoverable:
        return (
            "SYSTEM, recoverable: pyflyte-execute files every exception an executor raises this way; the platform "
            "retries it from its own system budget (max-node-retries-system-failures, 3 by default), not from the "
            "task's retries. Raise jupyter_shimtask.user_error(exc) for a USER error the task's retries cover"
        )
    if error.kind == "SYSTEM":
        return "SYSTEM, not recoverable: the platform fails the node at once, without a retry"
    if error.recoverable:
        return "USER, recoverable: the platform retries it from the task's own retries (metadata.retries)"
    return "USER, not recoverable: the task's own error; the platform fails the node without a retry"
