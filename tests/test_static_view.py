"""The saved (kernel-less) payload says what it trimmed, with Python's figures; small display fixes."""

from __future__ import annotations

import sample_tasks
from google.protobuf.struct_pb2 import Struct

from jupyter_shimtask import inspect, serialize
from jupyter_shimtask.fidelity import Finding
from jupyter_shimtask.inspector.model import STATIC_CUSTOM_BYTES
from jupyter_shimtask.inspector.render import findings_html, interface_html


def big_template():
    rows = [{"id": index, "text": "x" * 60} for index in range(60_000)]
    return serialize(sample_tasks.Task("big", sample_tasks.GreetExecutor, {}, {}, {"query": "select 1", "rows": rows}))


def test_trimmed_keys_keep_their_real_size_and_preview() -> None:
    template = big_template()
    assert template.custom.ByteSize() > 4_000_000
    payload = inspect(template).inspected.payload
    assert list(payload["template"]["custom"]) == ["query"]  # rows does not fit in the saved copy
    trimmed = payload["trimmed"]
    assert trimmed["custom_bytes"] == template.custom.ByteSize()
    (row,) = trimmed["custom_rows"]
    assert row == {
        "key": "rows",
        "kind": "array",
        "preview": "[60,000 items]",
        "size": template.custom.fields["rows"].ByteSize(),
        "count": 60_000,
    }
    alone = Struct()
    alone.fields["rows"].CopyFrom(template.custom.fields["rows"])
    assert payload["size"]["custom"]["rows"] == alone.ByteSize()  # the size bars' figure, also Python's
    assert len(str(payload)) < 2 * STATIC_CUSTOM_BYTES


def test_many_trimmed_keys_list_the_biggest() -> None:
    custom = {f"key{index:05d}": "v" * (100 + index % 7) for index in range(5000)}
    task = sample_tasks.Task("many", sample_tasks.GreetExecutor, {}, {}, custom)
    payload = inspect(serialize(task)).inspected.payload
    rows = payload["trimmed"]["custom_rows"]
    assert len(rows) == 200 and [row["key"] for row in rows] == sorted(row["key"] for row in rows)
    kept = set(payload["template"]["custom"])
    assert not kept & {row["key"] for row in rows}
    assert min(row["size"] for row in rows) >= 100


def test_findings_without_a_path_read_cleanly() -> None:
    finding = Finding("positional-outputs", "", "returns a tuple", "error")
    assert str(finding) == "error: positional-outputs: returns a tuple"
    assert "at " not in str(finding)
    page = findings_html({"findings": [vars(finding)], "trimmed": None})
    assert "<b>positional-outputs</b>: returns a tuple" in page and "<code>-</code>" not in page


def test_interface_columns_are_labelled() -> None:
    page = interface_html(inspect(sample_tasks.greet).inspected.payload)
    assert "<th>name</th><th>type</th><th>description</th>" in page


def test_long_strings_open_in_full_in_the_widget_tree() -> None:
    from jupyter_shimtask.inspector.model import CustomTree, TreeState

    long = "word " * 200
    template = serialize(sample_tasks.Task("long", sample_tasks.GreetExecutor, {}, {}, {"note": long, "short": "hi"}))
    state = TreeState(CustomTree(template.custom))
    rows = {row["key"]: row for row in state.rows()}
    assert rows["note"]["long"] and rows["note"]["preview"].endswith('…"') and "text" not in rows["note"]
    assert "long" not in rows["short"]
    state.toggle(("note",))
    rows = {row["key"]: row for row in state.rows()}
    assert rows["note"]["open"] and rows["note"]["text"] == long


def test_copy_button_has_the_save_buttons_classes() -> None:
    from jupyter_shimtask.inspector.widget import CopyJsonButton

    assert 'className = "jupyter-widgets jupyter-button jupyter-widget-button widget-button' in CopyJsonButton._esm


def test_static_html_copy_shows_long_strings_in_full() -> None:
    from jupyter_shimtask.inspector.model import CustomTree
    from jupyter_shimtask.inspector.render import STATIC_TEXT_CHARS, custom_tree_html

    long, huge = "word " * 200, "x" * (STATIC_TEXT_CHARS + 10)
    template = serialize(sample_tasks.Task("long", sample_tasks.GreetExecutor, {}, {}, {"note": long, "blob": huge}))
    page = custom_tree_html(CustomTree(template.custom))
    assert f'<pre style="white-space:pre-wrap">{long}</pre>' in page
    assert "... 10 more characters in the live inspector" in page


def nodes_of(tree: dict) -> list[tuple]:
    """The payload's tree columns, one ``(label, kind letter, bytes, preview, children, mark)`` a node."""
    marks = {**dict.fromkeys(tree["long"], "long"), **dict.fromkeys(tree["trimmed"], "trimmed")}
    columns = zip(tree["labels"], tree["kinds"], tree["bytes"], tree["previews"], tree["children"], strict=True)
    return [(*row, marks.get(index)) for index, row in enumerate(columns)]


def test_payload_tree_carries_the_models_figures() -> None:
    from jupyter_shimtask.inspector.model import KIND_LETTERS, CustomTree

    custom = {"b": {"x": [1, "y" * 100, None]}, "a": True, "ключ": "z"}
    template = serialize(sample_tasks.Task("tree", sample_tasks.GreetExecutor, {}, {}, custom))
    tree = CustomTree(template.custom)
    nodes = iter(nodes_of(inspect(template).inspected.payload["tree"]))

    def walk(path: tuple) -> None:  # the columns list the nodes in tree order: a node, then its children
        label, kind, size, preview, children, mark = next(nodes)
        model = tree.node(path)
        assert (label, kind, size, preview) == (model.label, KIND_LETTERS[model.kind], model.size, model.preview)
        assert (mark == "long") == model.long and mark != "trimmed"
        keys = list(tree.child_keys(path))
        assert children == len(keys)
        for key in keys:
            walk((*path, key))

    walk(())
    assert next(nodes, None) is None


def test_trimmed_keys_sit_in_the_payload_tree_in_key_order() -> None:
    payload = inspect(big_template()).inspected.payload
    nodes = nodes_of(payload["tree"])
    assert nodes[0] == ("custom", "o", payload["trimmed"]["custom_bytes"], "{2 keys}", 2, None)
    (row,) = payload["trimmed"]["custom_rows"]
    assert nodes[-1] == ("rows", "a", row["size"], row["preview"], 0, "trimmed")
    assert [node[0] for node in nodes] == ["custom", "query", "rows"]
    assert payload["bars"]["custom"]["rows"][0] == ["rows", payload["size"]["custom"]["rows"], True]


def test_container_rows_hold_the_pod_for_every_view() -> None:
    from jupyter_shimtask.inspector.render import container_html

    template = serialize(sample_tasks.greet)
    template.security_context.secrets.add(group="db", key="password")
    template.metadata.timeout.seconds = 30
    inspected = inspect(template).inspected
    sections = {section["title"]: section for section in inspected.payload["container"]}
    pod = {row["name"]: row["text"] for row in sections["in the pod, and in a run here"]["rows"]}
    assert pod["secrets"].startswith("db/password (") and pod["timeout"].startswith("30s per attempt")
    page = container_html(inspected.payload)
    assert "in the pod, and in a run here" in page and "30s per attempt" in page
    assert "in the pod, and in a run here" in inspect(template)._repr_mimebundle_()["text/html"]
