"""A warm pyflyte-execute: flytekit imported once, a fresh forked child per run.

Standalone (stdlib and flytekit only), because it also runs inside images that do not have
jupyter_shimtask installed. Protocol, one connection per run over a Unix socket, JSON lines:

    client -> {"args": [...], "env": {...}, "cwd": "...", "python_path": [...], "log": "..."}
    worker -> {"pid": N}  then  {"status": exit_code}      or  {"restart": "<reason>"}

Connections are served side by side: several runs may go on at once, each in its own child.
Closing the connection before the status kills the run's process group. In a container (the
worker is its first process) whatever runs left behind is killed whenever no run is going on. ``cwd`` is optional (the
worker's own by default); with ``"inherit_env": true`` ``env`` is laid over the worker's start-up
environment instead of replacing it (a container's env plus the run's, as a fresh container has).
The worker's owner also holds one connection open, ``{"lease": true}``: when it closes (the owner
exited, however it ended), the worker exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
import time
import traceback


def snapshot() -> dict[str, float]:
    """Modification times of every imported module file: a change means the worker is stale."""
    times = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path:
            with contextlib.suppress(OSError):
                times[path] = os.stat(path).st_mtime
    return times


def stale(times: dict[str, float]) -> str | None:
    for path, mtime in times.items():
        try:
            if os.stat(path).st_mtime != mtime:
                return path
        except OSError:
            return path
    return None


def child(request: dict, base_path: list[str], base_env: dict[str, str]) -> None:
    """In the forked child: become the pyflyte-execute process the request describes."""
    os.setsid()
    try:  # die with the worker (Linux): a run must not outlive a crashed worker
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    env = {**base_env, **request["env"]} if request.get("inherit_env") else request["env"]
    os.environ.clear()
    os.environ.update(env)
    time.tzset()  # as a fresh interpreter reads TZ
    if env.get("PYTHONUNBUFFERED"):  # as -u does for a fresh process: logs arrive while the run goes on
        sys.stdout.reconfigure(line_buffering=True)
        sys.stderr.reconfigure(line_buffering=True)
    import tempfile

    tempfile.tempdir = None
    if request.get("cwd"):
        os.chdir(request["cwd"])
    sys.path[:] = [*request["python_path"], *base_path]
    sys.argv[:] = request["args"]
    code = 1
    try:
        import shimtask_output_probe

        shimtask_output_probe.install_from_environment()
        from flytekit.bin.entrypoint import execute_task_cmd

        args = request["args"]
        execute_task_cmd.main(args=args[1:], prog_name=args[0], standalone_mode=False)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class Run:
    """One forked pyflyte-execute child and the connection of the client that asked for it."""

    def __init__(self, pid: int, connection: socket.socket, stream) -> None:
        self.pid, self.connection, self.stream = pid, connection, stream
        self.watcher = os.pidfd_open(pid)

    def finish(self, report: bool) -> None:
        """Reap the child and its process group; ``report`` sends the exit status (the client still waits)."""
        try:
            if not report:
                kill_group(self.pid)
            _, status = os.waitpid(self.pid, 0)
            kill_group(self.pid)
            if report:
                with contextlib.suppress(OSError):
                    self.stream.write(json.dumps({"status": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
                    self.stream.flush()
        finally:
            os.close(self.watcher)
            with contextlib.suppress(OSError):
                self.stream.close()
            self.connection.close()


def start_run(connection: socket.socket, stream, request: dict, base: tuple[list[str], dict[str, str]]) -> Run:
    pid = os.fork()
    if pid == 0:
        child(request, *base)
    run = Run(pid, connection, stream)
    stream.write(json.dumps({"pid": pid}).encode() + b"\n")
    stream.flush()
    return run


def read_request(connection: socket.socket):
    """The connection's stream and its first line, parsed (None if the client sent nothing)."""
    connection.settimeout(10)
    stream = connection.makefile("rwb")
    try:
        line = stream.readline()
    except OSError:
        line = b""
    connection.settimeout(None)
    return stream, json.loads(line) if line.strip() else None


def reap_orphans() -> None:
    """As a container's first process the worker inherits what runs left behind: end it and collect it.

    Called only when no run is going on, so every other process in the container is a leftover (a cold
    run's container would have been removed with them).
    """
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class Server:
    """The worker's socket and what goes on over it: the owner's leases and the runs under way."""

    def __init__(self, socket_path: str, times: dict[str, float], base: tuple[list[str], dict[str, str]]) -> None:
        self.socket_path, self.times, self.base = socket_path, times, base
        if os.path.exists(socket_path):
            os.unlink(socket_path)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        here = os.getcwd()
        os.chdir(os.path.dirname(socket_path))  # a relative name: the folder's path may be longer than a socket address
        self.server.bind(os.path.basename(socket_path))
        os.chdir(here)
        self.server.listen(64)
        self.last = time.monotonic()
        self.leases: list[socket.socket] = []
        self.runs: dict[int, Run] = {}  # by pidfd and by connection descriptor
        self.retiring = False  # stale: finish the runs under way, take no new ones

    def under_way(self) -> list[Run]:
        return list({id(run): run for run in self.runs.values()}.values())

    def wait(self) -> list:
        handles = [self.server, *self.leases]
        for run in self.under_way():
            handles += [run.watcher, run.connection]
        ready, _, _ = select.select(handles, [], [], 1.0)
        return ready

    def end_runs(self, ready: list) -> None:
        """Finish the runs whose child ended (reporting its status) or whose client went away (killing it)."""
        for handle in ready:
            if handle is self.server or handle in self.leases:
                continue
            fd = handle if isinstance(handle, int) else handle.fileno()
            run = self.runs.get(fd)
            if run is None:
                continue
            if handle is run.watcher:
                report = True
            elif not run.connection.recv(1, socket.MSG_PEEK):
                report = False  # the client went away: stop the run
            else:
                run.connection.recv(4096)  # clients send nothing after the request; ignore it
                continue
            del self.runs[run.watcher], self.runs[run.connection.fileno()]
            run.finish(report)
            self.last = time.monotonic()

    def accept(self) -> None:
        """Take a connection: a lease, a run, or (when stale) a restart answer."""
        connection, _ = self.server.accept()
        stream, request = read_request(connection)
        if request is not None and request.get("lease"):
            self.leases.append(connection)
            return
        reason = stale(self.times) if request is not None else None
        if request is None or reason:
            with connection, stream, contextlib.suppress(OSError):
                if reason:
                    stream.write(json.dumps({"restart": f"{reason} changed on disk"}).encode() + b"\n")
                    stream.flush()
            self.retiring = self.retiring or bool(reason)
            return
        run = start_run(connection, stream, request, self.base)
        self.runs[run.watcher] = self.runs[connection.fileno()] = run

    def serve(self, parent: int, idle_seconds: float) -> None:
        """Until the owner's lease closes, the owner is gone, the worker idles too long or is stale and idle."""
        while True:
            ready = self.wait()
            if any(lease in ready for lease in self.leases):  # the owner closed its lease: it has exited
                return
            self.end_runs(ready)
            if not self.runs and os.getpid() == 1:
                reap_orphans()
            if self.retiring and not self.runs:
                return
            if self.server in ready:
                self.accept()
                continue
            if not ready and not self.runs:
                orphaned = parent not in (0, 1) and os.getppid() != parent
                if orphaned or time.monotonic() - self.last > idle_seconds:
                    return

    def close(self) -> None:
        for run in self.under_way():
            kill_group(run.pid)
        self.server.close()
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)


def main() -> None:
    socket_path, idle_seconds = sys.argv[1], float(sys.argv[2])
    parent = os.getppid()
    base_env = dict(os.environ)
    import tempfile

    # flytekit makes folders when it is imported; they belong in the worker's folder, removed with it
    tempfile.tempdir = os.path.join(os.path.dirname(socket_path), "tmp")
    os.makedirs(tempfile.tempdir, exist_ok=True)
    # flytekit picks its log format at import by whether this is set; every run sets it (as every pod has it)
    os.environ.setdefault("FLYTE_INTERNAL_EXECUTION_ID", "warm-worker")
    # grpc's fork handlers (on by default in its Linux wheels) abort a child forked while a thread is in gRPC;
    # runs make gRPC objects only after the fork, which grpc's doc/fork_support.md says needs no fork support
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    import shimtask_output_probe  # noqa: F401
    from flytekit.bin.entrypoint import execute_task_cmd  # noqa: F401  (the point: import once)

    server = Server(socket_path, snapshot(), (list(sys.path), base_env))
    print("ready", flush=True)
    try:
        server.serve(parent, idle_seconds)
    finally:
        server.close()
        import shutil

        shutil.rmtree(tempfile.tempdir, ignore_errors=True)


if __name__ == "__main__":
    main()
