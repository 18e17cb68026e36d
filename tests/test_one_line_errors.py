"""Every error that reaches a user is one line naming the cause, also for exceptions raised with no message."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from support import GREET_CELL

from jupyter_shimtask import inspect, run, serialize
from jupyter_shimtask.authoring import build_module
from jupyter_shimtask.errors import TemplateError, describe
from jupyter_shimtask.inspector import InspectProblem

GET_CUSTOM = '    def get_custom(self, settings):\n        return {"greeting": self.greeting}\n'
NO_GET_CUSTOM = GREET_CELL.replace(GET_CUSTOM, "")
BARE_GET_CUSTOM = GREET_CELL.replace('return {"greeting": self.greeting}', "raise RuntimeError")
EXECUTOR_RETURN = "return f\"{tt.custom['greeting']}, {inputs['name']}!\""
BARE_EXECUTOR = GREET_CELL.replace(EXECUTOR_RETURN, "raise NotImplementedError")


def one_line(text: str) -> str:
    assert text.strip() and "\n" not in text.strip(), repr(text)
    return text


def test_a_task_without_get_custom_is_named_in_the_cell(shell) -> None:
    assert NO_GET_CUSTOM != GREET_CELL
    with pytest.raises(UsageError) as raised:
        shell.run_cell_magic("shimtask", "nocustom", NO_GET_CUSTOM)
    message = one_line(str(raised.value))
    assert "GreetTask (task 'greet') does not define get_custom(self, settings)" in message
    assert "a template-only task must return the dict its executor reads as tt.custom" in message


def test_a_task_without_get_custom_from_python_and_the_inspector(workspace) -> None:
    from flytekit import kwtypes
    from flytekit.core.interface import Interface
    from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask
    from sample_tasks import GreetExecutor

    class Forgetful(PythonCustomizedContainerTask):
        def __init__(self) -> None:
            super().__init__(
                name="forgetful",
                task_config=None,
                container_image="shimtask-runtime:test",
                executor_type=GreetExecutor,
                task_type="sample",
                interface=Interface(inputs=kwtypes(name=str), outputs=kwtypes(greeting=str)),
            )

    with pytest.raises(TemplateError, match=r"^Forgetful \(task 'forgetful'\) does not define get_custom"):
        serialize(Forgetful())
    problem = inspect(Forgetful())
    assert isinstance(problem, InspectProblem) and "does not define get_custom" in one_line(problem.message)


def test_get_custom_raising_with_no_message_names_its_line(shell) -> None:
    with pytest.raises(UsageError) as raised:
        shell.run_cell_magic("shimtask", "barecustom", BARE_GET_CUSTOM)
    message = one_line(str(raised.value))
    assert "task 'greet' cannot be serialized: RuntimeError raised with no message at " in message
    assert "in get_custom()  (%shimtask why: details)" in message and "barecustom_" in message


@pytest.mark.parametrize("mode", ["process", "subprocess"])
def test_an_executor_raising_with_no_message_names_its_line(workspace, mode: str) -> None:
    module = build_module(BARE_EXECUTOR, "bareexecutor").module
    result = run(module.greet, {"name": "x"}, mode=mode, warm=False)
    assert not result.ok
    message = one_line(result.error.message)
    assert message.startswith("NotImplementedError raised with no message at ")
    assert f"/{module.__name__}.py:" in message and message.endswith("in execute_from_model()")
    assert "NotImplementedError raised with no message" in str(result)


def test_describe_gives_the_message_or_the_raising_line() -> None:
    def fails(exception: BaseException) -> BaseException:
        try:
            raise exception
        except BaseException as raised:
            return raised

    assert describe(fails(KeyError("name"))) == "KeyError: 'name'"
    assert describe(fails(ValueError("first line\nsecond"))) == "ValueError: first line"
    bare = describe(fails(NotImplementedError()))
    assert bare.startswith(f"NotImplementedError raised with no message at {__file__}:")
    assert bare.endswith("in fails()")
    assert describe(ValueError()) == "ValueError (raised with no message)"


def test_a_template_file_that_is_no_template_says_why(tmp_path) -> None:
    from jupyter_shimtask import load_template

    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(TemplateError) as raised:
        load_template(path)
    message = one_line(str(raised.value))
    assert message.startswith(f"{path}: not a TaskTemplate document (") and not message.endswith("()")
