"""Template diffs: the API, the magic, and the %%shimtask summary after an edit."""

from __future__ import annotations

import pytest
import sample_tasks
from IPython.core.error import UsageError
from support import GREET_CELL

from jupyter_shimtask import diff, save_template, serialize
from jupyter_shimtask.diffing import Change
from jupyter_shimtask.errors import TemplateError
from jupyter_shimtask.inspector.widget import Inspector


def define(shell, task_name: str, greeting: str) -> object:
    """A %%shimtask cell defining ``greet`` under a task name no other test uses (the registry is per process)."""
    cell = GREET_CELL.replace('name="greet"', f'name="{task_name}"').replace("GREETING", greeting)
    return shell.run_cell_magic("shimtask", "greeting", cell)


def edited_greet():
    before = serialize(sample_tasks.greet)
    after = serialize(sample_tasks.greet)
    after.custom.fields["greeting"].string_value = "Good morning"
    after.custom.fields["extra"].number_value = 3
    after.container.args.insert(3, "--verbose")
    after.container.env.add(key="MODE", value="fast")
    after.metadata.retries.retries = 2
    return before, after


def test_changes_added_removed_changed() -> None:
    before, after = edited_greet()
    changes = diff(before, after).changes
    assert changes == [
        Change("added", "container.args[3]", after="--verbose"),
        Change("added", "container.env", after=[{"key": "MODE", "value": "fast"}]),
        Change("added", "custom.extra", after=3.0),
        Change("changed", "custom.greeting", "Hello", "Good morning"),
        Change("added", "metadata.retries.retries", after=2),
    ]
    assert [change.kind for change in diff(after, before).changes].count("removed") == 4


def test_size_delta_is_bytesize_difference() -> None:
    before, after = edited_greet()
    result = diff(before, after)
    assert (result.before_bytes, result.after_bytes) == (before.ByteSize(), after.ByteSize())
    assert result.size_delta == after.ByteSize() - before.ByteSize()
    custom_before, custom_after = result.field_bytes["custom"]
    assert custom_after - custom_before == after.custom.ByteSize() - before.custom.ByteSize()
    assert f"{result.size_delta:+,} bytes" in result.headline


def test_same_template_has_no_changes() -> None:
    template = serialize(sample_tasks.greet)
    result = diff(template, sample_tasks.greet)
    assert not result and "no changes" in str(result)


def test_list_items_are_aligned_not_shifted() -> None:
    before, after = serialize(sample_tasks.greet), serialize(sample_tasks.greet)
    del after.container.args[0]
    after.container.args[4] = "changed"
    kinds = [(change.kind, change.path) for change in diff(before, after).changes]
    assert kinds == [("removed", "container.args[0]"), ("changed", "container.args[4]")]


def test_odd_keys_are_quoted_in_paths() -> None:
    before = serialize(sample_tasks.greet)
    after = serialize(sample_tasks.greet)
    after.custom.fields["a.b c"].string_value = "x"
    assert diff(before, after).changes[0].path == 'custom["a.b c"]'


def test_text_and_html() -> None:
    before, after = edited_greet()
    after.custom.fields["long"].string_value = "y" * 500
    result = diff(before, after, labels=("v1", "v2"))
    text = str(result)
    assert text.startswith("v2: 6 changes since v1") and '~ custom.greeting: "Hello" -> "Good morning"' in text
    assert max(len(line) for line in text.splitlines()) < 120
    assert "<table" in result._repr_html_() and "custom +" in result._repr_html_()


def test_bad_input_raises(tmp_path) -> None:
    (tmp_path / "bad.pb").write_bytes(b"\x00\x01garbage")
    with pytest.raises(TemplateError, match="not a TaskTemplate"):
        diff(tmp_path / "bad.pb", sample_tasks.greet)


def test_rerun_cell_shows_what_changed(shell) -> None:
    first = define(shell, "rerun", "Hello")
    assert "change" not in repr(first)
    summary = define(shell, "rerun", "Bonjour")
    text = repr(summary)
    assert "rerun: 2 changes since the previous version" in text
    assert '~ custom.greeting: "Hello" -> "Bonjour"' in text
    assert "container.args[" in text  # the executor's module is the new cell module
    assert "shimtask-diff" in summary._repr_html_()
    again = define(shell, "rerun", "Bonjour")  # unchanged cell: nothing new to show
    assert "change" not in repr(again)


def test_magic_diff(shell, tmp_path) -> None:
    define(shell, "diffed", "Hello")
    with pytest.raises(UsageError, match="no earlier version"):
        shell.run_line_magic("shimtask", "diff greet")
    save_template(serialize(shell.user_ns["greet"]), tmp_path / "old.pb")
    define(shell, "diffed", "Hi")
    assert "custom.greeting" in str(shell.run_line_magic("shimtask", "diff greet"))
    result = shell.run_line_magic("shimtask", f"diff {tmp_path / 'old.pb'} greet")
    assert result.changes[-1] == Change("changed", "custom.greeting", "Hello", "Hi")
    with pytest.raises(UsageError, match="name a second template"):
        shell.run_line_magic("shimtask", f"diff {tmp_path / 'old.pb'}")
    inspector = shell.run_line_magic("shimtask", "inspect greet")
    assert isinstance(inspector, Inspector) and inspector.tabs.titles[-1] == "Diff"
    assert "custom.greeting" in inspector.tabs.children[-1].value
