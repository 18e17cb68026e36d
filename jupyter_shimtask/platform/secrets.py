"""Secrets as flytepropeller's secret webhook hands them to a task's container.

The webhook's k8s injector (``flytepropeller/pkg/webhook/k8s_secrets.go`` and ``utils.go``, flyte
v1.16) mounts each requested secret read-only at ``/etc/flyte/secrets/<group>/<key>`` (both
lower-cased) and sets ``FLYTE_SECRETS_DEFAULT_DIR=/etc/flyte/secrets`` and an empty
``FLYTE_SECRETS_FILE_PREFIX``; a secret whose mount requirement is ``ENV_VAR`` becomes the variable
``_FSEC_<GROUP>_<KEY>`` (upper-cased) with ``FLYTE_SECRETS_ENV_PREFIX=_FSEC_``. A secret's
``env_var`` adds a variable holding the file's path (or the value, for ``ENV_VAR``). Only the
secrets in the template's ``security_context.secrets`` are handed over. flytekit's ``SecretsManager``
reads those variables when the executor asks for a secret, so the same delivery works in a fresh
process, a warm worker and a container.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ShimTaskError

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

    from ..runners.base import RunError

SECRETS_MOUNT = "/etc/flyte/secrets"  # K8sSecretPathPrefix
ENV_PREFIX = "_FSEC_"  # K8sDefaultEnvVarPrefix
DEFAULT_DIR_VARIABLE = "FLYTE_SECRETS_DEFAULT_DIR"
FILE_PREFIX_VARIABLE = "FLYTE_SECRETS_FILE_PREFIX"
ENV_PREFIX_VARIABLE = "FLYTE_SECRETS_ENV_PREFIX"
PROMPT_VARIABLE_PREFIX = "SHIMTASK_SECRET_"  # where %shimtask run --secret G/K looks before it prompts
REDACTED = "****"
SHORT_VALUE = 8
Mount = Literal["ANY", "ENV_VAR", "FILE"]
_NOT_FOUND = re.compile(r"Unable to find secret for key (\S+) in group (\S+) in Env Var")


class SecretError(ShimTaskError):
    """A secret a run needs is missing, or a secrets source cannot be read."""


@dataclass(frozen=True)
class SecretRequest:
    """One entry of the template's ``security_context.secrets``."""

    group: str
    key: str
    group_version: str = ""
    mount: Mount = "ANY"
    env_var: str = ""

    @property
    def name(self) -> str:
        return f"{self.group}/{self.key}" if self.group else self.key

    @property
    def file(self) -> str:
        """The file's path under the mount, as the webhook names it."""
        return f"{self.group.lower()}/{self.key.lower()}" if self.group else self.key.lower()

    @property
    def variable(self) -> str:
        return (ENV_PREFIX + "_".join(part for part in (self.group, self.key) if part)).upper()

    @property
    def as_file(self) -> bool:
        return self.mount != "ENV_VAR"


@dataclass(frozen=True)
class HandedSecret:
    request: SecretRequest
    value: str = field(repr=False)


def requested(template: TaskTemplate) -> list[SecretRequest]:
    from flyteidl.core.security_pb2 import Secret

    return [
        SecretRequest(
            group=secret.group,
            key=secret.key,
            group_version=secret.group_version,
            mount=Secret.MountType.Name(secret.mount_requirement),  # type: ignore[arg-type]
            env_var=getattr(secret, "env_var", ""),
        )
        for secret in template.security_context.secrets
    ]


def prompt_variable(name: str) -> str:
    """``SHIMTASK_SECRET_<GROUP>_<KEY>``: the variable ``--secret group/key`` reads first."""
    return PROMPT_VARIABLE_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def secret_values(names: Iterable[str]) -> dict[str, str] | None:
    """Values for ``--secret GROUP/KEY``: from ``$SHIMTASK_SECRET_GROUP_KEY``, else a hidden prompt, never the line."""
    import getpass

    values = {}
    for name in names:
        if "=" in name:
            raise SecretError(
                f"--secret takes a name only, never a value: set ${prompt_variable(name.partition('=')[0])} "
                "or type the value at the prompt"
            )
        value = os.environ.get(prompt_variable(name))
        values[name] = value if value is not None else getpass.getpass(f"secret {name}: ")
    return values or None


def provided(explicit: Mapping[str, str] | None, secrets_path: str = "") -> dict[str, str]:
    """The secrets a run was given: ``secrets_path`` (a folder or a file), then ``explicit`` over it."""
    found = _read_source(Path(secrets_path).expanduser()) if secrets_path else {}
    for name, value in (explicit or {}).items():
        if not isinstance(value, str):
            raise SecretError(f"secret {name!r} must be a string, not {type(value).__name__}")
        found[name.strip("/")] = value
    return found


def _read_source(path: Path) -> dict[str, str]:
    """A folder of ``<group>/<key>`` files (the layout the webhook mounts), or a JSON/YAML mapping."""
    if path.is_dir():
        return {
            file.relative_to(path).as_posix(): file.read_text().strip()
            for file in sorted(path.rglob("*"))
            if file.is_file() and not file.name.startswith(".")
        }
    if not path.is_file():
        raise SecretError(f"ShimTask.secrets_path {path} does not exist; point it at a folder or a JSON/YAML file")
    import yaml

    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise SecretError(f"ShimTask.secrets_path {path} is not JSON or YAML: {error}".splitlines()[0]) from None
    if not isinstance(document, dict) or not all(isinstance(value, str) for value in document.values()):
        raise SecretError(f'ShimTask.secrets_path {path} must map "group/key" to a string value')
    return {str(name).strip("/"): value for name, value in document.items()}


def hand_over(requests: list[SecretRequest], given: Mapping[str, str]) -> tuple[list[HandedSecret], list[str]]:
    """The requested secrets with their values, and the names of given secrets the template does not request.

    Raises SecretError, before anything runs, for a requested secret that was not given.
    """
    by_name = {name.lower(): (name, value) for name, value in given.items()}
    handed = []
    for request in requests:
        if request.name.lower() not in by_name:
            raise SecretError(
                f"the template requests secret {request.name} (group {request.group!r}, key {request.key!r}), "
                f"which this run was not given: pass secrets={{{request.name!r}: ...}} to run(), "
                f"--secret {request.name} to %shimtask run (it reads ${prompt_variable(request.name)} or asks), "
                "or add it to ShimTask.secrets_path"
            )
        handed.append(HandedSecret(request, by_name.pop(request.name.lower())[1]))
    return handed, sorted(name for name, _ in by_name.values())


def delivery_env(handed: Iterable[HandedSecret], target: str, env_values: bool) -> dict[str, str]:
    """The variables the webhook sets for ``handed``, with the files' folder at ``target``.

    ``env_values=False`` (a container, whose inspect output must not show values) delivers
    ``ENV_VAR`` secrets as files too; flytekit's SecretsManager finds them either way.
    """
    env: dict[str, str] = {}
    for secret in handed:
        request = secret.request
        if request.as_file or not env_values:
            env[DEFAULT_DIR_VARIABLE] = target
            env[FILE_PREFIX_VARIABLE] = ""
            if request.env_var:
                env[request.env_var] = f"{target}/{request.file}"
        else:
            env[request.variable] = secret.value
            env[ENV_PREFIX_VARIABLE] = ENV_PREFIX
            if request.env_var:
                env[request.env_var] = secret.value
    return env


@contextlib.contextmanager
def secret_files(handed: list[HandedSecret], env_values: bool) -> Iterator[Path | None]:
    """A private folder holding the secrets delivered as files, removed when the block ends (Ctrl-C too)."""
    written = [secret for secret in handed if secret.request.as_file or not env_values]
    if not written:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="shimtask-secrets-"))  # mode 0700: only this user reads it
    try:
        for secret in written:
            path = folder / secret.request.file
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secret.value)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Redactor:
    """Replaces secret values in text; as a log sink, holds a partial line back so no value is split."""

    def __init__(self, values: Iterable[str], sink: Any = None):
        self.values = sorted({value for value in values if value}, key=len, reverse=True)
        self.sink = sink
        self.pending = ""
        # a short value is masked only where it stands alone, so that a secret "42" leaves "2042" readable
        self.patterns = [
            re.compile(re.escape(value) if len(value) >= SHORT_VALUE else rf"(?<!\w){re.escape(value)}(?!\w)")
            for value in self.values
        ]

    def __call__(self, text: str) -> str:
        for pattern in self.patterns:
            text = pattern.sub(REDACTED, text)
        return text

    def write(self, text: str) -> None:
        if not self.values:
            self.sink(text)
            return
        self.pending += text
        complete, newline, self.pending = self.pending.rpartition("\n")
        if newline:
            self.sink(self(complete + newline))

    def flush(self) -> None:
        if self.pending:
            self.sink(self(self.pending))
            self.pending = ""

    def scrub_folder(self, folder: Path) -> None:
        """Mask values in every file under ``folder`` (a kept run folder's logs, error documents, outputs).

        The mask has the value's length, so a protobuf file stays readable.
        """
        if not self.values:
            return
        encoded = [value.encode() for value in self.values]
        for path in folder.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
            if any(value in data for value in encoded):
                for value in encoded:
                    data = data.replace(value, b"*" * len(value))
                path.write_bytes(data)


def unrequested_read(error: RunError, requests: list[SecretRequest], given: Iterable[str]) -> RunError | None:
    """The failure restated when the executor asked flytekit for a secret the template does not request."""
    match = _NOT_FOUND.search(error.detail or error.message)
    if not match:
        return None
    key, group = match[1], "" if match[2] == "None" else match[2]
    name = f"{group}/{key}" if group else key
    if any(request.name.lower() == name.lower() for request in requests):
        return None
    add = f"add secret_requests=[Secret(group={group!r}, key={key!r})] to the task"
    if name.lower() in {entry.lower() for entry in given}:
        why = "this run was given it, but the platform mounts only requested secrets"
    else:
        why = f"nor was this run given it; {add} and pass secrets={{{name!r}: ...}}"
        add = ""
    message = f"the executor read secret {name}, which the template does not request ({why})" + (
        f": {add}" if add else ""
    )
    return dataclasses.replace(error, code="SecretNotRequested", message=message)
