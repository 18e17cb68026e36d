"""One workflow node's state as a run goes (what the table, the picture and the result show)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..runners.base import RunError, RunResult

STATUS_COLOURS = {
    "waiting": "#eeeeee",
    "running": "#fff2a8",
    "ok": "#b7e4c7",
    "cached": "#a8d5ff",
    "failed": "#f4a6a6",
    "stopped": "#f7c59f",
    "skipped": "#ffffff",
    "not run": "#dddddd",
}


@dataclass
class NodeState:
    """One node of a run as it goes: what it is, how it runs, where it is."""

    node_id: str
    kind: str  # task, subworkflow, branch
    label: str
    task_name: str = ""
    mode: str = ""
    status: str = "waiting"
    seconds: float | None = None
    started: float | None = None
    cache_hit: bool = False
    cache_key: str = ""
    error: RunError | None = None
    result: RunResult | None = None
    log_parts: list[str] = field(default_factory=list)

    @property
    def logs(self) -> str:
        return self.result.logs if self.result is not None and self.result.logs else "".join(self.log_parts)

    def row(self) -> tuple[str, ...]:
        task = self.task_name or self.label
        if self.kind != "task":
            task = f"({self.kind}) {task}"
        seconds = "" if self.seconds is None else f"{self.seconds:.2f}s"
        cache = "hit" if self.cache_hit else ("miss" if self.cache_key else "")
        return (self.node_id, task, self.mode, self.status, seconds, cache)
