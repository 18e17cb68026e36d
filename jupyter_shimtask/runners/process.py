"""In-process mode: pyflyte-execute's own entry point, called in this interpreter."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

from ..platform.env import environment
from ..platform.resources import memory_limit
from ..worker import shimtask_output_probe as output_probe
from .base import LogSink, Prepared, RunError, RunResult, finishing, host_command, import_roots
from .proc import ctrl_c_interrupts
from .subprocess import not_on_path, startup_difference


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
    """Temp files into the run folder, workspace importable, logs captured, outputs probed; all undone after."""
    path_before = list(sys.path)  # flytekit adds to sys.path as it loads tasks; a run leaves it as it found it
    sys.path.extend(root for root in import_roots(prepared) if root not in sys.path)
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
            environment({**prepared.env, output_probe.ENV_VAR: str(prepared.folder.probe)}),
            output_probe.recording(),
        ):
            yield
    finally:
        tempfile.tempdir = previous_tempdir
        flytekit_logger.removeHandler(handler)
        sys.path[:] = path_before


def run_in_process(prepared: Prepared, *, keep: bool, on_log: LogSink | None = None) -> RunResult:
    buffer = io.StringIO()
    with finishing(prepared, mode="process", keep=keep) as run:
        host_command(prepared)
        if (missing := not_on_path(prepared)) is not None:
            run.failure = missing
        else:
            run.failure = _execute(prepared, buffer, on_log)
            run.logs = buffer.getvalue()
            run.notes += process_notes(prepared)
    return run.result


def _execute(prepared: Prepared, buffer: io.StringIO, on_log: LogSink | None) -> RunError | None:
    """pyflyte-execute's entry point on the run's arguments, in this interpreter."""
    from click.exceptions import Abort, ClickException
    from flytekit.bin.entrypoint import execute_task_cmd
    from flytekit.core.type_engine import TypeEngine

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
            return RunError("SYSTEM", "ProcessFailed", reason)
    return None


def process_notes(prepared: Prepared) -> list[str]:
    """What an in-process run cannot give as a fresh process would."""
    notes = []
    if reason := startup_difference({**os.environ, **prepared.env}, os.environ, "this interpreter"):
        notes.append(f"in-process: {reason}; use mode='subprocess'")
    if limit := memory_limit(prepared.template):
        notes.append(f"in-process: the {limit} memory limit is not applied; use mode='subprocess' or 'image'")
    return notes
