"""A warm pyflyte-execute: flytekit imported once, a fresh forked child per run.

Standalone (stdlib and flytekit only), because it also runs inside images that do not have
jupyter_shimtask installed. Protocol, one connection per run over a Unix socket, JSON lines:

    client -> {"args": [...], "env": {...}, "cwd": "...", "python_path": [...], "log": "..."}
    worker -> {"pid": N}  then  {"status": exit_code}      or  {"restart": "<reason>"}

Closing the connection before the status kills the run's process group. ``cwd`` is optional (the
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
import threading
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
        probe = os.environ.get("SHIMTASK_PROBE")
        if probe:
            import shimtask_probe

            shimtask_probe.patch(probe)
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


def serve_one(
    connection: socket.socket, stream, request: dict, times: dict[str, float], base: tuple[list[str], dict[str, str]]
) -> bool:
    """Run one request; False when the worker must stop (stale)."""
    reason = stale(times)
    if reason:
        stream.write(json.dumps({"restart": f"{reason} changed on disk"}).encode() + b"\n")
        stream.flush()
        return False
    pid = os.fork()
    if pid == 0:
        child(request, *base)
    stream.write(json.dumps({"pid": pid}).encode() + b"\n")
    stream.flush()
    watcher = os.pidfd_open(pid)
    try:
        while True:
            ready, _, _ = select.select([watcher, connection], [], [])
            if watcher in ready:
                _, status = os.waitpid(pid, 0)
                code = os.waitstatus_to_exitcode(status)
                kill_group(pid)
                stream.write(json.dumps({"status": code}).encode() + b"\n")
                stream.flush()
                return True
            if not connection.recv(1, socket.MSG_PEEK):  # the client went away: stop the run
                kill_group(pid)
                os.waitpid(pid, 0)
                return True
    finally:
        os.close(watcher)


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
    """As a container's first process the worker inherits what runs left behind; collect it."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def main() -> None:
    socket_path, idle_seconds = sys.argv[1], float(sys.argv[2])
    parent = os.getppid()
    base_env = dict(os.environ)
    # flytekit picks its log format at import by whether this is set; every run sets it (as every pod has it)
    os.environ.setdefault("FLYTE_INTERNAL_EXECUTION_ID", "warm-worker")
    import shimtask_probe  # noqa: F401
    from flytekit.bin.entrypoint import execute_task_cmd  # noqa: F401  (the point: import once)

    times = snapshot()
    base = (list(sys.path), base_env)
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    here = os.getcwd()
    os.chdir(os.path.dirname(socket_path))  # a relative name: the folder's path may be longer than a socket address
    server.bind(os.path.basename(socket_path))
    os.chdir(here)
    server.listen(8)
    print("ready", flush=True)
    last = time.monotonic()
    leases: list[socket.socket] = []
    active: set[threading.Thread] = set()  # runs in flight: several at once (a workflow's independent nodes)
    stale_seen = threading.Event()

    def serve(connection: socket.socket, stream, request: dict) -> None:
        with connection, stream:
            if not serve_one(connection, stream, request, times, base):
                stale_seen.set()

    try:
        while not stale_seen.is_set():
            ready, _, _ = select.select([server, *leases], [], [], 1.0)
            if any(lease in ready for lease in leases):  # the owner closed its lease: it has exited
                return
            active = {thread for thread in active if thread.is_alive()}
            if active:
                last = time.monotonic()
            if not ready:
                if os.getpid() == 1 and not active:
                    reap_orphans()
                orphaned = parent not in (0, 1) and os.getppid() != parent
                if orphaned or time.monotonic() - last > idle_seconds:
                    return
                continue
            connection, _ = server.accept()
            stream, request = read_request(connection)
            if request is not None and request.get("lease"):
                leases.append(connection)
                continue
            if request is None:
                connection.close()
                continue
            thread = threading.Thread(target=serve, args=(connection, stream, request), daemon=True)
            thread.start()
            active.add(thread)
            last = time.monotonic()
    finally:
        server.close()
        if os.path.exists(socket_path):
            os.unlink(socket_path)


if __name__ == "__main__":
    main()
