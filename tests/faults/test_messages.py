"""Faults found before a run, or outside one: each gives one line that names the cause."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sample_tasks
from IPython.core.error import UsageError

from jupyter_shimtask import check, run, serialize
from jupyter_shimtask.cli import main
from jupyter_shimtask.config import ShimTask, use
from jupyter_shimtask.errors import ShimTaskError
from jupyter_shimtask.inspector import inspect
from jupyter_shimtask.template import save_template

TESTS = str(Path(__file__).resolve().parent.parent)


def not_finite_task() -> sample_tasks.Task:
    custom = {"greeting": "Hello", "ratio": math.nan, "limits": [1.0, math.inf]}
    return sample_tasks.Task("not_finite", sample_tasks.GreetExecutor, {"name": str}, {"greeting": str}, custom)


def test_not_finite_custom_is_reported_for_tasks_and_saved_templates(tmp_path: Path, capsys) -> None:
    task = not_finite_task()
    assert {(f.code, f.path) for f in check(task)} == {
        ("custom-not-finite", "custom.ratio"),
        ("custom-not-finite", "custom.limits[1]"),
    }
    saved = save_template(serialize(task), tmp_path / "nan.pb")
    assert {f.code for f in check(str(saved))} == {"custom-not-finite"}
    assert main(["check", str(saved)]) == 1
    assert "custom-not-finite at custom.ratio" in capsys.readouterr().out
    assert "custom-not-finite" in str(inspect(task).inspected.payload)


def test_magic_check_gives_the_finding(shell, capsys) -> None:
    shell.user_ns["nan_task"] = not_finite_task()
    shell.run_line_magic("shimtask", "check nan_task")
    assert "custom-not-finite" in capsys.readouterr().out


def test_inputs_from_must_give_a_dict(shell) -> None:
    shell.user_ns["greet"] = sample_tasks.greet
    with pytest.raises(UsageError, match=r"--inputs-from .* gives a list; it must give a dict"):
        shell.run_line_magic("shimtask", "run greet --inputs-from [1,2]")


def test_task_with_environment_is_defined_and_runs() -> None:
    task = sample_tasks.Task(
        "with_env",
        sample_tasks.GreetExecutor,
        {"name": str},
        {"greeting": str},
        {"greeting": "Hi"},
        environment={"A": "1"},
    )
    assert [(pair.key, pair.value) for pair in serialize(task).container.env] == [("A", "1")]
    assert run(task, {"name": "env"}, mode="process").outputs == {"greeting": "Hi, env!"}


def test_workspace_path_with_a_colon(tmp_path: Path) -> None:
    use(ShimTask(workspace=str(tmp_path / "a:b")))
    with pytest.raises(ShimTaskError, match="holds ':', which PYTHONPATH cannot carry"):
        run(sample_tasks.greet, {"name": "x"}, mode="subprocess", warm=False)


def test_cli_refuses_a_host_command(tmp_path: Path, capsys) -> None:
    template = serialize(sample_tasks.greet)
    template.container.args[0] = "/bin/sh"
    path = save_template(template, tmp_path / "sh.pb")
    assert main(["run", str(path), "--inputs", '{"name": "x"}', "--mode", "subprocess"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "/bin/sh" in error and "--mode image" in error


def test_cli_ctrl_c_is_one_line_and_exit_130(tmp_path: Path) -> None:
    path = save_template(serialize(sample_tasks.sleeping), tmp_path / "sleep.pb")
    env = {**os.environ, "PYTHONPATH": TESTS, "SHIMTASK_WORKSPACE": str(tmp_path / "ws")}
    command = [sys.executable, "-m", "jupyter_shimtask.cli", "run", str(path), "--inputs", '{"seconds": 60.0}']
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "shimtask: interrupted" and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("text", "message"),
    [("this is : not: a [ flyte config\n", "not a YAML mapping"), ("foo: bar\n", "names no admin.endpoint")],
)
def test_unreadable_flyte_config_is_named(text: str, message: str, tmp_path: Path, monkeypatch) -> None:
    from jupyter_shimtask.registration import register

    monkeypatch.delenv("FLYTE_PLATFORM_URL", raising=False)
    config = tmp_path / "config.yaml"
    config.write_text(text)
    with pytest.raises(ShimTaskError, match=message):
        register(sample_tasks.greet, "flytesnacks", "development", config=str(config))
