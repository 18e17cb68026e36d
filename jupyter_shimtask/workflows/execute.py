"""Run a compiled workflow: each task node through its own pyflyte-execute, independent nodes at once.

The main thread plans: it binds a node's inputs when its upstream nodes are done, serves it from
the cache or hands it to a bounded thread pool, expands subworkflows and branches as they are
reached, and stops starting nodes after a failure (unless the workflow says to finish what it
can, ``FAIL_AFTER_EXECUTABLE_NODES_COMPLETE``). Ctrl-C stops every running node through the
runs' stop token; each run then removes its own process, container and folder.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import settings
from ..errors import ShimTaskError
from ..platform.env import new_execution_id
from ..runners.attempts import MODES, Attempts, RunOptions, run_attempts, runs_folder
from ..runners.base import LogSink, RunError, RunResult, StopToken, new_raw_prefix, prepare_literals, stop_token
from . import cache as catalog
from .bindings import evaluate, resolve_all
from .compile import CompiledWorkflow, TaskEntry, WorkflowError, branch_nodes, promises
from .result import NodeFailure, NodeState, WorkflowResult

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import Literal, LiteralMap
    from flyteidl.core.workflow_pb2 import Node, WorkflowTemplate
    from typing_extensions import Unpack

FINISHED = ("ok", "cached", "failed", "stopped")


@dataclass
class Options:
    mode: str
    modes: dict[str, str]
    images: dict[str, str]
    image: str | None
    engine: str
    timeout: float | None
    keep: bool
    warm: bool
    cache: bool
    parallelism: int
    on_log: LogSink | None
    secrets: Mapping[str, str] | None = None
    retries: bool = True

    def mode_for(self, node_id: str, entry: TaskEntry) -> str:
        return _choose(self.modes, node_id, entry) or self.mode

    def image_for(self, node_id: str, entry: TaskEntry) -> str | None:
        return _choose(self.images, node_id, entry) or self.image


def _choose(table: dict[str, str], node_id: str, entry: TaskEntry) -> str | None:
    for key in (node_id, entry.name, getattr(entry.task, "name", ""), entry.short_name):
        if key in table:
            return table[key]
    return None


def option_table(given: dict[Any, str] | None, what: str, allowed: tuple[str, ...] | None = None) -> dict[str, str]:
    """``{task or name: value}`` keyed by name (a task object counts by its name)."""
    table = {}
    for key, value in (given or {}).items():
        name = key if isinstance(key, str) else getattr(key, "name", None)
        if not name:
            raise ShimTaskError(f"{what}: keys are tasks, task names or node ids, got {type(key).__name__}")
        if allowed is not None and value not in allowed:
            raise ShimTaskError(f"{what}[{name!r}]: unknown mode {value!r}; choose one of {', '.join(allowed)}")
        table[name] = value
    return table


@dataclass
class Scope:
    """Where a node's bindings look: ``prefix`` + node id for outputs, ``inputs`` for the workflow's inputs."""

    prefix: str
    inputs: dict[str, Literal]


@dataclass
class Unit:
    uid: str
    node: Node
    scope: Scope
    deps: set[str]
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    sub: WorkflowTemplate | None = None
    sub_scope: Scope | None = None


class Execution:
    def __init__(self, compiled: CompiledWorkflow, inputs: LiteralMap, options: Options, raw: Path):
        self.compiled = compiled
        self.options = options
        self.raw = raw
        self.execution_id = new_execution_id()  # one execution: every node's attempts carry it
        self.root = Scope("", dict(inputs.literals))
        self.units: dict[str, Unit] = {}
        self.states: dict[str, NodeState] = {}
        self.outputs: dict[str, dict[str, Literal]] = {}
        self.token = StopToken()
        self.halted = False
        self.failure: NodeFailure | None = None
        self.fail_late = compiled.template.metadata.on_failure == 1  # FAIL_AFTER_EXECUTABLE_NODES_COMPLETE
        self.listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        for node_id, node in compiled.walk():
            self.states[node_id] = _state_for(compiled, node_id, node)
        for node in compiled.template.nodes:
            self._add(node.id, node, self.root, None)

    # -- planning --------------------------------------------------------------------------

    def _add(self, uid: str, node: Node, scope: Scope, parent: str | None) -> None:
        deps = {scope.prefix + up for up in [*node.upstream_node_ids, *_bound_nodes(node)] if up}
        self.units[uid] = Unit(uid, node, scope, deps, parent)
        if parent is not None:
            self.units[parent].children.append(uid)

    def _lookup(self, scope: Scope) -> Callable[[str, str], Literal]:
        def lookup(node_id: str, var: str) -> Literal:
            if not node_id:
                if var not in scope.inputs:
                    raise WorkflowError(f"input {var} is not bound")
                return scope.inputs[var]
            outputs = self.outputs.get(scope.prefix + node_id)
            if outputs is None or var not in outputs:
                raise WorkflowError(f"node {scope.prefix + node_id} has no output {var}")
            return outputs[var]

        return lookup

    def ready(self) -> list[Unit]:
        done = {uid for uid, state in self.states.items() if state.status in ("ok", "cached")}
        return [unit for unit in self.units.values() if self.states[unit.uid].status == "waiting" and unit.deps <= done]

    # -- running ---------------------------------------------------------------------------

    def run(self) -> None:
        from ..runners.proc import ctrl_c_interrupts

        self._share_image_mounts()
        running: dict[concurrent.futures.Future, str] = {}
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, self.options.parallelism), thread_name_prefix="shimtask-node"
        ) as pool:
            try:
                with ctrl_c_interrupts():
                    while True:
                        started = self._start_ready(pool, running)
                        if not running and not started:
                            break
                        if not running:
                            continue
                        finished, _ = concurrent.futures.wait(
                            running, timeout=0.5, return_when=concurrent.futures.FIRST_COMPLETED
                        )
                        for future in finished:
                            uid = running.pop(future)
                            self._task_done(uid, _outcome(future))
            except BaseException:
                self.halted = True
                self.token.stop()
                for future in running:
                    future.cancel()
                concurrent.futures.wait(running)  # each stopped run removes its process, container and folder
                for uid in running.values():
                    self._set(uid, status="stopped")
                raise
        for state in self.states.values():
            if state.status in ("waiting", "running"):
                state.status = "not run"
        self._changed()

    def _share_image_mounts(self) -> None:
        """Warm containers mount every folder the workflow's tasks import from: nodes then share one per image."""
        if not self.options.warm:
            return
        from types import SimpleNamespace

        from ..runners.base import import_roots
        from ..runners.image import share_warm_mounts

        roots = [
            Path(root)
            for node_id, state in self.states.items()
            if state.kind == "task" and state.task_name in self.compiled.tasks
            for entry in [self.compiled.tasks[state.task_name]]
            if self.options.mode_for(node_id, entry) == "image"
            for root in import_roots(SimpleNamespace(executor=entry.import_path))
        ]
        share_warm_mounts(roots)

    def _start_ready(self, pool: concurrent.futures.Executor, running: dict) -> bool:
        started = False
        for unit in self.ready():
            if self.halted:
                return started
            started = True
            kind = unit.node.WhichOneof("target")
            try:
                if kind == "task_node":
                    self._start_task(unit, pool, running)
                elif kind == "workflow_node":
                    self._start_subworkflow(unit)
                else:
                    self._start_branch(unit)
            except ShimTaskError as error:
                self._fail(unit.uid, RunError("USER", type(error).__name__, str(error), error.detail))
        return started

    def _start_task(self, unit: Unit, pool: concurrent.futures.Executor, running: dict) -> None:
        entry = self.compiled.tasks[unit.node.task_node.reference_id.name]
        from flyteidl.core.literals_pb2 import LiteralMap

        inputs = LiteralMap(literals=resolve_all(unit.node.inputs, self._lookup(unit.scope)))
        mode = self.options.mode_for(unit.uid, entry)
        key = (
            catalog.cache_key(entry.template, inputs)
            if self.options.cache and catalog.cacheable(entry.template)
            else ""
        )
        self._set(unit.uid, status="running", mode=mode, started=time.perf_counter(), cache_key=key)
        hit = catalog.lookup(key) if key else None
        if hit is not None:
            self.states[unit.uid].cache_hit = True
            self._task_done(unit.uid, _cached_result(entry, hit, mode))
            return
        if mode == "process":  # in this interpreter: one at a time, on the main thread (signals, sys.stdout)
            self._task_done(unit.uid, self._run_task(unit.uid, entry, inputs, mode))
            return
        running[pool.submit(self._run_task, unit.uid, entry, inputs, mode)] = unit.uid

    def _run_task(self, uid: str, entry: TaskEntry, inputs: LiteralMap, mode: str) -> RunResult:
        options = self.options
        sink = self._log_sink(uid)
        started = time.perf_counter()
        try:
            with stop_token(self.token):
                how = Attempts(
                    mode=mode,
                    keep=options.keep,
                    timeout=options.timeout if mode != "process" else None,
                    image=options.image_for(uid, entry),
                    engine=options.engine,
                    warm=options.warm,
                    on_log=sink,
                    secrets=options.secrets,
                    retries=options.retries,
                    execution_id=self.execution_id,
                    workflow=self.compiled.name,
                )
                return run_attempts(
                    lambda: prepare_literals(
                        entry.template,
                        inputs,
                        task=entry.task,
                        executor=entry.import_path,
                        runs_dir=runs_folder(mode, options.warm),
                        raw=self.raw,
                    ),
                    how,
                )
        except ShimTaskError as error:
            failure = RunError("SYSTEM", type(error).__name__, str(error), error.detail)
            return RunResult(False, {}, failure, "", time.perf_counter() - started, None, mode, entry.name)

    def _task_done(self, uid: str, result: RunResult) -> None:
        state = self.states[uid]
        state.result = result
        state.seconds = result.seconds
        if self.token.stopped:
            self._set(uid, status="stopped")
            return
        if not result.ok:
            self._fail(uid, result.error)
            return
        self.outputs[uid] = dict(result.literals.literals)
        if state.cache_key and not state.cache_hit:
            catalog.store(state.cache_key, self.compiled.tasks[state.task_name].template, result.literals)
        self._set(uid, status="cached" if state.cache_hit else "ok")
        self._settle(self.units[uid].parent)

    def _start_subworkflow(self, unit: Unit) -> None:
        sub = self.compiled.sub_workflows[unit.node.workflow_node.sub_workflow_ref.name]
        inputs = resolve_all(unit.node.inputs, self._lookup(unit.scope))
        unit.sub, unit.sub_scope = sub, Scope(unit.uid + "-", inputs)
        self._set(unit.uid, status="running", started=time.perf_counter())
        for node in sub.nodes:
            self._add(unit.uid + "-" + node.id, node, unit.sub_scope, unit.uid)
        self._settle(unit.uid)

    def _start_branch(self, unit: Unit) -> None:
        values = resolve_all(unit.node.inputs, self._lookup(unit.scope))
        block = unit.node.branch_node.if_else
        self._set(unit.uid, status="running", started=time.perf_counter())
        chosen = None
        for case in [block.case, *block.other]:
            if evaluate(case.condition, values):
                chosen = case.then_node
                break
        if chosen is None and block.HasField("else_node"):
            chosen = block.else_node
        if chosen is None:
            message = block.error.message or "no branch condition held and there is no else"
            self._fail(unit.uid, RunError("USER", "BranchFailed", message))
            return
        for node in branch_nodes(unit.node):
            if node.id != chosen.id:
                skipped = unit.uid + "-" + node.id
                for uid, state in self.states.items():
                    if uid == skipped or uid.startswith(skipped + "-"):
                        state.status = "skipped"
        self._add(unit.uid + "-" + chosen.id, chosen, unit.scope, unit.uid)
        self.units[unit.uid].sub_scope = unit.scope

    def _settle(self, uid: str | None) -> None:
        """A subworkflow or branch is done when its children are; its outputs are theirs."""
        if uid is None:
            return
        unit = self.units[uid]
        if self.states[uid].status != "running":
            return
        if any(self.states[child].status not in ("ok", "cached") for child in unit.children):
            return
        if unit.sub is not None:
            outputs = resolve_all(unit.sub.outputs, self._lookup(unit.sub_scope))
        else:  # a branch: the node it chose
            outputs = self.outputs.get(unit.children[0], {})
        self.outputs[uid] = outputs
        self._set(uid, status="ok")
        self._settle(unit.parent)

    def _fail(self, uid: str, error: RunError | None) -> None:
        state = self.states[uid]
        error = error or RunError("SYSTEM", "Unknown", "the node failed without an error")
        self._set(uid, status="failed", error=error)
        if self.failure is None:
            self.failure = NodeFailure(uid, state.task_name or state.label, error)
        if not self.fail_late:
            self.halted = True
        parent = self.units[uid].parent if uid in self.units else None
        if parent is not None and self.states[parent].status == "running":
            self._fail(parent, RunError(error.kind, error.code, f"node {uid} failed: {error.message}", error.detail))

    # -- live state ------------------------------------------------------------------------

    def _set(self, uid: str, **changes: Any) -> None:
        state = self.states[uid]
        started = changes.pop("started", None)
        if started is not None:
            state.started = started
        for name, value in changes.items():
            setattr(state, name, value)
        if state.status in FINISHED and state.seconds is None and state.started is not None:
            state.seconds = time.perf_counter() - state.started
        self._changed()

    def _changed(self) -> None:
        for listener in self.listeners:
            with contextlib.suppress(Exception):
                listener()

    def _log_sink(self, uid: str) -> LogSink:
        state = self.states[uid]
        forward = self.options.on_log

        def sink(text: str) -> None:
            with self._lock:
                state.log_parts.append(text)
            if forward is not None:
                forward("".join(f"[{uid}] {line}\n" for line in text.splitlines() if line.strip()))

        return sink

    def workflow_outputs(self) -> dict[str, Literal]:
        return resolve_all(self.compiled.template.outputs, self._lookup(self.root))


def _bound_nodes(node: Node) -> set[str]:
    return {promise.node_id for binding in node.inputs for promise in promises(binding.binding)} - {"start-node"}


def _state_for(compiled: CompiledWorkflow, node_id: str, node: Node) -> NodeState:
    kind = node.WhichOneof("target")
    label = node.metadata.name or node.id
    if kind == "task_node":
        entry = compiled.tasks.get(node.task_node.reference_id.name)
        return NodeState(node_id, "task", label, task_name=entry.name if entry else "")
    if kind == "workflow_node":
        return NodeState(node_id, "subworkflow", label, task_name=node.workflow_node.sub_workflow_ref.name)
    return NodeState(node_id, "branch", label)


def _outcome(future: concurrent.futures.Future) -> RunResult:
    try:
        return future.result()
    except Exception as exc:  # a fault of the run machinery itself: the node fails, the others go on
        return RunResult(False, {}, RunError("SYSTEM", type(exc).__name__, str(exc)), "", 0.0, None, "?")


def _cached_result(entry: TaskEntry, outputs: LiteralMap, mode: str) -> RunResult:
    from ..literals import decode_outputs

    started = time.perf_counter()
    values = decode_outputs(outputs, entry.template, entry.task)
    result = RunResult(True, values, None, "", time.perf_counter() - started, None, mode, entry.name)
    result.notes.append("served from the local cache")
    result.literals = outputs
    return result


class WorkflowRunOptions(RunOptions, total=False):
    """``run_workflow``'s keyword arguments: a task run's, and how the workflow's nodes run."""

    modes: dict[Any, str] | None
    images: dict[Any, str] | None
    cache: bool
    parallelism: int | None
    live: bool | None


def run_workflow(
    workflow: Any, inputs: dict[str, Any] | None = None, **given: Unpack[WorkflowRunOptions]
) -> WorkflowResult:
    """Run ``workflow`` (``@workflow``, ``ImperativeWorkflow`` or launch plan) node by node.

    Every task node runs as the platform runs it, through its own TaskTemplate and pyflyte-execute
    with LiteralMap files, in ``mode`` (``modes={task or name: mode}`` per task; ``images`` per
    task for image mode). All nodes share one raw-output prefix. Up to ``parallelism`` nodes
    (default ``ShimTask.parallelism``) run at once. Tasks with ``cache=True`` and a
    ``cache_version`` are served from the local cache on a repeat run unless ``cache=False``.
    ``live`` (default: in a Jupyter kernel) shows the node table in the cell while it runs.
    Each node runs in the platform's pod as a single task does (``secrets``, retries unless
    ``retries=False``, the task's timeout), all nodes in one execution (one execution id).
    """
    from .compile import compile_workflow
    from .inputs import workflow_inputs
    from .live import LiveTable

    started = time.perf_counter()
    options = workflow_options(given)
    compiled = compile_workflow(workflow)
    raw = new_raw_prefix()
    try:
        literal_inputs = workflow_inputs(compiled, inputs, raw)
        execution = Execution(compiled, literal_inputs, options, raw)
        table = LiveTable(execution.states, compiled.name) if LiveTable.wanted(given.get("live")) else None
        if table is not None:
            execution.listeners.append(table.update)
        try:
            execution.run()
        except BaseException:
            if table is not None:
                table.draw("stopped")  # no result will show it: the table stays, each node's last status
            raise
        if table is not None:
            table.close()
        return _result(execution, compiled, time.perf_counter() - started)
    finally:
        if raw.exists() and not any(path.is_file() for path in raw.rglob("*")):
            shutil.rmtree(raw, ignore_errors=True)


def workflow_options(given: WorkflowRunOptions) -> Options:
    """``run_workflow``'s keyword arguments, checked, with settings for what is not given."""
    if unknown := sorted(set(given) - WorkflowRunOptions.__optional_keys__):
        raise TypeError(f"run_workflow() got an unexpected keyword argument {unknown[0]!r}")
    config = settings()
    mode = given.get("mode") or config.mode
    if mode not in MODES:
        raise ShimTaskError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    timeout, keep, warm = given.get("timeout"), given.get("keep"), given.get("warm")
    return Options(
        mode=mode,
        modes=option_table(given.get("modes"), "modes", MODES),
        images=option_table(given.get("images"), "images"),
        image=given.get("image"),
        engine=given.get("engine") or config.engine,
        timeout=timeout if timeout is not None else (config.timeout or None),
        keep=config.keep if keep is None else keep,
        warm=config.warm if warm is None else warm,
        cache=given.get("cache", True),
        parallelism=given.get("parallelism") or config.parallelism,
        on_log=given.get("on_log"),
        secrets=given.get("secrets"),
        retries=given.get("retries", True),
    )


def _result(execution: Execution, compiled: CompiledWorkflow, seconds: float) -> WorkflowResult:
    from flyteidl.core.literals_pb2 import LiteralMap

    from ..literals import decode_outputs

    outputs: dict[str, Any] = {}
    failure = execution.failure
    if failure is None:
        try:
            literals = LiteralMap(literals=execution.workflow_outputs())
            outputs = decode_outputs(literals, compiled.template, compiled.entity)
        except Exception as exc:
            failure = NodeFailure("outputs", compiled.name, RunError("USER", "OutputDecode", str(exc)))
    return WorkflowResult(
        ok=failure is None,
        outputs=outputs if failure is None else {},
        nodes={uid: state.result for uid, state in execution.states.items()},
        error=failure,
        seconds=seconds,
        workflow=compiled.name,
        states=execution.states,
        raw=execution.raw if execution.raw.exists() else None,
        compiled=compiled,
    )
