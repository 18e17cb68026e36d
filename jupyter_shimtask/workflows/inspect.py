"""``%shimtask inspect <workflow>``: the DAG, and each node's template size against the platform's limits."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from ..config import settings
from ..template import size_report
from .compile import CompiledWorkflow, compile_workflow
from .picture import DagPicture, picture
from .result import NodeState

COLUMNS = ("node", "task", "kind", "template bytes", "status")


@dataclass
class WorkflowInspection:
    """Per node: its task's template bytes; in total: the workflow closure the platform stores."""

    workflow: str
    rows: list[tuple[str, str, str, int | None, str]]
    total: int
    warn_bytes: int
    over_bytes: int
    picture: DagPicture

    @property
    def status(self) -> str:
        if self.total > self.over_bytes:
            return "over"
        return "warn" if self.total > self.warn_bytes else "ok"

    def _cells(self) -> list[tuple[str, ...]]:
        return [
            (node, task, kind, "" if size is None else f"{size:,}", status)
            for node, task, kind, size, status in self.rows
        ]

    def __str__(self) -> str:
        rows = [COLUMNS, *self._cells()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        table = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
        return "\n".join([f"workflow {self.workflow}: {self.summary}", *table, str(self.picture)])

    @property
    def summary(self) -> str:
        return f"{self.total:,} bytes in total ({self.status}; warn > {self.warn_bytes:,}, over > {self.over_bytes:,})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{name}</th>" for name in COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td><code>{html.escape(c)}</code></td>" for c in row) + "</tr>" for row in self._cells()
        )
        title = f"<p><b>workflow <code>{html.escape(self.workflow)}</code></b>: {html.escape(self.summary)}</p>"
        table = f'<table class="shimtask-nodes"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        return title + table + self.picture._repr_html_()


def inspect_workflow(workflow: Any) -> WorkflowInspection:
    from .execute import _state_for

    compiled = compile_workflow(workflow)
    config = settings()
    rows = []
    states: dict[str, NodeState] = {}
    for node_id, node in compiled.walk():
        states[node_id] = state = _state_for(compiled, node_id, node)
        state.status = "waiting"
        entry = compiled.tasks.get(node.task_node.reference_id.name) if state.kind == "task" else None
        if entry is None:
            rows.append((node_id, state.task_name or state.label, state.kind, None, ""))
            continue
        report = size_report(entry.template)
        rows.append((node_id, entry.name, state.kind, report.total, report.status))
    return WorkflowInspection(
        workflow=compiled.name,
        rows=rows,
        total=closure_bytes(compiled),
        warn_bytes=config.warn_bytes,
        over_bytes=config.over_bytes,
        picture=picture(compiled, states),
    )


def closure_bytes(compiled: CompiledWorkflow) -> int:
    """Bytes of what the platform stores for an execution: the workflow, its subworkflows, each task once."""
    from flyteidl.core.compiler_pb2 import CompiledTask, CompiledWorkflowClosure
    from flyteidl.core.compiler_pb2 import CompiledWorkflow as CompiledMessage

    closure = CompiledWorkflowClosure(
        primary=CompiledMessage(template=compiled.template),
        sub_workflows=[CompiledMessage(template=sub) for sub in compiled.sub_workflows.values()],
        tasks=[CompiledTask(template=entry.template) for entry in compiled.tasks.values()],
    )
    return closure.ByteSize()
