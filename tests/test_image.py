"""Image mode and image builds against real engines (Docker and Podman) and real containers."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
import sample_tasks
from engine_fixtures import TEST_IMAGE, docker_fixture, engine_fixture, no_containers_left  # noqa: F401
from IPython.core.interactiveshell import InteractiveShell

from jupyter_shimtask import run
from jupyter_shimtask.authoring import build_module
from jupyter_shimtask.config import ShimTask
from jupyter_shimtask.runners.engines import BuiltImage, Engine, EngineError, ImageFacts, build_image

pytestmark = pytest.mark.engine

CELL = textwrap.dedent(
    """
    import time

    from flytekit import Resources, kwtypes
    from flytekit.core.interface import Interface
    from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask
    from flytekit.extend import ShimTaskExecutor


    class CellTask(PythonCustomizedContainerTask):
        def __init__(self, name, executor, inputs, outputs, **kwargs):
            super().__init__(
                name=name,
                task_config=None,
                container_image=IMAGE,
                executor_type=executor,
                task_type="cell",
                interface=Interface(inputs=inputs, outputs=outputs),
                **kwargs,
            )

        def get_custom(self, settings):
            return {"greeting": "Hello"}


    class Greet(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            print(f"greeting {inputs['name']}")
            return f"{tt.custom['greeting']}, {inputs['name']}!"


    class Raise(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            raise ValueError(f"cannot greet {inputs['name']!r}")


    class Sleep(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            print("sleeping")
            time.sleep(inputs["seconds"])
            return inputs["seconds"]


    class Hoard(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            return len(b"x" * (inputs["mib"] << 20))


    greet = CellTask("greet", Greet, kwtypes(name=str), kwtypes(greeting=str))
    raising = CellTask("raising", Raise, kwtypes(name=str), kwtypes(greeting=str))
    sleeping = CellTask("sleeping", Sleep, kwtypes(seconds=float), kwtypes(slept=float))
    hoard = CellTask("hoard", Hoard, kwtypes(mib=int), kwtypes(size=int), limits=Resources(mem="300Mi"))
    """
).replace("IMAGE", repr(TEST_IMAGE))


@pytest.fixture(autouse=True)
def cold_image_runs(workspace: ShimTask) -> None:
    """A container per run: the reference that test_warm_image.py holds warm runs to."""
    workspace.warm = False


@pytest.fixture
def cell(workspace: ShimTask) -> ModuleType:
    """The tasks of a %%shimtask cell: a module in the workspace that the image has never seen."""
    return build_module(CELL, "imagecell").module


def run_folders(folder: Path) -> list[Path]:
    return list(folder.glob("shimtask-run-*"))


def test_cell_defined_executor(engine: Engine, cell: ModuleType, private_tmp: Path, workspace: ShimTask) -> None:
    lines: list[str] = []
    result = run(cell.greet, {"name": "world"}, mode="image", engine=engine.name, on_log=lines.append)
    assert result.ok, (result.error, result.logs)
    assert result.outputs == {"greeting": "Hello, world!"}
    assert result.mode == "image" and result.notes == []
    assert "greeting world" in "".join(lines) and "greeting world" in result.logs
    assert run_folders(private_tmp) == []
    assert list(workspace.outputs_dir.glob("*")) == []


def test_logs_reach_the_cell_while_the_container_runs(docker: Engine, cell: ModuleType) -> None:
    arrivals: list[tuple[float, str]] = []

    def arrived(text: str) -> None:
        arrivals.append((time.time(), text))

    result = run(cell.sleeping, {"seconds": 2.5}, mode="image", on_log=arrived)
    ended = time.time()
    assert result.ok and result.outputs == {"slept": 2.5}, result.error
    seen = next(when for when, text in arrivals if "sleeping" in text)
    assert ended - seen > 1.5


def test_files_go_through_the_raw_output_mount(docker: Engine, tmp_path: Path) -> None:
    source = tmp_path / "words.txt"
    source.write_text("alpha\nbeta\n")
    result = run(sample_tasks.files, {"source": str(source)}, mode="image")
    assert result.ok, result.error
    assert Path(result.outputs["upper"].download()).read_text() == "ALPHA\nBETA\n"
    lines = Path(result.outputs["lines"].download())
    assert sorted(path.read_text() for path in lines.iterdir()) == ["alpha", "beta"]


def test_third_party_sqlite3_task_in_the_runtime_image(docker: Engine, tmp_path: Path) -> None:
    from flytekit import kwtypes
    from flytekit.extras.sqlite3.task import SQLite3Config, SQLite3Task

    database = tmp_path / "music.db"
    with sqlite3.connect(database) as connection:
        connection.execute("create table tracks (TrackId integer, Name text, Seconds real)")
        connection.executemany("insert into tracks values (?, ?, ?)", [(i, f"track {i}", 60.5 * i) for i in range(20)])

    def tracks(uri: str) -> SQLite3Task:
        return SQLite3Task(
            "tracks",
            query_template="select TrackId, Name, Seconds from tracks where TrackId < {{ .inputs.limit }}",
            inputs=kwtypes(limit=int),
            output_schema_type=pd.DataFrame,
            task_config=SQLite3Config(uri=uri),
        )

    (tmp_path / "Dockerfile").write_text(f"FROM {TEST_IMAGE}\nCOPY music.db /data/music.db\n")
    tag = "shimtask-test-sqlite:latest"
    docker.build(tmp_path, tag)
    try:
        result = run(tracks("/data/music.db"), {"limit": 5}, mode="image", image=tag)
    finally:
        docker.remove_image(tag)
    assert result.ok, (result.error, result.logs)
    pd.testing.assert_frame_equal(result.outputs["results"], tracks(str(database))(limit=5))


def test_executor_raises(engine: Engine, cell: ModuleType) -> None:
    result = run(cell.raising, {"name": "bob"}, mode="image", engine=engine.name)
    assert not result.ok and result.outputs == {}
    assert result.error.message == "ValueError: cannot greet 'bob'"
    assert "Traceback" in result.error.detail and "execute_from_model" in result.error.detail


def test_timeout_removes_the_container(engine: Engine, cell: ModuleType, private_tmp: Path) -> None:
    started = time.perf_counter()
    result = run(cell.sleeping, {"seconds": 60.0}, mode="image", engine=engine.name, timeout=4)
    assert time.perf_counter() - started < 30
    assert not result.ok and result.error.code == "Timeout"
    assert engine.containers() == []
    assert run_folders(private_tmp) == []


def test_out_of_memory(engine: Engine, cell: ModuleType) -> None:
    result = run(cell.hoard, {"mib": 1024}, mode="image", engine=engine.name)
    assert not result.ok and result.error.code == "OOMKilled", (result.error, result.logs)
    if engine.name == "docker":  # the same task within its limit passes: the limit is what killed it
        within = run(cell.hoard, {"mib": 8}, mode="image")
        assert within.ok and within.outputs == {"size": 8 << 20}, within.error


def test_interrupt_removes_the_container(docker: Engine, tmp_path: Path) -> None:
    (tmp_path / "cell.py").write_text(CELL)
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from jupyter_shimtask import run
        from jupyter_shimtask.authoring import build_module
        cell = build_module(Path({str(tmp_path / "cell.py")!r}).read_text(), "imagecell").module
        try:
            run(cell.sleeping, {{"seconds": 60.0}}, mode="image", engine="docker", warm=False)
        except KeyboardInterrupt:
            sys.exit(130)
        sys.exit(0)
        """
    )
    env = {**os.environ, "TMPDIR": str(tmp_path), "SHIMTASK_WORKSPACE": str(tmp_path / "ws")}
    parent = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 90
        while not docker.containers(parent.pid):  # this script's container, not another run's on the engine
            assert time.monotonic() < deadline and parent.poll() is None, "the container never started"
            time.sleep(0.2)
        time.sleep(1)
        parent.send_signal(signal.SIGINT)
        assert parent.wait(timeout=60) == 130
    finally:
        parent.kill()
        parent.wait()
    assert docker.containers() == []
    assert run_folders(tmp_path) == []


def test_missing_image(engine: Engine, cell: ModuleType, private_tmp: Path) -> None:
    with pytest.raises(EngineError, match=rf"shimtask-missing:none is not among {engine.name}'s images: pull it"):
        run(cell.greet, {"name": "x"}, mode="image", engine=engine.name, image="shimtask-missing:none")
    assert run_folders(private_tmp) == []


def test_engine_down(docker: Engine, cell: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(EngineError, match=r"docker is not reachable .*start it"):
        run(cell.greet, {"name": "x"}, mode="image", engine="docker")


def test_engine_not_installed(cell: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineError, match=r"podman is not installed .*engine='docker'"):
        run(cell.greet, {"name": "x"}, mode="image", engine="podman")


def test_image_without_pyflyte_execute(docker: Engine, cell: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {TEST_IMAGE}\nENV PATH=/usr/sbin:/usr/bin:/sbin:/bin\n")
    tag = "shimtask-test-no-flytekit:latest"
    docker.build(tmp_path, tag)
    try:
        with pytest.raises(EngineError, match=rf"{tag} (has no pyflyte-execute|cannot run Python)"):
            run(cell.greet, {"name": "x"}, mode="image", image=tag)
    finally:
        docker.remove_image(tag)


def test_version_differences_are_noted(docker: Engine) -> None:
    import flytekit

    assert docker.preflight(TEST_IMAGE).version_notes() == []
    other = ImageFacts("old:1", {}, "3.9.18", "1.10.0", {"pyflyte-execute": "/usr/bin/pyflyte-execute"})
    assert other.version_notes() == [
        f"image old:1 has Python 3.9.18, this notebook {sys.version_info[0]}.{sys.version_info[1]}",
        f"image old:1 has flytekit 1.10.0, this notebook {flytekit.__version__}",
    ]


def test_build_bakes_the_module_into_the_image(docker: Engine, workspace: ShimTask) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("reload_ext", "jupyter_shimtask")
    shell.run_line_magic("config", f"ShimTask.workspace = {workspace.workspace!r}")
    shell.run_cell_magic("shimtask", "imagecell --quiet", CELL)
    tag = "shimtask-test-baked:1"
    try:
        built = shell.run_line_magic("shimtask", f"build greet --tag {tag}")
        assert isinstance(built, BuiltImage) and built.tag == tag and built.base == TEST_IMAGE
        assert [name.startswith("imagecell_") for name in built.files] == [True]
        for module in Path(workspace.workspace, "modules").glob("imagecell_*.py"):
            module.write_text("raise ImportError('the workspace copy was imported')\n")  # only the baked one works
        for cold in ("--cold", ""):
            result = shell.run_line_magic("shimtask", f"run greet --mode image {cold} --image {tag} name=baked")
            assert result.ok and result.outputs == {"greeting": "Hello, baked!"}, result.error
            assert any("baked into" in note and "not mounted" in note for note in result.notes), result.notes
        plain = docker.call("run", "--rm", "--entrypoint", "python3", tag, "-c", f"import {built.files[0][:-3]}")
        assert plain.returncode == 0, plain.stderr
    finally:
        docker.remove_image(tag)


def test_build_refuses_an_installed_executor(docker: Engine) -> None:
    from flytekit import kwtypes
    from flytekit.extras.sqlite3.task import SQLite3Config, SQLite3Task

    task = SQLite3Task("q", query_template="select 1", inputs=kwtypes(), task_config=SQLite3Config(uri="/x.db"))
    with pytest.raises(EngineError, match="comes from an installed package"):
        build_image(task, "shimtask-test-never:1", base=TEST_IMAGE)
