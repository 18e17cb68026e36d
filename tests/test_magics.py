from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from support import GREET_CELL


def define(shell: InteractiveShell, greeting: str = "Hello", name: str = "greeting") -> object:
    return shell.run_cell_magic("shimtask", name, GREET_CELL.replace("GREETING", greeting))


def test_cell_becomes_a_real_module(shell, workspace) -> None:
    summary = define(shell)
    module_name = shell.user_ns["GreetExecutor"].__module__
    assert module_name.startswith("greeting_") and len(module_name) == len("greeting_") + 12
    assert (Path(workspace.workspace) / "modules" / f"{module_name}.py").exists()
    text = repr(summary)
    assert f"{module_name}.GreetExecutor" in text and "shimtask-runtime:test" in text
    assert "greet" in shell.user_ns and "GreetTask" in shell.user_ns


def test_run_in_both_modes(shell) -> None:
    define(shell)
    for line in (
        "run greet name=world",
        "run greet --mode subprocess name=world",
        "run greet name=world -m subprocess",
    ):
        result = shell.run_line_magic("shimtask", line)
        assert result.ok and result.outputs == {"greeting": "Hello, world!"}, (line, result.error)


def test_edited_cell_runs_new_code_everywhere(shell) -> None:
    define(shell, "Hello")
    first = shell.user_ns["GreetExecutor"].__module__
    define(shell, "Bonjour")
    second = shell.user_ns["GreetExecutor"].__module__
    assert first != second
    for mode in ("process", "subprocess"):
        result = shell.run_line_magic("shimtask", f"run greet --mode {mode} name=Ana")
        assert result.outputs == {"greeting": "Bonjour, Ana!"}
    define(shell, "Hello")
    assert shell.user_ns["GreetExecutor"].__module__ == first


def test_inputs_are_parsed_by_declared_type(shell) -> None:
    define(shell)
    result = shell.run_line_magic("shimtask", "run greet name=123")
    assert result.outputs == {"greeting": "Hello, 123!"}
    result = shell.run_line_magic("shimtask", "run greet 'name=two words'")
    assert result.outputs == {"greeting": "Hello, two words!"}


def test_inputs_from_an_expression(shell) -> None:
    define(shell)
    shell.user_ns["who"] = "Zoe"
    result = shell.run_line_magic("shimtask", "run greet --inputs-from dict(name=who)")
    assert result.outputs == {"greeting": "Hello, Zoe!"}


def test_syntax_error_points_at_the_cell_line(shell) -> None:
    with pytest.raises(UsageError, match=r"SyntaxError in cell line 3"):
        shell.run_cell_magic("shimtask", "broken", "x = 1\ny = 2\ndef f(:\n")


def test_exception_points_at_the_cell_line(shell) -> None:
    with pytest.raises(ZeroDivisionError) as caught:
        shell.run_cell_magic("shimtask", "failing", "a = 1\n\nb = 1 / 0\n")
    frame = caught.traceback[-1]
    assert frame.lineno + 1 == 3 and Path(str(frame.path)).name.startswith("failing_")


def test_cell_with_classes_only(shell) -> None:
    classes_only = GREET_CELL.replace('greet = GreetTask(name="greet", greeting="GREETING")', "")
    summary = shell.run_cell_magic("shimtask", "classes", classes_only)
    assert repr(summary) == "defined GreetExecutor, GreetTask; no task instances yet"
    later = shell.user_ns["GreetTask"](name="later", greeting="Hey")
    shell.user_ns["later"] = later
    assert shell.run_line_magic("shimtask", "run later --mode subprocess name=you").outputs == {"greeting": "Hey, you!"}


def test_cell_without_task(shell) -> None:
    with pytest.raises(UsageError, match="defines no template-only task"):
        shell.run_cell_magic("shimtask", "empty", "x = 1\n")


def test_invalid_module_name(shell) -> None:
    with pytest.raises(UsageError, match="not a valid module name"):
        shell.run_cell_magic("shimtask", "not-valid", GREET_CELL)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("run greet --bogus", "unrecognized arguments: --bogus"),
        ("explode greet", "invalid choice"),
        ("run nothing_here", "no task or template named 'nothing_here'"),
        ("run greet", r"missing name \(str\)"),
        ("run greet name=x nmae=y", "unknown nmae"),
        ("run", "needs a task"),
        ("run greet name=x --mode process --timeout 1", "timeout needs mode subprocess"),
    ],
)
def test_bad_lines_are_one_line_usage_errors(shell, line: str, message: str) -> None:
    define(shell)
    with pytest.raises(UsageError, match=message):
        shell.run_line_magic("shimtask", line)


def test_failed_run_is_a_result_not_an_exception(shell) -> None:
    define(shell)
    failing = GREET_CELL.replace('return f"{tt.custom', 'raise RuntimeError("no greeting")  # f"{tt.custom')
    shell.run_cell_magic("shimtask", "raiser", failing)
    result = shell.run_line_magic("shimtask", "run greet name=x --mode subprocess")
    assert not result.ok and result.error.message == "RuntimeError: no greeting"
    assert "FAILED" in str(result)


def test_template_size_check_list(shell, tmp_path, capsys) -> None:
    define(shell)
    document = shell.run_line_magic("shimtask", f"template greet --save {tmp_path / 'greet.pb'}")
    assert document.data["id"]["name"] == "greet"
    assert (tmp_path / "greet.pb").exists()
    assert shell.run_line_magic("shimtask", f"run {tmp_path / 'greet.pb'} name=file").ok
    assert shell.run_line_magic("shimtask", "size greet").total > 0
    shell.run_line_magic("shimtask", "check greet")
    assert "no findings" in capsys.readouterr().out
    assert "greet" in repr(shell.run_line_magic("shimtask", "list"))


def test_why_shows_the_detail(shell, capsys) -> None:
    define(shell)
    with pytest.raises(UsageError, match="%shimtask why"):
        shell.run_line_magic("shimtask", "run greet --inputs-from dict(name=3)")
    shell.run_line_magic("shimtask", "why")
    assert capsys.readouterr().out.strip()


def test_help_lists_commands_and_options() -> None:
    from jupyter_shimtask.magics import ShimTaskMagics

    doc = ShimTaskMagics.shimtask_line.__doc__
    for word in ("run", "template", "size", "check", "--mode", "--timeout", "inputs"):
        assert word in doc


def test_config_workspace(shell, tmp_path) -> None:
    shell.run_line_magic("config", f"ShimTask.workspace = {str(tmp_path / 'elsewhere')!r}")
    define(shell)
    module = shell.user_ns["GreetExecutor"].__module__
    assert (tmp_path / "elsewhere" / "modules" / f"{module}.py").exists()


def test_loading_does_not_import_flytekit() -> None:
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'jupyter_shimtask')\n"
        "print('flytekit' in sys.modules, 'shimtask' in shell.magics_manager.magics['line'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_extension_from_ipython_config(tmp_path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "IPython",
            "--no-banner",
            f"--ipython-dir={tmp_path}",
            "--InteractiveShellApp.extensions=['jupyter_shimtask']",
            "-c",
            "print(type(get_ipython().find_line_magic('shimtask')).__name__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "method" in out


def test_cold_flag(shell) -> None:
    from jupyter_shimtask.runners.warm import warm_pool

    define(shell)
    warm_pool().stop_all()
    assert shell.run_line_magic("shimtask", "run greet --mode subprocess --cold name=c").ok
    assert warm_pool().workers == {}
    assert shell.run_line_magic("shimtask", "run greet --mode subprocess name=w").ok
    assert len(warm_pool().workers) == 1


@pytest.mark.filterwarnings("ignore:`Completer.complete`:PendingDeprecationWarning")
def test_tab_completion(shell) -> None:
    define(shell)
    shell.user_ns["renamed"] = shell.user_ns["greet"]

    def completions(line: str) -> list[str]:
        return shell.Completer.complete(line_buffer=line, cursor_pos=len(line))[1]

    assert set(completions("%shimtask ")) >= {"run", "inspect", "register"}
    assert completions("%shimtask ins") == ["inspect"]
    tasks = completions("%shimtask run ")  # also tasks other tests defined: the registry is per process
    assert {"greet", "renamed"} <= set(tasks) and "GreetTask" not in tasks and "run" not in tasks
    assert "--mode" in completions("%shimtask run greet --mo")


def test_usage_line_names_the_magic() -> None:
    from jupyter_shimtask.magics import ShimTaskMagics

    doc = ShimTaskMagics.shimtask_line.__doc__
    assert "%shimtask [" in doc and "shimtask_line" not in doc


def test_help_of_one_command_shows_only_its_arguments(shell, capsys) -> None:
    shell.run_line_magic("shimtask", "help run")
    run_help = capsys.readouterr().out
    assert "%shimtask run" in run_help and "--mode" in run_help and "--secret" in run_help
    assert not {"--tag", "--save", "--package-name", "--config"} & set(run_help.split())
    shell.run_line_magic("shimtask", "build -h")
    build_help = capsys.readouterr().out
    assert "--tag" in build_help and "--secret" not in build_help and "--mode" not in build_help


def test_question_mark_after_a_command_shows_its_help(shell, capsys) -> None:
    shell.run_cell("%shimtask template?")
    out = capsys.readouterr().out
    assert "%shimtask template" in out and "--save" in out and "--mode" not in out


def test_help_without_a_command_lists_them_all(shell, capsys) -> None:
    from jupyter_shimtask.magics import COMMANDS

    shell.run_line_magic("shimtask", "help")
    out = capsys.readouterr().out
    assert all(command in out for command in COMMANDS) and "--secret" not in out
    with pytest.raises(UsageError, match="invalid choice"):
        shell.run_line_magic("shimtask", "help explode")


@pytest.mark.filterwarnings("ignore:`Completer.complete`:PendingDeprecationWarning")
def test_completion_offers_the_commands_own_options(shell) -> None:
    from jupyter_shimtask.magics import COMMANDS

    def completions(line: str) -> list[str]:
        return shell.Completer.complete(line_buffer=line, cursor_pos=len(line))[1]

    build = completions("%shimtask build greet --")
    assert {"--tag", "--engine", "--image"} <= set(build) and "--secret" not in build
    run = completions("%shimtask run greet --")
    assert {"--secret", "--no-retries", "--inputs-from"} <= set(run) and "--tag" not in run
    assert set(completions("%shimtask help ")) == set(COMMANDS)


def test_options_of_another_command_are_refused(shell) -> None:
    define(shell)
    with pytest.raises(UsageError, match="unrecognized arguments: --tag"):
        shell.run_line_magic("shimtask", "run greet --tag x name=y")


def test_question_mark_after_the_magic_lists_the_commands(shell, capsys) -> None:
    shell.run_cell("%shimtask?")
    out = capsys.readouterr().out
    assert "%shimtask run [-h] [--mode" in out and "%shimtask build [-h] [--tag" in out and "help run" in out
