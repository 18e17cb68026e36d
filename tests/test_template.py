from __future__ import annotations

import pytest
import sample_tasks
from flyteidl.core.tasks_pb2 import TaskTemplate

from jupyter_shimtask import load_template, save_template, serialize, size_report
from jupyter_shimtask.errors import TemplateError
from jupyter_shimtask.template import executor_path


def test_serialize_uses_flytekits_translator() -> None:
    template = serialize(sample_tasks.greet)
    assert isinstance(template, TaskTemplate)
    assert template.id.name == "greet"
    assert template.type == "sample"
    assert template.container.image == "shimtask-runtime:test"
    assert executor_path(template) == "sample_tasks.GreetExecutor"
    assert template.custom.fields["greeting"].string_value == "Hello"
    assert "{{.taskTemplatePath}}" in template.container.args


def test_size_report_parts_add_up_to_bytesize() -> None:
    template = serialize(sample_tasks.greet)
    report = size_report(template)
    assert report.total == template.ByteSize()
    assert sum(report.fields.values()) == report.total
    assert sum(report.custom.values()) == template.custom.ByteSize()
    assert report.fields["container"] == TaskTemplate(container=template.container).ByteSize()
    assert list(report.fields.values()) == sorted(report.fields.values(), reverse=True)
    assert report.status == "ok"


@pytest.mark.parametrize(("blob", "status"), [(10, "ok"), (2_000, "warn"), (5_000, "over")])
def test_size_status_against_limits(blob: int, status: str) -> None:
    template = serialize(sample_tasks.greet)
    template.custom.fields["blob"].string_value = "x" * blob
    report = size_report(template, warn_bytes=1_000, over_bytes=4_000)
    assert report.status == status
    assert next(iter(report.custom)) == "blob"


def test_limits_come_from_settings(workspace) -> None:
    workspace.warn_bytes = 100
    assert size_report(serialize(sample_tasks.greet)).status == "warn"


@pytest.mark.parametrize("suffix", [".pb", ".json", ".yaml"])
def test_save_and_load_round_trip(tmp_path, suffix: str) -> None:
    template = serialize(sample_tasks.greet)
    path = save_template(template, tmp_path / f"greet{suffix}")
    assert load_template(path) == template


def test_missing_file(tmp_path) -> None:
    with pytest.raises(TemplateError, match="no such file"):
        load_template(tmp_path / "absent.pb")


def test_empty_file(tmp_path) -> None:
    (tmp_path / "empty.pb").write_bytes(b"")
    with pytest.raises(TemplateError, match="empty"):
        load_template(tmp_path / "empty.pb")


@pytest.mark.parametrize("data", [b"\xff\xfe garbage \x00\x01", bytes(range(256)) * 4, b"\x0a\x02hi"])
def test_garbage_is_not_a_template(tmp_path, data: bytes) -> None:
    (tmp_path / "bad.pb").write_bytes(data)
    with pytest.raises(TemplateError, match="not a TaskTemplate"):
        load_template(tmp_path / "bad.pb")


def test_malformed_json(tmp_path) -> None:
    (tmp_path / "bad.json").write_text('{"id": ')
    with pytest.raises(TemplateError, match="not a TaskTemplate document"):
        load_template(tmp_path / "bad.json")


def test_non_json_custom_names_the_key() -> None:
    import datetime

    task = sample_tasks.Task(
        "dated", sample_tasks.GreetExecutor, {}, {}, {"when": {"start": datetime.date(2026, 1, 1)}}
    )
    with pytest.raises(TemplateError, match=r"custom\.when\.start \(date\)"):
        serialize(task)


def test_unknown_save_format(tmp_path) -> None:
    with pytest.raises(TemplateError, match="unknown format"):
        save_template(serialize(sample_tasks.greet), tmp_path / "greet.txt")
