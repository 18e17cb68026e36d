"""The JupyterLab extension in real JupyterLab and Chromium: it is installed and active, the Launcher
card makes a ShimTask notebook that runs top to bottom in a real kernel, the insert command and the
magic-line marking work in cells, and a saved notebook shows its templates without a kernel."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
from browser_lab import ARTIFACTS, custom_task_cell, wait_for_kernel_idle
from nbclient import NotebookClient

from jupyter_shimtask.inspector.payload import MIME_TYPE, template_payload

RUN_ALL_MS = 240_000
PLUGINS = (
    "jupyter-shimtask:commands",
    "jupyter-shimtask:cell-magic",
    "jupyter-shimtask:notebook-renderer",
    "jupyter-shimtask:template-renderer",
)
EDGE_CUSTOM = {
    "greeting": "Hello",
    "options": {"retries": 3, "flags": ["alpha", "beta"], "empty": {}, "nothing": None, "on": True},
    "unicode ключ": "emoji 😀 and ü",
    "long": "x" * 300,
    "": "empty key",
    "rows": {f"row{index:03d}": {"value": index, "label": f"r{index}"} for index in range(150)},
    "nested": [[1, 2.5], {"deep": [None, False, 0.5, -7]}],
}
SAVED_TASK_CELL = custom_task_cell("saved", "edge", repr(EDGE_CUSTOM), inputs="name=str, count=int")


def test_extension_is_installed_and_active(lab, open_lab) -> None:
    listing = subprocess.run(
        [sys.executable, "-m", "jupyterlab.labextensions", "list"],
        env=lab.env,
        capture_output=True,
        text=True,
        check=True,
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)
    assert re.search(r"jupyter-shimtask v\S+ enabled OK \(python, jupyter-shimtask\)", text), text
    page = open_lab()
    active = page.evaluate("ids => ids.map(id => window.jupyterapp.isPluginActivated(id))", list(PLUGINS))
    assert active == [True] * len(PLUGINS)


def test_launcher_card_creates_a_notebook_that_runs_top_to_bottom(lab, open_lab, run_command, screenshot) -> None:
    page = open_lab()
    card = page.locator(".jp-LauncherCard", has_text="ShimTask Notebook")
    card.wait_for()
    screenshot(page, "launcher")
    card.click()
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
    wait_for_kernel_idle(page)
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget.context.path") == "ShimTask.ipynb"
    screenshot(page, "scaffold")

    assert run_command("notebook:run-all-cells", timeout_ms=RUN_ALL_MS) is True
    run_command("docmanager:save")
    notebook = lab.api("GET", "contents/ShimTask.ipynb")["content"]
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert [cell["source"].splitlines()[0] for cell in code] == [
        "%load_ext jupyter_shimtask",
        "%%shimtask greeting",
        "%shimtask inspect greet",
        "%shimtask run greet --mode subprocess name=world",
    ]
    assert all(cell["execution_count"] for cell in code)
    errors = [output for cell in code for output in cell["outputs"] if output["output_type"] == "error"]
    assert not errors, errors
    inspected = [output["data"] for output in code[2]["outputs"] if MIME_TYPE in output.get("data", {})]
    assert inspected and inspected[0][MIME_TYPE]["id"]["name"] == "greet"
    assert "Hello, world!" in output_text(code[3])

    # with the kernel alive the notebook shows the live inspector widget, not the static view
    inspect_output = page.locator(".jp-Cell").nth(4).locator(".jp-OutputArea")
    inspect_output.locator(".shimtask-inspector").wait_for()
    assert inspect_output.locator(".jp-ShimTask-view").is_hidden()
    screenshot(page, "ran")


def test_insert_command_fills_a_cell_that_runs_and_marks_the_magic_line(lab, open_lab, run_command, screenshot) -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("%load_ext jupyter_shimtask"),
            nbformat.v4.new_code_cell(""),
            nbformat.v4.new_code_cell("result = %shimtask run my_task text=hi\nprint(result.outputs)"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(notebook, lab.root / "insert.ipynb")
    page = open_lab("insert.ipynb", kernel_idle=True)
    cells = page.locator(".jp-NotebookPanel .jp-Cell")
    cells.nth(1).locator(".jp-InputArea-editor").click()

    palette_command(page, "Insert %%shimtask Cell")
    editor = cells.nth(1).locator(".cm-content")
    assert editor.locator(".cm-line").first.inner_text() == "%%shimtask my_task"
    assert cells.nth(1).locator(".jp-ShimTask-magicLine").count() == 1
    assert cells.nth(1).locator(".jp-ShimTask-magicName").inner_text() == "%%shimtask"
    assert cells.nth(1).locator(".jp-ShimTask-magicArgs").inner_text().strip() == "my_task"
    # the body is highlighted as Python: keywords get another colour than names
    colours = page.evaluate(
        """cell => {
            const spans = [...cell.querySelectorAll('.cm-line span')];
            const colour = text => {
                const span = spans.find(s => s.textContent === text);
                return span ? getComputedStyle(span).color : null;
            };
            return { keyword: colour('class'), plain: getComputedStyle(cell.querySelector('.cm-line')).color };
        }""",
        cells.nth(1).element_handle(),
    )
    assert colours["keyword"] and colours["keyword"] != colours["plain"]
    screenshot(page, "inserted")

    page.keyboard.press("Escape")
    assert run_command("notebook:run-all-cells", timeout_ms=RUN_ALL_MS) is True
    assert cells.nth(2).locator(".jp-OutputArea-output").inner_text().strip() == "{'result': '> hi'}"

    # a second scaffold goes below a filled cell; its body completes as Python through the kernel
    cells.nth(1).locator(".jp-InputArea-editor").click()
    palette_command(page, "Insert %%shimtask Cell")
    assert cells.count() == 4
    cells.nth(2).locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    page.keyboard.type("import collections\ncollections.Ord")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    completer = page.locator(".jp-Completer")
    for attempt in range(3):  # a loaded machine can drop the first request while the kernel is slow to answer
        page.keyboard.press("Tab")
        try:
            completer.wait_for(timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    assert "OrderedDict" in completer.inner_text()
    screenshot(page, "completion")


def test_saved_notebook_shows_templates_without_a_kernel(lab, open_lab, screenshot, tmp_path) -> None:
    notebook = executed_notebook(
        [
            "%load_ext jupyter_shimtask",
            f"%config ShimTask.workspace = {str(tmp_path / 'workspace')!r}",
            SAVED_TASK_CELL,
            "%shimtask inspect edge",
        ],
        tmp_path,
    )
    payload = notebook.cells[-1].outputs[0]["data"][MIME_TYPE]
    assert "application/vnd.jupyter.widget-view+json" in notebook.cells[-1].outputs[0]["data"]
    save_without_kernel(notebook, lab.root / "saved.ipynb")

    page = open_without_kernel(open_lab, lab, "saved.ipynb")
    view = page.locator(".jp-OutputArea .jp-ShimTask-view")
    view.wait_for()
    assert page.get_by_text("Error displaying widget").count() == 0
    total = view.locator(".jp-ShimTask-total")
    assert int(total.get_attribute("data-bytes")) == payload["size"]["total"]
    assert total.inner_text() == f"{payload['size']['total']:,} bytes"
    assert view.locator(".jp-ShimTask-badge").first.inner_text() == "ok"
    assert "edge" in view.locator(".jp-ShimTask-header").inner_text()
    screenshot(page, "custom")

    # per-node sizes are protobuf's own ByteSize(), computed in the browser from the JSON
    expected = python_sizes(payload)
    for label in ("options", "nested"):
        row(view, [label]).click()
    row(view, ["nested", 1]).click()
    row(view, ["nested", 1, "deep"]).click()
    row(view, ["options", "flags"]).click()
    shown = {tuple(json.loads(path)): int(size) for path, size in rows(view)}
    checked = [
        (),
        ("greeting",),
        ("options",),
        ("options", "flags"),
        ("options", "flags", 1),
        ("options", "empty"),
        ("options", "nothing"),
        ("options", "on"),
        ("options", "retries"),
        ("unicode ключ",),
        ("long",),
        ("",),
        ("rows",),
        ("nested",),
        ("nested", 0),
        ("nested", 1, "deep", 2),
    ]
    assert {path: shown[path] for path in checked} == {path: expected[path] for path in checked}

    # search opens the branch to a match; "show more" pages through 150 siblings
    view.locator(".jp-ShimTask-search").fill("149")  # key row149, label "r149", value 149.0
    view.locator(".jp-ShimTask-search").press("Enter")
    assert view.locator(".jp-ShimTask-searchSummary").inner_text() == "3 matches"
    for path in (["rows", "row149"], ["rows", "row149", "label"], ["rows", "row149", "value"]):
        assert "jp-ShimTask-match" in row(view, path).get_attribute("class").split()
    view.locator(".jp-ShimTask-search").fill("")
    view.locator(".jp-ShimTask-search").press("Enter")
    row(view, ["rows"]).click()
    assert count_children(view, "rows") == 100
    more = view.locator(".jp-ShimTask-more")
    assert more.inner_text() == "show 50 more (50 not shown)"
    more.click()
    assert count_children(view, "rows") == 150
    screenshot(page, "tree")

    view.locator(".jp-ShimTask-tab", has_text="Interface").click()
    interface = view.locator(".jp-ShimTask-inputs").inner_text()
    assert "count" in interface and "int" in interface and "name" in interface
    view.locator(".jp-ShimTask-tab", has_text="Size").click()
    bars = view.locator(".jp-ShimTask-customBars tr[data-name]")
    assert bars.count() == len(payload["size"]["custom"])
    rows_bar = view.locator(".jp-ShimTask-customBars tr[data-name='rows'] td[data-bytes]")
    assert int(rows_bar.get_attribute("data-bytes")) == payload["size"]["custom"]["rows"]
    screenshot(page, "size")
    assert lab.kernels() == []


def test_five_megabyte_custom_renders_a_page_at_a_time(lab, open_lab, screenshot) -> None:
    from flyteidl.core.tasks_pb2 import Container, TaskTemplate

    template = TaskTemplate(type="big", container=Container(image="example/big:1", args=["pyflyte-execute"]))
    template.id.name = "big"
    template.custom.update({f"key{index:05d}": {"text": "v" * 150, "n": index} for index in range(30_000)})
    assert template.custom.ByteSize() > 5_000_000
    page, view = open_saved_view(lab, open_lab, template_payload(template), "big")
    assert int(row(view, []).get_attribute("data-bytes")) == template.custom.ByteSize()
    assert view.locator(".jp-ShimTask-row").count() == 1 + 100
    assert view.locator(".jp-ShimTask-more").inner_text() == "show 100 more (29,900 not shown)"
    started = page.evaluate("() => performance.now()")
    view.locator(".jp-ShimTask-search").fill("key12345")
    view.locator(".jp-ShimTask-search").press("Enter")
    assert view.locator(".jp-ShimTask-searchSummary").inner_text() == "1 match"
    searched_ms = page.evaluate("() => performance.now()") - started
    assert row(view, ["key12345"]).is_visible()
    assert view.locator(".jp-ShimTask-row").count() == 1 + 100 + 1  # the open page, and the match pinned under it
    (ARTIFACTS / "big-custom-search.txt").write_text(f"search over 30,000 keys, 5 MB: {searched_ms:.0f} ms\n")
    screenshot(page, "big")


# -- helpers --------------------------------------------------------------------------------------


def executed_notebook(sources: list[str], folder: Path) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    client = NotebookClient(notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    client.execute()
    return notebook


def save_without_kernel(notebook: nbformat.NotebookNode, path: Path) -> None:
    """Write the notebook without kernel or language, so JupyterLab asks for a kernel and the test can decline."""
    notebook.metadata.pop("kernelspec", None)
    notebook.metadata.pop("language_info", None)
    nbformat.write(notebook, path)


def open_saved_view(lab: Any, open_lab: Any, payload: dict[str, Any], name: str) -> tuple[Any, Any]:
    """A notebook holding only ``payload``'s output, opened without a kernel: the page and the view."""
    output = nbformat.v4.new_output("display_data", data={MIME_TYPE: payload, "text/plain": f"{name} template"})
    cell = nbformat.v4.new_code_cell(f"%shimtask inspect {name}", outputs=[output])
    save_without_kernel(nbformat.v4.new_notebook(cells=[cell]), lab.root / f"{name}.ipynb")
    page = open_without_kernel(open_lab, lab, f"{name}.ipynb")
    view = page.locator(".jp-OutputArea .jp-ShimTask-view")
    view.wait_for()
    return page, view


def open_without_kernel(open_lab: Any, lab: Any, path: str) -> Any:
    page = open_lab()
    page.evaluate("path => window.jupyterapp.commands.execute('docmanager:open', { path })", path)
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for()
    dialog.get_by_role("button", name="No Kernel").click()
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
    return page


def palette_command(page: Any, label: str) -> None:
    page.keyboard.press("Control+Shift+C")
    search = page.locator("#command-palette .lm-CommandPalette-input")
    search.wait_for()
    search.fill(label)
    page.locator("#command-palette .lm-CommandPalette-item", has_text=label).first.click()


def output_text(cell: dict[str, Any]) -> str:
    parts = []
    for output in cell["outputs"]:
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def row(view: Any, path: list[Any]) -> Any:
    return view.locator(f".jp-ShimTask-row[data-path='{json.dumps(path, ensure_ascii=False, separators=(',', ':'))}']")


def rows(view: Any) -> list[tuple[str, str]]:
    return view.evaluate(
        "node => [...node.querySelectorAll('.jp-ShimTask-row')].map(r => [r.dataset.path, r.dataset.bytes])"
    )


def count_children(view: Any, key: str) -> int:
    return sum(1 for path, _ in rows(view) if len(json.loads(path)) == 2 and json.loads(path)[0] == key)


def python_sizes(payload: dict[str, Any]) -> dict[tuple[Any, ...], int]:
    """ByteSize() of every node of the template's custom, from protobuf in Python."""
    from flyteidl.core.tasks_pb2 import TaskTemplate
    from google.protobuf import json_format

    custom = json_format.ParseDict(payload["template"], TaskTemplate()).custom
    sizes: dict[tuple[Any, ...], int] = {(): custom.ByteSize()}

    def walk(path: tuple[Any, ...], value: Any) -> None:
        sizes[path] = value.ByteSize()
        kind = value.WhichOneof("kind")
        if kind == "struct_value":
            for key, child in value.struct_value.fields.items():
                walk((*path, key), child)
        elif kind == "list_value":
            for index, child in enumerate(value.list_value.values):
                walk((*path, index), child)

    for key, value in custom.fields.items():
        walk((key,), value)
    return sizes


def test_saved_view_draws_the_container_rows_and_the_pod(lab, open_lab, screenshot) -> None:
    from flyteidl.core.tasks_pb2 import Container, TaskTemplate

    args = ["pyflyte-execute", "--inputs", "{{.input}}", "--x={{.outputPrefix}}/y"]
    template = TaskTemplate(type="pod", container=Container(image="example/pod:1", args=args))
    template.id.name = "pod"
    template.container.env.add(key="A", value="1")
    template.metadata.retries.retries = 2
    template.metadata.timeout.seconds = 30
    template.security_context.secrets.add(group="db", key="password", env_var="DB_PASSWORD")
    payload = template_payload(template)
    page, view = open_saved_view(lab, open_lab, payload, "pod")
    view.locator(".jp-ShimTask-tab", has_text="Container").click()
    pane = view.locator(".jp-ShimTask-pane")
    drawn = pane.evaluate(
        "node => [...node.querySelectorAll('p > b')].map(b => [b.textContent,"
        " [...b.parentElement.nextElementSibling.querySelectorAll('tr')].map(tr =>"
        " [tr.querySelector('th').textContent, tr.querySelector('td').innerText])])"
    )
    expected = [
        [
            section["title"],
            [
                [row["name"], row.get("text") or (row["sep"].join("".join(i) for i in row["code"]))]
                for row in section["rows"]
            ],
        ]
        for section in payload["container"]
    ]
    assert drawn == expected
    assert pane.locator("mark").all_inner_texts() == ["{{.input}}", "{{.outputPrefix}}"]
    pod = dict(expected[-1][1])
    assert expected[-1][0] == "in the pod, and in a run here" and pod["timeout"].startswith("30s per attempt")
    screenshot(page, "container")
