"""The inspector on big templates, each figure against a baseline measured in the same run.

    python bench/bench_inspector.py [--repeat N] [--no-browser]

1. ``size_report`` of a 50 MB template against a bare ``ByteSize()`` of it (target: < 1 s).
2. ``inspect`` of a 5 MB ``custom`` in Python (model, widget and static bundle).
3. First paint in real JupyterLab + Chromium: from running the cell to the tree's root row on
   screen, against running a cell that shows a plain HTML output (target: well under 1 s).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
MIB = 1024 * 1024


def big_template(megabytes: float) -> Any:
    """The sample greet task with a ``custom`` of ``megabytes``: nested records, 6 values each."""
    import sample_tasks

    from jupyter_shimtask import serialize

    template = serialize(sample_tasks.greet)
    records = int(megabytes * MIB / 220)  # bytes per record, as serialized
    template.custom.update(
        {
            f"record{index:07d}": {
                "name": f"item {index}",
                "weight": index * 0.5,
                "tags": ["alpha", "beta", index % 7],
                "note": "x" * 100,
            }
            for index in range(records)
        }
    )
    return template


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def bench_size_report(repeat: int) -> None:
    from jupyter_shimtask import size_report

    template = big_template(50)
    bytesize, report = [], []
    for _ in range(repeat):  # interleaved, so drift hits both alike
        bytesize.append(timed(template.ByteSize))
        report.append(timed(lambda: size_report(template)))
    base, median = statistics.median(bytesize), statistics.median(report)
    print(f"template: {template.ByteSize() / MIB:.1f} MiB, {len(template.custom.fields):,} custom keys")
    print(f"ByteSize()                          median {base * 1000:7.1f} ms  (n={repeat})")
    print(
        f"size_report()                       median {median * 1000:7.1f} ms  ratio {median / base:.2f}  (target < 1 s)"
    )


def bench_inspect_python(repeat: int) -> None:
    import sample_tasks
    from google.protobuf import json_format

    from jupyter_shimtask import inspect, serialize

    template = big_template(5)
    task = sample_tasks.Task("big", sample_tasks.GreetExecutor, {}, {}, json_format.MessageToDict(template.custom))
    inspect(template)  # imports ipywidgets and anywidget outside the measurement
    bytesize, of_template, serialized, of_task = [], [], [], []
    for _ in range(repeat):
        bytesize.append(timed(template.ByteSize))
        of_template.append(timed(lambda: inspect(template)._repr_mimebundle_()))
        serialized.append(timed(lambda: serialize(task)))
        of_task.append(timed(lambda: inspect(task)._repr_mimebundle_()))
    bundle = inspect(template)._repr_mimebundle_()
    sizes = ", ".join(f"{kind} {len(json.dumps(data)) / 1024:,.0f} KiB" for kind, data in bundle.items())
    print(
        f"\ninspect() of {template.ByteSize() / MIB:.1f} MiB ({len(template.custom.fields):,} custom keys), n={repeat}"
    )
    print(f"ByteSize()                          median {statistics.median(bytesize) * 1000:7.1f} ms")
    print(f"inspect(TaskTemplate) + bundle      median {statistics.median(of_template) * 1000:7.1f} ms")
    print(f"serialize(task) (flytekit)          median {statistics.median(serialized) * 1000:7.1f} ms")
    print(f"inspect(task) + bundle              median {statistics.median(of_task) * 1000:7.1f} ms  (+ check)")
    print(f"output bundle: {sizes}")


# -- first paint in JupyterLab + Chromium --------------------------------------------------------

RUN_AND_WAIT = """async ([index, selector]) => {
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    const notebook = panel.content;
    notebook.activeCellIndex = index;
    await app.commands.execute('notebook:clear-cell-output');
    const output = () => notebook.widgets[index].node.querySelector(selector);
    while (output()) await new Promise(requestAnimationFrame);
    const started = performance.now();
    app.commands.execute('notebook:run-cell');
    await new Promise(resolve => {
        const look = () => (output() ? resolve() : requestAnimationFrame(look));
        look();
    });
    await new Promise(requestAnimationFrame);  // the frame that paints it
    return performance.now() - started;
}"""


@contextlib.contextmanager
def jupyter_lab() -> Iterator[Any]:
    """A private ``jupyter lab`` (the browser tests' settings and helpers), removed afterwards."""
    spec = importlib.util.spec_from_file_location("browser_fixtures", ROOT / "tests" / "browser" / "browser_lab.py")
    browser_fixtures = sys.modules["browser_fixtures"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(browser_fixtures)

    home = Path(tempfile.mkdtemp(prefix="shimtask-bench-lab-"))
    root, config = home / "root", home / "config"
    for folder in (root, config, home / "data", home / "runtime", home / "workspace"):
        folder.mkdir()
    browser_fixtures.lab_settings(config)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "SHIMTASK_WORKSPACE": str(home / "workspace"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")])),
    }
    port = browser_fixtures.free_port()
    url = f"http://127.0.0.1:{port}/"
    with (home / "server.log").open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0"],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}api/status", timeout=5).close()
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not start; see {home / 'server.log'}")
            time.sleep(0.25)
        yield url, root, browser_fixtures
    finally:
        process.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(home, ignore_errors=True)


def bench_first_paint(repeat: int) -> None:
    import nbformat
    from playwright.sync_api import sync_playwright

    with jupyter_lab() as (url, root, fixtures):
        (root / "big.pb").write_bytes(big_template(5).SerializeToString())
        cells = [
            "%load_ext jupyter_shimtask\nimport jupyter_shimtask as st\nfrom IPython.display import HTML\n"
            "template = st.load_template('big.pb')\nst.inspect(st.serialize(__import__('sample_tasks').greet))",
            "st.inspect(template)",
            "HTML('<div class=\"bench-baseline\">' + 'plain HTML output ' * 20 + '</div>')",
        ]
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(notebook, root / "bench.ipynb")

        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=fixtures.CHROMIUM, headless=True, args=fixtures.CHROMIUM_FLAGS
            )
            page = chromium.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{url}lab/tree/bench.ipynb?reset")
            page.wait_for_function("() => window.jupyterapp !== undefined", timeout=90_000)
            page.evaluate("() => window.jupyterapp.restored")
            page.locator(".jp-Document").first.wait_for(timeout=90_000)
            fixtures.wait_for_kernel_idle(page)
            # warm-up: flytekit, ipywidgets and the tree's module load once per kernel and page
            page.evaluate(RUN_AND_WAIT, [0, ".shimtask-row"])
            first = page.evaluate(RUN_AND_WAIT, [1, '.shimtask-row[data-id="[]"]'])
            baseline, inspector = [], []
            for _ in range(repeat):
                baseline.append(page.evaluate(RUN_AND_WAIT, [2, ".bench-baseline"]))
                inspector.append(page.evaluate(RUN_AND_WAIT, [1, '.shimtask-row[data-id="[]"]']))
            chromium.close()

    base, median = statistics.median(baseline), statistics.median(inspector)
    print("\nfirst paint in JupyterLab + Chromium (cell run -> on screen)")
    print(f"plain HTML output                   median {base:7.1f} ms  (n={repeat})")
    print(
        f"inspector, 5 MiB custom             median {median:7.1f} ms  ratio {median / base:.1f}  "
        f"(first in the page {first:.0f} ms; target well under 1000 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-browser", action="store_true", help="Skip the JupyterLab + Chromium part.")
    options = parser.parse_args()
    bench_size_report(options.repeat)
    bench_inspect_python(options.repeat)
    if not options.no_browser:
        bench_first_paint(options.repeat)


if __name__ == "__main__":
    main()
