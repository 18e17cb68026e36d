"""What a person sees when something fails: the verdict first, the executor's own exception and
frames, what the error kind means on the platform, logs folded away, and ``%shimtask why``."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
import sample_tasks
from IPython.core.error import UsageError
from support import GREET_CELL

from jupyter_shimtask import run
from jupyter_shimtask.failures import failure_log, read_traceback

TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def fresh_failures():
    failure_log().clear()
    yield
    failure_log().clear()


@pytest.mark.parametrize("mode", [{"mode": "process"}, {"mode": "subprocess", "warm": False}], ids=["process", "cold"])
def test_failed_run_shows_the_executor_exception_first(mode: dict) -> None:
    result = run(sample_tasks.raising, {"name": "x"}, retries=False, **mode)  # the first attempt
    assert not result.ok
    text = str(result)
    first, cause, meaning, *frames = text.splitlines()
    assert first.startswith(f"raising [{mode['mode']}] FAILED in ") and first.endswith("(attempt 1)")
    assert cause == "  SYSTEM: ValueError: cannot greet 'x'"
    assert "system budget" in meaning and "not from the task's retries" in meaning
    frame_text = "\n".join(frames)
    assert 'sample_tasks.py", line' in frame_text and "raise ValueError" in frame_text
    assert "/flytekit/" not in frame_text and "shimtask_probe" not in frame_text
    assert "shimtask_output_probe" not in frame_text
    assert re.search(r"\(\d+ flytekit frames folded away\)", frame_text)

    page = result._repr_mimebundle_()["text/html"]
    verdict, cause_at = page.index("FAILED"), page.index("ValueError: cannot greet")
    logs_at = page.index('<details class="shimtask-logs">')
    assert verdict < cause_at < logs_at  # the verdict and the cause come before the logs
    assert "attempt 1" in page[verdict:cause_at]
    # the logs (which repeat the traceback twice) are folded: nothing but the summary shows
    assert page.count("<details") == 2 and "<details open" not in page


def test_user_error_says_what_user_means() -> None:
    result = run(sample_tasks.user_error, {"name": "missing"}, mode="subprocess", warm=False)
    assert result.error.kind == "USER"
    assert "  means: USER" in str(result)
    assert "KeyError" in result.error.message


def test_read_traceback_keeps_the_innermost_exception() -> None:
    document = (
        "Trace:\n\n    Traceback (most recent call last):\n"
        '      File "/venv/lib/python3.11/site-packages/flytekit/bin/entrypoint.py", line 198, in _dispatch_execute\n'
        "        outputs = task_def.dispatch_execute(ctx, idl_input_literals)\n"
        "                  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        '      File "/work/cells/query_0123456789ab.py", line 12, in execute_from_model\n'
        "        return rows[0]\n"
        "    IndexError: list index out of range\n\nMessage:\n\n    IndexError: list index out of range"
    )
    traceback = read_traceback(document)
    assert traceback.exception == "IndexError: list index out of range"
    assert [frame.function for frame in traceback.own] == ["execute_from_model"]
    assert traceback.own[0].code == "return rows[0]" and traceback.folded == 1
    assert read_traceback("no traceback here") is None


def test_successful_plain_outputs_stay_text_only() -> None:
    result = run(sample_tasks.by_name, {"n": 1}, mode="process")
    assert result.ok and set(result._repr_mimebundle_()) == {"text/plain"}
    assert str(result).splitlines()[1:] == ["  total = 2", "  label = '1'"]


def test_dataframe_output_renders_as_a_table(shell) -> None:
    import pandas as pd

    shell.user_ns.update(frames=sample_tasks.frames, pd=pd)
    shell.run_cell("frame = pd.DataFrame({'value': [1, 2]})")
    result = shell.run_line_magic("shimtask", "run frames --inputs-from dict(frame=frame)")
    assert result.ok
    data, _ = shell.display_formatter.format(result)
    expected, _ = shell.display_formatter.format(result.outputs["result"])
    assert expected["text/html"] in data["text/html"]  # the DataFrame's own HTML, as display() shows it
    assert data["text/html"].index("ok") < data["text/html"].index('class="dataframe')
    assert "text/plain" in data


def test_why_shows_the_last_failure_of_each_kind(shell, capsys) -> None:
    shell.run_cell_magic("shimtask", "greeting", GREET_CELL.replace("GREETING", "Hi"))
    shell.run_line_magic("shimtask", "why")
    assert capsys.readouterr().out.strip() == "no failure so far"

    with pytest.raises(UsageError):
        shell.run_line_magic("shimtask", "run greet nmae=x")
    shell.user_ns["raising"] = sample_tasks.raising
    result = shell.run_line_magic("shimtask", "run raising name=boom --mode subprocess --cold")
    assert not result.ok
    capsys.readouterr()

    shell.run_line_magic("shimtask", "why")  # the run, not the older usage error
    shown = capsys.readouterr().out
    assert "raising [subprocess] FAILED" in shown and "ValueError: cannot greet 'boom'" in shown
    assert "/flytekit/core/shim_task.py" in shown  # why unfolds the whole traceback
    shell.run_line_magic("shimtask", "why greet")  # by task: greet's last failure is the usage error
    assert "unknown nmae" in capsys.readouterr().out
    shell.run_line_magic("shimtask", "why raising")
    assert "cannot greet 'boom'" in capsys.readouterr().out
    shell.run_line_magic("shimtask", "why other")
    assert capsys.readouterr().out.strip() == "no failure of other so far"

    with pytest.raises(ZeroDivisionError):
        shell.run_cell_magic("shimtask", "broken", "a = 1\nb = a / 0\n")
    shell.run_line_magic("shimtask", "why")
    shown = capsys.readouterr().out
    assert "cell failure (broken): division by zero" in shown and "ZeroDivisionError" in shown


def test_why_from_the_api_run() -> None:
    run(sample_tasks.raising, {"name": "api"}, mode="process")
    last = failure_log().last("raising")
    assert last.kind == "run" and last.message == "ValueError: cannot greet 'api'"
    assert last.result is not None and not last.result.ok


def test_logs_stream_live_into_one_display_and_fold_after(tmp_path: Path) -> None:
    """In a real kernel: one display updated while the run goes on, then the result with logs folded."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        setup = (
            f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
            "%load_ext jupyter_shimtask\n"
            f"%config ShimTask.workspace = {str(tmp_path / 'workspace')!r}\n"
            "from sample_tasks import chatty"
        )
        assert execute(client, setup)[1]["content"]["status"] == "ok"
        messages, _ = execute(client, "%shimtask run chatty name=kernel --mode subprocess --cold")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    kinds = [(message["msg_type"], message["received"]) for message in messages]
    shown = [message for message in messages if message["msg_type"] == "display_data"]
    updates = [message for message in messages if message["msg_type"] == "update_display_data"]
    assert len(shown) == 1, kinds
    display_id = shown[0]["content"]["transient"]["display_id"]
    assert all(update["content"]["transient"]["display_id"] == display_id for update in updates)
    live = [shown[0], *updates[:-1]]
    texts = [message["content"]["data"]["text/plain"] for message in live]
    assert "step 0 of kernel" in texts[0]
    assert any("step 2 of kernel" in text for text in texts)
    # the updates came while the executor was still printing, not all at the end
    result_at = next(message["received"] for message in messages if message["msg_type"] == "execute_result")
    assert result_at - shown[0]["received"] > 1.0, kinds
    assert updates[-1]["content"]["data"] == {"text/plain": ""}  # the live display steps aside
    result = next(message for message in messages if message["msg_type"] == "execute_result")["content"]["data"]
    page = result["text/html"]
    assert page.index("FAILED") < page.index("gave up on") < page.index("shimtask-logs")
    assert "step 1 of kernel" in page.split('<details class="shimtask-logs">')[1]
    assert not [message for message in messages if message["msg_type"] == "stream"]


def execute(client, code: str, timeout: float = 120) -> tuple[list[dict], dict]:
    """Run ``code``; the iopub messages it caused (each with its ``received`` time) and the reply."""
    msg_id = client.execute(code)
    messages = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = client.get_iopub_msg(timeout=timeout)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        message["received"] = time.monotonic()
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            break
        messages.append(message)
    reply = client.get_shell_msg(timeout=timeout)
    return messages, reply


def test_bad_python_value_is_one_line_in_a_notebook(shell, capsys) -> None:
    shell.user_ns["positional"] = sample_tasks.positional
    shell.run_cell("import jupyter_shimtask as st\nst.run(positional, {'n': 'abc'})")
    shown = capsys.readouterr()
    lines = [line for line in (shown.out + shown.err).splitlines() if line.strip()]
    assert lines == ["InputError: input n: expected int, got str 'abc'"], lines
    assert sys.last_value is not None


def test_terminal_logs_stream_to_stdout(shell, capsys) -> None:
    shell.user_ns["chatty"] = sample_tasks.chatty
    result = shell.run_line_magic("shimtask", "run chatty name=terminal --mode process")
    assert not result.ok
    out = capsys.readouterr().out
    assert "step 0 of terminal" in out and "step 2 of terminal" in out  # no display to update: plain text


class Picture:
    """An output with an image repr only, as a plotting library's figure has."""

    def _repr_png_(self) -> bytes:
        return b"\x89PNG\r\n\x1a\nfake"

    def __repr__(self) -> str:
        return "<Picture>"


def test_image_outputs_render_as_images() -> None:
    from jupyter_shimtask.runners.base import RunResult

    result = RunResult(True, {"plot": Picture(), "n": 3}, None, "", 0.5, None, "process", "draw")
    bundle = result._repr_mimebundle_()
    assert '<img src="data:image/png;base64,iVBORw0KGgpmYWtl">' in bundle["text/html"]
    assert "<pre>3</pre>" in bundle["text/html"]
    assert bundle["text/plain"].splitlines()[1:] == ["  plot = <Picture>", "  n = 3"]
