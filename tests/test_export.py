from __future__ import annotations

import importlib
import os
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jupyter_shimtask import export, serialize
from jupyter_shimtask.authoring import build_module
from jupyter_shimtask.exporting import ExportError

STATS_CELL = textwrap.dedent(
    """
    from flytekit import kwtypes
    from flytekit.core.interface import Interface
    from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask
    from flytekit.extend import ShimTaskExecutor

    from jupyter_shimtask import outputs_by_name


    class StatsExecutor(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            scaled = [value * tt.custom["scale"] for value in inputs["values"]]
            return outputs_by_name(tt, low=min(scaled), high=max(scaled))


    class StatsTask(PythonCustomizedContainerTask):
        def __init__(self, name, scale):
            self.scale = scale
            super().__init__(
                name=name,
                task_config=None,
                container_image="ghcr.io/example/stats:0.1",
                executor_type=StatsExecutor,
                task_type="stats",
                interface=Interface(inputs=kwtypes(values=list[int]), outputs=kwtypes(low=int, high=int)),
            )

        def get_custom(self, settings):
            return {"scale": self.scale}


    stats = StatsTask(name="stats", scale=SCALE)
    """
)


def stats_cell(scale: int = 2) -> str:
    return STATS_CELL.replace("SCALE", str(scale))


@pytest.fixture
def shell(workspace) -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.run_line_magic("reload_ext", "jupyter_shimtask")
    shell.run_line_magic("config", f"ShimTask.workspace = {workspace.workspace!r}")
    yield shell
    shell.reset()


def test_exported_package_passes_its_own_test_in_a_fresh_venv(shell, tmp_path: Path) -> None:
    shell.run_cell_magic("shimtask", "stats", stats_cell())
    folder = tmp_path / "stats-plugin"
    exported = shell.run_line_magic("shimtask", f"export stats --to {folder} values=[3,1,2]")
    package = "flytekitplugins_stats"
    assert exported.executor == f"{package}.task.StatsExecutor"
    assert sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()) == [
        ".dockerignore",
        "Dockerfile",
        "README.md",
        f"{package}/__init__.py",
        f"{package}/_outputs.py",
        f"{package}/task.py",
        "pyproject.toml",
        "tests/test_stats.py",
    ]
    cell_source = Path(sys.modules[shell.user_ns["StatsExecutor"].__module__].__file__).read_text()
    exported_source = (folder / package / "task.py").read_text()
    assert exported_source == cell_source.replace("from jupyter_shimtask import", "from ._outputs import")
    assert "ARG BASE_IMAGE=shimtask-runtime\nFROM ${BASE_IMAGE}\n" in (folder / "Dockerfile").read_text()

    # the same source at the new path: the template differs from the cell's in the executor path only
    sys.path.insert(0, str(folder))
    try:
        exported_task = importlib.import_module(package).stats
        expected = serialize(shell.user_ns["stats"])
        expected.container.args[-1] = exported.executor
        assert serialize(exported_task) == expected
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.split(".")[0] == package]:
            del sys.modules[name]

    venv = tmp_path / "venv"
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}  # flytekit makes temporary folders at import
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    python = str(venv / "bin" / "python")
    # The new venv sees this one's packages (flytekit, and hatchling to build with no network), as
    # --system-site-packages would for an interpreter that is not itself a venv.
    new_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(new_site, "outer-site-packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", str(folder)]
    subprocess.run(install, check=True, capture_output=True, env=env)
    where = subprocess.run(
        [python, "-c", f"import {package}; print({package}.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    tested = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "tests")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert tested.returncode == 0 and "2 passed" in tested.stdout, tested.stdout + tested.stderr
    assert "EXPECTED_OUTPUTS = {'low': 2, 'high': 6}" in (folder / "tests" / "test_stats.py").read_text()


def test_existing_files_are_never_overwritten_without_force(tmp_path: Path) -> None:
    stats = build_module(stats_cell(), "stats").module.stats
    folder = tmp_path / "plugin"
    first = export(stats, folder, inputs={"values": [1]}, package="stats_plugin")
    assert "stats_plugin/task.py" in first.written and not first.unchanged
    assert not export(stats, folder, inputs={"values": [1]}, package="stats_plugin").written

    (folder / "README.md").write_text("my own notes\n")
    changed = build_module(stats_cell(scale=3), "stats").module.stats
    with pytest.raises(ExportError, match=r"would overwrite README\.md, stats_plugin/task\.py, tests/test_stats\.py"):
        export(changed, folder, inputs={"values": [1]}, package="stats_plugin")
    assert (folder / "README.md").read_text() == "my own notes\n"
    assert "scale=2" in (folder / "stats_plugin" / "task.py").read_text()

    forced = export(changed, folder, inputs={"values": [1]}, package="stats_plugin", force=True)
    assert set(forced.written) == {"README.md", "stats_plugin/task.py", "tests/test_stats.py"}
    assert "scale=3" in (folder / "stats_plugin" / "task.py").read_text()


def test_what_cannot_be_exported_is_named(shell, tmp_path: Path) -> None:
    stats = build_module(stats_cell(), "stats").module.stats
    with pytest.raises(ExportError, match=r"give sample inputs for values \(list\[int\]\)"):
        export(stats, tmp_path / "a")
    with pytest.raises(ExportError, match=r"has no input nmae"):
        export(stats, tmp_path / "a", inputs={"nmae": 1})
    with pytest.raises(ExportError, match=r"not a usable package name"):
        export(stats, tmp_path / "a", inputs={"values": [1]}, package="flytekit")

    uses_run = stats_cell().replace("from jupyter_shimtask import outputs_by_name", "import jupyter_shimtask")
    uses_run = uses_run.replace("outputs_by_name(", "jupyter_shimtask.outputs_by_name(")
    with pytest.raises(ExportError, match=r"line 7: `import jupyter_shimtask`: an exported package needs flytekit"):
        export(build_module(uses_run, "stats").module.stats, tmp_path / "b", inputs={"values": [1]})

    failing = stats_cell().replace('tt.custom["scale"]', 'tt.custom["missing"]')
    with pytest.raises(ExportError, match=r"fails with the sample inputs .* its exported test would too"):
        export(build_module(failing, "stats").module.stats, tmp_path / "c", inputs={"values": [1]})
    assert not any(tmp_path.iterdir())

    shell.run_cell_magic("shimtask", "stats", stats_cell())
    with pytest.raises(UsageError, match=r"export needs a folder"):
        shell.run_line_magic("shimtask", "export stats values=[1]")
