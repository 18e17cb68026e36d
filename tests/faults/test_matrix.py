"""The fault matrix: each fault in every mode, asserting the verdict and that the message names the cause.

Modes whose engine (or test image) is missing skip with the reason; under CI they fail instead.
The cell module and its workspace are shared by the module's tests, so warm workers and warm
containers are started once per mode and reused by every row.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from engine_fixtures import ENGINE_NAMES as ENGINES
from engine_fixtures import _ready, ready_engine
from fault_cell import CELL
from support import mode_options, processes_mentioning

from jupyter_shimtask import check, run, serialize
from jupyter_shimtask.authoring import build_module
from jupyter_shimtask.config import ShimTask, use
from jupyter_shimtask.errors import ShimTaskError, TemplateError
from jupyter_shimtask.runners import RunResult, warm
from jupyter_shimtask.runners.engines import Engine
from jupyter_shimtask.runners.image import warm_folder

MODES = (
    "process",
    "subprocess-cold",
    "subprocess-warm",
    "image-cold-docker",
    "image-warm-docker",
    "image-cold-podman",
    "image-warm-podman",
)
MEMORY = 3  # flyteidl Resources.ResourceName.MEMORY


@dataclass(frozen=True)
class Expect:
    """A verdict: ``code`` None means ok (with ``out`` if given); ``raises`` an exception before any run."""

    code: str | None = None
    names: tuple[str, ...] = ()  # text the message (or, when ok, a note) must hold
    out: str | None = None
    raises: type[Exception] | None = None


@dataclass(frozen=True)
class Fault:
    name: str
    task: str
    text: str = "x"
    env: dict[str, str] = field(default_factory=dict)
    memory: str = ""
    program: str = ""  # replaces args[0]
    executor: str = ""  # replaces the executor path
    timeout: float | None = None
    expect: Expect = Expect()
    per_mode: dict[str, Expect | None] = field(default_factory=dict)  # by mode prefix; None: does not apply

    def expectation(self, mode: str) -> Expect | None:
        for prefix in sorted(self.per_mode, key=len, reverse=True):
            if mode.startswith(prefix):
                return self.per_mode[prefix]
        return self.expect


def _fresh_hash() -> str:
    code = "print(hash('shimtask'))"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip()


IN_PROCESS_NOTE = Expect(names=("this interpreter",))
FAULTS = [
    Fault("greets", "greet", expect=Expect(out="Hello, x!")),
    Fault(
        "tz-at-start-up",
        "probe",
        "TZ",
        env={"TZ": "SHF+05"},
        expect=Expect(out="SHF"),
        per_mode={"process": Expect(names=("TZ", "this interpreter"))},
    ),
    Fault(
        "io-encoding-at-start-up",
        "probe",
        "PYTHONIOENCODING",
        env={"PYTHONIOENCODING": "latin-1"},
        expect=Expect(out="iso8859-1"),  # how a fresh interpreter names it
        per_mode={"process": Expect(names=("PYTHONIOENCODING",))},
    ),
    Fault(
        "hash-seed-at-start-up",
        "probe",
        "PYTHONHASHSEED",
        env={"PYTHONHASHSEED": "0"},
        expect=Expect(out=_fresh_hash()),
        per_mode={"process": Expect(names=("PYTHONHASHSEED",))},
    ),
    Fault(
        "path-without-pyflyte-execute",
        "greet",
        env={"PATH": "/nonexistent-shimtask"},
        expect=Expect(code="ProcessFailed", names=("PATH", "127")),
        per_mode={"image": Expect(code="ContainerFailed", names=("127",))},
    ),
    Fault("container-env-applies", "probe", "VALUE", env={"SHIMTASK_FAULT_VALUE": "hello"}, expect=Expect(out="hello")),
    Fault(
        "memory-limit",
        "hog",
        "300",
        memory="150Mi",
        expect=Expect(code="OOMKilled", names=("150Mi",)),
        per_mode={"process": Expect(names=("150Mi", "not applied"))},
    ),
    Fault("executor-raises", "raising", expect=Expect(code="*", names=("fault: the executor raised",))),
    Fault("dict-for-two-outputs", "as_dict", expect=Expect(code="WrongOutputs", names=("a dict", "outputs_by_name"))),
    Fault("short-tuple", "short", expect=Expect(code="WrongOutputs", names=("1 values", "outputs_by_name"))),
    Fault("positional-tuple", "positional", expect=Expect(code="PositionalOutputs", names=("outputs_by_name",))),
    Fault(
        "timeout",
        "sleeping",
        "60",
        timeout=3,
        expect=Expect(code="Timeout", names=("3s",)),
        per_mode={"process": Expect(raises=ShimTaskError, names=("timeout needs mode",))},
    ),
    Fault(
        "segfault",
        "crash",
        expect=Expect(code="ProcessFailed", names=("SIGSEGV",)),
        per_mode={"image": Expect(code="ContainerFailed", names=("SIGSEGV",)), "process": None},
    ),
    Fault(
        "module-not-found",
        "greet",
        executor="shimtask_no_such_module.Executor",
        expect=Expect(code="*", names=("shimtask_no_such_module", "importable")),
    ),
    Fault(
        "host-command",
        "greet",
        program="/bin/sh",
        expect=Expect(raises=ShimTaskError, names=("/bin/sh", "mode='image'")),
        per_mode={"image": None},
    ),
]


@pytest.fixture(scope="module")
def shared_workspace(tmp_path_factory: pytest.TempPathFactory) -> ShimTask:
    return ShimTask(workspace=str(tmp_path_factory.mktemp("fault-workspace")))


@pytest.fixture(autouse=True)
def workspace(shared_workspace: ShimTask) -> ShimTask:
    """The module's one workspace (the suite's default gives each test its own)."""
    use(shared_workspace)
    return shared_workspace


@pytest.fixture(scope="module")
def cell(shared_workspace: ShimTask) -> Iterator[ModuleType]:
    use(shared_workspace)
    yield build_module(CELL, "faults").module
    warm.warm_pool().stop_all()
    for name in ENGINES:
        found = _ready.get(name)
        if isinstance(found, Engine):
            assert found.containers() == [], f"{name} containers left behind"


def options(mode: str) -> dict[str, Any]:
    """run() options for ``mode``; skips (fails in CI) when its engine is not ready."""
    chosen = mode_options(mode)
    if "engine" in chosen:
        ready_engine(chosen["engine"])
    return chosen


def template_for(fault: Fault, cell: ModuleType) -> Any:
    template = serialize(getattr(cell, fault.task))
    for key, value in fault.env.items():
        template.container.env.add(key=key, value=value)
    if fault.memory:
        template.container.resources.limits.add(name=MEMORY, value=fault.memory)
    if fault.program:
        template.container.args[0] = fault.program
    if fault.executor:
        template.container.args[-1] = fault.executor
    return template


def assert_verdict(result: RunResult, expect: Expect) -> None:
    told = f"{result}\n{result.logs[-2000:]}"
    if expect.code is None:
        assert result.ok, told
        if expect.out is not None:
            assert result.outputs == {"out": expect.out}, told
        for name in expect.names:
            assert any(name in note for note in result.notes), told
        return
    assert not result.ok, told
    if expect.code != "*":
        assert result.error.code == expect.code, told
    text = " ".join([result.error.message, *result.notes])
    for name in expect.names:
        assert name in text, told


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_fault(fault: Fault, mode: str, cell: ModuleType) -> None:
    expect = fault.expectation(mode)
    if expect is None:
        pytest.skip(f"{fault.name} does not apply to {mode}")
    chosen = options(mode)
    template = template_for(fault, cell)
    before = dict(os.environ)
    if expect.raises is not None:
        with pytest.raises(expect.raises) as raised:
            run(template, {"text": fault.text}, timeout=fault.timeout, **chosen)
        for name in expect.names:
            assert name in str(raised.value)
        return
    result = run(template, {"text": fault.text}, timeout=fault.timeout, **chosen)
    assert dict(os.environ) == before, "a run changed this process's environment"
    assert_verdict(result, expect)


@pytest.mark.parametrize("mode", MODES)
def test_bad_template_file_is_refused(mode: str, tmp_path: Path, cell: ModuleType) -> None:
    chosen = options(mode)
    garbage = tmp_path / "garbage.pb"
    garbage.write_bytes(b"\x08\x96\x01 not a template")
    with pytest.raises(TemplateError, match="not a TaskTemplate"):
        run(str(garbage), {}, **chosen)


@pytest.mark.parametrize("mode", [mode for mode in MODES if mode.startswith("image")])
def test_a_run_cannot_see_the_notebooks_folder(
    mode: str, cell: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = options(mode)
    (tmp_path / "fault-secret.txt").write_text("private")
    monkeypatch.chdir(tmp_path)
    result = run(template_for(Fault("secret", "probe"), cell), {"text": "SECRET"}, **chosen)
    assert result.ok and result.outputs == {"out": "False"}, result


@pytest.mark.parametrize("mode", [mode for mode in MODES if mode.startswith("image")])
def test_background_processes_end_with_their_run(mode: str, cell: ModuleType) -> None:
    """A process a run leaves in its own session goes with the run, as with a cold container's removal."""
    chosen = options(mode)
    marker = f"313.{os.getpid()}{len(mode)}"
    started = run(cell.daemon, {"text": marker}, **chosen)
    assert started.ok, started
    deadline = time.monotonic() + 10
    while processes_mentioning(f"sleep {marker}"):  # seen from the host, whatever the container's namespace
        assert time.monotonic() < deadline, f"the run's background process outlived it in {mode}"
        time.sleep(0.1)


@pytest.mark.parametrize("mode", [mode for mode in MODES if mode.startswith("image")])
def test_runs_at_the_same_time_cannot_see_each_others_folders(mode: str, cell: ModuleType) -> None:
    """Two runs going on at once each see only their own run folder, as two cold containers do; and no
    run's folder is left for a later run to read."""
    chosen = options(mode)
    assert run(cell.greet, {"text": "first"}, **chosen).ok  # the first warm container is up
    results: list[RunResult] = []
    threads = [
        threading.Thread(target=lambda: results.append(run(cell.siblings, {"text": "3"}, **chosen))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert len(results) == 2 and all(result.ok for result in results), results
    (own_a, *seen_a), (own_b, *seen_b) = (result.outputs["out"].split() for result in results)
    assert own_a != own_b
    assert own_b not in seen_a and own_a not in seen_b, results
    assert not [name for name in seen_a + seen_b if name.startswith("shimtask-run-")], results
    later = run(cell.siblings, {"text": "0"}, **chosen)
    assert later.ok and not [name for name in later.outputs["out"].split()[1:] if name.startswith("shimtask-run-")]
    if chosen["warm"]:
        assert not list(warm_folder().glob("shimtask-run-*")), "a warm run left its folder behind"


@pytest.mark.parametrize("mode", ["subprocess-cold", "subprocess-warm"])
def test_a_memory_limit_stops_a_subprocess_run_while_it_goes_on(mode: str, cell: ModuleType) -> None:
    """As a pod's memory cgroup would: killed soon after it passes the limit, not when it ends 60 s later."""
    template = template_for(Fault("grow", "grow", memory="100Mi"), cell)
    started = time.perf_counter()
    result = run(template, {"text": "400"}, **options(mode))
    seconds = time.perf_counter() - started
    assert not result.ok and result.error.code == "OOMKilled", result
    assert "100Mi" in result.error.message and "was killed" in result.error.message, result
    assert seconds < 20, f"stopped after {seconds:.1f}s"


@pytest.mark.parametrize("mode", ["image-cold-docker", "image-warm-podman"])
def test_check_finds_a_timeout_shorter_than_the_images_start(mode: str, cell: ModuleType) -> None:
    template = template_for(Fault("greets", "greet"), cell)
    assert run(template, {"text": "start"}, **options(mode)).ok  # measures the image's start
    template.metadata.timeout.FromMilliseconds(100)
    (finding,) = [finding for finding in check(template) if finding.code == "timeout-below-start"]
    assert "timeout=0.1s" in finding.message and "shimtask-runtime" in finding.message, finding
    template.metadata.timeout.FromSeconds(3600)
    assert "timeout-below-start" not in [finding.code for finding in check(template)]
