"""Workflow runs: flytekit's own serialization of a workflow, run node by node as the platform runs it.

``compile`` reads the WorkflowSpec flytekit's translator writes and refuses what cannot run here;
``execute`` binds literals between nodes and runs task nodes through the single-task runners;
``cache`` is the local catalog; ``result``, ``live`` and ``picture`` show what happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compile import WorkflowError
    from .execute import run_workflow
    from .inspect import WorkflowInspection, inspect_workflow
    from .result import WorkflowResult

_API = {
    "run_workflow": "execute",
    "WorkflowResult": "result",
    "WorkflowError": "compile",
    "compile_workflow": "compile",
    "inspect_workflow": "inspect",
    "WorkflowInspection": "inspect",
}


def is_workflow(obj: Any) -> bool:
    """A flytekit workflow (``@workflow``, ``ImperativeWorkflow``) or launch plan."""
    import sys

    if "flytekit" not in sys.modules:
        return False
    from .compile import is_workflow as check

    return check(obj)


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["WorkflowError", "WorkflowInspection", "WorkflowResult", "inspect_workflow", "is_workflow", "run_workflow"]
