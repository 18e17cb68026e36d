"""Docker and Podman through their own command-line tools: find the engine, check an image, build one."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import settings
from ..errors import ShimTaskError
from ..state import state
from .proc import run_process_group

ENGINES = ("docker", "podman")
LABEL = "jupyter-shimtask"  # every container this package makes carries LABEL=1; images it builds too
BAKED_MODULES = "/opt/jupyter-shimtask/modules"
START_HINTS = {
    "docker": "start it (Linux: `sudo systemctl start docker`; macOS/Windows: open Docker Desktop) "
    "or point DOCKER_HOST at a running engine",
    "podman": "check `podman info`; on macOS/Windows start its machine with `podman machine start`",
}
PROBE_CODE = """\
import json, shutil, sys
try:
    from importlib.metadata import version
    flytekit = version("flytekit")
except Exception:
    flytekit = None
def shebang(path):
    try:
        with open(path, "rb") as script:
            line = script.readline(512)
    except (OSError, TypeError):
        return None
    return line[2:].decode(errors="replace").split() if line.startswith(b"#!") else None
print(json.dumps({"python": ".".join(map(str, sys.version_info[:3])), "flytekit": flytekit,
                  "programs": {name: shutil.which(name) for name in sys.argv[1:]},
                  "interpreter": shebang(shutil.which("pyflyte-execute"))}))
"""


class EngineError(ShimTaskError):
    """The engine or the image cannot be used as it is; the message says what to do."""


@dataclass(frozen=True)
class ImageFacts:
    """What a run needs to know about an image, found once per image and engine endpoint."""

    image: str
    env: dict[str, str]
    python: str
    flytekit: str | None
    programs: dict[str, str | None]
    interpreter: tuple[str, ...] = ("python3",)  # the Python that runs pyflyte-execute (its #! line)
    entrypoint: tuple[str, ...] = ()
    baked_executor: str | None = None  # the executor whose module build_image put into the image

    def carries(self, executor: str) -> bool:
        """Whether the image was built by build_image for ``executor``: its module needs no mount."""
        return self.baked_executor == executor

    def version_notes(self) -> list[str]:
        """Differences from this interpreter that can make the image behave unlike the notebook."""
        import flytekit

        notes = []
        here = ".".join(map(str, sys.version_info[:2]))
        if ".".join(self.python.split(".")[:2]) != here:
            notes.append(f"image {self.image} has Python {self.python}, this notebook {here}")
        if self.flytekit and self.flytekit != flytekit.__version__:
            notes.append(f"image {self.image} has flytekit {self.flytekit}, this notebook {flytekit.__version__}")
        return notes


def note_start(image: str, seconds: float, how: str, *, lower_bound: bool = False) -> None:
    """Record how long ``image`` took to start (``how`` says what was timed); a lower bound never replaces a full
    measurement."""
    starts = state().image_starts
    if not (lower_bound and image in starts):
        starts[image] = (seconds, how)


def _host() -> str:
    """This machine and pid namespace: owner pids are only comparable within one."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        namespace = "0"
    return f"{socket.gethostname()}.{namespace}"


HOST = _host()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet collected by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@dataclass(frozen=True)
class Engine:
    """One container engine's CLI. Arguments always go as lists, never through a shell."""

    name: str
    binary: str

    def command(self, *args: str) -> list[str]:
        return [self.binary, *args]

    def call(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    @property
    def endpoint(self) -> str:
        """Which engine instance the CLI talks to (part of every cache key)."""
        names = ("DOCKER_HOST", "DOCKER_CONTEXT") if self.name == "docker" else ("CONTAINER_HOST", "CONTAINERS_CONF")
        return "|".join(os.environ.get(name, "") for name in names)

    def ensure_reachable(self) -> None:
        probe = (
            ("version", "--format", "{{.Server.Version}}")
            if self.name == "docker"
            else ("info", "--format", "{{.Host.Arch}}")
        )
        try:
            answer = self.call(*probe, timeout=30)
        except subprocess.TimeoutExpired:
            raise EngineError(f"{self.name} did not answer within 30 s; {START_HINTS[self.name]}") from None
        if answer.returncode:
            raise EngineError(
                f"{self.name} is not reachable ({_first_line(answer.stderr)}); {START_HINTS[self.name]}",
                detail=answer.stderr,
            )

    def preflight(self, image: str, program: str = "pyflyte-execute") -> ImageFacts:
        """Check that ``image`` is present and can run ``program``; cached per image and endpoint."""
        key = (self.binary, self.endpoint, image, program)
        if key in state().image_facts:
            return state().image_facts[key]
        config = (
            '{"env": {{json .Config.Env}}, "entrypoint": {{json .Config.Entrypoint}}, '
            '"labels": {{json .Config.Labels}}}'
        )
        inspected = self.call("image", "inspect", "--format", config, image, timeout=60)
        if inspected.returncode:
            self.ensure_reachable()
            raise EngineError(
                f"image {image} is not among {self.name}'s images: pull it (`{self.name} pull {image}`) "
                f"or build it (`{self.name} build -t {image} .` with jupyter-shimtask's Dockerfile)",
                detail=inspected.stderr,
            )
        found = json.loads(inspected.stdout)
        env = dict(item.split("=", 1) for item in found["env"] or [] if "=" in item)
        facts = self._probe(image, env, program, tuple(found["entrypoint"] or ()))
        facts = replace(facts, baked_executor=(found["labels"] or {}).get(f"{LABEL}.executor"))
        if not facts.programs.get(program):
            import flytekit

            raise EngineError(
                f"image {image} has no {program} on its PATH: install flytekit in it "
                f"(`pip install flytekit=={flytekit.__version__}`) or use jupyter-shimtask's Dockerfile"
            )
        state().image_facts[key] = facts
        return facts

    def _probe(self, image: str, env: dict[str, str], program: str, entrypoint: tuple[str, ...]) -> ImageFacts:
        programs = list(dict.fromkeys([program, "pyflyte-execute"]))
        tried = []
        for python in ("python3", "python"):
            begun = time.perf_counter()
            answer = self.call(
                "run", "--rm", *self.labels(), "--pull", "never", "--network", "none",
                "--entrypoint", python, image, "-c", PROBE_CODE, *programs,
                timeout=120,
            )  # fmt: skip
            if answer.returncode == 0:
                how = f"a {self.name} container took to run Python and exit"
                note_start(image, time.perf_counter() - begun, how, lower_bound=True)
                found = json.loads(answer.stdout.strip().splitlines()[-1])
                interpreter = tuple(found["interpreter"] or [python])
                return ImageFacts(
                    image, env, found["python"], found["flytekit"], found["programs"], interpreter, entrypoint
                )
            reason = _first_line(answer.stderr) or f"exit status {answer.returncode}"
            if "not found" not in reason:
                raise EngineError(f"{self.name} could not start a container from {image}: {reason}", answer.stderr)
            tried.append(f"{python}: {reason}")
        raise EngineError(
            f"image {image} has no Python (python3, python), so no {program}: use an image with flytekit in it",
            detail="\n".join(tried),
        )

    def forget(self, image: str) -> None:
        facts = state().image_facts
        for key in [key for key in facts if key[:3] == (self.binary, self.endpoint, image)]:
            del facts[key]

    @staticmethod
    def labels() -> list[str]:
        """Every container this package makes: its mark, and the process (on which host) it belongs to."""
        return ["--label", f"{LABEL}=1", "--label", f"{LABEL}.pid={os.getpid()}", "--label", f"{LABEL}.host={HOST}"]

    def remove_orphans(self) -> list[str]:
        """Remove this host's containers whose owner process is gone (a kernel killed with SIGKILL cannot
        remove its cold run's container); returns their names."""
        answer = self.call(
            "ps", "--all", "--filter", f"label={LABEL}.host={HOST}", "--format", "{{.Names}}\t{{.Labels}}", timeout=60
        )  # fmt: skip
        removed = []
        for line in answer.stdout.splitlines() if answer.returncode == 0 else []:
            name, _, labels = line.partition("\t")
            owner = re.search(rf"{re.escape(LABEL)}\.pid[=:](\d+)", labels)
            if owner and not _alive(int(owner[1])):
                self.remove_container(name)
                removed.append(name)
        return removed

    def remove_orphans_once(self) -> None:
        """``remove_orphans``, the first time this process uses this engine."""
        key = (self.binary, self.endpoint)
        swept = state().swept_engines
        if key not in swept:
            swept.add(key)
            self.remove_orphans()

    def user_args(self) -> list[str]:
        """Run as the notebook's user, so every file a run writes can be read and removed afterwards."""
        if self.name == "podman" and os.geteuid() != 0:
            return ["--userns", "keep-id"]  # rootless Podman maps the user to itself this way
        return ["--user", f"{os.getuid()}:{os.getgid()}"]

    def container_state(self, container: str) -> tuple[int | None, bool]:
        """Exit code and whether the kernel killed the container for memory."""
        answer = self.call("container", "inspect", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}", container)
        if answer.returncode:
            return None, False
        code, oom = answer.stdout.split()
        return int(code), oom.lower() == "true"

    def remove_container(self, container: str) -> None:
        right_away = ["--time", "0"] if self.name == "podman" else []  # docker's --force kills at once already
        self.call("container", "rm", "--force", "--volumes", *right_away, container, timeout=120)

    def containers(self, owner: int | None = None) -> list[str]:
        """Names of the containers (running or not) this package made for process ``owner`` (default: this one)."""
        owner = os.getpid() if owner is None else owner
        answer = self.call("ps", "--all", "--filter", f"label={LABEL}.pid={owner}", "--format", "{{.Names}}")
        if answer.returncode:
            raise EngineError(f"{self.name} cannot list containers: {_first_line(answer.stderr)}", detail=answer.stderr)
        return answer.stdout.split()

    def remove_image(self, image: str) -> None:
        self.call("image", "rm", "--force", image)
        self.forget(image)

    def build(
        self,
        context: Path,
        tag: str,
        *,
        build_args: dict[str, str] | None = None,
        on_log: Any = None,
        timeout: float | None = None,
    ) -> str:
        """``build`` of ``context``/Dockerfile; returns the build log. Stopped with the call on Ctrl-C."""
        arguments = ["build", "--force-rm", "--tag", tag, "--label", f"{LABEL}=1"]
        for name, value in (build_args or {}).items():
            arguments += ["--build-arg", f"{name}={value}"]
        status, logs, failure = run_process_group(
            self.command(*arguments, str(context)),
            env=dict(os.environ),
            cwd=str(context),
            timeout=timeout,
            on_log=on_log,
        )
        self.forget(tag)
        if failure is not None or status:
            raise EngineError(
                f"{self.name} build of {tag} failed: {failure.message if failure else _last_line(logs)}", detail=logs
            )
        return logs


def remove_orphans_everywhere() -> None:
    """``remove_orphans_once`` for every installed engine; one that is missing or does not answer is left alone."""
    for name in ENGINES:
        binary = shutil.which(name)
        if binary is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                Engine(name, binary).remove_orphans_once()


def find_engine(name: str | None = None) -> Engine:
    """The engine called ``name`` (default ``ShimTask.engine``), if its CLI is installed."""
    name = name or settings().engine
    if name not in ENGINES:
        raise EngineError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    binary = shutil.which(name)
    if binary is None:
        other = ENGINES[1 - ENGINES.index(name)]
        raise EngineError(f"{name} is not installed (not on PATH); install it, or use engine={other!r}")
    return Engine(name, binary)


@dataclass
class BuiltImage:
    """An image with a task's executor module baked in, runnable with no mounts."""

    tag: str
    base: str
    executor: str
    files: list[str]
    seconds: float
    engine: str
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"built {self.tag} from {self.base} with {', '.join(self.files)} in {self.seconds:.1f}s ({self.engine})",
            f"  {self.executor} is importable from {BAKED_MODULES} with no mounts;",
            f"  use container_image={self.tag!r} for the task to run it on a cluster",
        ]
        return "\n".join(lines + [f"  note: {note}" for note in self.notes])

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def build_image(
    task_or_template: Any,
    tag: str,
    *,
    base: str | None = None,
    engine: str | None = None,
    on_log: Any = None,
) -> BuiltImage:
    """Build ``tag``: ``base`` (default: the task's own image) plus the executor's module and its local imports.

    The module lands in /opt/jupyter-shimtask/modules, which is put on the image's PYTHONPATH,
    so ``pyflyte-execute`` finds the executor on a cluster without any mount.
    """
    from ..template import as_template, executor_path

    started = time.perf_counter()
    template = as_template(task_or_template)
    executor = executor_path(template)
    if not executor:
        raise EngineError(f"template {template.id.name!r} names no executor in its container args; nothing to build")
    base = base or template.container.image
    if not base:
        raise EngineError("the template names no image; give a base image (--image / base=)")
    if not tag or tag != tag.strip() or any(char.isspace() for char in tag):
        raise EngineError(f"{tag!r} is not an image tag")
    chosen = find_engine(engine)
    module_name = executor.rpartition(".")[0]
    facts = chosen.preflight(base)
    with tempfile.TemporaryDirectory(prefix="shimtask-build-") as context_dir:
        context = Path(context_dir)
        files = _copy_module_files(module_name, context / "modules")
        (context / "Dockerfile").write_text(
            "ARG BASE_IMAGE\n"
            "FROM ${BASE_IMAGE}\n"
            f"COPY modules/ {BAKED_MODULES}/\n"
            f"ENV PYTHONPATH={BAKED_MODULES}${{PYTHONPATH:+:${{PYTHONPATH}}}}\n"
            f'LABEL {LABEL}.executor="{executor}"\n'
        )
        chosen.build(context, tag, build_args={"BASE_IMAGE": base}, on_log=on_log)
    found = chosen.call(
        "run", "--rm", *chosen.labels(), "--network", "none", "--entrypoint", "python3", tag,
        "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)", module_name,
    )  # fmt: skip
    if found.returncode:
        raise EngineError(f"{module_name} is not importable in the built image {tag}", detail=found.stderr)
    return BuiltImage(tag, base, executor, files, time.perf_counter() - started, chosen.name, facts.version_notes())


def _copy_module_files(module_name: str, destination: Path) -> list[str]:
    """The executor's module (a file, or its whole top-level package) and the local modules it imports."""
    from modulefinder import ModuleFinder

    spec = importlib.util.find_spec(module_name.partition(".")[0])
    if spec is None or spec.origin is None:
        raise EngineError(f"module {module_name} is not importable here; define the executor in a %%shimtask cell")
    top = Path(spec.origin)
    is_package = top.name == "__init__.py"
    source = top.parent if is_package else top
    root = source.parent
    if installed(root):
        raise EngineError(
            f"{module_name} comes from an installed package ({root}); install that package in the image instead"
        )
    roots = list(dict.fromkeys([root, settings().modules_dir]))
    finder = ModuleFinder(path=[str(path) for path in roots])
    finder.run_script(str(Path(sys.modules[module_name].__file__) if module_name in sys.modules else top))
    sources = {source}
    for module in finder.modules.values():
        found = Path(module.__file__) if module.__file__ else None
        for path in roots:
            if found is not None and found.is_relative_to(path):
                sources.add(path / found.relative_to(path).parts[0])  # a plain module, or its top-level package
    destination.mkdir(parents=True)
    names = []
    for path in sorted(sources):
        target = destination / path.name
        if path.is_dir():
            shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, target)
        names.append(path.name)
    return names


def installed(path: Path) -> bool:
    """Whether ``path`` belongs to a Python installation (so it must not be copied or mounted)."""
    resolved = path.resolve()
    prefixes = {Path(prefix).resolve() for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    return resolved == Path("/") or any(resolved.is_relative_to(prefix) for prefix in prefixes)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _last_line(text: str) -> str:
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
