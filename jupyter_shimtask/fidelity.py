"""Findings about what a task's template will lose or get wrong on the way to the container."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .executor_source import executor_uses
from .platform.findings import Finding, Severity, platform_findings
from .template import (
    as_template,
    custom_of,
    executor_in_main,
    non_json_paths,
    serialize,
    size_report,
)

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

EXACT_FLOAT_INTS = 2**53


def non_finite_paths(value: Any, path: str = "custom") -> list[str]:
    """Key paths of NaN and infinite floats inside ``value`` (a Python value or a protobuf Struct/Value)."""
    from google.protobuf.struct_pb2 import ListValue, Struct, Value

    if isinstance(value, Value):
        kind = value.WhichOneof("kind")
        if kind == "number_value":
            value = value.number_value
        elif kind in ("struct_value", "list_value"):
            value = getattr(value, kind)
        else:
            return []
    if isinstance(value, (dict, Struct)):
        items = value.fields.items() if isinstance(value, Struct) else value.items()
        return [hit for key, item in items for hit in non_finite_paths(item, f"{path}.{key}")]
    if isinstance(value, (list, tuple, ListValue)):
        items = value.values if isinstance(value, ListValue) else value
        return [hit for index, item in enumerate(items) for hit in non_finite_paths(item, f"{path}[{index}]")]
    if isinstance(value, float) and not math.isfinite(value):
        return [path]
    return []


def _not_finite(paths: list[str]) -> list[Finding]:
    return [
        Finding(
            "custom-not-finite",
            path,
            "NaN or infinity has no JSON form, so runs of this template fail; use None or a string",
            "error",
        )
        for path in paths
    ]


def custom_changes(before: Any, after: Any, path: str = "custom") -> list[Finding]:
    """Differences between the ``custom`` the task built and the one the executor will see."""
    if isinstance(before, bool) or before is None:
        same = before == after and type(before) is type(after)
        return [] if same else [_changed(path, before, after)]
    if isinstance(before, int):
        return _int_changes(before, after, path)
    if isinstance(before, float) and (math.isnan(before) or math.isinf(before)):
        return [Finding("custom-not-finite", path, f"{before} is not valid JSON for a protobuf Struct", "error")]
    if isinstance(before, dict):
        return _dict_changes(before, after, path)
    if isinstance(before, (list, tuple)):
        return _sequence_changes(before, after, path)
    return [] if before == after else [_changed(path, before, after)]


def _int_changes(before: int, after: Any, path: str) -> list[Finding]:
    if isinstance(after, float):
        if abs(before) > EXACT_FLOAT_INTS or int(after) != before:
            return [Finding("custom-precision-lost", path, f"int {before} arrives as {after!r}", "error")]
        return [Finding("custom-int-becomes-float", path, f"int {before} arrives as float {after!r}")]
    return [] if after == before else [_changed(path, before, after)]


def _dict_changes(before: dict, after: Any, path: str) -> list[Finding]:
    if not isinstance(after, dict):
        return [_changed(path, before, after)]
    findings = []
    for key, value in before.items():
        if not isinstance(key, str):
            findings.append(
                Finding(
                    "custom-key-becomes-string",
                    f"{path}.{key}",
                    f"{type(key).__name__} key becomes '{key}'",
                )
            )
        if str(key) not in after:
            findings.append(Finding("custom-value-dropped", f"{path}.{key}", f"{value!r} is missing", "error"))
            continue
        findings += custom_changes(value, after[str(key)], f"{path}.{key}")
    return findings


def _sequence_changes(before: list | tuple, after: Any, path: str) -> list[Finding]:
    findings = []
    if isinstance(before, tuple):
        findings.append(Finding("custom-tuple-becomes-list", path, "a tuple arrives as a list"))
    if not isinstance(after, list) or len(after) != len(before):
        return [*findings, _changed(path, before, after)]
    for index, (old, new) in enumerate(zip(before, after, strict=True)):
        findings += custom_changes(old, new, f"{path}[{index}]")
    return findings


def _changed(path: str, before: Any, after: Any) -> Finding:
    return Finding("custom-value-changed", path, f"{before!r} arrives as {after!r}", "error")


def check(task_or_template: Any, template: TaskTemplate | None = None) -> list[Finding]:
    """What will not survive the trip to the container, before the user ships it.

    ``template``: the task's serialized template, when the caller already has it (saves a second
    serialization of a big ``custom``).
    """
    from flytekit.core.base_task import Task

    findings: list[Finding] = []
    task = task_or_template if isinstance(task_or_template, Task) else None
    if task is not None:
        custom = custom_of(task)
        bad = non_json_paths(custom) if isinstance(custom, dict) else []
        if bad:
            return [
                Finding("custom-not-json", path, f"{kind} cannot be written to a protobuf Struct", "error")
                for path, kind in bad
            ]
        if not_finite := non_finite_paths(custom):
            return _not_finite(not_finite)
    if template is None:
        template = serialize(task) if task is not None else as_template(task_or_template)
    if task is None and (not_finite := non_finite_paths(template.custom)):
        findings += _not_finite(not_finite)
    if task is not None and isinstance(custom, dict) and custom:
        from google.protobuf import json_format

        findings += custom_changes(custom, json_format.MessageToDict(template.custom))

    if executor := executor_in_main(template):
        findings.append(
            Finding(
                "executor-in-main",
                "container.args",
                f"{executor} cannot be imported by the container; define it in a %%shimtask cell or a .py module",
                "error",
            )
        )
    if len(template.interface.outputs.variables) > 1 and not _executor_returns_by_name(task):
        names = ", ".join(sorted(template.interface.outputs.variables))
        findings.append(
            Finding(
                "positional-outputs",
                "interface.outputs",
                f"{len(template.interface.outputs.variables)} outputs ({names}): a returned tuple is assigned in "
                "protobuf map order, which changes per process; return outputs_by_name(tt, ...) instead",
            )
        )
    findings += platform_findings(template, task)
    report = size_report(template)
    if report.status != "ok":
        limit = report.over_bytes if report.status == "over" else report.warn_bytes
        findings.append(
            Finding(
                f"template-size-{report.status}",
                "",
                f"{report.total:,} bytes is above {limit:,}; largest part: {next(iter(report.fields), '-')}",
                "error" if report.status == "over" else "warning",
            )
        )
    return findings


def _executor_returns_by_name(task: Any) -> bool:
    return executor_uses(task, "outputs_by_name")


__all__ = ["Finding", "Severity", "check", "custom_changes", "non_finite_paths", "non_json_paths"]
