from __future__ import annotations

import sample_tasks
from flytekit import kwtypes

from jupyter_shimtask import check


def _codes(findings) -> dict[str, str]:
    return {finding.path: finding.code for finding in findings}


def test_lossy_custom_values_are_reported_with_their_path() -> None:
    custom = {"retries": 3, "huge": 2**60 + 1, "pair": (1.5, "a"), "nested": {"limit": 10, "name": "x"}}
    task = sample_tasks.Task("lossy", sample_tasks.GreetExecutor, {}, {}, custom)
    codes = _codes(check(task))
    assert codes["custom.retries"] == "custom-int-becomes-float"
    assert codes["custom.huge"] == "custom-precision-lost"
    assert codes["custom.pair"] == "custom-tuple-becomes-list"
    assert codes["custom.nested.limit"] == "custom-int-becomes-float"
    assert "custom.nested.name" not in codes


def test_non_json_custom() -> None:
    task = sample_tasks.Task("odd", sample_tasks.GreetExecutor, {}, {}, {"ids": {1, 2}})
    findings = check(task)
    assert [(f.code, f.path, f.severity) for f in findings] == [("custom-not-json", "custom.ids", "error")]


def test_clean_task_has_no_findings() -> None:
    assert check(sample_tasks.greet) == []


def test_positional_outputs_hazard_and_its_fix() -> None:
    assert _codes(check(sample_tasks.positional)) == {"interface.outputs": "positional-outputs"}
    assert check(sample_tasks.by_name) == []


def test_executor_in_main_is_an_error() -> None:
    executor = type("MainExecutor", (sample_tasks.GreetExecutor,), {"__module__": "__main__"})
    task = sample_tasks.Task("main", executor, kwtypes(name=str), kwtypes(greeting=str), {"greeting": "x"})
    assert _codes(check(task)) == {"container.args": "executor-in-main"}


def test_oversized_template(workspace) -> None:
    workspace.over_bytes = 1_000
    task = sample_tasks.Task("big", sample_tasks.GreetExecutor, {}, {}, {"blob": "x" * 2_000})
    assert _codes(check(task))[""] == "template-size-over"


EXECUTORS = """
from flytekit.extend import ShimTaskExecutor

import jupyter_shimtask as shim
from jupyter_shimtask import outputs_by_name as by_name


class CommentOnly(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        # outputs_by_name would fix this; "outputs_by_name" in a string does not either
        return inputs["n"] + 1, "outputs_by_name"


class Aliased(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return by_name(tt, total=inputs["n"] + 1, label=str(inputs["n"]))


class ThroughTheModule(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return shim.outputs_by_name(tt, total=inputs["n"] + 1, label=str(inputs["n"]))
"""


def test_returns_by_name_is_read_from_the_code_not_its_text(tmp_path, monkeypatch) -> None:
    import importlib

    (tmp_path / "fidelity_executors.py").write_text(EXECUTORS)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("fidelity_executors")
    outputs = kwtypes(total=int, label=str)

    def findings(executor: type) -> dict[str, str]:
        return _codes(check(sample_tasks.Task(executor.__name__.lower(), executor, kwtypes(n=int), outputs)))

    assert findings(module.CommentOnly) == {"interface.outputs": "positional-outputs"}
    assert findings(module.Aliased) == {}
    assert findings(module.ThroughTheModule) == {}
