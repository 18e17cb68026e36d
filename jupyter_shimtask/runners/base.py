"""What every run mode shares: the run folder, the container args, and deciding the result."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..config import settings
from ..diagnosis import FRAME
from ..errors import ShimTaskError, TemplateError, describe
from ..literals import decode_outputs, encode_inputs
from ..template import as_template, executor_in_main, executor_path, serialize

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

    from ..platform import Pod

LogSink = Callable[[str], None]
ErrorKind = Literal["USER", "SYSTEM"]
WORKER_DIR = Path(__file__).resolve().parent.parent / "worker"  # standalone code runs import (stdlib + flytekit)


@dataclass(frozen=True)
class RunError:
    """Why a run failed. ``kind`` and ``code`` are the error document's when pyflyte-execute wrote one."""

    kind: ErrorKind
    code: str
    message: str
    detail: str = ""
    recoverable: bool = False

    def __str__(self) -> str:
        label = self.kind if self.code == self.kind else f"{self.kind} {self.code}"
        return f"{label}: {self.message}"


@dataclass(frozen=True)
class Attempt:
    """One attempt of a run: its error (None when it succeeded), its seconds, and what the platform did next."""

    number: int
    error: RunError | None
    seconds: float
    next: str = ""  # which budget a retry came from, or why there was none
    workdir: Path | None = None  # the attempt's run folder, when kept

    def __str__(self) -> str:
        outcome = "ok" if self.error is None else str(self.error)
        text = f"attempt {self.number}: {outcome} ({self.seconds:.2f}s)" + (f"; {self.next}" if self.next else "")
        return text + (f"; kept: {self.workdir}" if self.workdir else "")


@dataclass
class RunResult:
    ok: bool
    outputs: dict[str, Any]
    error: RunError | None
    logs: str
    seconds: float
    workdir: Path | None
    mode: str
    task_name: str = ""
    notes: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    literals: Any = None  # the outputs.pb LiteralMap of a successful run (workflows pass it on)

    def __str__(self) -> str:
        from ..views import run_text

        return run_text(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Plain text, and in notebooks HTML: the verdict first, outputs as themselves, logs folded."""
        from ..views import has_rich_view, run_html

        bundle = {"text/plain": str(self)}
        if has_rich_view(self):
            bundle["text/html"] = run_html(self)
        return bundle


@dataclass
class RunFolder:
    """One run's files. The same absolute paths are used inside containers (mounted 1:1)."""

    root: Path
    raw: Path
    shared_raw: bool = False  # a workflow execution's prefix, shared by its nodes; the execution removes it

    @classmethod
    def create(cls, parent: Path | None = None, raw: Path | None = None) -> RunFolder:
        root = Path(tempfile.mkdtemp(prefix="shimtask-run-", dir=parent))
        for folder in (root / "outputs", root / "tmp"):
            folder.mkdir(parents=True)
        if raw is not None:
            return cls(root=root, raw=raw, shared_raw=True)
        return cls(root=root, raw=new_raw_prefix())

    @property
    def template(self) -> Path:
        return self.root / "task_template.pb"

    @property
    def inputs(self) -> Path:
        return self.root / "inputs.pb"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def probe(self) -> Path:
        return self.root / "probe.json"

    def placeholders(self) -> dict[str, str]:
        return {
            "{{.input}}": str(self.inputs),
            "{{.Input}}": str(self.inputs),
            "{{.outputPrefix}}": str(self.outputs),
            "{{.OutputPrefix}}": str(self.outputs),
            "{{.rawOutputDataPrefix}}": str(self.raw),
            "{{.RawOutputDataPrefix}}": str(self.raw),
            "{{.taskTemplatePath}}": str(self.template),
            "{{.TaskTemplatePath}}": str(self.template),
            "{{.checkpointOutputPrefix}}": str(self.root / "checkpoint"),
            "{{.prevCheckpointPrefix}}": "",
        }

    @property
    def input_data(self) -> Path:
        return self.root / "input-data"

    def remove(self, keep: bool) -> Path | None:
        """Delete the run folder unless kept; raw outputs stay only if the run wrote any."""
        if not self.shared_raw and self.raw.exists() and not any(path.is_file() for path in self.raw.rglob("*")):
            shutil.rmtree(self.raw, ignore_errors=True)
        if keep:
            return self.root
        shutil.rmtree(self.root, ignore_errors=True)
        return None


def new_raw_prefix() -> Path:
    """A fresh raw-output prefix under the workspace's outputs folder (one per run or workflow execution)."""
    return settings().outputs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


@dataclass
class Prepared:
    """A run ready to start: template and inputs written, container args resolved."""

    template: TaskTemplate
    task: Any
    folder: RunFolder
    args: list[str]
    executor: str
    pod: Pod | None = None  # what the platform puts around this attempt (variables, secrets); modes apply it

    @property
    def env(self) -> dict[str, str]:
        """The template's own container environment."""
        return {pair.key: pair.value for pair in self.template.container.env}


def prepare(task_or_template: Any, inputs: dict[str, Any] | None, runs_dir: Path | None = None) -> Prepared:
    """Template and inputs written to a new run folder (in ``runs_dir``, default the temporary folder)."""
    from flytekit.core.base_task import Task

    task = task_or_template if isinstance(task_or_template, Task) else None
    template = serialize(task) if task is not None else as_template(task_or_template)
    executor = executor_path(template)
    if not template.HasField("container") or not executor:
        raise TemplateError(
            f"template {template.id.name!r} does not name an executor in its container args "
            "(expected '... --resolver R -- {{.taskTemplatePath}} module.Executor')"
        )
    if executor_in_main(template):
        raise ShimTaskError(
            f"executor {executor} lives in __main__, which the container cannot import; "
            "define it in a %%shimtask cell or a .py module"
        )
    folder = RunFolder.create(runs_dir)
    try:
        folder.template.write_bytes(template.SerializeToString())
        literal_map = encode_inputs(template, inputs, task, raw_dir=folder.input_data)
        folder.inputs.write_bytes(literal_map.SerializeToString())
        args = substitute(list(template.container.args), folder.placeholders())
    except BaseException:
        folder.remove(keep=False)
        raise
    return Prepared(template=template, task=task, folder=folder, args=args, executor=executor)


def prepare_literals(
    template: TaskTemplate,
    inputs: Any,
    *,
    task: Any = None,
    executor: str | None = None,
    runs_dir: Path | None = None,
    raw: Path | None = None,
) -> Prepared:
    """A run of ``template`` on an input LiteralMap as it is (a workflow node's bound inputs).

    ``executor`` is the ``module.name`` the container imports (default: the template's executor
    path); ``raw`` a raw-output prefix shared with other runs (default: one of the run's own).
    """
    executor = executor or executor_path(template)
    if not template.HasField("container") or not executor:
        raise TemplateError(f"template {template.id.name!r} does not say what its container imports")
    folder = RunFolder.create(runs_dir, raw=raw)
    try:
        folder.template.write_bytes(template.SerializeToString())
        folder.inputs.write_bytes(inputs.SerializeToString())
        args = substitute(list(template.container.args), folder.placeholders())
    except BaseException:
        folder.remove(keep=False)
        raise
    return Prepared(template=template, task=task, folder=folder, args=args, executor=executor)


HOST_PROGRAMS = ("pyflyte-execute",)  # what runs outside a container: flytekit's own entry point, nothing else


def host_command(prepared: Prepared) -> None:
    """Refuse a template whose container command is not pyflyte-execute: outside a container it would run
    on this machine, with this user's rights (process and subprocess modes, cold and warm alike)."""
    program = prepared.args[0] if prepared.args else ""
    command = list(prepared.template.container.command)
    if command or Path(program).name not in HOST_PROGRAMS:
        shown = " ".join([*command, program]).strip() or "nothing"
        raise ShimTaskError(
            f"the template runs {shown!r}, not pyflyte-execute; outside a container only pyflyte-execute runs. "
            "Use mode='image' (--mode image) to run the template's own command in its image"
        )


def substitute(args: list[str], placeholders: dict[str, str]) -> list[str]:
    resolved = []
    for arg in args:
        for placeholder, value in placeholders.items():
            arg = arg.replace(placeholder, value)
        if "{{." in arg:
            raise TemplateError(f"container arg {arg!r} has a placeholder runs cannot fill")
        resolved.append(arg)
    return resolved


def import_roots(prepared: Prepared) -> list[str]:
    """Folders a fresh process needs on sys.path to import the executor (and the workspace)."""
    roots = [str(settings().modules_dir)]
    module_name = prepared.executor.rpartition(".")[0]
    module = sys.modules.get(module_name)
    module_file = getattr(module, "__file__", None)
    if module_file:
        root = Path(module_file).resolve().parent
        for _ in range(module_name.count(".") + (1 if module_file.endswith("__init__.py") else 0)):
            root = root.parent
        roots.append(str(root))
    roots.append(os.getcwd())
    return list(dict.fromkeys(roots))


def finish(
    prepared: Prepared,
    *,
    mode: str,
    logs: str,
    started: float,
    keep: bool,
    failure: RunError | None = None,
) -> RunResult:
    """Decide the result from the files pyflyte-execute left, the same way for every mode."""
    error = failure or _error_document(prepared.folder.outputs)
    if failure is None:
        error = _returned_shape(prepared.folder.probe) or error  # the cause, not flytekit's KeyError: 0
    outputs: dict[str, Any] = {}
    notes: list[str] = []
    if error is None:
        error = _positional_outputs(prepared.folder.probe)
    if error is None:
        error, outputs = _read_outputs(prepared)
    if error is not None and "ModuleNotFoundError" in error.detail + error.message:
        notes.append(
            f"{prepared.executor} must be importable by a fresh Python: keep it in a %%shimtask cell or a module "
            "on PYTHONPATH (the notebook's folder and the shimtask workspace are added)"
        )
    literals = _output_literals(prepared.folder.outputs) if error is None else None
    kept = prepared.folder.remove(keep)
    return RunResult(
        ok=error is None,
        outputs=outputs if error is None else {},
        error=error,
        logs=logs,
        seconds=time.perf_counter() - started,
        workdir=kept,
        mode=mode,
        task_name=prepared.template.id.name,
        notes=notes,
        literals=literals,
    )


@dataclass
class RunOutcome:
    """What a mode finds while its run is open; ``finishing`` decides the result from it when the block ends."""

    logs: str = ""
    failure: RunError | None = None
    notes: list[str] = field(default_factory=list)  # they lead the result's notes
    decided: RunResult | None = None

    @property
    def result(self) -> RunResult:
        assert self.decided is not None, "the result is decided when the finishing block ends"
        return self.decided


@contextlib.contextmanager
def finishing(prepared: Prepared, *, mode: str, keep: bool) -> Iterator[RunOutcome]:
    """A mode's run of ``prepared``: if the block raises, the run folder goes and the error goes on; else
    ``finish`` decides the result from the folder and the block's outcome, with the block's notes first."""
    started = time.perf_counter()
    outcome = RunOutcome()
    try:
        yield outcome
    except BaseException:
        prepared.folder.remove(keep=False)
        raise
    result = finish(prepared, mode=mode, logs=outcome.logs, started=started, keep=keep, failure=outcome.failure)
    result.notes[:0] = outcome.notes
    outcome.decided = result


def _output_literals(outputs: Path) -> Any:
    from flyteidl.core.literals_pb2 import LiteralMap

    literal_map = LiteralMap()
    literal_map.ParseFromString((outputs / "outputs.pb").read_bytes())
    return literal_map


class StopToken:
    """Stops the runs of other threads (workflow nodes): each run registers how it is stopped.

    A run registered after ``stop()`` is stopped at once, so no run starts late and lingers.
    """

    def __init__(self) -> None:
        self.stopped = False
        self._lock = threading.Lock()
        self._stoppers: dict[int, Callable[[], None]] = {}

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            stoppers = list(self._stoppers.values())
        for stop in stoppers:
            with contextlib.suppress(Exception):
                stop()

    @contextlib.contextmanager
    def stoppable(self, stop: Callable[[], None]) -> Iterator[None]:
        key = id(stop)
        with self._lock:
            self._stoppers[key] = stop
            stopped = self.stopped
        if stopped:
            stop()
        try:
            yield
        finally:
            with self._lock:
                self._stoppers.pop(key, None)


_thread_token = threading.local()


@contextlib.contextmanager
def stop_token(token: StopToken) -> Iterator[None]:
    """Runs in this thread register with ``token``."""
    _thread_token.token = token
    try:
        yield
    finally:
        _thread_token.token = None


@contextlib.contextmanager
def stoppable(stop: Callable[[], None]) -> Iterator[None]:
    """While inside, this thread's stop token (if any) can stop the run with ``stop``."""
    token = getattr(_thread_token, "token", None)
    if token is None:
        yield
        return
    with token.stoppable(stop):
        yield


def _error_document(outputs: Path) -> RunError | None:
    from flyteidl.core.errors_pb2 import ContainerError, ErrorDocument
    from flyteidl.core.execution_pb2 import ExecutionError

    for path in sorted(outputs.glob("error*.pb")):
        document = ErrorDocument()
        document.ParseFromString(path.read_bytes())
        error = document.error
        kind = ExecutionError.ErrorKind.Name(error.origin) if error.origin else "SYSTEM"
        return RunError(
            kind="USER" if kind == "USER" else "SYSTEM",
            code=error.code or "UNKNOWN",
            message=_cause_line(error.message) or error.code,
            detail=error.message,
            recoverable=error.kind == ContainerError.Kind.RECOVERABLE,
        )
    return None


def _cause_line(text: str) -> str:
    """The exception line of an error document's message; one raised with no message gets the line that raised it."""
    line = _exception_line(text)
    if not line.endswith(":"):
        return line
    frames = [found for entry in text.splitlines() if (found := FRAME.match(entry))]
    if not frames:
        return f"{line[:-1]} (raised with no message)"
    last = frames[-1]
    return f"{line[:-1]} raised with no message at {last['path']}:{last['line']} in {last['function']}()"


def _exception_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(("Message:", "Traceback", "File ", "^")) and ":" in line:
            return line
    return lines[-1] if lines else ""


def _read_outputs(prepared: Prepared) -> tuple[RunError | None, dict[str, Any]]:
    from flyteidl.core.literals_pb2 import LiteralMap

    path = prepared.folder.outputs / "outputs.pb"
    if not path.exists():
        return RunError("SYSTEM", "NoOutputs", "pyflyte-execute wrote neither outputs.pb nor an error document"), {}
    literal_map = LiteralMap()
    literal_map.ParseFromString(path.read_bytes())
    declared = set(prepared.template.interface.outputs.variables)
    missing = declared - set(literal_map.literals)
    if missing:
        return RunError("USER", "MissingOutputs", f"outputs not produced: {', '.join(sorted(missing))}"), {}
    try:
        return None, decode_outputs(literal_map, prepared.template, prepared.task)
    except Exception as exc:
        message = f"outputs do not match the declared interface: {describe(exc)}"
        return RunError("USER", "OutputDecode", message, str(exc)), {}


def _returned_shape(probe: Path) -> RunError | None:
    """What the executor returned for several outputs, when flytekit cannot take it (it would say ``KeyError: 0``)."""
    import json

    record: dict = {}
    with contextlib.suppress(ValueError, OSError):
        record = json.loads(probe.read_text())
    order = record.get("order") or []
    if len(order) < 2 or record.get("returned") == "by_name":
        return None
    names = ", ".join(order)
    fix = f"return outputs_by_name(tt, {', '.join(f'{name}=...' for name in order)}) from jupyter_shimtask"
    length = record.get("length")
    if record.get("type") == "dict":
        returned = "a dict"
    elif record.get("returned") == "positional" and length != len(order):
        returned = f"{length} values"
    elif record.get("returned") not in ("positional", "by_name_mismatch"):
        returned = f"one {record.get('type')}"
    else:
        return None
    return RunError(
        "USER", "WrongOutputs", f"the executor returned {returned} for {len(order)} outputs ({names}); {fix}"
    )


def _positional_outputs(probe: Path) -> RunError | None:
    import json

    if not probe.exists():
        return None
    record = json.loads(probe.read_text())
    if record.get("returned") != "positional":
        return None
    order = ", ".join(record["order"])
    return RunError(
        "USER",
        "PositionalOutputs",
        f"the executor returned {len(record['order'])} outputs by position; pyflyte-execute assigned them in "
        f"this process's protobuf map order ({order}), which changes from run to run. "
        "Return outputs_by_name(tt, name=value, ...) from jupyter_shimtask instead",
    )
