"""Cell text -> a content-hashed module in the workspace -> the tasks it defines."""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from .config import settings
from .errors import AuthoringError
from .state import state
from .template import executor_path, same_template, serialize

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

DEFAULT_STEM = "shimtask_cell"


@dataclass
class DefinedTask:
    variable: str
    task: Any
    template: TaskTemplate
    previous: TaskTemplate | None = None

    @property
    def executor(self) -> str:
        return executor_path(self.template) or "-"


@dataclass
class CellModule:
    module: ModuleType
    path: Path
    tasks: list[DefinedTask] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)  # @task functions, workflows and launch plans

    @property
    def public_names(self) -> dict[str, Any]:
        names = getattr(self.module, "__all__", None) or [n for n in vars(self.module) if not n.startswith("_")]
        return {name: getattr(self.module, name) for name in names}


class Registry:
    """Templates of the tasks ``%%shimtask`` cells defined, by task name, newest last."""

    def __init__(self) -> None:
        self._versions: dict[str, list[TaskTemplate]] = {}
        self._tasks: dict[str, Any] = {}

    def record(self, task: Any, template: TaskTemplate) -> TaskTemplate | None:
        """Keep ``template``; return the version it replaces when the two differ."""
        versions = self._versions.setdefault(task.name, [])
        self._tasks[task.name] = task
        if versions and same_template(versions[-1], template):
            return None
        previous = versions[-1] if versions else None
        versions.append(template)
        return previous

    def task(self, name: str) -> Any | None:
        """The task object last defined under task name ``name``."""
        return self._tasks.get(name)

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def defined(self) -> list[DefinedTask]:
        """Every task defined so far, with its newest template, in the order first defined."""
        return [DefinedTask(name, self._tasks[name], versions[-1]) for name, versions in self._versions.items()]

    def latest(self, name: str) -> TaskTemplate | None:
        versions = self._versions.get(name)
        return versions[-1] if versions else None

    def previous(self, template: TaskTemplate) -> TaskTemplate | None:
        """The version a cell replaced, when ``template`` is the newest of its task."""
        versions = self._versions.get(template.id.name, [])
        if len(versions) < 2 or not same_template(versions[-1], template):
            return None
        return versions[-2]


def registry() -> Registry:
    """This process's registry, held by its kernel-wide state."""
    return state().part(Registry)


def module_name_for(source: str, stem: str | None) -> str:
    """``stem_<hash>``: the hash covers the code and the runtime it was written for, like %%cython."""
    import flytekit

    stem = stem or DEFAULT_STEM
    if not stem.isidentifier():
        raise AuthoringError(f"{stem!r} is not a valid module name (letters, digits, underscores)")
    key = "\0".join([source, flytekit.__version__, sys.version])
    return f"{stem}_{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def build_module(source: str, stem: str | None = None) -> CellModule:
    """Write ``source`` as a real module in the workspace, import it and collect its tasks."""
    modules_dir = settings().modules_dir
    name = module_name_for(source, stem)
    path = modules_dir / f"{name}.py"
    try:
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        line = (exc.text or "").rstrip()
        raise AuthoringError(
            f"SyntaxError in cell line {exc.lineno}: {exc.msg}" + (f": {line.strip()}" if line else ""),
            detail=str(exc),
        ) from None
    _write_once(path, source)
    _ensure_importable(modules_dir)
    module = _import(name, path)
    cell = CellModule(module=module, path=path)
    cell.tasks = collect_tasks(module)
    cell.classes = defined_classes(module)
    cell.entities = defined_entities(module)
    if not cell.tasks and not cell.classes and not cell.entities:
        raise AuthoringError(
            "the cell defines no template-only task: no PythonCustomizedContainerTask instance or subclass, "
            "no ShimTaskExecutor subclass, no @task function or workflow"
        )
    return cell


def collect_tasks(module: ModuleType) -> list[DefinedTask]:
    from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask

    tasks = []
    for variable, value in vars(module).items():
        if variable.startswith("_") or not isinstance(value, PythonCustomizedContainerTask):
            continue
        template = serialize(value)
        tasks.append(DefinedTask(variable, value, template, registry().record(value, template)))
    return tasks


def defined_classes(module: ModuleType) -> list[str]:
    """Task and executor classes the module itself defines (instances may come later)."""
    from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask
    from flytekit.core.shim_task import ShimTaskExecutor

    return [
        name
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, (PythonCustomizedContainerTask, ShimTaskExecutor))
        and value.__module__ == module.__name__
    ]


def defined_entities(module: ModuleType) -> list[str]:
    """Names of the ``@task`` functions, workflows and launch plans the module itself defines."""
    from flytekit.core.launch_plan import LaunchPlan
    from flytekit.core.python_function_task import PythonFunctionTask
    from flytekit.core.workflow import WorkflowBase

    found = []
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if isinstance(value, PythonFunctionTask):
            if value.task_function.__module__ == module.__name__:
                found.append(name)
        elif isinstance(value, (WorkflowBase, LaunchPlan)):
            found.append(name)
    return found


def _write_once(path: Path, source: str) -> None:
    if path.exists() and path.read_text() == source:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as stream:
        stream.write(source)
    os.replace(temporary, path)


def _ensure_importable(modules_dir: Path) -> None:
    if str(modules_dir) not in sys.path:
        sys.path.insert(0, str(modules_dir))
    importlib.invalidate_caches()


def _import(name: str, path: Path) -> ModuleType:
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__file__", None) == str(path):
        return existing
    try:
        return importlib.import_module(name)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise exc.with_traceback(_from_cell(exc.__traceback__, path)) from None


def _from_cell(tb: TracebackType | None, path: Path) -> TracebackType | None:
    """Drop importlib's frames so the traceback starts at the cell's own line."""
    cursor = tb
    while cursor is not None:
        if cursor.tb_frame.f_code.co_filename == str(path):
            return cursor
        cursor = cursor.tb_next
    return tb
