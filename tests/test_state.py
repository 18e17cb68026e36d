"""The kernel-wide state: one object, and one shutdown that leaves nothing of it behind."""

from __future__ import annotations

import subprocess
import sys

import sample_tasks
from support import GREET_CELL

from jupyter_shimtask import run
from jupyter_shimtask.authoring import build_module, registry
from jupyter_shimtask.config import ShimTask, settings, use
from jupyter_shimtask.state import State, state


def test_one_state_holds_the_settings_and_keeps_the_rest_when_they_change(workspace) -> None:
    assert state() is State.instance() and state().settings is settings() is workspace
    kept = registry()
    use(ShimTask(workspace=workspace.workspace, mode="subprocess"))
    assert settings().mode == "subprocess" and registry() is kept


def test_registry_answers_what_was_defined_and_what_came_before() -> None:
    first = build_module(GREET_CELL.replace("GREETING", "Hello").replace('"greet"', '"registered"'), "reg")
    second = build_module(GREET_CELL.replace("GREETING", "Hi").replace('"greet"', '"registered"'), "reg")
    (old,), (new,) = first.tasks, second.tasks
    assert registry().previous(new.template) == old.template and registry().previous(old.template) is None
    assert registry().latest("registered") == new.template and registry().task("registered") is new.task
    defined = {task.task.name: task for task in registry().defined()}
    assert defined["registered"].template == new.template and "registered" in registry().names()


def test_shutdown_stops_the_warm_workers_and_removes_the_warm_folders() -> None:
    from jupyter_shimtask.runners.image import warm_folder
    from jupyter_shimtask.runners.warm import warm_pool

    assert run(sample_tasks.greet, {"name": "w"}, mode="subprocess").ok
    (worker,) = warm_pool().workers.values()
    folder = warm_folder()
    state().shutdown()
    assert warm_pool().workers == {} and not worker.alive() and not folder.exists()
    assert run(sample_tasks.greet, {"name": "again"}, mode="subprocess").ok  # the pool serves on after it
    state().shutdown()


def test_loading_the_extension_ties_the_settings_to_the_shell_and_imports_no_flytekit() -> None:
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'jupyter_shimtask')\n"
        "shell.run_line_magic('config', 'ShimTask.mode = \"subprocess\"')\n"
        "from jupyter_shimtask.config import settings\n"
        "print(settings().mode, settings() in shell.configurables,\n"
        "      'flytekit' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["subprocess", "True", "False"]
