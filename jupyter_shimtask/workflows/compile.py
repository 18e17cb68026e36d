"""A workflow as flytekit serializes it for the platform: nodes, bindings, task templates.

Nothing here compiles a workflow a second time: the DAG is the WorkflowSpec that flytekit's own
translator (``get_serializable``) writes, and each task node's TaskTemplate is the one that comes
with it in the same entity map. This module only reads it, and refuses before anything runs what
a local run cannot honour.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ShimTaskError
from ..template import default_serialization_settings, executor_path, loader_args

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import Literal
    from flyteidl.core.tasks_pb2 import TaskTemplate
    from flyteidl.core.workflow_pb2 import Node, WorkflowTemplate

START_NODE = "start-node"
FUNCTION_RESOLVER = "flytekit.core.python_auto_container.default_task_resolver"


class WorkflowError(ShimTaskError):
    """A workflow that cannot run here (an unsupported node, a task the container cannot import)."""


@dataclass(frozen=True)
class TaskEntry:
    """A task node's task: the flytekit object, its TaskTemplate, and what its container imports."""

    task: Any
    template: TaskTemplate
    import_path: str

    @property
    def name(self) -> str:
        return self.template.id.name

    @property
    def short_name(self) -> str:
        return getattr(self.task, "name", self.name).rpartition(".")[2]


@dataclass
class CompiledWorkflow:
    """The workflow's own template, its subworkflows by name, its tasks by name, launch plan inputs."""

    entity: Any
    template: WorkflowTemplate
    sub_workflows: dict[str, WorkflowTemplate]
    tasks: dict[str, TaskEntry]
    default_inputs: dict[str, Literal] = field(default_factory=dict)
    fixed_inputs: dict[str, Literal] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.template.id.name

    def walk(self) -> Iterator[tuple[str, Node]]:
        """Every node, nested ones too, with the id it has in a run (``parent-child``)."""
        yield from _walk(self, self.template.nodes, "")


def is_workflow(obj: Any) -> bool:
    if obj is None or isinstance(obj, (str, bytes, Path)):
        return False
    from flytekit.core.launch_plan import LaunchPlan
    from flytekit.core.workflow import WorkflowBase

    return isinstance(obj, (WorkflowBase, LaunchPlan))


def compile_workflow(entity: Any) -> CompiledWorkflow:
    """Serialize ``entity`` (a workflow or launch plan) with flytekit's translator and check every node."""
    from flytekit.core.launch_plan import LaunchPlan
    from flytekit.models.admin.workflow import WorkflowSpec
    from flytekit.models.task import TaskSpec
    from flytekit.tools.translator import get_serializable

    if not is_workflow(entity):
        raise WorkflowError(f"expected a flytekit workflow or launch plan, got {type(entity).__name__}")
    entities: OrderedDict = OrderedDict()
    try:
        get_serializable(entities, default_serialization_settings(), entity)
    except Exception as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise WorkflowError(f"workflow {_label(entity)} cannot be serialized: {reason}", detail=str(exc)) from exc
    workflow = entity.workflow if isinstance(entity, LaunchPlan) else entity
    spec = entities[workflow]
    if not isinstance(spec, WorkflowSpec):
        raise WorkflowError(f"{_label(entity)} did not serialize to a workflow")
    tasks = {}
    for obj, serialized in entities.items():
        if isinstance(serialized, TaskSpec):
            template = serialized.template.to_flyte_idl()
            tasks[template.id.name] = TaskEntry(obj, template, import_path(template) or "")
    compiled = CompiledWorkflow(
        entity=entity,
        template=spec.template.to_flyte_idl(),
        sub_workflows={sub.id.name: sub.to_flyte_idl() for sub in spec.sub_workflows},
        tasks=tasks,
    )
    if isinstance(entity, LaunchPlan):
        launch_plan = entities[entity].spec.to_flyte_idl()
        compiled.default_inputs = {
            name: parameter.default
            for name, parameter in launch_plan.default_inputs.parameters.items()
            if parameter.HasField("default")
        }
        compiled.fixed_inputs = dict(launch_plan.fixed_inputs.literals)
    for node_id, node in compiled.walk():
        refuse_unsupported(compiled, node_id, node)
    return compiled


def import_path(template: TaskTemplate) -> str | None:
    """``module.name`` the task's container imports: a shim task's executor, a function task's task."""
    loader = loader_args(template)
    if loader is None:
        return None
    args = list(template.container.args)
    if "--resolver" in args and args[args.index("--resolver") + 1] == FUNCTION_RESOLVER:
        named = dict(zip(loader[::2], loader[1::2], strict=False))
        if "task-module" in named and "task-name" in named:
            module = named["task-module"] or "__main__"  # flytekit writes "" for a notebook's own tasks
            return f"{module}.{named['task-name']}"
    return executor_path(template)


def refuse_unsupported(compiled: CompiledWorkflow, node_id: str, node: Node) -> None:
    """Raise WorkflowError naming ``node_id`` and its kind when a local run cannot honour the node."""
    kind = node.WhichOneof("target")
    if kind == "gate_node":
        gate = node.gate_node.WhichOneof("condition") or "gate"
        _refuse(node_id, f"a gate node ({gate}: it waits for a person or a signal)")
    if kind == "array_node":
        _refuse(node_id, "an array node (map_task)")
    if kind == "workflow_node" and node.workflow_node.WhichOneof("reference") == "launchplan_ref":
        _refuse(node_id, "a launch plan node (a child execution of its own)")
    if kind == "workflow_node":
        if node.workflow_node.sub_workflow_ref.name not in compiled.sub_workflows:
            _refuse(node_id, f"a reference to workflow {node.workflow_node.sub_workflow_ref.name} not in this package")
        return
    if kind == "branch_node":
        return
    if kind != "task_node":
        _refuse(node_id, f"a node of kind {kind}")
    for binding in node.inputs:
        for promise in promises(binding.binding):
            if promise.attr_path:
                _refuse(node_id, f"a node whose input {binding.var} reads an attribute of an output")
    entry = compiled.tasks.get(node.task_node.reference_id.name)
    if entry is None:
        _refuse(node_id, f"a reference task ({node.task_node.reference_id.name})")
    _refuse_task(node_id, entry)


def _refuse_task(node_id: str, entry: TaskEntry) -> None:
    from flytekit.core.python_function_task import PythonFunctionTask

    behaviour = getattr(entry.task, "execution_mode", PythonFunctionTask.ExecutionBehavior.DEFAULT)
    if behaviour != PythonFunctionTask.ExecutionBehavior.DEFAULT:
        _refuse(node_id, f"a {behaviour.name.lower()} task ({entry.name}: it builds its workflow while it runs)")
    template = entry.template
    if not template.HasField("container"):
        _refuse(node_id, f"a {template.type!r} task without a container ({entry.name}: a backend plugin runs it)")
    program = Path(template.container.args[0]).name if template.container.args else ""
    if template.container.command or program != "pyflyte-execute" or not entry.import_path:
        _refuse(node_id, f"a raw container task ({entry.name}: it does not run pyflyte-execute)")
    if entry.import_path.startswith("__main__."):
        raise WorkflowError(
            f"node {node_id}: task {entry.name} lives in __main__ ({entry.import_path}), which its container "
            "cannot import; define it in a %%shimtask cell or a .py module"
        )


def _refuse(node_id: str, kind: str) -> None:
    raise WorkflowError(f"node {node_id} is {kind}, which a local run cannot honour; nothing ran")


def promises(binding_data: Any) -> Iterator[Any]:
    kind = binding_data.WhichOneof("value")
    if kind == "promise":
        yield binding_data.promise
    elif kind == "collection":
        for item in binding_data.collection.bindings:
            yield from promises(item)
    elif kind == "map":
        for item in binding_data.map.bindings.values():
            yield from promises(item)


def branch_nodes(node: Node) -> list[Node]:
    """The nodes a branch node may run: each case's, then the else node."""
    block = node.branch_node.if_else
    nodes = [block.case.then_node, *(case.then_node for case in block.other)]
    if block.HasField("else_node"):
        nodes.append(block.else_node)
    return nodes


def _walk(compiled: CompiledWorkflow, nodes: Any, prefix: str) -> Iterator[tuple[str, Node]]:
    for node in nodes:
        node_id = prefix + node.id
        yield node_id, node
        kind = node.WhichOneof("target")
        if kind == "branch_node":
            yield from _walk(compiled, branch_nodes(node), node_id + "-")
        elif kind == "workflow_node" and node.workflow_node.WhichOneof("reference") == "sub_workflow_ref":
            sub = compiled.sub_workflows.get(node.workflow_node.sub_workflow_ref.name)
            if sub is not None:
                yield from _walk(compiled, sub.nodes, node_id + "-")


def _label(entity: Any) -> str:
    return repr(getattr(entity, "name", type(entity).__name__))
