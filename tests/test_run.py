from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import sample_tasks
from support import processes_mentioning

from jupyter_shimtask import run, save_template, serialize
from jupyter_shimtask.errors import InputError, ShimTaskError, TemplateError

MODES = [
    pytest.param({"mode": "process"}, id="process"),
    pytest.param({"mode": "subprocess", "warm": False}, id="cold"),
    pytest.param({"mode": "subprocess", "warm": True}, id="warm"),
]


def worker_pids() -> set[int]:
    from jupyter_shimtask.runners.warm import warm_pool

    return {worker.process.pid for worker in warm_pool().workers.values() if worker.process}


def run_folders(folder: Path) -> list[Path]:
    return list(folder.glob("shimtask-run-*"))


@pytest.mark.parametrize("mode", MODES)
def test_greet(mode: dict, private_tmp: Path) -> None:
    lines: list[str] = []
    result = run(sample_tasks.greet, {"name": "world"}, **mode, on_log=lines.append)
    assert result.ok, result.error
    assert result.outputs == {"greeting": "Hello, world!"}
    assert result.error is None and result.mode == mode["mode"] and result.workdir is None
    assert "greeting world" in result.logs and "greeting world" in "".join(lines)
    assert run_folders(private_tmp) == []


@pytest.mark.parametrize("mode", MODES)
def test_executor_exception_is_a_failed_run(mode: dict) -> None:
    result = run(sample_tasks.raising, {"name": "bob"}, **mode)
    assert not result.ok and result.outputs == {}
    assert (result.error.kind, result.error.code, result.error.recoverable) == ("SYSTEM", "SYSTEM", True)
    assert result.error.message == "ValueError: cannot greet 'bob'"
    assert "RaisingExecutor" not in result.error.message
    assert "execute_from_model" in result.error.detail and "Traceback" in result.error.detail


@pytest.mark.parametrize("mode", MODES)
def test_positional_outputs_never_pass(mode: dict) -> None:
    result = run(sample_tasks.positional, {"n": 4}, **mode)
    assert not result.ok
    assert result.error.code == "PositionalOutputs"
    assert "outputs_by_name" in result.error.message


@pytest.mark.parametrize("mode", MODES)
def test_outputs_by_name_are_right_in_every_process(mode: dict) -> None:
    # the map order changes per process: several runs cover both orders with near certainty
    for n in range(4):
        mixed = run(sample_tasks.by_name, {"n": n}, **mode)
        assert mixed.outputs == {"total": n + 1, "label": str(n)}, mixed.error
        same = run(sample_tasks.same_type, {"n": n}, **mode)
        assert same.outputs == {"low": n - 1, "high": n + 1}, same.error


@pytest.mark.parametrize("mode", MODES)
def test_files_and_directories(mode: dict, tmp_path: Path) -> None:
    source = tmp_path / "words.txt"
    source.write_text("alpha\nbeta\n")
    result = run(sample_tasks.files, {"source": str(source)}, **mode)
    assert result.ok, result.error
    assert Path(result.outputs["upper"].download()).read_text() == "ALPHA\nBETA\n"
    lines = Path(result.outputs["lines"].download())
    assert sorted(path.read_text() for path in lines.iterdir()) == ["alpha", "beta"]


@pytest.mark.parametrize("mode", MODES)
def test_dataframes(mode: dict) -> None:
    frame = pd.DataFrame({"value": [1, 2, 3]})
    result = run(sample_tasks.frames, {"frame": frame}, **mode)
    assert result.ok, result.error
    pd.testing.assert_frame_equal(result.outputs["result"], frame.assign(doubled=[2, 4, 6]), check_dtype=False)


@pytest.mark.parametrize("mode", MODES)
def test_template_file_runs_unchanged(mode: dict, tmp_path: Path) -> None:
    path = save_template(serialize(sample_tasks.greet), tmp_path / "greet.pb")
    result = run(str(path), {"name": "file"}, **mode)
    assert result.outputs == {"greeting": "Hello, file!"}


@pytest.mark.parametrize("mode", MODES)
def test_executor_the_process_cannot_import(mode: dict) -> None:
    template = serialize(sample_tasks.greet)
    template.container.args[-1] = "no_such_module.GreetExecutor"
    result = run(template, {"name": "x"}, **mode)
    assert not result.ok
    assert "no_such_module" in result.error.message
    assert any("importable" in note for note in result.notes)


def test_executor_from_main_is_refused() -> None:
    template = serialize(sample_tasks.greet)
    template.container.args[-1] = "__main__.GreetExecutor"
    with pytest.raises(ShimTaskError, match="__main__"):
        run(template, {"name": "x"})


def test_template_without_executor() -> None:
    template = serialize(sample_tasks.greet)
    del template.container.args[:]
    with pytest.raises(TemplateError, match="does not name an executor"):
        run(template, {"name": "x"})


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, r"missing name \(str\)"),
        ({"name": "x", "nmae": "y"}, "unknown nmae"),
        ({"name": 3}, "input name: expected str, got int 3"),
    ],
)
def test_bad_inputs(inputs: dict, message: str, private_tmp: Path) -> None:
    with pytest.raises(InputError, match=message):
        run(sample_tasks.greet, inputs, mode="subprocess")
    assert run_folders(private_tmp) == []


def test_keep_leaves_the_run_folder() -> None:
    result = run(sample_tasks.greet, {"name": "kept"}, mode="subprocess", keep=True)
    assert result.ok and result.workdir is not None
    assert {"task_template.pb", "inputs.pb"} <= {path.name for path in result.workdir.iterdir()}
    assert (result.workdir / "outputs" / "outputs.pb").exists()
    import shutil

    shutil.rmtree(result.workdir)


@pytest.mark.parametrize("warm", [False, True])
def test_subprocess_leaves_no_flyte_folders(
    private_tmp: Path, warm: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system_tmp = tmp_path / "system-tmp"  # private, so other processes' flyte* folders cannot count
    system_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    before = set(system_tmp.glob("flyte*"))
    assert run(sample_tasks.greet, {"name": "tidy"}, mode="subprocess", warm=warm).ok
    assert set(system_tmp.glob("flyte*")) <= before
    assert run_folders(private_tmp) == []


@pytest.mark.parametrize("warm", [False, True])
def test_timeout_kills_the_process_group(private_tmp: Path, warm: bool) -> None:
    started = time.perf_counter()
    result = run(sample_tasks.sleeping, {"seconds": 60.0}, mode="subprocess", timeout=3, warm=warm)
    assert time.perf_counter() - started < 20
    assert not result.ok and result.error.code == "Timeout"
    time.sleep(0.5)  # the warm worker reaps its child right after the connection closes
    assert set(processes_mentioning(str(private_tmp))) <= worker_pids()
    assert run_folders(private_tmp) == []


def test_timeout_is_refused_in_process() -> None:
    with pytest.raises(ShimTaskError, match="timeout"):
        run(sample_tasks.greet, {"name": "x"}, mode="process", timeout=1)


@pytest.mark.parametrize("warm", [False, True])
def test_interrupt_kills_the_process_group_and_cleans_up(tmp_path: Path, warm: bool) -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, {tests!r})
        import sample_tasks
        from jupyter_shimtask import run
        try:
            run(sample_tasks.sleeping, {{"seconds": 60.0}}, mode="subprocess", warm={warm})
        except KeyboardInterrupt:
            sys.exit(130)
        sys.exit(0)
        """
    ).format(tests=str(Path(__file__).parent), warm=warm)
    env = {**os.environ, "TMPDIR": str(tmp_path), "SHIMTASK_WORKSPACE": str(tmp_path / "ws")}
    parent = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.monotonic() + 60
    while not _run_started(tmp_path, parent.pid, warm):
        assert time.monotonic() < deadline, "pyflyte-execute never started"
        time.sleep(0.2)
    time.sleep(1)
    parent.send_signal(signal.SIGINT)
    assert parent.wait(timeout=30) == 130
    assert processes_mentioning(str(tmp_path)) == []
    assert run_folders(tmp_path) == []
    assert list(tmp_path.glob("shimtask-worker-*")) == []


def _run_started(folder: Path, parent: int, warm: bool) -> bool:
    """A cold run shows as a pyflyte-execute process; a warm one as the run's log file."""
    if warm:
        return any(folder.glob("shimtask-run-*/run.log"))
    return any(pid != parent for pid in processes_mentioning(str(folder)))


def test_unknown_mode() -> None:
    with pytest.raises(ShimTaskError, match="unknown mode"):
        run(sample_tasks.greet, {"name": "x"}, mode="cluster")


def test_an_in_process_run_leaves_sys_path_as_it_was() -> None:
    from jupyter_shimtask.runners.base import WORKER_DIR

    before = list(sys.path)
    assert run(sample_tasks.by_name, {"n": 1}, mode="process").ok
    assert sys.path == before
    assert str(WORKER_DIR) not in sys.path and not any(entry.endswith("/probe") for entry in sys.path)
