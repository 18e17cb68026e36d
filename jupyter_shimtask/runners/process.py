"""In-process mode: pyflyte-execute's own entry point, called in this interpreter."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator

from ..platform.env import environment
from .base import PROBE_DIR, LogSink, Prepared, RunError, RunResult, finish, host_command, import_roots
from .subprocess import ctrl_c_interrupts, not_on_path, startup_difference


class _Tee(io.TextIOBase):
    """Captures the executor's output; the sink sees it with the real streams restored."""

    def __init__(self, sink: LogSink | None, buffer: io.StringIO):
        self.sink = sink
        self.buffer = buffer
        self.stdout = sys.stdout
        self.stderr = sys.stderr

    def write(self, text: str) -> int:
        self.buffer.write(text)
        if self.sink and text:
            with contextlib.redirect_stdout(self.stdout), contextlib.redirect_stderr(self.stderr):
                self.sink(text)
        return len(text)

    def fileno(self) -> int:
        # pyflyte-execute registers faulthandler on stderr, which needs a real descriptor
        return sys.__stderr__.fileno()


@contextlib.contextmanager
def _isolated(prepared: Prepared, buffer: io.StringIO, on_log: LogSink | None) -> Iterator[None]:
    """Temp files into the run folder, workspace importable, logs captured; all undone after."""
    if str(PROBE_DIR) not in sys.path:
        sys.path.append(str(PROBE_DIR))
    import shimtask_probe

    added = [root for root in import_roots(prepared) if root not in sys.path]
    sys.path.extend(added)
    handler = logging.StreamHandler(buffer)
    flytekit_logger = logging.getLogger("flytekit")
    flytekit_logger.addHandler(handler)
    previous_tempdir = tempfile.tempdir
    tempfile.tempdir = str(prepared.folder.tmp)
    tee = _Tee(on_log, buffer)
    try:
        with (
            contextlib.redirect_stdout(tee),
            contextlib.redirect_stderr(tee),
            shimtask_probe.recording(str(prepared.folder.probe)),
            _container_env(prepared.env),
        ):
            yield
    finally:
        tempfile.tempdir = previous_tempdir
        flytekit_logger.removeHandler(handler)
        for root in added:
            sys.path.remove(root)


@contextlib.contextmanager
def _container_env(env: dict[str, str]) -> Iterator[None]:
    """The template's container env in os.environ for the run, as every other mode gives it; undone after."""
    previous = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_in_process(prepared: Prepared, *, keep: bool, on_log: LogSink | None = None) -> RunResult:
    from click.exceptions import Abort, ClickException
    from flytekit.bin.entrypoint import execute_task_cmd
    from flytekit.core.type_engine import TypeEngine

    started = time.perf_counter()
    buffer = io.StringIO()
    failure = None
    try:
        host_command(prepared)
        if (failure := not_on_path(prepared)) is not None:
            return finish(prepared, mode="process", logs="", started=started, keep=keep, failure=failure)
        # A fresh pyflyte-execute process starts with an empty literal cache; without this, outputs equal
        # to an earlier run's would point into that run's folder.
        TypeEngine._LITERAL_CACHE.clear()
        # Ctrl-C raises KeyboardInterrupt (flytekit's own SIGINT handler would exit, which reads as NoOutputs);
        # click turns it into Abort, which is turned back.
        pod_env = prepared.pod.env() if prepared.pod else {}
        with (
            ctrl_c_interrupts(),
            _isolated(prepared, buffer, on_log),
            environment(pod_env),
            contextlib.suppress(SystemExit),
        ):
            try:
                execute_task_cmd.main(args=prepared.args[1:], prog_name=prepared.args[0], standalone_mode=False)
            except Abort:
                raise KeyboardInterrupt from None
            except ClickException as error:  # as pyflyte-execute exits 2 in the other modes
                reason = f"pyflyte-execute refused its arguments ({error.format_message()})"
                failure = RunError("SYSTEM", "ProcessFailed", reason)
    except BaseException:
        prepared.folder.remove(keep=False)
        raise
    result = finish(prepared, mode="process", logs=buffer.getvalue(), started=started, keep=keep, failure=failure)
    result.notes[:0] = process_notes(prepared)
    return result


def process_notes(prepared: Prepared) -> list[str]:
    """What an in-process run cannot give as a fresh process would."""
    from .image import memory_limit

    notes = []
    if reason := startup_difference({**os.environ, **prepared.env}, os.environ, "this interpreter"):
        notes.append(f"in-process: {reason}; use mode='subprocess'")
    if limit := memory_limit(prepared):
        notes.append(f"in-process: the {limit} memory limit is not applied; use mode='subprocess' or 'image'")
    return notes
