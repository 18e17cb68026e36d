"""What a workflow run gives back: outputs, each node's RunResult, the failing node, a table and a picture."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .nodes import STATUS_COLOURS, NodeState

if TYPE_CHECKING:
    from ..runners.base import RunError, RunResult
    from .compile import CompiledWorkflow

COLUMNS = ("node", "task", "mode", "status", "seconds", "cache")


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
