"""Run inputs typed in a magic are read as ``pyflyte run`` reads them (flytekit's own click types);
a bad value is one line naming the input, the expected type and the value."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import pytest
import sample_tasks
from flytekit import kwtypes
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile
from IPython.core.error import UsageError

from jupyter_shimtask import run
from jupyter_shimtask.errors import InputError
from jupyter_shimtask.literals import parse_inputs


@dataclass
class Window:
    start: int
    label: str


TYPED = sample_tasks.Task(
    "typed",
    sample_tasks.GreetExecutor,
    kwtypes(
        ratio=float,
        count=int,
        name=str,
        flag=bool,
        values=list[int],
        weights=dict[str, float],
        window=Window,
        source=FlyteFile,
        folder=FlyteDirectory,
        when=datetime.datetime,
        day=datetime.date,
    ),
    kwtypes(greeting=str),
)


def test_values_convert_per_the_interface_type(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_text("a,b\n")
    values = parse_inputs(
        TYPED,
        [
            "ratio=20",
            "count=3",
            "name=123",
            "flag=true",
            "values=[1, 2, 3]",
            'weights={"a": 1, "b": 0.5}',
            'window={"start": 4, "label": "q"}',
            f"source={source}",
            f"folder={tmp_path}",
            "when=2024-01-02T03:04:05",
            "day=2024-01-02",
        ],
    )
    assert values["ratio"] == 20.0 and isinstance(values["ratio"], float)
    assert values["count"] == 3 and values["name"] == "123" and values["flag"] is True
    assert values["values"] == [1, 2, 3] and values["weights"] == {"a": 1, "b": 0.5}
    assert values["window"] == Window(start=4, label="q")
    assert isinstance(values["source"], FlyteFile) and values["source"].path == str(source)
    assert isinstance(values["folder"], FlyteDirectory)
    assert values["when"] == datetime.datetime(2024, 1, 2, 3, 4, 5)
    assert values["day"] == datetime.date(2024, 1, 2)


@pytest.mark.parametrize(
    "item, message",
    [
        ("count=abc", r"^input count: expected int \(integer\), got 'abc': .*not a valid integer"),
        ("values=[1,", r"^input values: expected list\[int\] \(json list\), got '\[1,'"),
        ("source=/no/such/file", r"^input source: expected FlyteFile \(file path\), got '/no/such/file'"),
    ],
)
def test_bad_text_is_one_line(item: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        parse_inputs(TYPED, [item])
    assert "\n" not in str(caught.value)


def test_whole_number_for_a_float_from_the_magic_and_from_python(shell) -> None:
    shell.user_ns["sleeping"] = sample_tasks.sleeping
    result = shell.run_line_magic("shimtask", "run sleeping seconds=0")
    assert result.ok and result.outputs == {"slept": 0.0}
    assert run(sample_tasks.sleeping, {"seconds": 0}, mode="process").outputs == {"slept": 0.0}


def test_bad_value_from_the_magic_is_a_usage_error(shell) -> None:
    shell.user_ns["sleeping"] = sample_tasks.sleeping
    with pytest.raises(UsageError, match=r"input seconds: expected float \(float\), got 'soon'"):
        shell.run_line_magic("shimtask", "run sleeping seconds=soon")


def test_bad_value_from_python_names_input_type_and_value() -> None:
    with pytest.raises(InputError) as caught:
        run(sample_tasks.positional, {"n": "abc"}, mode="process")
    assert str(caught.value) == "input n: expected int, got str 'abc'"
    assert caught.value._render_traceback_() == ["InputError: input n: expected int, got str 'abc'"]


def test_anything_with_an_interface_parses_the_same(tmp_path: Path) -> None:
    from flytekit import task, workflow

    from jupyter_shimtask import save_template, serialize

    @task
    def half(x: float) -> float:
        return x / 2

    @workflow
    def halve(x: float) -> float:
        return half(x=x)

    assert parse_inputs(halve, ["x=3"]) == {"x": 3.0}
    saved = save_template(serialize(sample_tasks.sleeping), tmp_path / "sleeping.pb")
    assert parse_inputs(str(saved), ["seconds=2"]) == {"seconds": 2.0}
