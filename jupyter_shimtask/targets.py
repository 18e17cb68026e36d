"""What a name on a command line (``%shimtask run NAME``, ``shimtask run NAME``) stands for."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .authoring import registry
from .errors import ShimTaskError

TEMPLATE_SUFFIXES = (".pb", ".json", ".yaml", ".yml")


def resolve_target(name: str, namespace: Mapping[str, Any] | None = None) -> Any:
    """The object ``name`` names: a variable of ``namespace`` (a notebook's), else the task a
    ``%%shimtask`` cell defined under that task name, else a template file's path (one that exists,
    or one whose suffix says it is a template, so that reading it names what is wrong)."""
    if namespace is not None and name in namespace:
        return namespace[name]
    task = registry().task(name)
    if task is not None:
        return task
    if Path(name).expanduser().exists() or name.endswith(TEMPLATE_SUFFIXES):
        return name
    known = ", ".join(registry().names()) or "none yet"
    raise ShimTaskError(f"no task or template named {name!r} (tasks defined: {known})")


def defined_names(namespace: Mapping[str, Any]) -> list[str]:
    """Names ``resolve_target`` takes for a task or workflow: the registry's and ``namespace``'s own."""
    import sys

    names = set(registry().names())
    if "flytekit" in sys.modules:  # no task can exist before flytekit is imported; completion must not import it
        from flytekit.core.base_task import PythonTask

        names.update(name for name, value in namespace.items() if isinstance(value, PythonTask))
    return sorted(names)
