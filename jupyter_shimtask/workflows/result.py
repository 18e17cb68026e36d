"""What a workflow run gives back: outputs, each node's RunResult, the failing node, a table and a picture."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..runners.base import RunError, RunResult
    from .compile import CompiledWorkflow

COLUMNS = ("node", "task", "mode", "status", "seconds", "cache")
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


@dataclass(frozen=True)
class NodeFailure:
    """The node that failed first, its task, and its own error."""

    node_id: str
    task: str
    error: RunError

    def __str__(self) -> str:
        return f"node {self.node_id} (task {self.task}) failed: {self.error}"


def node_table(states: dict[str, NodeState]) -> str:
    rows = [COLUMNS, *(state.row() for state in states.values())]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def node_table_html(states: dict[str, NodeState]) -> str:
    head = "".join(f"<th>{name}</th>" for name in COLUMNS)
    body = []
    for state in states.values():
        colour = STATUS_COLOURS.get(state.status, "#ffffff")
        cells = "".join(f"<td><code>{html.escape(cell)}</code></td>" for cell in state.row())
        body.append(f'<tr style="background:{colour}">{cells}</tr>')
    return f'<table class="shimtask-nodes"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


@dataclass
class WorkflowResult:
    ok: bool
    outputs: dict[str, Any]
    nodes: dict[str, RunResult | None]
    error: NodeFailure | None
    seconds: float
    workflow: str
    states: dict[str, NodeState] = field(repr=False)
    raw: Path | None = None
    compiled: CompiledWorkflow | None = field(default=None, repr=False)

    def logs(self, node_id: str) -> str:
        """The node's output (pyflyte-execute's and the executor's)."""
        if node_id not in self.states:
            raise KeyError(f"no node {node_id!r}; nodes are {', '.join(self.states)}")
        return self.states[node_id].logs

    def picture(self) -> Any:
        """The DAG with each node's status colour (an SVG display, or text without Graphviz)."""
        from .picture import picture

        assert self.compiled is not None
        return picture(self.compiled, self.states)

    def __str__(self) -> str:
        head = f"workflow {self.workflow} {'ok' if self.ok else 'FAILED'} in {self.seconds:.2f}s"
        lines = [head, node_table(self.states)]
        if self.ok:
            lines += [f"  {name} = {value!r}" for name, value in self.outputs.items()]
        else:
            lines.append(f"  {self.error}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        status = "ok" if self.ok else "FAILED"
        parts = [f"<p><b>workflow <code>{html.escape(self.workflow)}</code></b> {status} in {self.seconds:.2f}s</p>"]
        if self.ok:
            items = "".join(
                f"<li><code>{html.escape(name)}</code> = <code>{html.escape(repr(value)[:500])}</code></li>"
                for name, value in self.outputs.items()
            )
            parts.append(f"<ul>{items}</ul>")
        else:
            parts.append(f"<p><code>{html.escape(str(self.error))}</code></p>")
        parts.append(node_table_html(self.states))
        if self.compiled is not None:
            parts.append(self.picture()._repr_html_())
        return "".join(parts)
