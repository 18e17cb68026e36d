"""A warm pyflyte-execute: flytekit imported once, a fresh forked child per run.

Standalone (stdlib and flytekit only), because it also runs inside images that do not have
jupyter_shimtask installed. Protocol, one connection per run over a Unix socket, JSON lines:

    client -> {"args": [...], "env": {...}, "cwd": "...", "python_path": [...], "log": "..."}
    worker -> {"pid": N}  then  {"status": exit_code}      or  {"restart": "<reason>"}

Closing the connection before the status kills the run's process group.
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


def child(request: dict, base_path: list[str]) -> None:
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
    os.environ.clear()
    os.environ.update(request["env"])
    import tempfile

    tempfile.tempdir = None
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


def serve_one(connection: socket.socket, times: dict[str, float], base_path: list[str]) -> bool:
    """Run one request; False when the worker must stop (stale)."""
    with connection, connection.makefile("rwb") as stream:
        line = stream.readline()
        if not line:
            return True
        request = json.loads(line)
        reason = stale(times)
        if reason:
            stream.write(json.dumps({"restart": f"{reason} changed on disk"}).encode() + b"\n")
            stream.flush()
            return False
        pid = os.fork()
        if pid == 0:
            child(request, base_path)
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


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def main() -> None:
    socket_path, idle_seconds = sys.argv[1], float(sys.argv[2])
    parent = os.getppid()
    import shimtask_probe  # noqa: F401
    from flytekit.bin.entrypoint import execute_task_cmd  # noqa: F401  (the point: import once)

    times = snapshot()
    base_path = list(sys.path)
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path)
    server.listen(8)
    print("ready", flush=True)
    last = time.monotonic()
    try:
        while True:
            ready, _, _ = select.select([server], [], [], 1.0)
            if not ready:
                orphaned = parent != 1 and os.getppid() != parent
                if orphaned or time.monotonic() - last > idle_seconds:
                    return
                continue
            connection, _ = server.accept()
            if not serve_one(connection, times, base_path):
                return
            last = time.monotonic()
    finally:
        server.close()
        if os.path.exists(socket_path):
            os.unlink(socket_path)


if __name__ == "__main__":
    main()
