"""A cell's task as a flytekit-only plugin package: the module, pyproject, Dockerfile, a test and a README."""

from __future__ import annotations

import ast
import json
import keyword
import re
import string
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import ShimTaskError
from .literals import type_name

DEFAULT_BASE_IMAGE = "shimtask-runtime"
TASK_MODULE = "task"
VENDORED_MODULE = "_outputs"
# jupyter_shimtask's runtime part: an exported package carries its own copy instead of depending on us
VENDORED_NAMES = {"outputs_by_name", "OutputsByName"}
VENDORED_FROM = {"jupyter_shimtask", "jupyter_shimtask.outputs"}
RESERVED_PACKAGES = ("flytekit", "flyteidl", "flytekitplugins", "jupyter_shimtask")


class ExportError(ShimTaskError):
    """A task that cannot become a plugin package, or a folder it cannot be written to."""


@dataclass(frozen=True)
class Export:
    """What :func:`export` wrote: the folder, the package's names, and the executor path of its template."""

    folder: Path
    package: str
    distribution: str
    executor: str
    written: tuple[str, ...]
    unchanged: tuple[str, ...]

    def __str__(self) -> str:
        lines = [f"exported {self.distribution} to {self.folder}; its template names {self.executor}"]
        if self.written:
            lines.append(f"  wrote: {', '.join(self.written)}")
        if self.unchanged:
            lines.append(f"  unchanged: {', '.join(self.unchanged)}")
        lines.append(f'  test it: pip install -e "{self.folder}[test]" && pytest {self.folder / "tests"}')
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def default_package_name(task_name: str) -> str:
    return "flytekitplugins_" + (re.sub(r"\W+", "_", task_name).strip("_").lower() or "task")


def export(
    task: Any,
    to: str | Path,
    *,
    package: str | None = None,
    inputs: dict[str, Any] | None = None,
    base_image: str = DEFAULT_BASE_IMAGE,
    force: bool = False,
) -> Export:
    """Write the module that defines ``task`` as the plugin package ``package`` in the folder ``to``.

    The module's source is placed unchanged at ``<package>/task.py`` (only an import of
    ``outputs_by_name`` from jupyter_shimtask is pointed at the package's own copy), so the executor's
    ``__module__`` and with it the template's executor path become ``<package>.task.<Executor>``.
    The package's test runs the task through ``pyflyte-execute`` with ``inputs`` (the task's defaults
    fill in the rest) and expects the outputs the task gives now. Existing files that would change
    are left alone unless ``force``.
    """
    from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask

    if not isinstance(task, PythonCustomizedContainerTask):
        raise ExportError(f"expected a template-only task (PythonCustomizedContainerTask), got {type(task).__name__}")
    package = package or default_package_name(task.name)
    if not package.isidentifier() or keyword.iskeyword(package) or package in RESERVED_PACKAGES:
        raise ExportError(f"{package!r} is not a usable package name: a Python identifier, not {RESERVED_PACKAGES}")
    module = _defining_module(task)
    source = _flytekit_only(Path(module.__file__).read_text(), module.__name__)
    variable = _variable_of(module, task)
    executor_type = task.executor_type
    executor = (
        f"{package}.{TASK_MODULE}.{executor_type.__qualname__}"
        if executor_type.__module__ == module.__name__
        else f"{executor_type.__module__}.{executor_type.__qualname__}"
    )
    sample = _sample_inputs(task, inputs)
    expected = _expected_outputs(task, sample)
    names = _public_definitions(module)
    values = {
        "package": package,
        "distribution": package.replace("_", "-"),
        "task_name": task.name,
        "task_class": type(task).__name__,
        "executor_class": executor_type.__name__,
        "variable": variable,
        "executor": executor,
        "image": _image_name(task.container_image),
        "base_image": base_image,
        "flytekit": _flytekit_floor(),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "names": ", ".join(names),
        "all": json.dumps(names),
        "inputs": repr(sample),
        "expected": repr(expected),
        "test_name": re.sub(r"\W+", "_", task.name).strip("_").lower() or "task",
    }
    files = {path: string.Template(_template_text(name)).substitute(values) for path, name in _FILES.items()}
    files = {path.replace("PACKAGE", package).replace("TEST_NAME", values["test_name"]): t for path, t in files.items()}
    files[f"{package}/{TASK_MODULE}.py"] = source.text
    if source.vendored:
        files[f"{package}/{VENDORED_MODULE}.py"] = (Path(__file__).with_name("outputs.py")).read_text()
    written, unchanged = _write(Path(to).expanduser().resolve(), files, force)
    return Export(Path(to).expanduser().resolve(), package, values["distribution"], executor, written, unchanged)


def _image_name(container_image: str | None) -> str:
    """The image the template names, for build commands; IMAGE when it comes from an image config at packaging."""
    return container_image if container_image and "{{" not in container_image else "IMAGE"


def _defining_module(task: Any) -> ModuleType:
    name = task.instantiated_in
    module = sys.modules.get(name or "")
    if module is None or not getattr(module, "__file__", None) or name == "__main__":
        raise ExportError(
            f"task {task.name!r} was not created by a module file (created in {name or 'an unknown place'}); "
            "define it in a %%shimtask cell"
        )
    for kind, cls in (("executor", task.executor_type), ("task class", type(task))):
        if cls.__module__ != name and not cls.__module__.startswith("flytekit"):
            raise ExportError(
                f"the {kind} {cls.__module__}.{cls.__qualname__} is defined outside {name}, the module that creates "
                f"task {task.name!r}; define the task, its class and its executor in one %%shimtask cell"
            )
    return module


def _variable_of(module: ModuleType, task: Any) -> str:
    for name, value in vars(module).items():
        if value is task and not name.startswith("_"):
            return name
    raise ExportError(f"task {task.name!r} is not bound to a public name in {module.__name__}")


def _public_definitions(module: ModuleType) -> list[str]:
    """Classes the module defines and the tasks it creates: what the package re-exports."""
    from flytekit.core.base_task import Task

    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and ((isinstance(value, type) and value.__module__ == module.__name__) or isinstance(value, Task))
    ]


@dataclass(frozen=True)
class _Source:
    text: str
    vendored: bool


def _flytekit_only(text: str, module_name: str) -> _Source:
    """The cell's text with ``from jupyter_shimtask import outputs_by_name`` pointed at the package's own copy."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        if not any(name == "jupyter_shimtask" or name.startswith("jupyter_shimtask.") for name in modules):
            continue
        statement = ast.get_source_segment(text, node) or "import jupyter_shimtask"
        if not (
            isinstance(node, ast.ImportFrom)
            and node.module in VENDORED_FROM
            and all(alias.name in VENDORED_NAMES for alias in node.names)
        ):
            raise ExportError(
                f"{module_name} line {node.lineno}: `{statement}`: an exported package needs flytekit only; "
                "of jupyter_shimtask it can take outputs_by_name alone"
            )
        imported = ", ".join(alias.name + (f" as {alias.asname}" if alias.asname else "") for alias in node.names)
        start = _offset(lines, offsets, node.lineno, node.col_offset)
        end = _offset(lines, offsets, node.end_lineno or node.lineno, node.end_col_offset or 0)
        edits.append((start, end, f"from .{VENDORED_MODULE} import {imported}"))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return _Source(text, bool(edits))


def _offset(lines: list[str], offsets: list[int], lineno: int, byte_column: int) -> int:
    """Character offset in the text of an ast position (ast columns count UTF-8 bytes)."""
    line = lines[lineno - 1]
    return offsets[lineno - 1] + len(line.encode()[:byte_column].decode(errors="ignore"))


def _sample_inputs(task: Any, given: dict[str, Any] | None) -> dict[str, Any]:
    interface = task.python_interface
    given = dict(given or {})
    unknown = sorted(set(given) - set(interface.inputs))
    if unknown:
        raise ExportError(f"task {task.name!r} has no input {', '.join(unknown)}; its inputs: {list(interface.inputs)}")
    sample = {**interface.default_inputs_as_kwargs, **given}
    missing = [name for name in interface.inputs if name not in sample]
    if missing:
        wanted = ", ".join(f"{name} ({type_name(interface.inputs[name])})" for name in missing)
        raise ExportError(
            f"the exported test runs task {task.name!r}: give sample inputs for {wanted}, "
            f"e.g. %shimtask export {task.name} --to DIR {missing[0]}=..."
        )
    for name, value in sample.items():
        if not _is_literal(value):
            raise ExportError(
                f"input {name}={value!r}: the exported test needs inputs written as Python literals "
                "(str, int, float, bool, None, and lists, dicts, tuples of them)"
            )
    return sample


def _expected_outputs(task: Any, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """What the task returns now, for the test to expect; None when the outputs are not Python literals."""
    from .running import run

    result = run(task, inputs, mode="process")
    if not result.ok:
        raise ExportError(
            f"task {task.name!r} fails with the sample inputs {inputs}, so its exported test would too: {result.error}",
            detail=result.error.detail if result.error else "",
        )
    return result.outputs if all(_is_literal(value) for value in result.outputs.values()) else None


def _is_literal(value: Any) -> bool:
    try:
        return ast.literal_eval(repr(value)) == value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def _flytekit_floor() -> str:
    import flytekit

    major, minor = flytekit.__version__.split(".")[:2]
    return f"{major}.{minor}"


def _write(folder: Path, files: dict[str, str], force: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    changed = {path: text for path, text in files.items() if _current(folder / path) != text.encode()}
    existing = sorted(path for path in changed if (folder / path).exists())
    if existing and not force:
        raise ExportError(f"{folder}: would overwrite {', '.join(existing)}; pass --force to overwrite")
    for path, text in changed.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return tuple(changed), tuple(path for path in files if path not in changed)


def _current(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


# What export writes (paths with PACKAGE and TEST_NAME filled in) and the template file each comes from,
# in export_template/ beside this module: string.Template text ($name, $$ for a dollar).
_FILES = {
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    "Dockerfile": "Dockerfile.tmpl",
    ".dockerignore": "dockerignore.tmpl",
    "PACKAGE/__init__.py": "__init__.py.tmpl",
    "tests/test_TEST_NAME.py": "test.py.tmpl",
}


def _template_text(name: str) -> str:
    return resources.files(__package__).joinpath("export_template", name).read_text()
