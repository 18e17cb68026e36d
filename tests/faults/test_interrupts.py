"""Ctrl-C, killed kernels and simultaneous runs: nothing keeps running, nothing is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sample_tasks
from engine_fixtures import ready_engine
from support import processes_mentioning

from jupyter_shimtask import run
from jupyter_shimtask.config import settings
from jupyter_shimtask.runners import warm

TESTS = str(Path(__file__).resolve().parent.parent)


@pytest.fixture(autouse=True)
def fresh_pool() -> Iterator[None]:
    warm.warm_pool().stop_all()
    yield
    warm.warm_pool().stop_all()


def warm_options(mode: str) -> dict:
    if mode == "subprocess":
        return {"mode": "subprocess", "warm": True}
    ready_engine(mode)
    return {"mode": "image", "engine": mode, "warm": True}


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


@pytest.mark.parametrize("mode", ["subprocess", "docker", "podman"])
def test_simultaneous_first_warm_runs_leave_no_worker_outside_the_pool(mode: str) -> None:
    """Each run has a worker to itself: at most ShimTask.parallelism start, and the pool holds every one."""
    options = warm_options(mode)
    results: list = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(run(sample_tasks.greet, {"name": f"t{n}"}, **options)))
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert len(results) == 4 and all(result.ok for result in results), results
    assert len(warm.warm_pool().workers) == 1
    (key,) = warm.warm_pool().workers
    started = 1 + len(warm.warm_pool().extras.get(key, []))
    assert started <= settings().parallelism
    if mode != "subprocess":
        assert len(ready_engine(mode).containers()) == started


def test_a_second_run_does_not_wait_for_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm, "HANDSHAKE_SECONDS", 2.0)
    assert run(sample_tasks.greet, {"name": "start"}, mode="subprocess", warm=True).ok
    long: list = []
    first = threading.Thread(
        target=lambda: long.append(run(sample_tasks.sleeping, {"seconds": 15.0}, mode="subprocess"))
    )
    first.start()
    time.sleep(1)
    started = time.perf_counter()
    short = run(sample_tasks.greet, {"name": "beside"}, mode="subprocess", warm=True)
    assert short.ok and time.perf_counter() - started < 10, short  # it starts a worker of its own (~2 s)
    first.join(timeout=60)
    assert long and long[0].ok, long


def test_ctrl_c_stops_a_warm_run_in_a_kernel(tmp_path: Path) -> None:
    from jupyter_client import KernelManager

    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(tmp_path), env={**os.environ, "SHIMTASK_WORKSPACE": str(tmp_path / "ws")})
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        setup = f"import sys; sys.path.insert(0, {TESTS!r}); import sample_tasks; from jupyter_shimtask import run"
        assert client.execute_interactive(setup, timeout=60)["content"]["status"] == "ok"
        warmup = "run(sample_tasks.greet, {'name': 'k'}, mode='subprocess', warm=True).ok"
        assert client.execute_interactive(warmup, timeout=120)["content"]["status"] == "ok"
        worker = (
            "from jupyter_shimtask.runners.warm import warm_pool; "
            "print(next(iter(warm_pool().workers.values())).process.pid)"
        )
        printed: list[str] = []
        client.execute_interactive(
            worker, timeout=30, output_hook=lambda m: printed.append(m["content"].get("text", ""))
        )
        worker_pid = int("".join(printed).split()[0])
        msg_id = client.execute("run(sample_tasks.sleeping, {'seconds': 120.0}, mode='subprocess', warm=True)")
        deadline = time.monotonic() + 30
        while not children(worker_pid):
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        manager.interrupt_kernel()
        reply = client.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == msg_id and reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        deadline = time.monotonic() + 10
        while children(worker_pid):
            assert time.monotonic() < deadline, "the warm run went on after Ctrl-C"
            time.sleep(0.1)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, tempfile, threading
    sys.path.insert(0, {tests!r})
    import sample_tasks
    from jupyter_shimtask import run
    threading.Timer({after}, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    print(os.getpid(), flush=True)
    try:
        result = run(sample_tasks.sleeping, {{"seconds": 60.0}}, **{options!r})
        print("finished:", result, flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    print("left:", [name for name in os.listdir(tempfile.gettempdir()) if name.startswith("shimtask-run-")])
    """
)


def script(tmp_path: Path, options: dict, after: float = 3.0) -> subprocess.Popen:
    code = SCRIPT.format(tests=TESTS, options=options, after=after)
    env = {**os.environ, "SHIMTASK_WORKSPACE": str(tmp_path / "ws"), "TMPDIR": str(tmp_path)}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


@pytest.mark.parametrize(
    "options", [{"mode": "process"}, {"mode": "subprocess", "warm": False}], ids=["process", "cold"]
)
def test_ctrl_c_in_a_script_interrupts_and_cleans_up(options: dict, tmp_path: Path) -> None:
    process = script(tmp_path, options)
    out, _ = process.communicate(timeout=60)
    assert "interrupted" in out and "left: []" in out, out


def running_containers(engine, owner: int) -> list[str]:
    listed = engine.call(
        "ps", "--filter", f"label=jupyter-shimtask.pid={owner}", "--filter", "status=running", "--format", "{{.Names}}"
    )
    return [name for name in listed.stdout.split() if name.startswith("shimtask-")]  # the run's, not preflight's


@pytest.mark.parametrize("mode", ["subprocess", "docker", "podman"])
def test_cold_runs_do_not_outlive_a_kernel_killed_with_sigkill(mode: str, tmp_path: Path) -> None:
    options = {"mode": "subprocess", "warm": False} if mode == "subprocess" else {"mode": "image", "warm": False}
    if mode != "subprocess":
        engine = ready_engine(mode)
        options["engine"] = mode
    process = script(tmp_path, options, after=3600)
    pid = int(process.stdout.readline())
    deadline = time.monotonic() + 60
    if mode == "subprocess":
        while not processes_mentioning(str(tmp_path / "shimtask-run-")):
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
    else:
        while not running_containers(engine, pid):  # created is not enough: the kill must find it running
            assert time.monotonic() < deadline, "the container did not start"
            time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    process.wait()
    if mode == "subprocess":
        deadline = time.monotonic() + 10
        while processes_mentioning(str(tmp_path / "shimtask-run-")):
            assert time.monotonic() < deadline, "the cold run outlived its kernel"
            time.sleep(0.1)
    else:
        # The container may already be gone with its attach client; whatever is left is the sweep's to remove.
        engine.remove_orphans()
        assert engine.containers(pid) == [], "a cold container outlived its kernel and the sweep"


def test_warm_workers_leave_no_temporary_folders(private_tmp: Path) -> None:
    assert run(sample_tasks.greet, {"name": "tmp"}, mode="subprocess", warm=True).ok
    assert run(sample_tasks.greet, {"name": "tmp"}, mode="subprocess", warm=True).ok
    warm.warm_pool().stop_all()
    assert list(private_tmp.iterdir()) == []


LOAD_AND_SWEEP = textwrap.dedent(
    """
    import sys, threading, time
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    started = time.perf_counter()
    shell.run_line_magic("load_ext", "jupyter_shimtask")
    loaded = time.perf_counter() - started
    for thread in threading.enumerate():
        if thread.name == "shimtask-orphan-sweep":
            thread.join(120)
    print(f"{loaded:.3f}", "flytekit" in sys.modules)
    """
)


def test_loading_the_extension_removes_orphaned_containers(tmp_path: Path) -> None:
    """A container whose owner is gone goes when the next kernel loads the extension, before any image run."""
    from jupyter_shimtask.runners.engines import HOST, LABEL

    engine = ready_engine("docker")
    gone = subprocess.Popen(["true"])
    gone.wait()
    name = f"shimtask-orphan-{os.getpid()}-{tmp_path.name[-8:]}"
    labels = ["--label", f"{LABEL}=1", "--label", f"{LABEL}.pid={gone.pid}", "--label", f"{LABEL}.host={HOST}"]
    image = os.environ.get("SHIMTASK_TEST_IMAGE", "shimtask-runtime:test")
    assert engine.call("create", "--name", name, *labels, "--pull", "never", image, "true").returncode == 0
    try:
        done = subprocess.run([sys.executable, "-c", LOAD_AND_SWEEP], capture_output=True, text=True, timeout=180)
        loaded, flytekit = done.stdout.split()
        assert flytekit == "False" and float(loaded) < 5, done.stdout
        assert "Traceback" not in done.stderr, done.stderr
        assert engine.call("container", "inspect", name).returncode != 0, f"{name} was not removed"
    finally:
        engine.remove_container(name)


def test_loading_the_extension_without_an_engine() -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no docker, no podman
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_SWEEP], capture_output=True, text=True, timeout=120, env=env, check=True
    )
    assert done.stdout.split()[1] == "False" and "Traceback" not in done.stderr and "Exception" not in done.stderr
