"""Warm image runs keep cold image mode's contract, and their containers never outlive their kernel."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType

import pytest
import sample_tasks
from engine_fixtures import TEST_IMAGE, docker_fixture, engine_fixture, no_containers_left  # noqa: F401
from test_image import CELL
from test_warm import assert_edits_are_picked_up

from jupyter_shimtask import run, serialize
from jupyter_shimtask.authoring import build_module
from jupyter_shimtask.config import ShimTask
from jupyter_shimtask.runners import RunResult, warm
from jupyter_shimtask.runners.engines import Engine

pytestmark = pytest.mark.engine


@pytest.fixture(autouse=True)
def fresh_pool() -> None:
    warm.warm_pool().stop_all()
    yield
    warm.warm_pool().stop_all()


@pytest.fixture
def cell(workspace: ShimTask) -> ModuleType:
    return build_module(CELL, "imagecell").module


def warm_container(engine: Engine) -> str:
    (name,) = engine.containers(os.getpid())
    return name


def wait_until_gone(engine: Engine, pid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while engine.containers(pid):
        assert time.monotonic() < deadline, f"containers of {pid} still there after {seconds:g}s"
        time.sleep(0.2)


def verdict(result: RunResult) -> tuple | None:
    """The error and the last line of its detail, less the per-process map order a PositionalOutputs message names."""
    if result.error is None:
        return None
    message = re.sub(r"map order \([^)]*\)", "", result.error.message)
    last = (result.error.detail.strip().splitlines() or [""])[-1]
    return result.error.kind, result.error.code, message, last


def test_warm_and_cold_give_the_same_results(engine: Engine, cell: ModuleType) -> None:
    runs = [
        (cell.greet, {"name": "same"}),
        (cell.raising, {"name": "bob"}),
        (sample_tasks.positional, {"n": 2}),  # mounts one more folder: the tests'
        (sample_tasks.by_name, {"n": 2}),
    ]
    for task, inputs in runs:
        cold = run(task, inputs, mode="image", engine=engine.name, warm=False)
        hot = run(task, inputs, mode="image", engine=engine.name, warm=True)
        assert (cold.ok, cold.outputs, cold.notes) == (hot.ok, hot.outputs, hot.notes), (hot.error, hot.logs)
        assert verdict(cold) == verdict(hot)
        if task is cell.raising:
            assert hot.error.message == "ValueError: cannot greet 'bob'" and "execute_from_model" in hot.error.detail
    container = warm_container(engine)
    started = time.perf_counter()
    again = [run(task, inputs, mode="image", engine=engine.name) for task, inputs in runs]
    assert time.perf_counter() - started < 2  # four runs, and no container started for them
    assert [result.ok for result in again] == [True, False, False, True]
    assert warm_container(engine) == container


def test_edited_modules_are_picked_up(engine: Engine, cell: ModuleType, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the notebook's folder is mounted and on the runs' path
    assert_edits_are_picked_up(tmp_path, mode="image", engine=engine.name)
    container = warm_container(engine)
    edited = build_module(CELL.replace("{tt.custom['greeting']}", f"Edited {engine.name}"), "imagecell").module
    result = run(edited.greet, {"name": "x"}, mode="image", engine=engine.name)
    assert result.outputs == {"greeting": f"Edited {engine.name}, x!"}, (result.error, result.logs)
    assert warm_container(engine) == container


def test_logs_and_files(docker: Engine, cell: ModuleType, tmp_path: Path) -> None:
    arrivals: list[tuple[float, str]] = []
    result = run(
        cell.sleeping, {"seconds": 2.5}, mode="image", on_log=lambda text: arrivals.append((time.time(), text))
    )
    ended = time.time()
    assert result.ok and result.outputs == {"slept": 2.5}, result.error
    assert ended - next(when for when, text in arrivals if "sleeping" in text) > 1.5
    source = tmp_path / "words.txt"
    source.write_text("alpha\nbeta\n")
    result = run(sample_tasks.files, {"source": str(source)}, mode="image")
    assert result.ok, (result.error, result.logs)
    assert Path(result.outputs["upper"].download()).read_text() == "ALPHA\nBETA\n"


def test_timeout_kills_the_run_not_the_container(engine: Engine, cell: ModuleType) -> None:
    assert run(cell.greet, {"name": "a"}, mode="image", engine=engine.name).ok
    container = warm_container(engine)
    started = time.perf_counter()
    result = run(cell.sleeping, {"seconds": 60.0}, mode="image", engine=engine.name, timeout=3)
    assert time.perf_counter() - started < 15
    assert not result.ok and result.error.code == "Timeout"
    assert run(cell.greet, {"name": "b"}, mode="image", engine=engine.name).ok
    assert warm_container(engine) == container


def test_container_killed_during_a_run_fails_the_run(engine: Engine, cell: ModuleType) -> None:
    assert run(cell.greet, {"name": "a"}, mode="image", engine=engine.name).ok
    killed = warm_container(engine)
    killer = subprocess.Popen(["sh", "-c", f"sleep 3; {engine.binary} kill {killed} >/dev/null"])
    started = time.perf_counter()
    result = run(cell.sleeping, {"seconds": 60.0}, mode="image", engine=engine.name)
    killer.wait()
    assert time.perf_counter() - started < 30
    assert not result.ok and result.error.code == "WorkerDied", (result.error, result.logs)
    assert run(cell.greet, {"name": "after"}, mode="image", engine=engine.name).outputs == {"greeting": "Hello, after!"}
    assert warm_container(engine) != killed


def test_hung_container_is_replaced(engine: Engine, cell: ModuleType, monkeypatch) -> None:
    monkeypatch.setattr(warm, "HANDSHAKE_SECONDS", 1.0)
    assert run(cell.greet, {"name": "a"}, mode="image", engine=engine.name).ok
    hung = warm_container(engine)
    assert engine.call("pause", hung).returncode == 0
    result = run(cell.greet, {"name": "b"}, mode="image", engine=engine.name)
    assert result.outputs == {"greeting": "Hello, b!"}, result.error
    assert warm_container(engine) != hung


def test_idle_container_exits(engine: Engine, cell: ModuleType, workspace: ShimTask) -> None:
    workspace.warm_idle = 1.0
    assert run(cell.greet, {"name": "a"}, mode="image", engine=engine.name).ok
    first = warm_container(engine)
    wait_until_gone(engine, os.getpid(), 15)
    assert run(cell.greet, {"name": "b"}, mode="image", engine=engine.name).ok
    assert warm_container(engine) != first


def test_failed_start_leaves_no_container_and_runs_cold(engine: Engine, cell: ModuleType, monkeypatch) -> None:
    ready_seconds = warm.READY_SECONDS
    monkeypatch.setattr(warm, "READY_SECONDS", 0.05)  # the worker cannot answer that soon
    for name in ("a", "b"):
        result = run(cell.greet, {"name": name}, mode="image", engine=engine.name)
        assert result.outputs == {"greeting": f"Hello, {name}!"}, result.error
        assert result.notes[0].startswith("cold run: the warm container did not start (the warm worker did not start")
        assert engine.containers(os.getpid()) == [] and warm.warm_pool().workers == {}
        monkeypatch.setattr(warm, "READY_SECONDS", ready_seconds)  # the second run does not try again


def test_runs_that_need_a_container_of_their_own_go_cold(docker: Engine, cell: ModuleType, workspace) -> None:
    limited = run(cell.hoard, {"mib": 8}, mode="image")
    assert limited.ok and "cold run: the template sets resource limits" in limited.notes[0]
    template = serialize(cell.greet)
    template.container.env.add(key="FLYTE_SDK_LOGGING_LEVEL", value="20")
    flyte_env = run(template, {"name": "env"}, mode="image")
    assert flyte_env.ok and "FLYTE_SDK_LOGGING_LEVEL" in flyte_env.notes[0]
    workspace.warm = False
    assert run(cell.greet, {"name": "off"}, mode="image").ok
    assert warm.warm_pool().workers == {} and docker.containers(os.getpid()) == []


KERNEL = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from jupyter_shimtask import run
    from jupyter_shimtask.authoring import build_module
    cell = build_module(Path(sys.argv[1]).read_text(), "imagecell").module
    assert run(cell.greet, {"name": "x"}, mode="image", engine=sys.argv[2]).ok
    print("warm", flush=True)
    how = sys.stdin.readline().strip()
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "interrupt":
        try:
            run(cell.sleeping, {"seconds": 60.0}, mode="image", engine=sys.argv[2])
        except KeyboardInterrupt:
            sys.exit(130)
    """
)


def test_kernels_have_their_own_containers_which_die_with_them(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "cell.py").write_text(CELL)
    # a long TMPDIR: the worker's socket path is longer than a socket address holds
    env = {**os.environ, "TMPDIR": str(tmp_path), "SHIMTASK_WORKSPACE": str(tmp_path / "ws")}
    kernels = {
        how: subprocess.Popen(
            [sys.executable, "-c", KERNEL, str(tmp_path / "cell.py"), engine.name],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for how in ("kill", "exit", "interrupt")
    }
    try:
        for kernel in kernels.values():
            assert kernel.stdout.readline() == "warm\n"
        names = {how: engine.containers(kernel.pid) for how, kernel in kernels.items()}
        assert all(len(found) == 1 for found in names.values()) and len({*map(tuple, names.values())}) == 3, names
        for how, kernel in kernels.items():
            kernel.stdin.write(how + "\n")
            kernel.stdin.flush()
            if how == "interrupt":
                time.sleep(3)  # the sleeping run is under way in the warm container
                assert engine.containers(kernel.pid) == names[how]
                kernel.send_signal(signal.SIGINT)
            assert kernel.wait(timeout=60) == {"kill": -signal.SIGKILL, "exit": 0, "interrupt": 130}[how]
            wait_until_gone(engine, kernel.pid, 5)
            for other, running in kernels.items():  # the other kernels' containers are untouched
                if running.returncode is None:
                    assert engine.containers(running.pid) == names[other]
    finally:
        for kernel in kernels.values():
            kernel.kill()
            kernel.wait()
    assert list(tmp_path.glob("shimtask-warm-*/shimtask-run-*")) == []
