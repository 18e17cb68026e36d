"""Soak: many runs mixed over every mode, with faults, and nothing may be left behind.

    python bench/soak.py [--runs N] [--seed S] [--image IMAGE]

Runs N (default 200) runs over process, subprocess cold and warm, and image cold and warm on each
engine that is ready (Docker, Podman): successes, executor errors, timeouts, Ctrl-C (SIGINT to this
process while a run waits), a killed warm worker, a killed warm container, and a real ipykernel
(through jupyter_client) killed with SIGKILL in the middle of a cold and a warm run. It counts
leftovers before and after: this process's containers (and the killed kernel's), processes descended
from it (and processes still holding the killed kernel's run folders), entries in its temporary
folder, and its open file descriptors. The "before" count is taken after one run in each mode, so
flytekit's one-time sockets and files are part of it. Exits 1 if anything is left, or if a run's
verdict is not the expected one.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import mode_options, processes_mentioning

CELL = textwrap.dedent(
    """
    import time

    from flytekit import kwtypes
    from flytekit.core.interface import Interface
    from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask
    from flytekit.extend import ShimTaskExecutor


    class SoakExecutor(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            if inputs["action"] == "raise":
                raise ValueError("soak: raised on purpose")
            if inputs["action"] == "sleep":
                time.sleep(60)
            return f"done {inputs['action']}"


    class SoakTask(PythonCustomizedContainerTask):
        def __init__(self):
            super().__init__(
                name="soak",
                task_config=None,
                container_image="shimtask-runtime:test",
                executor_type=SoakExecutor,
                task_type="soak",
                interface=Interface(inputs=kwtypes(action=str), outputs=kwtypes(out=str)),
            )

        def get_custom(self, settings):
            return {}


    soak = SoakTask()
    """
)


def descendants(root: int) -> set[int]:
    parents: dict[int, list[int]] = collections.defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents[ppid].append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def describe(kind: str, item: str | int) -> str:
    """A leftover as a person can look into it: a process's command line, a descriptor's target."""
    try:
        if kind == "processes":
            return f"{item} {Path(f'/proc/{item}/cmdline').read_bytes().replace(bytes(1), b' ').decode()[:120]}"
        if kind == "fds":
            return f"{item} -> {os.readlink(f'/proc/self/fd/{item}')}"
    except OSError:
        pass
    return str(item)


class Soak:
    def __init__(self, options: argparse.Namespace) -> None:
        from jupyter_shimtask.config import ShimTask, use

        self.options = options
        self.random = random.Random(options.seed)
        self.tmp = Path(tempfile.mkdtemp(prefix="shimtask-soak-"))
        tempfile.tempdir = str(self.tmp / "tmp")
        Path(tempfile.tempdir).mkdir()
        use(ShimTask(workspace=str(self.tmp / "workspace"), warm_idle=600.0))
        self.engines = self._ready_engines()
        self.modes = ["process", "subprocess-cold", "subprocess-warm"]
        self.modes += [f"image-{kind}-{name}" for name in self.engines for kind in ("cold", "warm")]
        self.kernel_pids: list[int] = []
        self.kernel_folders: list[Path] = []
        self.counts: collections.Counter[str] = collections.Counter()
        self.wrong: list[str] = []

    def _ready_engines(self) -> dict:
        from jupyter_shimtask.runners.engines import EngineError, find_engine

        ready = {}
        for name in ("docker", "podman"):
            try:
                engine = find_engine(name)
                engine.preflight(self.options.image)
                ready[name] = engine
            except EngineError as error:
                print(f"skipping {name}: {error}")
        return ready

    def options_for(self, mode: str) -> dict:
        chosen = mode_options(mode)
        if "engine" in chosen:
            chosen["image"] = self.options.image
        return chosen

    def leftovers(self) -> dict[str, list]:
        containers = []
        for name, engine in self.engines.items():
            for owner in [os.getpid(), *self.kernel_pids]:
                containers += [f"{name}:{container} (owner {owner})" for container in engine.containers(owner)]
        processes = sorted(descendants(os.getpid()))
        for folder in self.kernel_folders:
            processes += sorted(processes_mentioning(str(folder)))
        fds = sorted(os.listdir("/proc/self/fd"))
        temporary = sorted(path.name for path in Path(tempfile.gettempdir()).iterdir())
        return {"containers": containers, "processes": processes, "temporary": temporary, "fds": fds}

    def one(self, index: int) -> None:
        from jupyter_shimtask import run
        from jupyter_shimtask.runners import warm

        mode = self.random.choice(self.modes)
        chosen = self.options_for(mode)
        faults = ["ok"] * 6 + ["raise"] * 2
        if mode != "process":
            faults += ["timeout", "ctrl-c"]
        else:
            faults += ["ctrl-c"]
        if mode.endswith("warm") or "-warm-" in mode:
            faults += ["kill-worker"]
        fault = self.random.choice(faults)
        self.counts[f"{mode} {fault}"] += 1
        action = {"ok": "ok", "raise": "raise"}.get(fault, "sleep")
        timer = None
        if fault == "ctrl-c":
            timer = threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT))
        elif fault == "kill-worker":
            timer = threading.Timer(2.0, self._kill_worker, args=(warm, chosen["mode"]))
        if timer:
            timer.start()
        try:
            result = run(self.cell.soak, {"action": action}, timeout=2.0 if fault == "timeout" else None, **chosen)
        except KeyboardInterrupt:
            result = None
        finally:
            if timer:  # a run that ended first must not be hit by its Ctrl-C afterwards
                timer.cancel()
                timer.join()
        expected = {
            "ok": lambda r: r is not None and r.ok,
            "raise": lambda r: r is not None and not r.ok and "raised on purpose" in r.error.message,
            "timeout": lambda r: r is not None and r.error is not None and r.error.code == "Timeout",
            "ctrl-c": lambda r: r is None,
            "kill-worker": lambda r: r is not None and not r.ok and r.error.code in ("WorkerDied", "ContainerFailed"),
        }[fault]
        if not expected(result):
            self.wrong.append(f"run {index}: {mode} {fault}: {result}")

    def _kill_worker(self, warm, kind: str) -> None:
        """Killed warm workers, or for image mode their containers (through the engine): every one that runs,
        once the ``kind`` (image or subprocess) of the run under way has one up (it may still be starting)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            killed = set()
            for key, worker in list(warm.warm_pool().workers.items()):
                if key[0] == "image" and worker.alive():
                    engine = next(engine for engine in self.engines.values() if engine.binary == key[1])
                    if [name for name in engine.containers() if engine.call("kill", name).returncode == 0]:
                        killed.add("image")
                elif worker.alive() and worker.process is not None:
                    os.killpg(worker.process.pid, signal.SIGKILL)
                    killed.add("subprocess")
            if kind in killed:
                return
            time.sleep(0.2)

    def kill_a_kernel(self) -> None:
        """A real ipykernel, killed with SIGKILL while a warm run and a cold run are under way.

        jupyter_client runs in a helper process (its event loop and sockets are not a run's leftovers);
        the helper reaps the dead kernel, as a Jupyter server would.
        """
        import json
        import subprocess

        folder = Path(tempfile.mkdtemp(prefix="kernel-", dir=self.tmp))
        cold = {"mode": "image", "engine": next(iter(self.engines)), "warm": False} if self.engines else {}
        request = {
            "folder": str(folder),
            "workspace": str(self.tmp / "workspace"),
            "cold": cold or {"mode": "subprocess"},
        }
        answer = subprocess.run(
            [sys.executable, __file__, "--kill-a-kernel", json.dumps(request)],
            capture_output=True, text=True, timeout=180, check=True,
        )  # fmt: skip
        self.kernel_pids.append(int(answer.stdout.split()[-1]))
        self.kernel_folders.append(folder)
        for engine in self.engines.values():
            engine.remove_orphans()  # what the next kernel's first image run does

    def main(self) -> int:
        from jupyter_shimtask.authoring import build_module
        from jupyter_shimtask.runners import warm
        from jupyter_shimtask.state import state

        self.cell = build_module(CELL, "soak").module
        print(f"modes: {', '.join(self.modes)}")
        from jupyter_shimtask import run

        for mode in self.modes:  # flytekit's one-time sockets and files belong to "before"
            assert run(self.cell.soak, {"action": "ok"}, **self.options_for(mode)).ok, mode
        warm.warm_pool().stop_all()
        before = self.leftovers()
        started = time.perf_counter()
        kernel_at = self.options.runs // 2
        for index in range(self.options.runs):
            if index == kernel_at:
                self.kill_a_kernel()
            self.one(index)
        warm.warm_pool().stop_all()
        seconds = time.perf_counter() - started
        deadline = time.monotonic() + 30
        while True:
            after = self.leftovers()
            extra = {name: sorted(set(after[name]) - set(before[name])) for name in after}
            if not any(extra.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        state().shutdown()  # the warm folders go, as at exit
        print(f"{self.options.runs} runs in {seconds:.0f}s; faults: {dict(sorted(self.counts.items()))}")
        for name in before:
            left = [describe(name, item) for item in extra[name]] or "none"
            print(f"{name}: before {len(before[name])}, after {len(after[name])}, left {left}")
        for line in self.wrong:
            print(f"wrong verdict: {line}")
        failed = any(extra.values()) or bool(self.wrong)
        print("FAILED" if failed else "ok: nothing left behind")
        return 1 if failed else 0


def kill_a_kernel(request: dict) -> None:
    """(In the helper process.) Start a kernel, start its runs, kill it with SIGKILL, reap it, print its pid."""
    from jupyter_client import KernelManager

    manager = KernelManager(kernel_name="python3")
    env = {**os.environ, "SHIMTASK_WORKSPACE": request["workspace"], "TMPDIR": request["folder"]}
    manager.start_kernel(cwd=request["folder"], env=env)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        code = textwrap.dedent(
            f"""
            import threading
            from jupyter_shimtask import run
            from jupyter_shimtask.authoring import build_module
            soak = build_module({CELL!r}, "soak").module.soak
            assert run(soak, {{"action": "ok"}}, mode="subprocess", warm=True).ok
            threading.Thread(target=run, args=(soak, {{"action": "sleep"}}), kwargs={request["cold"]!r}).start()
            run(soak, {{"action": "sleep"}}, mode="subprocess", warm=True)
            """
        )
        client.execute(code)
        time.sleep(10)
    finally:
        pid = manager.provisioner.process.pid
        os.kill(pid, signal.SIGKILL)
        manager.provisioner.process.wait()
        client.stop_channels()
        print(pid)


def main() -> int:
    if sys.argv[1:2] == ["--kill-a-kernel"]:
        import json

        kill_a_kernel(json.loads(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--image", default=os.environ.get("SHIMTASK_TEST_IMAGE", "shimtask-runtime:test"))
    soak = Soak(parser.parse_args())
    try:
        return soak.main()
    finally:
        import shutil

        shutil.rmtree(soak.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
