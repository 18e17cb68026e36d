"""The workflow's DAG as a picture, laid out by Graphviz ``dot``; plain text when it is missing."""

from __future__ import annotations

import html
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .compile import CompiledWorkflow, promises
from .nodes import STATUS_COLOURS, NodeState

if TYPE_CHECKING:
    from flyteidl.core.workflow_pb2 import Node

SHAPES = {"task": "box", "subworkflow": "folder", "branch": "diamond"}
MISSING_DOT = "no picture: Graphviz's dot is not installed (apt-get install graphviz, or conda install graphviz)"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    nested: bool = False  # from a subworkflow or branch to a node inside it
    label: str = ""


def edges(compiled: CompiledWorkflow) -> list[Edge]:
    """Dependencies between nodes of one scope, and from each subworkflow and branch to its nodes."""
    found: list[Edge] = []
    nested = _nested_parents(compiled)
    for node_id, node in compiled.walk():
        parent, kind = nested.get(node_id, (None, ""))
        if parent is not None:
            found.append(Edge(parent, node_id, nested=True, label=kind))
            if kind != "subworkflow":
                continue  # a branch's node reads the branch's scope; its edge is the branch's
        prefix = node_id[: len(node_id) - len(node.id)]
        upstream = {*node.upstream_node_ids, *_referenced(node)} - {"", "start-node"}
        found += [Edge(prefix + up, node_id) for up in sorted(upstream)]
    return found


def _referenced(node: Node) -> set[str]:
    return {promise.node_id for binding in node.inputs for promise in promises(binding.binding)}


def _nested_parents(compiled: CompiledWorkflow) -> dict[str, tuple[str, str]]:
    """Node id -> (the subworkflow or branch holding it, how: subworkflow / if / elif / else)."""
    parents: dict[str, tuple[str, str]] = {}
    for node_id, node in compiled.walk():
        kind = node.WhichOneof("target")
        if kind == "workflow_node":
            sub = compiled.sub_workflows.get(node.workflow_node.sub_workflow_ref.name)
            for child in sub.nodes if sub is not None else []:
                parents[f"{node_id}-{child.id}"] = (node_id, "subworkflow")
        elif kind == "branch_node":
            block = node.branch_node.if_else
            parents[f"{node_id}-{block.case.then_node.id}"] = (node_id, "if")
            for case in block.other:
                parents[f"{node_id}-{case.then_node.id}"] = (node_id, "elif")
            if block.HasField("else_node"):
                parents[f"{node_id}-{block.else_node.id}"] = (node_id, "else")
    return parents


def dot_source(compiled: CompiledWorkflow, states: dict[str, NodeState]) -> str:
    import graphviz

    graph = graphviz.Digraph(compiled.name, graph_attr={"rankdir": "LR", "fontsize": "10"})
    graph.attr("node", fontname="Helvetica", fontsize="10", style="filled")
    for node_id, state in states.items():
        label = f"{node_id}\n{state.label}\n{state.status}" + (" (cache)" if state.cache_hit else "")
        graph.node(
            node_id,
            label=label,
            shape=SHAPES.get(state.kind, "box"),
            fillcolor=STATUS_COLOURS.get(state.status, "#ffffff"),
        )
    for edge in edges(compiled):
        graph.edge(edge.source, edge.target, style="dashed" if edge.nested else "solid", label=edge.label)
    return graph.source


@dataclass
class DagPicture:
    """An SVG of the DAG, or the same as text with a note when it cannot be drawn."""

    text: str
    svg: str = ""
    note: str = ""
    source: str = ""

    def _repr_html_(self) -> str:
        if self.svg:
            return f'<div class="shimtask-dag">{self.svg}</div>'
        return f"<pre>{html.escape(self.text)}</pre><p><i>{html.escape(self.note)}</i></p>"

    def __str__(self) -> str:
        return self.text + (f"\n({self.note})" if self.note else "")

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str(self))


def picture(compiled: CompiledWorkflow, states: dict[str, NodeState]) -> DagPicture:
    text = text_picture(compiled, states)
    try:
        import graphviz
    except ImportError:
        return DagPicture(text, note="no picture: the graphviz Python package is not installed (pip install graphviz)")
    if shutil.which("dot") is None:
        return DagPicture(text, note=MISSING_DOT)
    source = dot_source(compiled, states)
    try:
        svg = graphviz.Source(source).pipe(format="svg", encoding="utf-8")
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as exc:
        return DagPicture(text, note=f"no picture: dot failed ({exc})", source=source)
    return DagPicture(text, svg=svg[svg.find("<svg") :], source=source)


def text_picture(compiled: CompiledWorkflow, states: dict[str, NodeState]) -> str:
    """One line per node: its status and the nodes it waits for."""
    waits: dict[str, list[str]] = {}
    for edge in edges(compiled):
        waits.setdefault(edge.target, []).append(edge.source)
    lines = []
    for node_id, state in states.items():
        after = f" <- {', '.join(waits[node_id])}" if node_id in waits else ""
        lines.append(f"{node_id} {state.label} [{state.status}]{after}")
    return "\n".join(lines)
