"""The inspector's model and widget state: tree content, sizes, search, static fallbacks, bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sample_tasks
from flyteidl.core.literals_pb2 import LiteralMap
from flyteidl.core.security_pb2 import Secret
from flyteidl.core.tasks_pb2 import TaskTemplate
from google.protobuf.struct_pb2 import Struct
from test_magics import define

from jupyter_shimtask import inspect, load_template, serialize
from jupyter_shimtask.inspector import InspectProblem
from jupyter_shimtask.inspector.model import PAGE, CustomTree, TreeState, path_from_id, path_id
from jupyter_shimtask.inspector.payload import MIME_TYPE
from jupyter_shimtask.inspector.render import mark_placeholders
from jupyter_shimtask.inspector.widget import Inspector

NESTED = {
    "query": "SELECT * FROM Table WHERE id = {{ .inputs.id }}",
    "options": {"retries": 3, "dialect": "sqlite", "flags": [True, None, 2.5, {"Deep": "needle here"}]},
    "empty": {},
    "Needle": "top",
}


def make_template(custom: dict) -> TaskTemplate:
    return serialize(sample_tasks.Task("nested", sample_tasks.GreetExecutor, {}, {}, custom))


def rows_by_key(rows: list[dict]) -> dict[str, dict]:
    return {row["id"]: row for row in rows if "more" not in row}


def test_node_sizes_are_bytesize_of_each_value() -> None:
    template = make_template(NESTED)
    tree = CustomTree(template.custom)
    fields = template.custom.fields
    assert tree.node(()).size == template.custom.ByteSize()
    assert tree.node(("options",)).size == fields["options"].ByteSize()
    flags = fields["options"].struct_value.fields["flags"]
    assert tree.node(("options", "flags")).size == flags.ByteSize()
    deep = flags.list_value.values[3].struct_value.fields["Deep"]
    assert tree.node(("options", "flags", 3, "Deep")).size == deep.ByteSize() > 0
    assert tree.node(("empty",)).size == fields["empty"].ByteSize()


def test_tree_content() -> None:
    tree = CustomTree(make_template(NESTED).custom)
    assert list(tree.child_keys(())) == ["Needle", "empty", "options", "query"]
    flags = [tree.node(("options", "flags", index)) for index in tree.child_keys(("options", "flags"))]
    assert [(node.label, node.kind, node.preview) for node in flags] == [
        ("[0]", "bool", "true"),
        ("[1]", "null", "null"),
        ("[2]", "number", "2.5"),
        ("[3]", "object", "{1 key}"),
    ]
    options = tree.node(("options",))
    assert (options.kind, options.children, options.preview) == ("object", 3, "{3 keys}")
    assert tree.node(("options", "retries")).preview == "3.0"  # a Struct number: the executor gets a float
    with pytest.raises(KeyError):
        tree.node(("missing",))


def test_children_are_read_only_when_opened() -> None:
    state = TreeState(CustomTree(make_template(NESTED).custom))
    rows = state.rows()
    assert [row["key"] for row in rows] == ["custom", "Needle", "empty", "options", "query"]
    assert set(state.tree._nodes) == {(), ("Needle",), ("empty",), ("options",), ("query",)}
    state.toggle(("options",))
    assert [row["key"] for row in state.rows()][3:7] == ["options", "dialect", "flags", "retries"]
    state.toggle(("options",))
    assert len(state.rows()) == 5


def test_siblings_come_a_page_at_a_time() -> None:
    many = {f"key{index:04d}": index for index in range(2 * PAGE + 50)}
    state = TreeState(CustomTree(make_template(many).custom))
    rows = state.rows()
    assert len(rows) == 1 + PAGE + 1 and rows[-1]["more"] == PAGE + 50
    state.show_more(())
    rows = state.rows()
    assert len(rows) == 1 + 2 * PAGE + 1 and rows[-1]["more"] == 50
    state.show_more(())
    assert "more" not in state.rows()[-1]


def test_search_matches_keys_and_values_and_opens_their_branches() -> None:
    state = TreeState(CustomTree(make_template(NESTED).custom))
    result = state.search("NEEDLE")
    assert result.matches == [("Needle",), ("options", "flags", 3, "Deep")] and result.total == 2
    rows = rows_by_key(state.rows())
    assert rows[path_id(("Needle",))]["match"] and rows[path_id(("options", "flags", 3, "Deep"))]["match"]
    assert all(rows[path_id(path)]["open"] for path in [("options",), ("options", "flags"), ("options", "flags", 3)])
    # only the branch to the match is shown under a node the search opened
    flags_children = [row for row in state.rows() if row["depth"] == 3]
    assert [row.get("key") for row in flags_children] == ["[3]", None]
    assert str(result) == "2 matches"
    assert state.search("sqlite").matches == [("options", "dialect")]
    assert state.search("2.5").matches == [("options", "flags", 2)]
    state.search("")
    assert [row["key"] for row in state.rows()] == ["custom", "Needle", "empty", "options", "query"]


def test_search_keeps_what_the_author_opened_and_reaches_past_the_page() -> None:
    many = {f"key{index:04d}": {"value": index} for index in range(3 * PAGE)}
    state = TreeState(CustomTree(make_template(many).custom))
    state.toggle(("key0001",))
    result = state.search("key0250")
    assert result.matches == [("key0250",)]
    ids = [row["id"] for row in state.rows()]
    assert path_id(("key0250",)) in ids and path_id(("key0001", "value")) in ids
    assert state.rows()[-1]["more"] == 3 * PAGE - PAGE - 1


def test_search_opens_at_most_the_match_limit() -> None:
    many = {f"item{index}": "x" for index in range(500)}
    result = CustomTree(make_template(many).custom).search("item", limit=50)
    assert result.total == 500 and len(result.matches) == 50 and result.truncated
    assert str(result) == "500 matches, first 50 opened"


def test_path_ids_round_trip() -> None:
    for path in [(), ("a.b", 3, 'qu"ote'), ("ü/", 0)]:
        assert path_from_id(path_id(path)) == path


def test_payload_sizes_are_bytesize_of_the_parts() -> None:
    template = make_template(NESTED)
    size = inspect(template).inspected.payload["size"]
    assert size["total"] == template.ByteSize()
    for name, value in size["fields"].items():
        assert value == TaskTemplate(**{name: getattr(template, name)}).ByteSize()
    for key, value in size["custom"].items():
        alone = Struct()
        alone.fields[key].CopyFrom(template.custom.fields[key])
        assert value == alone.ByteSize()


def test_size_report_reads_each_part_exactly() -> None:
    from google.protobuf.struct_pb2 import Value

    from jupyter_shimtask import size_report

    template = make_template({"": None, "é" * 100: "long key", "n": 1.5, "nested": {"a": [1, "b"]}})
    template.custom.fields["unset"].CopyFrom(Value())
    template.config["key"] = "value"
    template.task_type_version = 300
    report = size_report(template)
    assert report.total == template.ByteSize() == sum(report.fields.values())
    for field, value in template.ListFields():
        assert report.fields[field.name] == TaskTemplate(**{field.name: value}).ByteSize()
    for key, value in template.custom.fields.items():
        alone = Struct()
        alone.fields[key].CopyFrom(value)
        assert report.custom[key] == alone.ByteSize()


def test_big_custom_is_trimmed_in_the_stored_payload() -> None:
    many = {f"key{index:05d}": "v" * 100 for index in range(5000)}
    template = make_template(many)
    payload = inspect(template).inspected.payload
    trimmed = payload["trimmed"]
    assert trimmed["custom_keys"] == 5000 and 0 < trimmed["custom_keys_kept"] < 5000
    assert list(payload["template"]["custom"]) == sorted(many)[: trimmed["custom_keys_kept"]]
    assert payload["template"]["container"]["image"] == "shimtask-runtime:test"
    assert payload["size"]["total"] == template.ByteSize()
    left_out = trimmed["size_custom_bytes_left_out"]
    assert sum(payload["size"]["custom"].values()) + left_out == template.custom.ByteSize()
    assert "(+4,995 keys)" in inspect(template)._repr_mimebundle_()["text/plain"]
    assert inspect(sample_tasks.greet).inspected.payload["trimmed"] is None


def test_widget_shows_header_interface_container_and_size() -> None:
    widget = inspect(sample_tasks.files)
    assert isinstance(widget, Inspector)
    total = serialize(sample_tasks.files).ByteSize()
    assert f'data-bytes="{total}"' in widget.header.value and "badge-ok" in widget.header.value
    assert "sample_tasks.FilesExecutor" in widget.header.value
    titles = list(widget.tabs.titles)
    assert titles == ["Interface", "Custom", "Container", "Size", "Export"]
    interface = widget.tabs.children[titles.index("Interface")].value
    assert "FlyteFile" in interface and "FlyteDirectory" in interface
    container = widget.tabs.children[titles.index("Container")].value
    assert "<mark>{{.taskTemplatePath}}</mark>" in container and "shimtask-runtime:test" in container
    size = widget.tabs.children[titles.index("Size")].value
    assert "bytes per field" in size and "positional" not in size


def test_findings_are_listed_beside_the_sizes() -> None:
    widget = inspect(sample_tasks.positional)
    size = widget.tabs.children[list(widget.tabs.titles).index("Size")].value
    assert "positional-outputs" in size
    assert widget.inspected.payload["findings"][0]["code"] == "positional-outputs"


def test_many_findings_are_counted_not_all_listed() -> None:
    task = sample_tasks.Task(
        "ints", sample_tasks.GreetExecutor, {}, {}, {f"n{index:03d}": index for index in range(300)}
    )
    widget = inspect(task)
    payload = widget.inspected.payload
    assert payload["trimmed"] == {"findings": 300, "findings_kept": 200}
    assert len(payload["findings"]) == 200
    size = widget.tabs.children[list(widget.tabs.titles).index("Size")].value
    assert "<b>findings</b> (300)" in size and "280 more" in size and size.count("<li") == 21
    assert "findings  custom-int-becomes-float x 200" in repr(widget)


def test_limits_give_warn_and_over_badges(workspace) -> None:
    workspace.warn_bytes, workspace.over_bytes = 100, 400
    assert "badge-warn" in inspect(make_template({"a": "x"})).header.value
    assert "badge-over" in inspect(make_template({"a": "x" * 500})).header.value


def test_security_context_shows_secret_names_only() -> None:
    template = make_template({})
    template.security_context.secrets.add(group="db", key="password", env_var="DB_PASSWORD")
    template.security_context.secrets.add(group="api", mount_requirement=Secret.MountType.FILE)
    template.security_context.run_as.k8s_service_account = "runner"
    container = inspect(template).tabs.children[2].value
    assert "db/password (env DB_PASSWORD)" in container and "api (mount file)" in container
    assert "k8sServiceAccount: runner" in container


def test_placeholders_are_marked_and_escaped() -> None:
    assert mark_placeholders("--x={{.input}}<b>") == "--x=<mark>{{.input}}</mark>&lt;b&gt;"


def test_widget_tree_follows_clicks_and_search() -> None:
    widget = inspect(make_template(NESTED))
    tree = widget.tree
    tree._on_message(tree, {"event": "toggle", "id": path_id(("options",))}, [])
    assert rows_by_key(tree.rows)[path_id(("options",))]["open"]
    widget.search.value = "needle"
    assert widget.matches.value == "2 matches" and tree.query == "needle"
    assert sum(row.get("match", False) for row in tree.rows) == 2
    many = inspect(make_template({f"k{index:04d}": index for index in range(PAGE + 7)})).tree
    many._on_message(many, {"event": "more", "id": "[]"}, [])
    assert len(many.rows) == 1 + PAGE + 7


def test_mimebundle_has_widget_and_static_fallbacks() -> None:
    widget = inspect(sample_tasks.greet)
    bundle = widget._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.model_id
    assert bundle[MIME_TYPE]["id"]["name"] == "greet" and bundle[MIME_TYPE]["interface"]["inputs"][0]["type"] == "str"
    assert bundle["text/plain"].splitlines()[:6] == [
        "task      greet (local), type sample",
        "image     shimtask-runtime:test",
        "executor  sample_tasks.GreetExecutor",
        "inputs    name: str",
        "outputs   greeting: str",
        f"size      {serialize(sample_tasks.greet).ByteSize():,} bytes (ok)",
    ]
    html = bundle["text/html"]
    assert "<details" in html and "greeting" in html and "<script" not in html


def test_static_tree_is_bounded() -> None:
    widget = inspect(make_template({f"k{index:05d}": [index] for index in range(5000)}))
    html = widget._repr_mimebundle_()["text/html"]
    assert "more</li>" in html and html.count("<li>") < 400


def test_export_saves_each_format(tmp_path) -> None:
    widget = inspect(sample_tasks.greet)
    widget.export_path.value = str(tmp_path / "greet.pb")
    for suffix in (".pb", ".json", ".yaml"):
        path = widget.save(suffix)
        assert path == tmp_path / f"greet{suffix}" and load_template(path) == widget.inspected.template
        assert "saved" in widget.export_status.value
    widget.export_path.value = str(tmp_path / "greet.pb" / "nested")
    assert widget.save(".pb") is None and "shimtask-finding-error" in widget.export_status.value


def test_template_without_custom_says_so() -> None:
    widget = inspect(sample_tasks.positional)
    assert widget.tabs.selected_index == 0
    assert "no <code>custom</code> payload" in widget.tabs.children[1].value


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\xff\xfe garbage \x00\x01", "not a TaskTemplate"),
        (LiteralMap().SerializeToString() + b"\x0a\x03abc", "not a TaskTemplate"),
    ],
)
def test_bad_files_are_one_clear_message(tmp_path, content: bytes, message: str) -> None:
    (tmp_path / "bad.pb").write_bytes(content)
    problem = inspect(tmp_path / "bad.pb")
    assert isinstance(problem, InspectProblem) and message in problem.message
    assert repr(problem).startswith("cannot inspect: ") and "\n" not in repr(problem)
    assert message in problem._repr_html_()


def test_empty_and_non_template_objects() -> None:
    assert "empty TaskTemplate" in inspect(TaskTemplate()).message
    assert "expected a flytekit task" in inspect(42).message


def test_magic_inspect_and_bad_target(shell, tmp_path) -> None:
    define(shell)
    assert isinstance(shell.run_line_magic("shimtask", "inspect greet"), Inspector)
    (tmp_path / "bad.pb").write_bytes(b"\x00garbage")
    assert isinstance(shell.run_line_magic("shimtask", f"inspect {tmp_path / 'bad.pb'}"), InspectProblem)


def test_importing_the_package_loads_no_widgets() -> None:
    code = (
        "import sys, jupyter_shimtask\n"
        "jupyter_shimtask.inspect, jupyter_shimtask.diff\n"
        "print(sorted(name for name in ('ipywidgets', 'anywidget', 'flytekit') if name in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
