"""Author, inspect and run Flyte template-only tasks from Jupyter.

Importing this package is cheap: flytekit loads on first use of the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "serialize": "template",
    "size_report": "template",
    "load_template": "template",
    "save_template": "template",
    "check": "fidelity",
    "run": "running",
    "outputs_by_name": "outputs",
    "user_error": "retryable",
    "ShimTaskError": "errors",
    "inspect": "inspector",
    "diff": "diffing",
    "export": "exporting",
    "package": "registration",
    "register": "registration",
    "build_image": "runners.engines",
}

if TYPE_CHECKING:
    from .diffing import diff
    from .errors import ShimTaskError
    from .exporting import export
    from .fidelity import check
    from .inspector import inspect
    from .outputs import outputs_by_name
    from .registration import package, register
    from .retryable import user_error
    from .runners.engines import build_image
    from .running import run
    from .template import load_template, save_template, serialize, size_report


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    import threading

    from .magics import register

    register(ipython)
    # containers of kernels that were killed (they could not remove their own); the load does not wait
    threading.Thread(target=_remove_orphans, name="shimtask-orphan-sweep", daemon=True).start()


def _remove_orphans() -> None:
    from .runners.engines import remove_orphans_everywhere  # imported here: the run machinery is not cheap

    remove_orphans_everywhere()


__all__ = [
    "ShimTaskError",
    "build_image",
    "check",
    "diff",
    "export",
    "inspect",
    "load_ipython_extension",
    "load_template",
    "outputs_by_name",
    "package",
    "register",
    "run",
    "save_template",
    "serialize",
    "size_report",
    "user_error",
]
