"""Notebooks that need a container engine name it in their metadata::

    "metadata": {"jupyter-shimtask": {"needs": ["docker"]}}

Without that engine their cells skip, with the reason, as the engine tests do; under CI they run
regardless and fail (`bash .ci/run` starts the engines).
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@cache
def needs(notebook: Path) -> tuple[str, ...]:
    metadata = json.loads(notebook.read_text()).get("metadata", {})
    return tuple(metadata.get("jupyter-shimtask", {}).get("needs", ()))


@cache
def missing(engine: str) -> str | None:
    """Why ``engine`` cannot run a notebook here, or None when it answers."""
    from jupyter_shimtask.runners.engines import EngineError, find_engine

    try:
        find_engine(engine).ensure_reachable()
    except EngineError as error:
        return str(error)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IN_CI:
        return
    for item in items:
        path = Path(str(item.path))
        if path.suffix != ".ipynb":
            continue
        reasons = [f"{path.name} needs {engine}: {why}" for engine in needs(path) if (why := missing(engine))]
        if reasons:
            item.add_marker(pytest.mark.skip(reason="; ".join(reasons)))
