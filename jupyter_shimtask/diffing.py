"""What changed between two TaskTemplates: fields added, removed or changed, and the size delta."""

from __future__ import annotations

import difflib
import html
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .template import TemplateLike, as_template, size_report, template_to_dict

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

ChangeKind = Literal["added", "removed", "changed"]
SIGNS: dict[ChangeKind, str] = {"added": "+", "removed": "-", "changed": "~"}
VALUE_CHARS = 60
SHOWN_CHANGES = 25


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    path: str
    before: Any = None
    after: Any = None

    def __str__(self) -> str:
        if self.kind == "changed":
            return f"~ {self.path}: {_short(self.before)} -> {_short(self.after)}"
        return f"{SIGNS[self.kind]} {self.path}: {_short(self.after if self.kind == 'added' else self.before)}"


@dataclass(frozen=True)
class TemplateDiff:
    """Changes from ``before`` to ``after`` (paths in protobuf's JSON names) and bytes per top-level field."""

    before_label: str
    after_label: str
    changes: list[Change]
    before_bytes: int
    after_bytes: int
    field_bytes: dict[str, tuple[int, int]]

    @property
    def size_delta(self) -> int:
        return self.after_bytes - self.before_bytes

    def __bool__(self) -> bool:
        return bool(self.changes)

    @property
    def headline(self) -> str:
        if not self.changes:
            return f"{self.after_label}: no changes since {self.before_label} ({self.after_bytes:,} bytes)"
        count = len(self.changes)
        return (
            f"{self.after_label}: {count} change{'s' if count != 1 else ''} since {self.before_label}, "
            f"{self.size_delta:+,} bytes ({self.before_bytes:,} -> {self.after_bytes:,})"
        )

    def __str__(self) -> str:
        lines = [self.headline, *(f"  {change}" for change in self.changes[:SHOWN_CHANGES])]
        if len(self.changes) > SHOWN_CHANGES:
            lines.append(f"  ... and {len(self.changes) - SHOWN_CHANGES} more")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        rows = "".join(
            f'<tr class="shimtask-diff-{change.kind}"><td>{SIGNS[change.kind]}</td>'
            f"<td><code>{html.escape(change.path)}</code></td>"
            f"<td><code>{html.escape(_short(change.before)) if change.kind != 'added' else ''}</code></td>"
            f"<td><code>{html.escape(_short(change.after)) if change.kind != 'removed' else ''}</code></td></tr>"
            for change in self.changes[:SHOWN_CHANGES]
        )
        more = len(self.changes) - SHOWN_CHANGES
        if more > 0:
            rows += f'<tr><td></td><td colspan="3">... and {more} more</td></tr>'
        deltas = ", ".join(
            f"{name} {after - before:+,}" for name, (before, after) in self.field_bytes.items() if after != before
        )
        table = (
            f'<table class="shimtask-diff"><thead><tr><th></th><th>field</th><th>before</th><th>after</th></tr>'
            f"</thead><tbody>{rows}</tbody></table>"
            if rows
            else ""
        )
        bytes_line = f"<div>bytes per field: {html.escape(deltas)}</div>" if deltas else ""
        return f"<div><b>{html.escape(self.headline)}</b>{bytes_line}{table}</div>"


def diff(before: TemplateLike, after: TemplateLike, labels: tuple[str, str] = ("before", "after")) -> TemplateDiff:
    """Compare two templates (tasks, TaskTemplate messages, files or bytes)."""
    before_template, after_template = as_template(before), as_template(after)
    changes: list[Change] = []
    _compare(template_to_dict(before_template), template_to_dict(after_template), "", changes)
    before_report, after_report = size_report(before_template), size_report(after_template)
    names = sorted(set(before_report.fields) | set(after_report.fields))
    return TemplateDiff(
        before_label=labels[0],
        after_label=labels[1],
        changes=changes,
        before_bytes=before_report.total,
        after_bytes=after_report.total,
        field_bytes={name: (before_report.fields.get(name, 0), after_report.fields.get(name, 0)) for name in names},
    )


def since_previous(previous: TaskTemplate, template: TaskTemplate) -> TemplateDiff:
    """What changed in ``template`` since ``previous``, the version of the same task before it."""
    return diff(previous, template, labels=("the previous version", template.id.name or "this template"))


def diff_previous(task_name: str) -> TemplateDiff:
    """The newest version of a ``%%shimtask`` task against the one before it."""
    from .authoring import registry
    from .errors import ShimTaskError

    latest = registry().latest(task_name)
    if latest is None:
        raise ShimTaskError(f"no %%shimtask cell defined a task named {task_name!r}; name two templates to compare")
    previous = registry().previous(latest)
    if previous is None:
        raise ShimTaskError(f"{task_name!r} has no earlier version: re-run its cell after a change")
    return since_previous(previous, latest)


def _compare(before: Any, after: Any, path: str, changes: list[Change]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(before.keys() | after.keys()):
            where = _join(path, key)
            if key not in after:
                changes.append(Change("removed", where, before=before[key]))
            elif key not in before:
                changes.append(Change("added", where, after=after[key]))
            else:
                _compare(before[key], after[key], where, changes)
    elif isinstance(before, list) and isinstance(after, list):
        _compare_lists(before, after, path, changes)
    elif before != after or type(before) is not type(after):
        changes.append(Change("changed", path, before, after))


def _compare_lists(before: list[Any], after: list[Any], path: str, changes: list[Change]) -> None:
    """Align the two lists (an inserted argument is one change, not a shift of all that follow)."""
    keys = [json.dumps(item, sort_keys=True) for item in before], [json.dumps(item, sort_keys=True) for item in after]
    matcher = difflib.SequenceMatcher(a=keys[0], b=keys[1], autojunk=False)
    for tag, low, high, new_low, new_high in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace" and high - low == new_high - new_low:
            for offset in range(high - low):
                _compare(before[low + offset], after[new_low + offset], f"{path}[{new_low + offset}]", changes)
            continue
        changes += [Change("removed", f"{path}[{index}]", before=before[index]) for index in range(low, high)]
        changes += [Change("added", f"{path}[{index}]", after=after[index]) for index in range(new_low, new_high)]


def _join(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 3] + "..."
