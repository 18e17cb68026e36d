"""The magics in a real Jupyter kernel, through nbclient."""

from __future__ import annotations

import textwrap

import nbformat
from nbclient import NotebookClient
from support import GREET_CELL


def test_notebook_defines_and_runs_a_task(workspace, tmp_path) -> None:
    cells = [
        "%load_ext jupyter_shimtask",
        f"%config ShimTask.workspace = {workspace.workspace!r}",
        "%%shimtask greeting\n" + GREET_CELL.replace("GREETING", "Hi"),
        "result = %shimtask run greet --mode subprocess name=kernel\nprint(result.outputs['greeting'])",
        textwrap.dedent(
            """
            import jupyter_shimtask as st
            print(st.run(greet, {"name": "api"}).outputs["greeting"])
            """
        ),
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [cell.outputs for cell in notebook.cells]
    summary = outputs[2][0]["data"]
    assert "greeting_" in summary["text/plain"] and "<table" in summary["text/html"]
    assert outputs[3][-1]["text"].strip() == "Hi, kernel!"
    assert outputs[4][-1]["text"].strip() == "Hi, api!"
