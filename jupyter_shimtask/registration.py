"""Tasks to the platform: the archive ``flytectl register files`` takes, and registration through FlyteRemote."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import settings as current_settings
from .errors import ShimTaskError, describe
from .template import default_serialization_settings, executor_path, same_template, serialize

if TYPE_CHECKING:
    from flyteidl.core.identifier_pb2 import Identifier
    from flyteidl.core.tasks_pb2 import TaskTemplate
    from flytekit.configuration import SerializationSettings
    from flytekit.models.task import TaskSpec
    from flytekit.remote import FlyteRemote

PLATFORM_URL_ENV = "FLYTE_PLATFORM_URL"
ARCHIVE_SUFFIXES = (".tgz", ".tar.gz")


class PlatformError(ShimTaskError):
    """A package that cannot be written or a registration the platform did not accept."""


@dataclass(frozen=True)
class Registration:
    """A task registered with (or already identical on) a Flyte cluster."""

    project: str
    domain: str
    name: str
    version: str
    endpoint: str
    template: TaskTemplate = field(repr=False)
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        head = f"registered task {self.name!r} in {self.project}/{self.domain} as version {self.version}"
        head += f" at {self.endpoint}"
        return "\n".join([head, *(f"  note: {note}" for note in self.notes)])

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def serialization_settings(
    project: str | None = None, domain: str | None = None, version: str | None = None, image: str | None = None
) -> SerializationSettings:
    """The settings ``pyflyte package --image IMAGE`` serializes with (project, domain, version empty unless given)."""
    return default_serialization_settings(
        project=project or None, domain=domain or None, version=version or None, image_config=_image_config(image)
    )


def _image_config(image: str | None) -> Any:
    from flytekit.configuration import ImageConfig

    try:
        return ImageConfig.validate_image(None, "image", (image,) if image else ())
    except (ValueError, AssertionError) as exc:
        raise PlatformError(f"image {image!r}: {describe(exc)}") from None


def task_spec(task: Any, settings: SerializationSettings) -> TaskSpec:
    """flytekit's TaskSpec (template and description) for ``task``, as ``pyflyte package`` writes it."""
    from flytekit.core.base_task import Task
    from flytekit.tools.translator import get_serializable

    if not isinstance(task, Task):
        raise PlatformError(f"expected a flytekit task, got {type(task).__name__}")
    try:
        return get_serializable(OrderedDict(), settings, task)
    except Exception:
        serialize(task, settings)  # raises the one-line TemplateError for what cannot be serialized
        raise


def package(
    tasks: Any | Iterable[Any],
    output: str | Path,
    *,
    project: str | None = None,
    domain: str | None = None,
    version: str | None = None,
    image: str | None = None,
    force: bool = False,
) -> Path:
    """Write ``tasks`` into a ``.tgz`` laid out as ``pyflyte package`` does: ``<index>_<name>_1.pb`` TaskSpecs.

    Project, domain and version left empty are filled in by ``flytectl register files``.
    """
    from flytekit.core.base_task import Task
    from flytekit.tools.repo import package as write_package

    tasks = [tasks] if isinstance(tasks, Task) else list(tasks)
    if not tasks:
        raise PlatformError("nothing to package: no tasks given")
    output = Path(output).expanduser().resolve()
    if not output.name.endswith(ARCHIVE_SUFFIXES):
        raise PlatformError(f"{output}: use a .tgz (or .tar.gz) file name, as flytectl register files expects")
    if output.exists() and not force:
        raise PlatformError(f"{output} exists; pass --force to overwrite it")
    settings = serialization_settings(project, domain, version, image)
    specs = [task_spec(task, settings) for task in tasks]
    output.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):  # flytekit reports each file on stdout
        write_package(specs, output=str(output))
    return output


def content_version(task: Any, image: str | None = None) -> str:
    """A version named by the template's content: same task, same version; any change, a new one."""
    template = serialize(task, serialization_settings(image=image))
    template.id.ClearField("project")
    template.id.ClearField("domain")
    template.id.ClearField("version")
    return hashlib.sha256(template.SerializeToString(deterministic=True)).hexdigest()[:16]


def register(
    task: Any,
    project: str,
    domain: str,
    version: str | None = None,
    *,
    image: str | None = None,
    config: str | Path | None = None,
) -> Registration:
    """Register ``task`` through flytekit's FlyteRemote with the user's Flyte config (or ``config``).

    Without ``version`` the task is registered under :func:`content_version`. Registering the same
    content again succeeds; a version that exists with different content is an error.
    """
    from flytekit.clients.auth.exceptions import AuthenticationError
    from flytekit.exceptions.base import FlyteException

    if not project or not domain:
        raise PlatformError("register needs a project and a domain (--project P --domain D)")
    version = version or content_version(task, image)
    settings = serialization_settings(project, domain, version, image)
    template = serialize(task, settings)
    remote, endpoint, source = _remote(config, project, domain)
    try:
        remote.register_task(task, serialization_settings=dataclasses.replace(settings), version=version)
        stored = _stored_template(remote, template.id)
    except (FlyteException, AuthenticationError) as exc:
        kind = _failure_kind(exc)
        if kind == "auth":
            raise PlatformError(
                f"authentication with Flyte admin at {endpoint} failed: {_details(exc)}; "
                f"check the credentials (admin.authType, command, clientId, ...) in {source}",
                detail=repr(exc),
            ) from None
        if kind == "unreachable":
            raise PlatformError(
                f"cannot reach Flyte admin at {endpoint} (from {source}): {_details(exc)}", detail=repr(exc)
            ) from None
        if kind != "rejected":
            raise PlatformError(f"registering with Flyte admin at {endpoint} failed: {_details(exc)}") from None
        # flyteadmin answers INVALID_ARGUMENT when the version exists with a different structure
        stored = _stored_template(remote, template.id)
        if stored is None or same_template(stored, template):
            raise PlatformError(
                f"Flyte admin at {endpoint} rejected task {task.name!r}: {_details(exc)}", detail=repr(exc)
            ) from None
    if stored is None:
        raise PlatformError(f"Flyte admin at {endpoint} accepted task {task.name!r} but does not return it")
    if not same_template(stored, template):
        differing = ", ".join(_differing_fields(stored, template)) or "bytes"
        raise PlatformError(
            f"task {task.name!r} version {version} already exists in {project}/{domain} with different content "
            f"(differs in: {differing}); register a new --version, or leave it out to use the content's own"
        )
    return Registration(project, domain, task.name, version, endpoint, template, tuple(_notes(template)))


def _remote(config: str | Path | None, project: str, domain: str) -> tuple[FlyteRemote, str, str]:
    from flytekit.configuration import Config
    from flytekit.configuration.file import ConfigFile, get_config_file
    from flytekit.remote import FlyteRemote

    # fresh ConfigFile objects: flytekit caches lookups by argument, and a kernel lives longer than a config file
    if config is not None:
        path = Path(config).expanduser()
        if not path.is_file():
            raise PlatformError(f"Flyte config {path}: no such file")
        config_file, source = ConfigFile(str(path)), str(path)
    else:
        config_file = get_config_file.__wrapped__(None)
        if config_file is None and not os.environ.get(PLATFORM_URL_ENV):
            raise PlatformError(
                "no Flyte config: pass --config FILE, set FLYTECTL_CONFIG, or write ~/.flyte/config.yaml "
                "(flytectl config init --host HOST)"
            )
        source = getattr(config_file, "_location", "the Flyte config") if config_file else f"${PLATFORM_URL_ENV}"
    _readable(config_file, source)
    try:
        flyte_config = Config.auto(config_file)
    except Exception as exc:
        raise PlatformError(f"Flyte config {source}: {describe(exc)}", detail=repr(exc)) from None
    remote = FlyteRemote(
        flyte_config, default_project=project, default_domain=domain, interactive_mode_enabled=False
    )  # interactive mode would pickle the task object instead of registering its template
    return remote, flyte_config.platform.endpoint, source


def _readable(config_file: Any, source: str) -> None:
    """A YAML config flytekit could not read, or without an endpoint, would silently mean localhost:30080."""
    if config_file is None or config_file._legacy_config is not None or os.environ.get(PLATFORM_URL_ENV):
        return
    document = config_file._yaml_config
    if not isinstance(document, dict):
        raise PlatformError(f"Flyte config {source} is not a YAML mapping flytekit can read; fix it or pass --config")
    admin = document.get("admin")
    if not isinstance(admin, dict) or not admin.get("endpoint"):
        raise PlatformError(
            f"Flyte config {source} names no admin.endpoint; add `admin: {{endpoint: dns:///HOST:PORT}}` "
            f"(flytectl config init --host HOST) or set {PLATFORM_URL_ENV}"
        )


def _stored_template(remote: FlyteRemote, identifier: Identifier) -> TaskTemplate | None:
    from flyteidl.admin.common_pb2 import ObjectGetRequest
    from flytekit.clients.raw import RawSynchronousFlyteClient
    from flytekit.exceptions.user import FlyteEntityNotExistException

    try:
        # the raw call: the friendly client caches get_task and converts the message through flytekit's models
        task = RawSynchronousFlyteClient.get_task(remote.client, ObjectGetRequest(id=identifier))
    except FlyteEntityNotExistException:
        return None
    return task.closure.compiled_task.template


def _differing_fields(a: TaskTemplate, b: TaskTemplate) -> list[str]:
    return [item.name for item in a.DESCRIPTOR.fields if getattr(a, item.name) != getattr(b, item.name)]


def _causes(exc: BaseException) -> Iterator[BaseException]:
    cursor: BaseException | None = exc
    while cursor is not None:
        yield cursor
        cursor = cursor.__cause__ or cursor.__context__


def _failure_kind(exc: BaseException) -> str:
    from flytekit.clients.auth.exceptions import AuthenticationError
    from flytekit.exceptions.system import FlyteSystemUnavailableException
    from flytekit.exceptions.user import FlyteAuthenticationException, FlyteInvalidInputException

    causes = list(_causes(exc))
    for kind, types in (
        ("auth", (FlyteAuthenticationException, AuthenticationError)),
        ("unreachable", (FlyteSystemUnavailableException,)),
        ("rejected", (FlyteInvalidInputException,)),
    ):
        if any(isinstance(cause, types) for cause in causes):
            return kind
    return "failed"


def _details(exc: BaseException) -> str:
    """The gRPC status and message behind ``exc`` (flytekit's own exceptions carry none), else its first line."""
    import grpc

    causes = list(_causes(exc))
    for cause in causes:
        if isinstance(cause, grpc.RpcError) and hasattr(cause, "code"):
            lines = (cause.details() or "").strip().splitlines()
            return f"{cause.code().name}: {lines[0] if lines else 'no details'}"
    from flytekit.exceptions.base import FlyteException

    for cause in causes:
        text = "" if isinstance(cause, FlyteException) else str(cause).strip()
        if text:
            return text.splitlines()[0].rstrip(".")
    return type(exc).__name__


def _notes(template: TaskTemplate) -> list[str]:
    executor = executor_path(template) or ""
    module = executor.rpartition(".")[0]
    if module and (current_settings().modules_dir / f"{module}.py").exists():
        return [
            f"the executor {executor} is a notebook cell module: the image {template.container.image} must contain "
            "it; %shimtask export makes the cell a package to build into the image"
        ]
    return []
