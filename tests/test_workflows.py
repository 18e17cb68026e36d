"""Workflow runs: every node through its own TaskTemplate and the real pyflyte-execute (and engines)."""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import workflow_tasks as w
from engine_fixtures import TEST_IMAGE, engine_fixture, no_containers_left  # noqa: F401
from flytekit import LaunchPlan, dynamic, map_task, sleep, workflow
from flytekit.core.workflow import ImperativeWorkflow
from IPython.core.interactiveshell import InteractiveShell
from support import processes_mentioning

from jupyter_shimtask import run
from jupyter_shimtask.config import ShimTask
from jupyter_shimtask.runners.engines import Engine
from jupyter_shimtask.workflows import WorkflowError, WorkflowResult, inspect_workflow


def run_folders(folder: Path) -> list[Path]:
    return list(folder.glob("shimtask-run-*"))


@pytest.fixture
def music(workspace: ShimTask):
    """flytekit's SQLite3Task on a real database, read by @task functions and a shim task.

    The database lives beside the workspace's modules, which image runs mount (as a cluster would
    reach it at its URI).
    """
    database = workspace.modules_dir / "music.db"
    database.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(database) as connection:
        connection.execute("create table tracks (TrackId integer, Name text, Seconds real)")
        connection.executemany("insert into tracks values (?, ?, ?)", [(i, f"track {i}", 60.5 * i) for i in range(20)])
    return w.music_workflow(w.tracks_task(database, TEST_IMAGE))


def expected_outputs(workflow_object, **inputs) -> dict:
    outputs = workflow_object(**inputs)  # flytekit's own in-process execution
    return dict(zip([f"o{i}" for i in range(len(outputs))], outputs, strict=True))


def test_music_workflow_in_subprocess_mode(music, private_tmp: Path, workspace: ShimTask) -> None:
    result = run(music, {"limit": 5}, mode="subprocess")
    assert isinstance(result, WorkflowResult)
    assert result.ok, result.error
    assert result.outputs == expected_outputs(music, limit=5)
    assert set(result.nodes) == {"n0", "n1", "n2", "n3"}
    assert all(node.ok and node.mode == "subprocess" for node in result.nodes.values())
    frame = result.nodes["n0"].outputs["results"]
    assert isinstance(frame, pd.DataFrame) and list(frame["TrackId"]) == [0, 1, 2, 3, 4]
    assert "Interpolated query" in result.logs("n0")
    assert run_folders(private_tmp) == []
    # the dataframe n0 wrote stays in the execution's one raw-output prefix, which the next nodes read
    assert result.raw is not None and result.raw.parent == workspace.outputs_dir
    assert list(workspace.outputs_dir.iterdir()) == [result.raw]
    table = str(result)
    assert "n0" in table and "tracks" in table and "subprocess" in table
    assert "<table" in result._repr_html_()


@pytest.mark.engine
def test_music_workflow_in_image_mode(engine: Engine, music, private_tmp: Path) -> None:
    expected = expected_outputs(music, limit=7)
    for warm in (True, False):
        result = run(music, {"limit": 7}, mode="image", engine=engine.name, warm=warm)
        assert result.ok, (result.error, {node: r.logs for node, r in result.nodes.items() if r})
        assert result.outputs == expected
        assert {node.mode for node in result.nodes.values()} == {"image"}
    assert run_folders(private_tmp) == []


def test_per_task_modes(private_tmp: Path) -> None:
    result = run(w.chain, {"a": 2}, mode="subprocess", modes={w.triple: "process", "total": "process"})
    assert result.ok, result.error
    assert result.outputs == {"o0": w.chain(a=2)}
    assert {node: r.mode for node, r in result.nodes.items()} == {"n0": "process", "n1": "subprocess", "n2": "process"}


def test_constants_lists_maps_and_defaults() -> None:
    @workflow
    def defaults(a: int, b: int = 10) -> int:
        return w.total(xs=[w.add(a=a), b, 3], named={"a": a, "b": w.add(a=b, b=b)})

    result = run(defaults, {"a": 1}, mode="subprocess")
    assert result.ok, result.error
    assert result.outputs == {"o0": defaults(a=1)} == {"o0": 2 + 10 + 3 + 1 + 20}


def test_launch_plan_and_imperative_workflow() -> None:
    with_default = LaunchPlan.get_or_create(w.chain, name="chain_default", default_inputs={"a": 3})
    assert run(with_default, mode="subprocess").outputs == {"o0": w.chain(a=3)}
    assert run(with_default, {"a": 5}, mode="subprocess").outputs == {"o0": w.chain(a=5)}
    fixed = LaunchPlan.get_or_create(w.chain, name="chain_fixed", fixed_inputs={"a": 4})
    assert run(fixed, mode="subprocess").outputs == {"o0": w.chain(a=4)}
    with pytest.raises(Exception, match="fixes a"):
        run(fixed, {"a": 1}, mode="subprocess")

    imperative = ImperativeWorkflow(name="imperative_chain")
    imperative.add_workflow_input("x", int)
    tripled = imperative.add_entity(w.triple, x=imperative.inputs["x"])
    added = imperative.add_entity(w.add, a=tripled.outputs["y"])
    imperative.add_workflow_output("out", added.outputs["o0"])
    assert run(imperative, {"x": 2}, mode="subprocess").outputs == {"out": 7}


def test_failing_middle_node(private_tmp: Path) -> None:
    result = run(w.broken, {"a": 1}, mode="subprocess")
    assert not result.ok and result.outputs == {}
    assert result.error.node_id == "n1" and result.error.task == "workflow_tasks.explode"
    assert "refusing 2" in str(result.error) and "node n1" in str(result.error)
    assert result.nodes["n0"].ok and result.nodes["n0"].outputs == {"o0": 2}  # upstream kept
    assert result.nodes["n1"].error.kind == "USER"
    assert result.nodes["n3"] is None  # downstream never started
    assert result.states["n3"].status == "not run"
    assert run_folders(private_tmp) == []


def test_subworkflow() -> None:
    result = run(w.outer, {"a": 1}, mode="subprocess")
    assert result.ok, result.error
    assert result.outputs == {"o0": w.outer(a=1)}
    assert {"n1-n0", "n1-n1"} <= set(result.nodes) and result.nodes["n1"] is None
    assert result.states["n1"].kind == "subworkflow" and result.states["n1"].status == "ok"


@pytest.mark.parametrize(("a", "taken"), [(11, "n1-n0"), (5, "n1-n1"), (3, "n1-n2")])
def test_conditional(a: int, taken: str) -> None:
    result = run(w.pick, {"a": a}, mode="subprocess")
    assert result.ok, result.error
    assert result.outputs == {"o0": w.pick(a=a)}
    branches = {"n1-n0", "n1-n1", "n1-n2"}
    assert result.states[taken].status == "ok"
    assert {result.states[node].status for node in branches - {taken}} == {"skipped"}


def test_cache_hit() -> None:
    first = run(w.cached, {"a": 4}, mode="subprocess")
    assert first.ok and not first.states["n0"].cache_hit and first.states["n0"].row()[-1] == "miss"
    again = run(w.cached, {"a": 4}, mode="subprocess")
    assert again.ok and again.outputs == first.outputs == {"o0": 13}
    assert again.states["n0"].cache_hit and again.states["n0"].status == "cached"
    assert not again.states["n1"].cache_hit  # add has no cache
    assert "hit" in str(again)
    other = run(w.cached, {"a": 5}, mode="subprocess")
    assert not other.states["n0"].cache_hit and other.outputs == {"o0": 16}
    bypassed = run(w.cached, {"a": 4}, mode="subprocess", cache=False)
    assert bypassed.ok and not bypassed.states["n0"].cache_hit and bypassed.states["n0"].status == "ok"


def test_unsupported_nodes_are_refused_before_anything_runs(private_tmp: Path) -> None:
    @dynamic
    def fan_out(x: int) -> int:
        return w.add(a=x)

    @workflow
    def dynamic_workflow(x: int) -> int:
        return fan_out(x=x)

    @workflow
    def mapped(xs: list[int]) -> list[int]:
        return map_task(functools.partial(w.add, b=1))(a=xs)

    @workflow
    def gated(x: int) -> int:
        pause = sleep(timedelta(seconds=1))
        after = w.add(a=x)
        pause >> after
        return after

    with pytest.raises(WorkflowError, match=r"node n0 is a gate node \(sleep"):
        run(gated, {"x": 1}, mode="subprocess")
    with pytest.raises(WorkflowError, match=r"node n0 is a dynamic task .*nothing ran"):
        run(dynamic_workflow, {"x": 1}, mode="subprocess")
    with pytest.raises(WorkflowError, match=r"node n0 is an array node \(map_task\)"):
        run(mapped, {"xs": [1, 2]}, mode="subprocess")
    assert run_folders(private_tmp) == []


def test_task_in_main_is_refused(shell: InteractiveShell, private_tmp: Path) -> None:
    shell.run_cell(
        textwrap.dedent(
            """
            from flytekit import task, workflow

            @task
            def local(x: int) -> int:
                return x

            @workflow
            def notebook_flow(x: int) -> int:
                return local(x=x)
            """
        )
    )
    with pytest.raises(WorkflowError, match=r"node n0: task local lives in __main__.*%%shimtask cell"):
        run(shell.user_ns["notebook_flow"], {"x": 1}, mode="subprocess")
    assert run_folders(private_tmp) == []


def test_magics_run_and_inspect_a_cell_workflow(shell: InteractiveShell) -> None:
    shell.run_cell_magic(
        "shimtask",
        "flow",
        textwrap.dedent(
            """
            from flytekit import task, workflow

            @task
            def inc(x: int) -> int:
                return x + 1

            @workflow
            def flow(x: int) -> int:
                return inc(x=inc(x=x))
            """
        ),
    )
    result = shell.run_line_magic("shimtask", "run flow --mode subprocess x=3")
    assert result.ok and result.outputs == {"o0": 5}
    inspection = shell.run_line_magic("shimtask", "inspect flow")
    assert [row[0] for row in inspection.rows] == ["n0", "n1"]
    assert inspection.total > sum(row[3] for row in inspection.rows) // 2  # one task, stored once
    assert inspection.status == "ok" and "bytes in total" in str(inspection)
    html = inspection._repr_html_()
    assert "<svg" in html and "n0" in html


def test_picture_colours_follow_status() -> None:
    result = run(w.broken, {"a": 1}, mode="subprocess")
    picture = result.picture()
    assert picture.svg.startswith("<svg")
    assert "#f4a6a6" in picture.svg and "#b7e4c7" in picture.svg  # failed and ok
    assert "n1 explode [failed] <- n0" in picture.text


def test_inspect_lists_template_sizes_against_limits(workspace: ShimTask) -> None:
    report = inspect_workflow(w.outer)
    assert [row[0] for row in report.rows] == ["n0", "n1", "n1-n0", "n1-n1", "n2"]
    assert report.rows[1][3] is None and report.rows[0][3] > 100
    workspace.warn_bytes = 100
    assert inspect_workflow(w.outer).status == "warn"


CTRL_C_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import workflow_tasks as w
from jupyter_shimtask import run
try:
    run(w.sleepy, {{"seconds": 120.0, "marker_a": {a!r}, "marker_b": {b!r}}}, **{options!r})
except KeyboardInterrupt:
    sys.exit(130)
sys.exit(0)
"""


@pytest.mark.parametrize(
    "options",
    [{"mode": "subprocess", "warm": False}, {"mode": "subprocess", "warm": True}],
    ids=["cold", "warm"],
)
def test_ctrl_c_stops_every_node(options: dict, tmp_path: Path) -> None:
    ctrl_c(options, tmp_path)


@pytest.mark.engine
def test_ctrl_c_stops_every_container(engine: Engine, tmp_path: Path) -> None:
    ctrl_c({"mode": "image", "engine": engine.name, "warm": False}, tmp_path)
    assert engine.containers() == []


def ctrl_c(options: dict, tmp_path: Path) -> None:
    script = CTRL_C_SCRIPT.format(tests=str(Path(__file__).parent), a="a", b="b", options=options)
    env = {**os.environ, "TMPDIR": str(tmp_path), "SHIMTASK_WORKSPACE": str(tmp_path / "ws")}
    parent = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.monotonic() + 120
    while len(markers := list(tmp_path.rglob("shimtask-run-*/tmp/*.pid"))) < 2:  # both nodes run at once
        assert parent.poll() is None, "the workflow ended early"
        assert time.monotonic() < deadline, "the nodes never started"
        time.sleep(0.2)
    pids = [int(marker.read_text()) for marker in markers]
    parent.send_signal(signal.SIGINT)
    assert parent.wait(timeout=60) == 130
    if options["mode"] != "image":  # a container's pid means nothing here; the engine check covers it
        assert not any(alive(pid) for pid in pids), "a node's process outlived Ctrl-C"
    assert not settled(lambda: processes_mentioning(str(tmp_path)))
    assert run_folders(tmp_path) == [] and list(tmp_path.rglob("shimtask-run-*")) == []
    assert list((tmp_path / "ws").glob("outputs/*")) == []


def alive(pid: int) -> bool:
    """Still running after a few seconds (a killed process may wait a moment for its parent to reap it)."""
    return bool(settled(lambda: _running(pid)))


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def settled(probe, seconds: float = 10.0):
    """``probe()`` once it turns falsy, or its last value after ``seconds``."""
    deadline = time.monotonic() + seconds
    while (value := probe()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def test_live_node_table_in_a_kernel(workspace: ShimTask, tmp_path: Path) -> None:
    """In a real kernel the node table is one display, updated as nodes change, then left to the result."""
    from jupyter_client.manager import start_new_kernel

    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import workflow_tasks as w
        from jupyter_shimtask import run
        from jupyter_shimtask.config import ShimTask, use
        use(ShimTask(workspace={workspace.workspace!r}))
        result = run(w.chain, {{"a": 2}}, mode="subprocess")
        print(result.outputs)
        """
    )
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        client.execute(code)
        messages = []
        while True:
            message = client.get_iopub_msg(timeout=120)
            messages.append(message)
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                break
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    shown = [m for m in messages if m["msg_type"] == "display_data"]
    updates = [m for m in messages if m["msg_type"] == "update_display_data"]
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert not errors, errors
    assert len(shown) == 1 and updates, [m["msg_type"] for m in messages]
    display_id = shown[0]["content"]["transient"]["display_id"]
    assert {m["content"]["transient"]["display_id"] for m in updates} == {display_id}
    pages = [m["content"]["data"]["text/html"] for m in updates]
    assert any("<code>ok</code>" in page and "<code>waiting</code>" in page for page in pages)  # mid-run
    assert pages[-1] == ""  # the result shows the final table
    printed = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
    assert "{'o0': 31}" in printed


@pytest.mark.engine
def test_images_override_per_task(engine: Engine, music, workspace: ShimTask) -> None:
    database = workspace.modules_dir / "music.db"
    elsewhere = w.music_workflow(w.tracks_task(database, "shimtask-no-such-image:16"))
    refused = run(elsewhere, {"limit": 3}, mode="image", engine=engine.name)
    assert not refused.ok and refused.error.node_id == "n0" and "shimtask-no-such-image:16" in str(refused.error)
    result = run(elsewhere, {"limit": 3}, mode="image", engine=engine.name, images={"tracks": TEST_IMAGE})
    assert result.ok, result.error
    assert result.outputs == expected_outputs(music, limit=3)


def test_cache_key_as_the_catalog_keys_it() -> None:
    from flyteidl.core.literals_pb2 import Literal, LiteralMap

    from jupyter_shimtask import serialize
    from jupyter_shimtask.workflows import cache

    template = serialize(w.cached_triple)

    def key(template, **literals: Literal) -> str:
        return cache.cache_key(template, LiteralMap(literals=literals))

    def frame(uri: str, digest: str) -> Literal:
        literal = Literal(hash=digest)
        literal.scalar.structured_dataset.uri = uri
        return literal

    assert key(template, x=frame("/a", "same")) == key(template, x=frame("/b", "same"))  # by hash, not by URI
    assert key(template, x=frame("/a", "one")) != key(template, x=frame("/a", "two"))
    bumped = type(template)()
    bumped.CopyFrom(template)
    bumped.metadata.discovery_version = "2"
    assert key(bumped, x=frame("/a", "same")) != key(template, x=frame("/a", "same"))
    bumped.metadata.discovery_version = "1"
    bumped.metadata.cache_ignore_input_vars.append("x")
    assert key(bumped, x=frame("/a", "one")) == key(bumped, x=frame("/a", "two"))


def test_every_node_runs_in_the_platforms_pod(workspace: ShimTask) -> None:
    result = run(w.in_one_pod_each, {}, mode="subprocess")
    assert result.ok, result.error
    steady, flaky = result.outputs.values()
    execution, workflow, attempt = steady.split("|")
    assert flaky.split("|") == [execution, workflow, "1"]  # one execution; the flaky node's second attempt
    assert attempt == "0" and workflow.endswith(":development:workflow_tasks.in_one_pod_each")
    assert execution.startswith("a") and len(execution) == 20
    flaky_node = next(node for node in result.nodes.values() if len(node.attempts) == 2)
    assert flaky_node.attempts[0].error.code and "retried" in flaky_node.attempts[0].next
    once = run(w.in_one_pod_each, {}, mode="subprocess", retries=False)
    assert not once.ok and "first attempt fails" in str(once.error)
