"""Helpers the tests import (conftest modules are for fixtures only: two of them share a module name)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# A %%shimtask cell body; tests replace GREETING (and other parts) to make variants.
GREET_CELL = textwrap.dedent(
    """
    from flytekit import kwtypes
    from flytekit.core.interface import Interface
    from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask
    from flytekit.extend import ShimTaskExecutor


    class GreetExecutor(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            return f"{tt.custom['greeting']}, {inputs['name']}!"


    class GreetTask(PythonCustomizedContainerTask):
        def __init__(self, name, greeting):
            self.greeting = greeting
            super().__init__(
                name=name,
                task_config=None,
                container_image="shimtask-runtime:test",
                executor_type=GreetExecutor,
                task_type="greet",
                interface=Interface(inputs=kwtypes(name=str), outputs=kwtypes(greeting=str)),
            )

        def get_custom(self, settings):
            return {"greeting": self.greeting}


    greet = GreetTask(name="greet", greeting="GREETING")
    """
)


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def mode_options(mode: str) -> dict:
    """run() options for a mode name of the fault matrix and the soak: process, subprocess-cold,
    subprocess-warm, image-cold-docker, image-warm-podman, ..."""
    kind, _, rest = mode.partition("-")
    if kind == "process":
        return {"mode": "process"}
    temperature, _, engine = rest.partition("-")
    chosen: dict = {"mode": kind, "warm": temperature == "warm"}
    if engine:
        chosen["engine"] = engine
    return chosen
