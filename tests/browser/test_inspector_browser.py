"""The inspector in real JupyterLab and Chromium: a notebook defines a task and inspects it."""

from __future__ import annotations

import json
import re
import textwrap

import nbformat
from browser_lab import custom_task_cell

TASK_CELL = custom_task_cell(
    "inspected",
    "echo",
    """{
    "greeting": "Hello",
    "options": {"retries": 3, "flags": ["alpha", "beta"], "dialect": "sqlite"},
    "rows": {f"row{index:03d}": {"value": index, "label": f"r{index}"} for index in range(150)},
}""",
)
FIGURES_CELL = textwrap.dedent(
    """\
    import json
    import jupyter_shimtask as st

    _template = st.serialize(echo)
    print("FIGURES", json.dumps({
        "total": st.size_report(echo).total,
        "options": _template.custom.fields["options"].ByteSize(),
        "flags": _template.custom.fields["options"].struct_value.fields["flags"].ByteSize(),
    }))
    """
)


def write_notebook(path, cells: list[str]) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


def row(page, *path):
    return page.locator(f".shimtask-row[data-id='{json.dumps(list(path))}']")


def test_inspect_expand_search_and_total(lab, open_lab, run_command, screenshot) -> None:
    write_notebook(
        lab.root / "inspect.ipynb", ["%load_ext jupyter_shimtask", TASK_CELL, "%shimtask inspect echo", FIGURES_CELL]
    )
    page = open_lab("inspect.ipynb", kernel_idle=True)
    run_command("notebook:run-all-cells")

    figures_line = page.locator(".jp-OutputArea-output", has_text="FIGURES")
    figures_line.wait_for(timeout=120_000)
    figures = json.loads(re.search(r"FIGURES (\{.*\})", figures_line.inner_text()).group(1))

    inspector = page.locator(".shimtask-inspector")
    inspector.wait_for()
    root = row(
        page,
    )
    root.wait_for()
    assert root.inner_text().startswith("▾")  # the custom root opens by itself
    total = int(inspector.locator(".shimtask-total").get_attribute("data-bytes"))
    assert total == figures["total"]
    assert f"{total:,} bytes" in inspector.locator(".shimtask-total").inner_text()

    # a page of siblings, and the rest behind "show more"
    row(page, "rows").click()
    row(page, "rows", "row099").wait_for()
    assert row(page, "rows", "row100").count() == 0
    page.locator(".shimtask-more", has_text="show 50 more of 50").click()
    row(page, "rows", "row149").wait_for()
    row(page, "rows").click()  # fold it again
    row(page, "rows", "row000").wait_for(state="detached")

    # expanding a node shows its children with their exact sizes
    row(page, "options").click()
    flags = row(page, "options", "flags")
    flags.wait_for()
    assert int(row(page, "options").get_attribute("data-size")) == figures["options"]
    assert int(flags.get_attribute("data-size")) == figures["flags"]
    flags.click()
    assert row(page, "options", "flags", 1).inner_text().split()[1] == '"beta"'

    # search: matches highlighted, their branches opened
    row(page, "options").click()
    row(page, "options", "flags").wait_for(state="detached")
    search = inspector.locator(".shimtask-search input")
    search.fill("sqlite")
    search.press("Enter")
    match = page.locator(".shimtask-row.shimtask-match")
    match.wait_for()
    assert match.count() == 1 and match.get_attribute("data-id") == json.dumps(["options", "dialect"])
    assert match.locator("mark").inner_text() == "sqlite"
    assert inspector.get_by_text("1 match").count() == 1
    screenshot(page, "inspector")

    # the Size tab: bars biggest first, each figure the exact bytes
    inspector.locator(".lm-TabBar-tab", has_text="Size").click()
    custom_bar = inspector.locator("td.shimtask-bytes").first
    custom_bar.wait_for()
    field_sizes = [
        int(cell.get_attribute("data-bytes")) for cell in inspector.locator("td.shimtask-bytes[data-bytes]").all()
    ]
    assert field_sizes[0] == max(field_sizes)
    screenshot(page, "size")

    # Export: "Copy JSON" puts the template's JSON on the clipboard
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    inspector.locator(".lm-TabBar-tab", has_text="Export").click()
    inspector.locator(".shimtask-copy").click()
    inspector.locator(".shimtask-copy-note", has_text="copied").wait_for()
    copied = json.loads(page.evaluate("() => navigator.clipboard.readText()"))
    assert copied["id"]["name"] == "echo" and copied["custom"]["options"]["dialect"] == "sqlite"
