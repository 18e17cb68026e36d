"""The kernel-wide state: one object that holds everything this process keeps between calls.

``state()`` is the process's one ``State`` (a traitlets ``SingletonConfigurable``). It holds the
settings in force (``%config ShimTask.*``), the registry of the tasks cells defined, the log of
the session's failures, the warm pool, what each engine's images were found to hold, and the warm
containers' folders; its one shutdown hook stops the warm workers and containers and then removes
their folders.

The parts whose classes live in higher layers (the registry in ``authoring``, the failure log in
``failures``, the warm pool in ``runners.warm``) are made by those modules on first use through
``part()``, so this module imports none of them and loading the extension imports no run machinery.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from traitlets import Dict, Set
from traitlets.config import SingletonConfigurable

from .config import ShimTask

if TYPE_CHECKING:
    from .runners.engines import ImageFacts

Part = TypeVar("Part")


class State(SingletonConfigurable):
    """Everything this process keeps between calls, and the one hook that cleans up after it."""

    image_facts: dict[tuple[str, ...], ImageFacts] = Dict(
        help="What preflight found in each image, by (engine binary, endpoint, image, program)."
    )
    warm_folders: dict[str, Path] = Dict(
        help="This process's folder for warm image runs and worker sockets, by temporary folder."
    )
    warm_roots: dict[tuple, list[Path]] = Dict(help="The read-only folders each warm container mounts, by pool key.")
    shared_warm_roots: set[Path] = Set(
        help="Folders every warm container mounts from now on (a workflow's import roots), so its nodes share one."
    )
    failed_starts: dict[tuple, str] = Dict(
        help="Why a warm container could not start, by pool key: later runs go cold at once."
    )
    image_starts: dict[str, tuple[float, str]] = Dict(
        help="How long each image took to start here, in seconds, and what was timed (check compares timeouts)."
    )
    swept_engines: set[tuple[str, str]] = Set(help="The engines (binary, endpoint) whose orphans were removed.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._parts: dict[type, Any] = {}
        self._on_shutdown: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        atexit.register(self.shutdown)

    @property
    def settings(self) -> ShimTask:
        """The settings in force: the IPython shell's once the extension is loaded, else process-wide."""
        return ShimTask.instance()

    def part(self, kind: type[Part], stop: Callable[[Part], None] | None = None) -> Part:
        """This process's one ``kind`` (the registry, the warm pool), made on first use; ``stop`` runs at shutdown."""
        with self._lock:
            found = self._parts.get(kind)
            if found is None:
                found = self._parts[kind] = kind()
                if stop is not None:
                    self._on_shutdown.append(lambda: stop(found))
            return found

    def shutdown(self) -> None:
        """Stop the warm workers and containers (they use the warm folders), then remove the folders.

        Kept run folders stay, and with them the warm folder that holds them.
        """
        with self._lock:
            stops = self._on_shutdown[::-1]
        for stop in stops:  # each may run again: a part stays in use after a shutdown (bench/soak.py)
            stop()
        for folder in self.warm_folders.values():
            with contextlib.suppress(OSError):
                folder.rmdir()


def state() -> State:
    """This process's kernel-wide state."""
    return State.instance()
