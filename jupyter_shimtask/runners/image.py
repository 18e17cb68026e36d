"""Image mode: the template's own container command inside its image, on the run's files.

The run folder and the raw-output folder are mounted at the same absolute paths, so the args
(placeholders already replaced by local paths) and the literals' URIs mean the same inside and
out. The workspace modules and the executor's own folder are mounted read-only and put on
PYTHONPATH, so a cell-defined executor imports without rebuilding the image.

Warm runs (``ShimTask.warm``) go to one long-lived container per engine, image and workspace:
it runs shimtask_warm_worker, which forks a fresh pyflyte-execute child per run with the mounts, paths,
user and environment a cold container would have, one run at a time. Its run folders live in this
process's warm folder; each warm container mounts a slot folder of its own at that folder's path, and
a run's folder moves into the slot of the container that runs it for the run's length, so a run sees
no other run's folder. The host talks to the worker through a Unix socket in the slot. The
container exits with this process (its lease connection closes), after ``ShimTask.warm_idle``
seconds without runs, and is removed at exit or when it crashes or hangs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ..config import settings
from ..errors import ShimTaskError
from ..platform.resources import limits, quantity
from ..state import state
from ..worker.shimtask_output_probe import ENV_VAR as PROBE_VARIABLE
from .base import WORKER_DIR, LogSink, Prepared, RunError, RunResult, finishing, import_roots, substitute
from .engines import Engine, EngineError, ImageFacts, find_engine, installed, note_start
from .proc import ctrl_c_interrupts, exit_failure, read_log, run_process_group
from .subprocess import cold_only, startup_difference
from .warm import Worker, WorkerFailure, run_warm, warm_pool, worker_code

WORKER_MOUNT = "/opt/jupyter-shimtask/worker"
Mounts = dict[str, tuple[str, str]]  # in-container path -> (host path, "ro" or "rw")
_mount_lock = threading.Lock()  # runs on several threads (workflow nodes) share a warm container per image


def share_warm_mounts(roots: list[Path]) -> None:
    """Folders warm containers mount from now on, so runs that import from any of them share one container."""
    state().shared_warm_roots.update(root for root in roots if not installed(root))


def run_in_image(
    prepared: Prepared,
    *,
    keep: bool,
    timeout: float | None = None,
    on_log: LogSink | None = None,
    image: str | None = None,
    engine: str | None = None,
    warm: bool = False,
) -> RunResult:
    """Run ``prepared`` in ``image`` (default: the template's own), in the warm container or a container of its own.

    A warm container that cannot start (an image whose Python cannot run the worker, an engine
    whose bind mounts do not carry Unix sockets) is removed and the run goes cold, with a note
    saying why; so do later runs in that image, without trying again.
    """
    with finishing(prepared, mode="image", keep=keep) as run, ctrl_c_interrupts():
        chosen = find_engine(engine)
        chosen.remove_orphans_once()
        image = image or prepared.template.container.image
        if not image:
            raise ShimTaskError("the template names no container image; pass image= (or --image)")
        command = container_command(prepared)
        facts = chosen.preflight(image, command[0])
        outcome = None
        if warm and (reason := warm_refusal(prepared, facts, command)):
            run.notes.append(f"cold run: {reason}")
        elif warm:
            try:
                outcome = _run_warm(ContainerRun(prepared, chosen, facts, command, timeout, on_log))
            except WorkerFailure as error:
                run.notes.append(f"cold run: the warm container did not start ({str(error).splitlines()[-1]})")
        run.logs, run.failure = outcome or _run_cold(ContainerRun(prepared, chosen, facts, command, timeout, on_log))
        if facts.carries(prepared.executor):
            run.notes.append(f"{prepared.executor} is baked into {facts.image}: the workspace is not mounted")
        run.notes += facts.version_notes()
    return run.result


@dataclass(frozen=True)
class ContainerRun:
    """One attempt in an image: the run, the engine, what it found in the image, the container's command."""

    prepared: Prepared
    engine: Engine
    facts: ImageFacts
    command: list[str]
    timeout: float | None
    on_log: LogSink | None


def _run_cold(run: ContainerRun) -> tuple[str, RunError | None]:
    """A container of the run's own: created, started attached, inspected if it failed, removed."""
    prepared, engine, facts, command, timeout = run.prepared, run.engine, run.facts, run.command, run.timeout
    container = f"shimtask-{uuid.uuid4().hex[:12]}"
    begun = time.time()
    try:
        created = engine.call(*create_args(prepared, engine, facts.image, facts, container, command))
        if created.returncode:
            engine.forget(facts.image)
            reason = (created.stderr.strip().splitlines() or [f"exit status {created.returncode}"])[-1]
            raise EngineError(f"{engine.name} could not create the container: {reason}", detail=created.stderr)
        status, logs, failure = run_process_group(
            engine.command("start", "--attach", container),
            env=dict(os.environ),
            cwd=str(prepared.folder.root),
            timeout=timeout,
            on_log=run.on_log,
        )
        if failure is not None:
            failure = RunError("SYSTEM", "Timeout", f"no result after {timeout:g}s; the container was removed")
        elif status:
            code, out_of_memory = engine.container_state(container)
            if not code:  # the engine could not start the command at all (Podman then keeps exit code 0)
                code = 127 if "not found" in logs else status
            failure = exit_failure(prepared, code, logs, container=command[0], out_of_memory=out_of_memory)
        note_start_time(prepared, engine, facts.image, begun)
        return logs, failure
    finally:
        engine.remove_container(container)


def note_start_time(prepared: Prepared, engine: Engine, image: str, begun: float) -> None:
    """How long a cold container of ``image`` took from its creation to calling the executor (``check`` compares
    the task's timeout with it)."""
    import json

    with contextlib.suppress(OSError, ValueError, TypeError):
        started_at = json.loads(prepared.folder.probe.read_text())["started_at"]
        how = f"a cold {engine.name} container took from its creation to calling the executor"
        note_start(image, started_at - begun, how)


def _run_warm(run: ContainerRun) -> tuple[str, RunError | None]:
    """The run as a request to the warm container's worker; raises WorkerFailure if none can start."""
    prepared, engine, facts, command = run.prepared, run.engine, run.facts, run.command
    read_only = read_only_roots(prepared, facts)
    env = container_env(prepared, facts, read_only)
    if prepared.pod is not None:
        env.update(prepared.pod.container_env())
    prepared.folder.raw.mkdir(parents=True, exist_ok=True)
    log = prepared.folder.root / "run.log"
    request = {
        "args": command,
        "env": env,
        "inherit_env": True,
        "python_path": env["PYTHONPATH"].split(os.pathsep),
        "log": str(log),
    }
    runs = warm_folder()
    key = ("image", engine.binary, engine.endpoint, facts.image, str(runs), str(settings().workspace))
    wanted = [*read_only, *sorted(state().shared_warm_roots)] if read_only else read_only
    kernel = state()
    with _mount_lock:
        mounted = kernel.warm_roots.get(key, [])
        if not set(wanted) <= set(mounted):  # mounts are fixed at start: a container that mounts them all replaces it
            warm_pool().discard(key)
            mounted = kernel.warm_roots[key] = list(dict.fromkeys([*mounted, *wanted]))
    if key in kernel.failed_starts:
        raise WorkerFailure(kernel.failed_starts[key])
    make_worker = container_worker(engine, facts, runs, mounted)
    try:
        place = functools.partial(placed_for, prepared.folder.root)
        status, failure = run_warm(key, make_worker, request, timeout=run.timeout, on_log=run.on_log, place=place)
    except WorkerFailure as error:
        kernel.failed_starts[key] = str(error)  # later runs go cold at once instead of paying for another failed start
        raise
    logs = read_log(log)
    if failure is None and status:
        code = 128 - status if status < 0 else status  # a container killed by signal N exits 128 + N
        failure = exit_failure(prepared, code, logs, container=command[0])
    return logs, failure


def warm_refusal(prepared: Prepared, facts: ImageFacts, command: list[str]) -> str | None:
    """Why this run needs a container of its own, if it does."""
    if resource_args(prepared):
        return "the template sets resource limits, which apply to a whole container (and tell OOM kills apart)"
    if prepared.pod is not None and prepared.pod.container_mounts():
        return "the template requests secrets, which a container of the run's own mounts where the platform does"
    if Path(command[0]).name != "pyflyte-execute":
        return f"the template runs {command[0]}, not pyflyte-execute"
    if facts.entrypoint and not prepared.template.container.command:
        return f"image {facts.image} has an ENTRYPOINT ({' '.join(facts.entrypoint)}) that a warm worker would skip"
    if prepared.folder.root.parent != warm_folder():
        return "the run folder is outside the folder warm containers see"
    return cold_only(prepared.env, facts.env) or startup_difference({**facts.env, **prepared.env}, facts.env)


def warm_folder() -> Path:
    """This process's folder for image runs and worker sockets, mounted into its warm containers."""
    parent = tempfile.gettempdir()
    folders = state().warm_folders
    folder = folders.get(parent)
    if folder is None or not folder.is_dir():
        folder = folders[parent] = Path(tempfile.mkdtemp(prefix=f"shimtask-warm-{os.getpid()}-"))
    return folder


def container_worker(engine: Engine, facts: ImageFacts, runs: Path, read_only: list[Path]) -> Callable[[], Worker]:
    """A warm worker in a container of ``facts.image``; the container goes when the worker stops.

    The container is created before the worker starts it, so a start that fails or is interrupted
    always finds it to remove.
    """

    def make_worker() -> Worker:
        name = f"shimtask-warm-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        outputs = settings().outputs_dir
        outputs.mkdir(parents=True, exist_ok=True)
        settings().modules_dir.mkdir(parents=True, exist_ok=True)
        slot = Path(tempfile.mkdtemp(prefix="shimtask-slot-", dir=runs))  # seen at the path of ``runs`` inside
        mounts = {str(runs): (str(slot), "rw"), **same_path_mounts([outputs], read_only)}
        folder = Path(tempfile.mkdtemp(prefix="shimtask-worker-", dir=slot))
        python, *options = facts.interpreter
        created = engine.call(
            "create", "--rm", "--name", name, *engine.labels(),
            "--pull", "never", *engine.user_args(), *volume_args(mounts),
            "--entrypoint", python, facts.image, *options, "-c", worker_code(WORKER_MOUNT),
            str(runs / folder.name / "worker.sock"), str(settings().warm_idle),
        )  # fmt: skip

        def cleanup() -> None:
            engine.remove_container(name)
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                slot.rmdir()  # unless a run's folder is still in it: that run takes it away (``placed_for``)

        if created.returncode:
            cleanup()
            raise WorkerFailure(f"{engine.name} could not create the warm container: {created.stderr.strip()}")
        return Worker(lambda _socket: engine.command("start", "--attach", name), folder=folder, cleanup=cleanup)

    return make_worker


@contextlib.contextmanager
def placed_for(root: Path, worker: Worker) -> Iterator[None]:
    """Run folder ``root`` moved into ``worker``'s slot while the run goes on, and back after.

    A warm container mounts its own slot folder at the path of the warm folder, so it sees the run
    folder at its usual path and no other run's folder (a cold container too sees only its own run).
    A link at ``root`` keeps the host's paths working meanwhile (the log being followed).
    """
    slot = worker.folder.parent
    inside = slot / root.name
    os.rename(root, inside)
    try:
        os.symlink(inside, root)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(root)
        os.rename(inside, root)
        if not worker.alive():
            with contextlib.suppress(OSError):
                slot.rmdir()


def container_command(prepared: Prepared) -> list[str]:
    """The template's command and args as the container runs them (placeholders filled)."""
    command = substitute(list(prepared.template.container.command), prepared.folder.placeholders())
    return [*command, *prepared.args]


def create_args(
    prepared: Prepared, engine: Engine, image: str, facts: ImageFacts, name: str, command: list[str]
) -> list[str]:
    folder = prepared.folder
    folder.raw.mkdir(parents=True, exist_ok=True)
    settings().modules_dir.mkdir(parents=True, exist_ok=True)
    read_only = read_only_roots(prepared, facts)
    mounts = same_path_mounts([folder.root, folder.raw], read_only)
    env = container_env(prepared, facts, read_only)
    if prepared.pod is not None:
        mounts.update(prepared.pod.container_mounts())
        env.update(prepared.pod.container_env())
    arguments = ["create", "--name", name, *engine.labels(), "--pull", "never", *engine.user_args()]
    arguments += volume_args(mounts)
    for key, value in env.items():
        arguments += ["--env", f"{key}={value}"]
    arguments += resource_args(prepared)
    if prepared.template.container.command:
        arguments += ["--entrypoint", command[0]]
        return [*arguments, image, *command[1:]]
    return [*arguments, image, *command]


def read_only_roots(prepared: Prepared, facts: ImageFacts) -> list[Path]:
    """The folders a run imports from that are not part of a Python installation (mounted read-only).

    None for an image that build_image made for this executor: the run uses the baked module, as a
    cluster would.
    """
    if facts.carries(prepared.executor):
        return []
    return [Path(root) for root in image_import_roots(prepared) if not installed(Path(root))]


def image_import_roots(prepared: Prepared) -> list[str]:
    """``import_roots`` less the notebook's folder, unless the executor's module is found there: a
    container sees the workspace and the executor's own folder, not whatever the notebook's folder holds."""
    roots = import_roots(prepared)
    here = os.getcwd()
    module_name = prepared.executor.rpartition(".")[0]
    top = module_name.partition(".")[0]
    imported = getattr(sys.modules.get(module_name), "__file__", None)
    in_here = (Path(here) / top).is_dir() or (Path(here) / f"{top}.py").is_file()
    if imported is None and in_here:
        return roots
    module_root = str(Path(imported).resolve().parents[module_name.count(".")]) if imported else None
    if imported and imported.endswith("__init__.py"):
        module_root = str(Path(imported).resolve().parents[module_name.count(".") + 1])
    return [root for root in roots if root != here or root == module_root]


def container_env(prepared: Prepared, facts: ImageFacts, read_only: list[Path]) -> dict[str, str]:
    """What a run's container adds to the image's environment."""
    inherited = prepared.env.get("PYTHONPATH", facts.env.get("PYTHONPATH", ""))
    python_path = [WORKER_MOUNT, *map(str, read_only), *filter(None, inherited.split(os.pathsep))]
    return {
        "PYTHONUNBUFFERED": "1",  # logs reach the cell while the run goes on
        **prepared.env,
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(python_path)),
        "TMPDIR": str(prepared.folder.tmp),
        PROBE_VARIABLE: str(prepared.folder.probe),
    }


def same_path_mounts(read_write: list[Path], read_only: list[Path]) -> Mounts:
    """Host folders at the same paths inside the container, and the worker folder; read-write wins over read-only."""
    mounts = {str(path): (str(path), "rw") for path in read_write}
    mounts[WORKER_MOUNT] = (str(WORKER_DIR), "ro")
    for root in read_only:
        mounts.setdefault(str(root), (str(root), "ro"))
    return mounts


def volume_args(mounts: Mounts) -> list[str]:
    arguments = []
    for target, (source, access) in mounts.items():
        if ":" in source or ":" in target:
            raise EngineError(f"cannot mount {source}: the path holds ':'; use a workspace and TMPDIR without one")
        arguments += ["--volume", f"{source}:{target}:{access}"]
    return arguments


def resource_args(prepared: Prepared) -> list[str]:
    from flyteidl.core.tasks_pb2 import Resources

    chosen = limits(prepared.template)
    arguments = []
    if memory := chosen.get(Resources.MEMORY):
        limit = str(int(quantity(memory)))
        arguments += ["--memory", limit, "--memory-swap", limit]
    if cpu := chosen.get(Resources.CPU):
        arguments += ["--cpus", f"{min(quantity(cpu), Decimal(os.cpu_count() or 1)):f}"]
    return arguments
