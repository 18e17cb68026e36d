"""What a person sees in JupyterLab and Notebook 7, light and dark: the live inspector after a
reload, the saved view's trimmed keys, long strings, search scrolling, Esc, the Copy JSON button,
the insert command's %load_ext, Notebook 7's tree entry, and readable marks in the dark theme.
Each view is saved as a screenshot in test-artifacts/."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from browser_lab import custom_task_cell, wait_for_kernel_idle
from test_labextension import open_without_kernel, palette_command, row, save_without_kernel

from jupyter_shimtask.inspector.model import STATIC_CUSTOM_BYTES
from jupyter_shimtask.inspector.payload import MIME_TYPE, template_payload

RUN_ALL_MS = 240_000
# the keyboard is the notebook's again (command mode: Ctrl+S saves), not a text box's
NOTEBOOK_HAS_FOCUS = (
    "() => { const node = document.activeElement;"
    " return !!node.closest('.jp-Notebook') && !['INPUT', 'TEXTAREA'].includes(node.tagName)"
    " && !node.closest('.cm-editor'); }"
)
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
LONG_TEXT = "the quick brown fox jumps over the lazy dog " * 12
LIVE_CELL = custom_task_cell(
    "live",
    "live",
    repr({"greeting": "Hello", "long": LONG_TEXT, "rows": {f"row{index:03d}": index for index in range(300)}}),
)


def write_notebook(path, sources: list[str]) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


def set_theme(page, run_command, theme: str) -> None:
    run_command("apputils:change-theme", {"theme": THEMES[theme]})
    page.wait_for_function(
        "light => document.body.dataset.jpThemeLight === String(light)", arg=theme == "light", timeout=30_000
    )


CONTRAST_JS = """node => {
    const parse = value => {
        const numbers = (value.match(/[\\d.]+/g) || []).map(Number);
        const unit = value.startsWith('color(') ? 1 : 255;
        const [r, g, b] = numbers.slice(0, 3).map(c => c / unit);
        const a = numbers.length > 3 ? numbers[3] : (value.startsWith('rgba') || value.includes('/') ? 0 : 1);
        return { r, g, b, a: value === 'transparent' ? 0 : a };
    };
    // the background the text is drawn on: every layer up to the first opaque one, composited
    const layers = [];
    for (let at = node; at; at = at.parentElement) {
        const layer = parse(getComputedStyle(at).backgroundColor);
        if (layer.a > 0) layers.push(layer);
        if (layer.a >= 1) break;
    }
    let back = { r: 1, g: 1, b: 1 };
    for (const layer of layers.reverse()) {
        back = { r: layer.r * layer.a + back.r * (1 - layer.a), g: layer.g * layer.a + back.g * (1 - layer.a),
                 b: layer.b * layer.a + back.b * (1 - layer.a) };
    }
    const text = parse(getComputedStyle(node).color);
    const lum = c => [c.r, c.g, c.b].map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const [low, high] = [lum(text), lum(back)].sort((x, y) => x - y);
    return (high + 0.05) / (low + 0.05);
}"""


def contrast(page, element) -> float:
    """WCAG contrast ratio of an element's text against the background it is drawn on."""
    return page.evaluate(CONTRAST_JS, element.element_handle())


def test_live_inspector_after_reload_and_its_fixes(lab, open_lab, run_command, screenshot) -> None:
    write_notebook(lab.root / "live.ipynb", ["%load_ext jupyter_shimtask", LIVE_CELL, "%shimtask inspect live"])
    page = open_lab("live.ipynb", kernel_idle=True)
    assert run_command("notebook:run-all-cells", timeout_ms=RUN_ALL_MS) is True
    inspector = page.locator(".shimtask-inspector")
    inspector.wait_for()
    run_command("docmanager:save")

    # Copy JSON has the size of the Save buttons beside it
    inspector.locator(".lm-TabBar-tab", has_text="Export").click()
    save = inspector.locator("button", has_text="Save JSON").bounding_box()
    copy = inspector.locator("button.shimtask-copy").bounding_box()
    assert (round(copy["width"]), round(copy["height"])) == (round(save["width"]), round(save["height"]))
    screenshot(page, "export")

    # a long string opens in full; a search in an opened 300-item list scrolls to its match
    inspector.locator(".lm-TabBar-tab", has_text="Custom").click()
    long_row = page.locator(".shimtask-row[data-id='[\"long\"]']")
    long_row.click()
    full = page.locator(".shimtask-full")
    full.wait_for()
    assert LONG_TEXT.strip() in full.inner_text()
    page.locator(".shimtask-row[data-id='[\"rows\"]']").click()
    page.locator('.shimtask-row[data-id=\'["rows", "row099"]\']').wait_for()
    search = inspector.locator(".shimtask-search input")
    search.fill("row099")
    search.press("Enter")
    match = page.locator(".shimtask-match").first
    match.wait_for()
    tree = page.locator(".shimtask-tree").bounding_box()
    at = match.bounding_box()
    assert tree["y"] <= at["y"] and at["y"] + at["height"] <= tree["y"] + tree["height"], (tree, at)
    screenshot(page, "live-search")
    search.press("Escape")
    focused = page.evaluate("() => [document.activeElement.tagName, document.activeElement.className]")
    assert page.evaluate(NOTEBOOK_HAS_FOCUS), focused

    # reload with the kernel alive: the live widget takes over again, Export tab and all
    page.reload()
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=90_000)
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=90_000)
    wait_for_kernel_idle(page)
    output = page.locator(".jp-Cell").nth(2).locator(".jp-OutputArea")
    output.locator(".shimtask-inspector").wait_for(timeout=60_000)
    assert output.locator(".jp-ShimTask-view").is_hidden()
    assert output.locator(".lm-TabBar-tab", has_text="Export").count() == 1
    screenshot(page, "after-reload")


def big_saved_notebook(lab, name: str) -> dict:
    from flyteidl.core.tasks_pb2 import Container, TaskTemplate

    args = ["pyflyte-execute", "--", "{{.taskTemplatePath}}", "big.Executor"]
    template = TaskTemplate(type="big", container=Container(image="example/big:1", args=args))
    template.id.name = "big"
    template.custom.update(
        {
            "query": "select 1 from orders",
            "rows": [{"id": index, "text": "x" * 60} for index in range(60_000)],
        }
    )
    payload = template_payload(template, custom_bytes=STATIC_CUSTOM_BYTES)
    output = nbformat.v4.new_output("display_data", data={MIME_TYPE: payload, "text/plain": "big template"})
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%shimtask inspect big", outputs=[output])])
    save_without_kernel(notebook, lab.root / name)
    return payload


def check_trimmed_view(page, payload: dict, screenshot, label: str) -> None:
    view = page.locator(".jp-OutputArea .jp-ShimTask-view")
    view.wait_for()
    (trimmed,) = payload["trimmed"]["custom_rows"]
    assert row(view, []).get_attribute("data-bytes") == str(payload["trimmed"]["custom_bytes"])
    assert "{2 keys}" in row(view, []).inner_text()
    rows_row = row(view, ["rows"])
    assert rows_row.get_attribute("data-trimmed") == "true"
    assert int(rows_row.get_attribute("data-bytes")) == trimmed["size"]
    assert "trimmed from the saved copy" in rows_row.inner_text() and "[60,000 items]" in rows_row.inner_text()
    view.locator(".jp-ShimTask-search").fill("rows")
    view.locator(".jp-ShimTask-search").press("Enter")
    assert view.locator(".jp-ShimTask-searchSummary").inner_text() == "1 match (1 trimmed from the saved copy)"
    assert "jp-ShimTask-match" in rows_row.get_attribute("class").split()
    mark = rows_row.locator(".jp-ShimTask-trimmedMark")
    assert contrast(page, rows_row.locator(".jp-ShimTask-key")) >= 4.5 and contrast(page, mark) >= 4.5
    screenshot(page, f"{label}-tree")
    view.locator(".jp-ShimTask-search").press("Escape")
    assert page.evaluate(NOTEBOOK_HAS_FOCUS)

    view.locator(".jp-ShimTask-tab", has_text="Size").click()
    bar = view.locator(".jp-ShimTask-customBars tr[data-name='rows']")
    assert bar.get_attribute("data-trimmed") == "true" and "trimmed from the saved copy" in bar.inner_text()
    assert int(bar.locator("td[data-bytes]").get_attribute("data-bytes")) == payload["size"]["custom"]["rows"]
    screenshot(page, f"{label}-size")

    view.locator(".jp-ShimTask-tab", has_text="Container").click()
    placeholder = view.locator("mark").first
    assert placeholder.inner_text() == "{{.taskTemplatePath}}"
    assert contrast(page, placeholder) >= 4.5
    view.locator(".jp-ShimTask-tab", has_text="Interface").click()
    screenshot(page, f"{label}-container")


def test_saved_view_shows_what_it_trimmed_in_light_and_dark(lab, open_lab, run_command, screenshot) -> None:
    payload = big_saved_notebook(lab, "trimmed.ipynb")
    for theme in THEMES:
        page = open_without_kernel(open_lab, lab, "trimmed.ipynb")
        set_theme(page, run_command, theme)
        check_trimmed_view(page, payload, screenshot, f"lab-{theme}")
    set_theme(page, run_command, "light")


def test_search_marks_are_readable_in_the_dark_theme(lab, open_lab, run_command, screenshot) -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "%shimtask inspect edge",
                outputs=[
                    nbformat.v4.new_output(
                        "display_data",
                        data={MIME_TYPE: edge_payload(), "text/plain": "edge"},
                    )
                ],
            )
        ]
    )
    save_without_kernel(notebook, lab.root / "marks.ipynb")
    page = open_without_kernel(open_lab, lab, "marks.ipynb")
    set_theme(page, run_command, "dark")
    view = page.locator(".jp-OutputArea .jp-ShimTask-view")
    view.locator(".jp-ShimTask-search").fill("greet")
    view.locator(".jp-ShimTask-search").press("Enter")
    match = view.locator(".jp-ShimTask-match").first
    match.wait_for()
    assert contrast(page, match.locator(".jp-ShimTask-key")) >= 4.5 or contrast(page, match) >= 4.5
    # a long string opens to its whole text
    row(view, ["long"]).click()
    assert view.locator(".jp-ShimTask-fullText").inner_text().strip().endswith(LONG_TEXT.strip())
    # searching an opened big list brings the match into the tree's view
    row(view, ["rows"]).click()
    view.locator(".jp-ShimTask-search").fill("r099")
    view.locator(".jp-ShimTask-search").press("Enter")
    tree = view.locator(".jp-ShimTask-tree").bounding_box()
    at = row(view, ["rows", "r099"]).bounding_box()
    assert tree["y"] <= at["y"] and at["y"] + at["height"] <= tree["y"] + tree["height"], (tree, at)
    screenshot(page, "dark-search-scrolled")
    view.locator(".jp-ShimTask-tab", has_text="Interface").click()
    assert view.locator(".jp-ShimTask-inputs th").all_inner_texts() == ["name", "type", "description"]
    screenshot(page, "dark-marks")
    set_theme(page, run_command, "light")


def edge_payload() -> dict:
    from flyteidl.core.tasks_pb2 import Container, TaskTemplate

    template = TaskTemplate(type="edge", container=Container(image="example/edge:1", args=["{{.input}}"]))
    template.id.name = "edge"
    template.interface.inputs.variables["name"].type.simple = 3
    template.custom.update({"greeting": "Hello", "long": LONG_TEXT, "rows": {f"r{i:03d}": i for i in range(300)}})
    return template_payload(template)


def test_insert_command_adds_load_ext_when_missing(lab, open_lab, run_command, screenshot) -> None:
    write_notebook(lab.root / "bare.ipynb", [""])
    page = open_lab("bare.ipynb", kernel_idle=True)
    cells = page.locator(".jp-NotebookPanel .jp-Cell")
    cells.nth(0).locator(".jp-InputArea-editor").click()
    palette_command(page, "Insert %%shimtask Cell")
    assert cells.count() == 2
    assert cells.nth(0).locator(".cm-line").first.inner_text() == "%load_ext jupyter_shimtask"
    assert cells.nth(1).locator(".cm-line").first.inner_text() == "%%shimtask my_task"
    page.keyboard.press("Escape")
    assert run_command("notebook:run-all-cells", timeout_ms=RUN_ALL_MS) is True
    run_command("docmanager:save")
    saved = lab.api("GET", "contents/bare.ipynb")["content"]
    assert not [o for c in saved["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    screenshot(page, "inserted-with-load-ext")


# -- Notebook 7 ----------------------------------------------------------------------------------


def test_notebook7_tree_entry_and_saved_view(notebook7, page, screenshot) -> None:
    page.goto(f"{notebook7.url}tree")
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=90_000)
    button = page.locator(".jp-ShimTask-newNotebook")
    button.wait_for(timeout=60_000)
    assert "New ShimTask notebook" in button.inner_text()
    screenshot(page, "nb7-tree")
    with page.context.expect_page(timeout=60_000) as opened:
        button.click()
    created = opened.value
    created.wait_for_load_state()
    created.locator(".jp-Cell").first.wait_for(timeout=90_000)
    assert "ShimTask.ipynb" in created.url
    screenshot(created, "nb7-new-notebook")
    created.close()
    assert notebook7.api("GET", "contents/ShimTask.ipynb")["content"]["cells"][1]["source"].startswith("%load_ext")

    payload = big_saved_notebook(notebook7, "trimmed7.ipynb")
    for theme in THEMES:
        page.goto(f"{notebook7.url}notebooks/trimmed7.ipynb")
        page.wait_for_function("() => window.jupyterapp !== undefined", timeout=90_000)
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for(timeout=60_000)
        dialog.get_by_role("button", name="No Kernel").click()
        page.evaluate("t => window.jupyterapp.commands.execute('apputils:change-theme', { theme: t })", THEMES[theme])
        page.wait_for_function(
            "light => document.body.dataset.jpThemeLight === String(light)", arg=theme == "light", timeout=30_000
        )
        check_trimmed_view(page, payload, screenshot, f"nb7-{theme}")
    page.evaluate("t => window.jupyterapp.commands.execute('apputils:change-theme', { theme: t })", THEMES["light"])
    json.dumps(payload["trimmed"])


def test_failed_run_leads_with_its_verdict(lab, open_lab, run_command, screenshot) -> None:
    tests = Path(__file__).resolve().parents[1]
    write_notebook(
        lab.root / "failing.ipynb",
        [
            f"import sys\nsys.path.insert(0, {str(tests)!r})\nfrom sample_tasks import chatty",
            "%load_ext jupyter_shimtask",
            "%shimtask run chatty name=lab --mode subprocess --cold --no-retries",
            "%shimtask why chatty",
        ],
    )
    page = open_lab("failing.ipynb", kernel_idle=True)
    for theme in THEMES:
        set_theme(page, run_command, theme)
        assert run_command("notebook:run-all-cells", timeout_ms=RUN_ALL_MS) is True
        output = page.locator(".jp-Cell").nth(2).locator(".jp-OutputArea")
        verdict = output.locator(".shimtask-verdict")
        verdict.wait_for(timeout=60_000)
        assert "FAILED" in verdict.inner_text() and "attempt 1" in verdict.inner_text()
        assert output.locator(".shimtask-cause").inner_text() == "ValueError: gave up on 'lab'"
        assert "system budget" in output.locator(".shimtask-meaning").inner_text()
        logs = output.locator("details.shimtask-logs")
        assert logs.get_attribute("open") is None and "logs (" in logs.locator("summary").inner_text()
        # the verdict is on screen above the folded logs, not under them
        assert verdict.bounding_box()["y"] < logs.bounding_box()["y"]
        assert output.locator(".shimtask-frames pre").inner_text().count('File "') == 1
        assert contrast(page, output.locator(".shimtask-cause code")) >= 4.5
        why = page.locator(".jp-Cell").nth(3).locator(".jp-OutputArea")
        assert "gave up on 'lab'" in why.inner_text()
        screenshot(page, f"failed-run-{theme}")
    set_theme(page, run_command, "light")
