"""Plain displays: what a %%shimtask cell defined, and what a run gave (the verdict, outputs as
themselves, logs behind a disclosure). The inspector widget lives in ``inspector``."""

from __future__ import annotations

import html
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .diagnosis import cause_of, kind_meaning, read_traceback
from .template import size_report

if TYPE_CHECKING:
    from .authoring import DefinedTask
    from .diagnosis import ExecutorTraceback
    from .diffing import TemplateDiff
    from .failures import Failure
    from .runners.base import RunResult

COLUMNS = ("variable", "task", "type", "executor", "image", "bytes")


@dataclass
class TaskSummary:
    tasks: list[DefinedTask]
    classes: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)  # @task functions and workflows

    @property
    def footer(self) -> str:
        if self.tasks:
            return ""
        if self.entities:
            return f"defined {', '.join([*self.classes, *self.entities])}"
        return f"defined {', '.join(self.classes)}; no task instances yet"

    def changes(self) -> list[TemplateDiff]:
        """For each task this cell redefined: what changed since its previous version."""
        from .diffing import since_previous

        return [
            since_previous(defined.previous, defined.template) for defined in self.tasks if defined.previous is not None
        ]

    def rows(self) -> list[tuple[str, ...]]:
        rows = []
        for defined in self.tasks:
            report = size_report(defined.template)
            size = f"{report.total:,}" + ("" if report.status == "ok" else f" ({report.status})")
            rows.append(
                (
                    defined.variable,
                    defined.template.id.name,
                    defined.template.type,
                    defined.executor,
                    defined.template.container.image,
                    size,
                )
            )
        return rows

    def __repr__(self) -> str:
        if not self.tasks:
            return self.footer
        rows = [COLUMNS, *self.rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        table = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
        return "\n".join(table + [str(change) for change in self.changes()])

    def _repr_html_(self) -> str:
        if not self.tasks:
            return f"<p>{html.escape(self.footer)}</p>"
        head = "".join(f"<th>{name}</th>" for name in COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td><code>{html.escape(cell)}</code></td>" for cell in row) + "</tr>"
            for row in self.rows()
        )
        changes = "".join(change._repr_html_() for change in self.changes())
        return f'<table class="shimtask-summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{changes}'


# -- runs: the verdict first, then the outputs as themselves, the logs behind a disclosure ---------

RUN_STYLE = (
    "<style>"
    ".shimtask-run { border-left: 4px solid var(--jp-success-color1, #2e7d32); padding: 2px 10px; }"
    ".shimtask-run-failed { border-left-color: var(--jp-error-color1, #c62828); }"
    ".shimtask-run .shimtask-verdict-failed { color: var(--jp-error-color1, #c62828); }"
    ".shimtask-run pre { margin: 2px 0; white-space: pre-wrap; }"
    ".shimtask-run th { text-align: left; vertical-align: top; padding-right: 12px; }"
    ".shimtask-run .shimtask-meaning { color: var(--jp-content-font-color2, #555); }"
    "</style>"
)
LIVE_TAIL_LINES = 200
LIVE_INTERVAL_SECONDS = 0.25
RICH_TYPES = ("text/html", "image/png", "image/jpeg", "image/svg+xml")


def attempt_text(result: RunResult) -> str:
    """``attempt N`` (``N`` from ``result.attempts`` when the runner records attempts, else 1)."""
    attempts = getattr(result, "attempts", None)
    count = attempts if isinstance(attempts, int) else len(attempts) if isinstance(attempts, (list, tuple)) else 1
    return f"attempt {max(count, 1)}"


def _executor_traceback(result: RunResult) -> ExecutorTraceback | None:

    error = result.error
    return read_traceback(error.detail) if error is not None and error.detail else None


def failure_text(result: RunResult, fold: bool = True) -> str:
    """The plain form of a failed run: verdict, cause, what the kind means, the executor's frames."""

    error = result.error
    head = f"{result.task_name or 'task'} [{result.mode}] FAILED in {result.seconds:.2f}s ({attempt_text(result)})"
    lines = [head]
    if error is not None:
        lines += [f"  {error}", f"  means: {kind_meaning(error)}"]
        traceback = _executor_traceback(result)
        if traceback is not None and traceback.frames:
            lines += ["  " + line for line in traceback.text(fold=fold).splitlines()]
    return "\n".join(lines)


def run_text(result: RunResult) -> str:
    """``str(result)``: plain lines for terminals and the CLI."""
    retried = len(getattr(result, "attempts", None) or ()) > 1
    if result.ok:
        head = f"{result.task_name or 'task'} [{result.mode}] ok in {result.seconds:.2f}s"
        head += f" after {len(result.attempts)} attempts" if retried else ""
        body = [head, *(f"  {name} = {value!r}" for name, value in result.outputs.items())]
    else:
        body = [failure_text(result)]
    body += [f"  {attempt}" for attempt in result.attempts] if retried else []
    body += [f"  note: {note}" for note in result.notes]
    if result.workdir:
        body.append(f"  kept: {result.workdir}")
    return "\n".join(body)


def has_rich_view(result: RunResult) -> bool:
    """Whether a notebook should get HTML: a failure, logs to fold away, or an output with a rich repr."""
    if not result.ok or result.logs.strip():
        return True
    return any(set(RICH_TYPES) & set(_bundle(value)) for value in result.outputs.values())


def run_html(result: RunResult, *, detail_open: bool = False) -> str:
    """The verdict first, then outputs as themselves (or the cause, frames and meaning), logs folded."""
    parts = [_verdict_html(result)]
    if result.ok:
        rows = "".join(
            f"<tr><th><code>{html.escape(name)}</code></th><td>{_value_html(value)}</td></tr>"
            for name, value in result.outputs.items()
        )
        parts.append(f'<table class="shimtask-outputs">{rows}</table>' if rows else "")
    else:
        parts.append(_failure_body_html(result, detail_open))
    if len(getattr(result, "attempts", None) or ()) > 1:
        parts += [f'<div class="shimtask-note">{html.escape(str(attempt))}</div>' for attempt in result.attempts]
    parts += [f'<div class="shimtask-note">note: {html.escape(note)}</div>' for note in result.notes]
    if result.workdir:
        parts.append(f"<div>kept: <code>{html.escape(str(result.workdir))}</code></div>")
    parts.append(logs_html(result.logs))
    state = "ok" if result.ok else "failed"
    return f'{RUN_STYLE}<div class="shimtask-run shimtask-run-{state}">{"".join(parts)}</div>'


def _verdict_html(result: RunResult) -> str:
    words = [f"<code>{html.escape(result.task_name or 'task')}</code>", html.escape(result.mode)]
    if not result.ok:
        words.append(attempt_text(result))
    words.append(f"{result.seconds:.2f}s")
    label = "ok" if result.ok else "FAILED"
    return (
        f'<div class="shimtask-verdict"><b class="shimtask-verdict-{"ok" if result.ok else "failed"}">{label}</b> '
        + " · ".join(words)
        + "</div>"
    )


def _failure_body_html(result: RunResult, detail_open: bool) -> str:

    error = result.error
    if error is None:
        return ""
    parts = [
        f'<div class="shimtask-cause"><code>{html.escape(cause_of(error))}</code></div>',
        f'<div class="shimtask-meaning"><small>{html.escape(kind_meaning(error))}</small></div>',
    ]
    traceback = _executor_traceback(result)
    if traceback is not None and traceback.frames:
        folded = f"; {traceback.folded} flytekit frames folded away" if traceback.folded else ""
        parts.append(
            f'<div class="shimtask-frames"><small>the executor\'s own frames{folded}</small>'
            f"<pre>{html.escape(traceback.text(fold=True))}</pre></div>"
        )
    if error.detail:
        parts.append(
            f'<details class="shimtask-detail"{" open" if detail_open else ""}>'
            "<summary>the error document, in full</summary>"
            f"<pre>{html.escape(error.detail)}</pre></details>"
        )
    return "".join(parts)


def logs_html(logs: str, *, summary: str = "", open_: bool = False) -> str:
    if not logs.strip():
        return ""
    lines = logs.strip("\n").count("\n") + 1
    title = summary or f"logs ({lines:,} line{'s' if lines != 1 else ''})"
    return (
        f'<details class="shimtask-logs"{" open" if open_ else ""}><summary>{html.escape(title)}</summary>'
        f"<pre>{html.escape(logs.strip(chr(10)))}</pre></details>"
    )


def _bundle(value: Any) -> dict[str, Any]:
    """The value's display data, as ``display(value)`` would send it."""
    from IPython.core.formatters import DisplayFormatter
    from IPython.core.interactiveshell import InteractiveShell

    formatter = InteractiveShell.instance().display_formatter if InteractiveShell.initialized() else DisplayFormatter()
    try:
        data, _ = formatter.format(value)
    except Exception:  # a broken repr must not hide the verdict
        data = {"text/plain": repr(value)}
    return data


def _value_html(value: Any) -> str:
    import base64

    data = _bundle(value)
    if "text/html" in data:
        return data["text/html"]
    for kind in ("image/png", "image/jpeg"):
        if kind in data:
            raw = data[kind]
            encoded = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
            return f'<img src="data:{kind};base64,{encoded}">'
    if "image/svg+xml" in data:
        return data["image/svg+xml"]
    return f"<pre>{html.escape(data.get('text/plain', repr(value)))}</pre>"


def failure_html(failure: Failure) -> str:
    """``%shimtask why``: a failed run's whole view (traceback unfolded), or a cell or usage error."""
    if failure.result is not None:
        return run_html(failure.result, detail_open=True)
    task = f" <code>{html.escape(failure.task)}</code>" if failure.task else ""
    detail = f"<pre>{html.escape(failure.detail)}</pre>" if failure.detail and failure.detail != failure.message else ""
    return (
        f'{RUN_STYLE}<div class="shimtask-run shimtask-run-failed"><div class="shimtask-verdict">'
        f'<b class="shimtask-verdict-failed">{html.escape(failure.kind)} failure</b>{task}</div>'
        f'<div class="shimtask-cause"><code>{html.escape(failure.message)}</code></div>{detail}</div>'
    )


class LiveLog:
    """A running task's logs in one display that is updated in place (at most every
    ``LIVE_INTERVAL_SECONDS``), and emptied when the run ends: the result shows them, folded."""

    def __init__(self, task: str, interval: float = LIVE_INTERVAL_SECONDS):
        self.task = task
        self.interval = interval
        self.text: list[str] = []
        self._handle: Any = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        if not text.strip() and not self.text:  # pyflyte-execute prints an empty line first
            return
        with self._lock:
            self.text.append(text)
            if self._handle is None:
                self._show()
            elif self._timer is None:
                self._timer = threading.Timer(self.interval, self._flush)
                self._timer.daemon = True
                self._timer.start()

    def _flush(self) -> None:
        with self._lock:
            self._timer = None
            if self._handle is not None:
                self._show()

    def _show(self) -> None:
        from IPython.display import display

        logs = "".join(self.text)
        lines = logs.splitlines()
        shown = "\n".join(lines[-LIVE_TAIL_LINES:])
        more = f", last {LIVE_TAIL_LINES}" if len(lines) > LIVE_TAIL_LINES else ""
        summary = f"logs of {self.task}, running ({len(lines):,} lines{more})"
        data = {"text/html": logs_html(shown, summary=summary, open_=True), "text/plain": shown}
        if self._handle is None:
            self._handle = display(data, raw=True, display_id=True)
        else:
            self._handle.update(data, raw=True)

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._handle is not None:
                self._handle.update({"text/plain": ""}, raw=True)
                self._handle = None


class StreamLog:
    """Logs written through to stdout as they come (terminals, where a display cannot be updated)."""

    def write(self, text: str) -> None:
        if not text.strip():  # pyflyte-execute prints an empty line first
            return
        sys.stdout.write(text)
        sys.stdout.flush()

    def close(self) -> None:
        pass


def log_sink(shell: Any, task: str) -> LiveLog | StreamLog:
    """Where a magic's run streams its logs: a live display in a kernel, stdout elsewhere."""
    return LiveLog(task) if getattr(shell, "kernel", None) is not None else StreamLog()
