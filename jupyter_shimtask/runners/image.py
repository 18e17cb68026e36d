"""Image mode: the template's own container command inside its image, on the run's files.

The run folder and the raw-output folder are mounted at the same absolute paths, so the args
(placeholders already replaced by local paths) and the literals' URIs mean the same inside and
out. The workspace modules and the executor's own folder are mounted read-only and put on
PYTHONPATH, so a cell-defined executor imports without rebuilding the image.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from decimal import Decimal
from pathlib import Path

from ..config import settings
from ..engines import LABEL, Engine, EngineError, ImageFacts, find_engine, installed
from ..errors import ShimTaskError, TemplateError
from .base import PROBE_DIR, LogSink, Prepared, RunError, RunResult, finish, import_roots, substitute
from .subprocess import ctrl_c_interrupts, run_process_group

PROBE_MOUNT = "/opt/jupyter-shimtask/probe"
_QUANTITY = re.compile(r"([0-9.]+(?:[eE][-+]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?")
_SUFFIX = {
    **{suffix: Decimal(1024) ** power for power, suffix in enumerate(("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    **{suffix: Decimal(1000) ** power for power, suffix in enumerate(("", "k", "M", "G", "T", "P", "E"))},
    "m": Decimal("0.001"),
}


def run_in_image(
    prepared: Prepared,
    *,
    keep: bool,
    timeout: float | None = None,
    on_log: LogSink | None = None,
    image: str | None = None,
    engine: str | None = None,
) -> RunResult:
    """Run ``prepared`` in ``image`` (default: the template's own); every run removes its container."""
    started = time.perf_counter()
    chosen: Engine | None = None
    container: str | None = None
    try:
        with ctrl_c_interrupts():
            chosen = find_engine(engine)
            image = image or prepared.template.container.image
            if not image:
                raise ShimTaskError("the template names no container image; pass image= (or --image)")
            command = container_command(prepared)
            facts = chosen.preflight(image, command[0])
            container = f"shimtask-{uuid.uuid4().hex[:12]}"
            created = chosen.call(*create_args(prepared, chosen, image, facts, container, command))
            if created.returncode:
                chosen.forget(image)
                reason = (created.stderr.strip().splitlines() or [f"exit status {created.returncode}"])[-1]
                raise EngineError(f"{chosen.name} could not create the container: {reason}", detail=created.stderr)
            status, logs, failure = run_process_group(
                chosen.command("start", "--attach", container),
                env=dict(os.environ),
                cwd=str(prepared.folder.root),
                timeout=timeout,
                on_log=on_log,
            )
            if failure is not None:
                failure = RunError("SYSTEM", "Timeout", f"no result after {timeout:g}s; the container was removed")
            elif status:
                failure = container_failure(prepared, chosen, container, command[0], logs)
    except BaseException:
        if chosen is not None and container is not None:
            chosen.remove_container(container)
        prepared.folder.remove(keep=False)
        raise
    chosen.remove_container(container)
    result = finish(prepared, mode="image", logs=logs, started=started, keep=keep, failure=failure)
    result.notes[:0] = facts.version_notes()
    return result


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
    read_only = [Path(root) for root in import_roots(prepared) if not installed(Path(root))]
    inherited = prepared.env.get("PYTHONPATH", facts.env.get("PYTHONPATH", ""))
    python_path = [PROBE_MOUNT, *map(str, read_only), *filter(None, inherited.split(os.pathsep))]
    env = {
        "PYTHONUNBUFFERED": "1",  # logs reach the cell while the run goes on
        **prepared.env,
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(python_path)),
        "TMPDIR": str(folder.tmp),
        "SHIMTASK_PROBE": str(folder.probe),
    }
    mounts = {str(folder.root): (str(folder.root), "rw"), str(folder.raw): (str(folder.raw), "rw")}
    mounts[PROBE_MOUNT] = (str(PROBE_DIR), "ro")
    for root in read_only:
        mounts.setdefault(str(root), (str(root), "ro"))
    arguments = ["create", "--name", name, "--label", f"{LABEL}=1", "--pull", "never", *engine.user_args()]
    for target, (source, access) in mounts.items():
        if ":" in source or ":" in target:
            raise EngineError(f"cannot mount {source}: the path holds ':'; use a workspace and TMPDIR without one")
        arguments += ["--volume", f"{source}:{target}:{access}"]
    for key, value in env.items():
        arguments += ["--env", f"{key}={value}"]
    arguments += resource_args(prepared)
    if prepared.template.container.command:
        arguments += ["--entrypoint", command[0]]
        return [*arguments, image, *command[1:]]
    return [*arguments, image, *command]


def limits(prepared: Prepared) -> dict[int, str]:
    """Resource limits as the platform sets them: the limit, or else the request."""
    resources = prepared.template.container.resources
    chosen = {entry.name: entry.value for entry in resources.requests}
    chosen.update({entry.name: entry.value for entry in resources.limits})
    return chosen


def memory_limit(prepared: Prepared) -> str:
    from flyteidl.core.tasks_pb2 import Resources

    return limits(prepared).get(Resources.MEMORY, "")


def resource_args(prepared: Prepared) -> list[str]:
    from flyteidl.core.tasks_pb2 import Resources

    chosen = limits(prepared)
    arguments = []
    if memory := chosen.get(Resources.MEMORY):
        limit = str(int(quantity(memory)))
        arguments += ["--memory", limit, "--memory-swap", limit]
    if cpu := chosen.get(Resources.CPU):
        arguments += ["--cpus", f"{min(quantity(cpu), Decimal(os.cpu_count() or 1)):f}"]
    return arguments


def quantity(text: str) -> Decimal:
    """A Kubernetes quantity ("512Mi", "1.5G", "500m") as a number."""
    match = _QUANTITY.fullmatch(text.strip())
    if not match:
        raise TemplateError(f"resource value {text!r} is not a Kubernetes quantity (like 512Mi or 500m)")
    return Decimal(match[1]) * _SUFFIX[match[2] or ""]


def container_failure(prepared: Prepared, engine: Engine, container: str, program: str, logs: str) -> RunError | None:
    """A non-zero exit: out of memory, a command that could not start, or a crash without an error document."""
    code, out_of_memory = engine.container_state(container)
    tail = "\n".join(logs.strip().splitlines()[-20:])
    memory = memory_limit(prepared)
    if out_of_memory:
        return RunError(
            "SYSTEM", "OOMKilled", f"the container ran out of memory (limit {memory or 'none'}) and was killed", tail
        )
    if code == 137 and memory:  # SIGKILL under a limit; some engines (Podman on cgroup v1) do not flag it
        return RunError(
            "SYSTEM", "OOMKilled", f"the container was killed (SIGKILL) under its {memory} memory limit", tail
        )
    if any(prepared.folder.outputs.glob("error*.pb")):
        return None
    if code in (126, 127):
        return RunError("SYSTEM", "ContainerFailed", f"{program} could not be started in the image (exit {code})", tail)
    reason = f"exit status {code}" if code is not None else "an engine error"
    return RunError("SYSTEM", "ContainerFailed", f"the container ended with {reason}", tail)
