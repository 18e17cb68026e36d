"""Warm workers keep pyflyte-execute's contract and survive their own faults."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sample_tasks

from jupyter_shimtask import run
from jupyter_shimtask.runners import warm
from jupyter_shimtask.runners.base import WORKER_DIR


def current_worker() -> warm.Worker:
    (worker,) = warm.warm_pool().workers.values()
    return worker


def test_warm_and_cold_give_the_same_results() -> None:
    for task, inputs in [
        (sample_tasks.greet, {"name": "same"}),
        (sample_tasks.raising, {"name": "same"}),
        (sample_tasks.positional, {"n": 2}),
        (sample_tasks.by_name, {"n": 2}),
    ]:
        cold = run(task, inputs, mode="subprocess", warm=False)
        hot = run(task, inputs, mode="subprocess", warm=True)
        assert (cold.ok, cold.outputs) == (hot.ok, hot.outputs)
        assert _verdict(cold) == _verdict(hot)


def _verdict(result) -> tuple | None:
    """The error, less the per-process map order a PositionalOutputs message names."""
    if result.error is None:
        return None
    return result.error.kind, result.error.code, re.sub(r"map order \([^)]*\)", "", result.error.message)


def test_edited_module_is_picked_up(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the notebook's folder is on the runs' path
    assert_edits_are_picked_up(tmp_path, mode="subprocess")


def assert_edits_are_picked_up(folder: Path, **options) -> None:
    """Runs of an executor in ``folder`` (the current one) see each edit of its module."""
    from jupyter_shimtask import serialize

    source = textwrap.dedent(
        """
        from flytekit.extend import ShimTaskExecutor

        class Executor(ShimTaskExecutor):
            def execute_from_model(self, tt, **inputs):
                return "VERSION"
        """
    )
    template = serialize(sample_tasks.greet)
    template.container.args[-1] = "edited_executor.Executor"
    for version in ("one", "two"):
        (folder / "edited_executor.py").write_text(source.replace("VERSION", version))
        assert run(template, {"name": "x"}, **options).outputs == {"greeting": version}


def test_crashed_worker_is_replaced() -> None:
    assert run(sample_tasks.greet, {"name": "a"}, mode="subprocess").ok
    first = current_worker().process.pid
    os.killpg(first, signal.SIGKILL)
    time.sleep(0.2)
    assert run(sample_tasks.greet, {"name": "b"}, mode="subprocess").outputs == {"greeting": "Hello, b!"}
    assert current_worker().process.pid != first


def test_worker_killed_during_a_run_fails_the_run(tmp_path: Path) -> None:
    assert run(sample_tasks.greet, {"name": "a"}, mode="subprocess").ok
    worker = current_worker().process.pid
    killer = subprocess.Popen(["sh", "-c", f"sleep 2; kill -9 -{worker}"])
    started = time.perf_counter()
    result = run(sample_tasks.sleeping, {"seconds": 60.0}, mode="subprocess")
    killer.wait()
    assert time.perf_counter() - started < 20
    assert not result.ok and result.error.code == "WorkerDied"
    assert run(sample_tasks.greet, {"name": "after"}, mode="subprocess").ok


def test_hung_worker_is_replaced(monkeypatch) -> None:
    monkeypatch.setattr(warm, "HANDSHAKE_SECONDS", 1.0)
    assert run(sample_tasks.greet, {"name": "a"}, mode="subprocess").ok
    hung = current_worker().process.pid
    os.kill(hung, signal.SIGSTOP)
    try:
        result = run(sample_tasks.greet, {"name": "b"}, mode="subprocess")
        assert result.outputs == {"greeting": "Hello, b!"}
        assert current_worker().process.pid != hung
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(hung, signal.SIGKILL)


def test_worker_restarts_when_an_imported_module_changes() -> None:
    assert run(sample_tasks.greet, {"name": "a"}, mode="subprocess").ok
    first = current_worker().process.pid
    probe = WORKER_DIR / "shimtask_output_probe.py"
    stat = probe.stat()
    os.utime(probe, (stat.st_atime, stat.st_mtime + 5))
    try:
        result = run(sample_tasks.greet, {"name": "b"}, mode="subprocess")
    finally:
        os.utime(probe, (stat.st_atime, stat.st_mtime))
    assert result.ok and current_worker().process.pid != first


def test_warm_can_be_turned_off(workspace) -> None:
    workspace.warm = False
    warm.warm_pool().stop_all()
    assert run(sample_tasks.greet, {"name": "cold"}, mode="subprocess").ok
    assert warm.warm_pool().workers == {}


def test_template_env_for_flytekit_forces_a_cold_run() -> None:
    from jupyter_shimtask import serialize

    template = serialize(sample_tasks.greet)
    template.container.env.add(key="FLYTE_SDK_LOGGING_LEVEL", value="20")
    result = run(template, {"name": "env"}, mode="subprocess")
    assert result.ok and any("FLYTE_SDK_LOGGING_LEVEL" in note for note in result.notes)


SCRIPT = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {tests!r})
    import sample_tasks
    from jupyter_shimtask import run
    from jupyter_shimtask.runners.warm import warm_pool
    assert run(sample_tasks.greet, {{"name": "x"}}, mode="subprocess").ok
    (worker,) = warm_pool().workers.values()
    print(worker.process.pid, worker.socket_path, flush=True)
    if {crash}:
        os._exit(0)
    """
)


def test_notebooks_have_their_own_workers_and_workers_die_with_them(tmp_path: Path) -> None:
    def kernel(crash: bool) -> tuple[int, str]:
        code = SCRIPT.format(tests=str(Path(__file__).parent), crash=crash)
        env = {**os.environ, "SHIMTASK_WORKSPACE": str(tmp_path / "ws")}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        pid, socket_path = out.stdout.split()
        return int(pid), socket_path

    first, second = kernel(crash=False), kernel(crash=True)
    assert first[1] != second[1] and first[0] != second[0]
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid, _ in (first, second)):
        assert time.monotonic() < deadline, "a worker outlived its kernel"
        time.sleep(0.2)
    assert not Path(second[1]).exists()


@pytest.fixture(autouse=True)
def fresh_pool():
    warm.warm_pool().stop_all()
    yield
    warm.warm_pool().stop_all()
