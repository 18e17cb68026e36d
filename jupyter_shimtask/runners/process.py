"""In-process mode: pyflyte-execute's own entry point, called in this interpreter."""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import tempfile
import time
from collections.abc import Iterator

from ..platform.env import environment
from .base import PROBE_DIR, LogSink, Prepared, RunResult, finish, import_roots


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
        ):
            yield
    finally:
        tempfile.tempdir = previous_tempdir
        flytekit_logger.removeHandler(handler)
        for root in added:
            sys.path.remove(root)


def run_in_process(prepared: Prepared, *, keep: bool, on_log: LogSink | None = None) -> RunResult:
    from flytekit.bin.entrypoint import execute_task_cmd
    from flytekit.core.type_engine import TypeEngine

    started = time.perf_counter()
    buffer = io.StringIO()
    # A fresh pyflyte-execute process starts with an empty literal cache; without this, outputs equal
    # to an earlier run's would point into that run's folder.
    TypeEngine._LITERAL_CACHE.clear()
    pod_env = prepared.pod.env() if prepared.pod else {}
    with _isolated(prepared, buffer, on_log), environment(pod_env), contextlib.suppress(SystemExit):
        execute_task_cmd.main(args=prepared.args[1:], prog_name=prepared.args[0], standalone_mode=False)
    return finish(prepared, mode="process", logs=buffer.getvalue(), started=started, keep=keep)
