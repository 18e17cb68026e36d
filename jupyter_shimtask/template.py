"""TaskTemplates: build them from tasks, read and write them, and measure them."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from traceback import format_exception
from typing import TYPE_CHECKING, Any, Literal, Union

from .config import settings as current_settings
from .errors import TemplateError, describe

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate
    from flytekit.configuration import ImageConfig, SerializationSettings

TemplateLike = Union["TaskTemplate", str, Path, bytes, Any]
RESOLVER_SEPARATOR = "--"


def default_serialization_settings(
    *,
    project: str | None = "shimtask",
    domain: str | None = "development",
    version: str | None = "local",
    image_config: ImageConfig | None = None,
) -> SerializationSettings:
    """The settings templates are serialized with here (``registration`` passes ``pyflyte package``'s)."""
    from flytekit.configuration import ImageConfig, SerializationSettings

    return SerializationSettings(
        project=project,
        domain=domain,
        version=version,
        image_config=image_config or ImageConfig.auto_default_image(),
        env={},  # a task's environment= is laid over this; None would fail ('NoneType' object is not a mapping)
    )


def serialize(task: Any, settings: SerializationSettings | None = None) -> TaskTemplate:
    """The TaskTemplate flytekit's own translator produces for ``task``."""
    from flytekit.core.base_task import Task
    from flytekit.tools.translator import get_serializable

    if not isinstance(task, Task):
        raise TemplateError(f"expected a flytekit task, got {type(task).__name__}")
    _require_get_custom(task)
    settings = settings or default_serialization_settings()
    try:
        spec = get_serializable(OrderedDict(), settings, task)
        return spec.template.to_flyte_idl()
    except Exception as exc:
        paths = non_json_paths(custom_of(task, settings)) if isinstance(exc, (TypeError, ValueError)) else []
        if paths:
            where = ", ".join(f"{path} ({kind})" for path, kind in paths[:5])
            raise TemplateError(
                f"task {task.name!r}: custom holds values that are not JSON: {where}", detail=str(exc)
            ) from exc
        raise TemplateError(
            f"task {task.name!r} cannot be serialized: {describe(exc)}", detail="".join(format_exception(exc))
        ) from exc


def non_json_paths(value: Any, path: str = "custom") -> list[tuple[str, str]]:
    """Key paths inside ``value`` that ``json.dumps`` rejects, with the offending type."""
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                found.append((f"{path}[{key!r}]", f"{type(key).__name__} key"))
            found += non_json_paths(item, f"{path}.{key}")
        return found
    if isinstance(value, (list, tuple)):
        return [hit for index, item in enumerate(value) for hit in non_json_paths(item, f"{path}[{index}]")]
    if value is None or isinstance(value, (str, int, float, bool)):
        return []
    return [(path, type(value).__name__)]


def _require_get_custom(task: Any) -> None:
    """flytekit's own PythonCustomizedContainerTask.get_custom raises a bare NotImplementedError."""
    from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask

    if isinstance(task, PythonCustomizedContainerTask) and (
        type(task).get_custom is PythonCustomizedContainerTask.get_custom
    ):
        raise TemplateError(
            f"{type(task).__name__} (task {task.name!r}) does not define get_custom(self, settings): a template-only "
            "task must return the dict its executor reads as tt.custom from it (return {} if it needs nothing)"
        )


def custom_of(task: Any, settings: SerializationSettings | None = None) -> Any:
    """What ``task.get_custom`` returns, or None when it raises (serialize reports that)."""
    try:
        return task.get_custom(settings or default_serialization_settings())
    except Exception:
        return None


def as_template(obj: TemplateLike) -> TaskTemplate:
    """A TaskTemplate message from a task, a message, a flytekit model, a file path or raw bytes."""
    from flyteidl.core.tasks_pb2 import TaskTemplate
    from flytekit.models.task import TaskTemplate as TaskTemplateModel

    if isinstance(obj, TaskTemplate):
        return obj
    if isinstance(obj, TaskTemplateModel):
        return obj.to_flyte_idl()
    if isinstance(obj, (str, Path)):
        return load_template(obj)
    if isinstance(obj, (bytes, bytearray)):
        return parse_template(bytes(obj), source="bytes")
    return serialize(obj)


def load_template(path: str | Path) -> TaskTemplate:
    """Read a TaskTemplate from ``.pb`` (binary), ``.json`` or ``.yaml``."""
    path = Path(path).expanduser()
    if not path.exists():
        raise TemplateError(f"{path}: no such file")
    if path.is_dir():
        raise TemplateError(f"{path}: is a folder, expected a TaskTemplate file")
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix in (".json", ".yaml", ".yml"):
        return _parse_text(data, suffix, source=str(path))
    return parse_template(data, source=str(path))


def parse_template(data: bytes, source: str = "bytes") -> TaskTemplate:
    from flyteidl.core.tasks_pb2 import TaskTemplate
    from google.protobuf.message import DecodeError
    from google.protobuf.unknown_fields import UnknownFieldSet

    if not data:
        raise TemplateError(f"{source}: empty file, not a TaskTemplate")
    template = TaskTemplate()
    try:
        template.ParseFromString(data)
    except DecodeError as exc:
        raise TemplateError(f"{source}: not a TaskTemplate ({describe(exc)})") from exc
    if len(UnknownFieldSet(template)) or (not template.id.name and not template.type):
        raise TemplateError(f"{source}: not a TaskTemplate (no task id or type; wrong message or corrupt bytes)")
    return template


def _parse_text(data: bytes, suffix: str, source: str) -> TaskTemplate:
    from flyteidl.core.tasks_pb2 import TaskTemplate
    from google.protobuf import json_format

    try:
        if suffix == ".json":
            document = json.loads(data)
        else:
            import yaml

            document = yaml.safe_load(data)
        return json_format.ParseDict(document, TaskTemplate())
    except Exception as exc:
        raise TemplateError(f"{source}: not a TaskTemplate document ({describe(exc)})") from exc


def template_to_dict(template: TaskTemplate) -> dict[str, Any]:
    """The template as JSON data; a NaN or infinity in ``custom`` (which JSON cannot hold) shows as its name."""
    from google.protobuf import json_format

    try:
        return json_format.MessageToDict(template)
    except json_format.SerializeToJsonError:
        shown = type(template)()
        shown.CopyFrom(template)
        _name_non_finite(shown.custom)
        return json_format.MessageToDict(shown)


def _name_non_finite(message: Any) -> None:
    """Replace NaN and infinite numbers inside a Struct (or ListValue) by strings, in place."""
    import math

    values = message.fields.values() if hasattr(message, "fields") else message.values
    for value in values:
        kind = value.WhichOneof("kind")
        if kind == "number_value" and not math.isfinite(value.number_value):
            value.string_value = str(value.number_value)
        elif kind in ("struct_value", "list_value"):
            _name_non_finite(getattr(value, kind))


def template_to_json(template: TaskTemplate) -> str:
    return json.dumps(template_to_dict(template), indent=2)


def save_template(template: TaskTemplate, path: str | Path) -> Path:
    """Write ``template`` as ``.pb``, ``.json`` or ``.yaml``, chosen by the suffix."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix == ".json":
        payload = template_to_json(template).encode()
    elif suffix in (".yaml", ".yml"):
        import yaml

        payload = yaml.safe_dump(template_to_dict(template), sort_keys=False).encode()
    elif suffix == ".pb":
        payload = template.SerializeToString()
    else:
        raise TemplateError(f"{path}: unknown format; use .pb, .json or .yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def loader_args(template: TaskTemplate) -> list[str] | None:
    """The container args after ``--``: what the resolver loads the task from (None without a ``--``)."""
    args = list(template.container.args)
    return args[args.index(RESOLVER_SEPARATOR) + 1 :] if RESOLVER_SEPARATOR in args else None


def executor_path(template: TaskTemplate) -> str | None:
    """The ``module.Class`` the template's container args name as its executor, if any."""
    loader = loader_args(template)
    return loader[-1] if loader and len(loader) >= 2 else None


def executor_in_main(template: TaskTemplate) -> str | None:
    """The executor path, when it names a class in ``__main__``: no container can import that."""
    executor = executor_path(template)
    return executor if executor and executor.startswith("__main__.") else None


def same_template(a: TaskTemplate, b: TaskTemplate) -> bool:
    """Whether two templates serialize to the same bytes (map order aside)."""
    return a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)


Status = Literal["ok", "warn", "over"]


@dataclass(frozen=True)
class SizeReport:
    """Serialized bytes of a template, in total, per top-level field and per ``custom`` key."""

    total: int
    fields: dict[str, int]
    custom: dict[str, int]
    warn_bytes: int
    over_bytes: int
    status: Status = field(init=False)

    def __post_init__(self) -> None:
        status: Status = "ok"
        if self.total > self.over_bytes:
            status = "over"
        elif self.total > self.warn_bytes:
            status = "warn"
        object.__setattr__(self, "status", status)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def __str__(self) -> str:
        lines = [f"{self.total:,} bytes ({self.status}; warn > {self.warn_bytes:,}, over > {self.over_bytes:,})"]
        lines += [f"  {name:<20} {size:>12,}" for name, size in self.fields.items()]
        if self.custom:
            lines.append("  custom keys:")
            lines += [f"    {key:<18} {size:>12,}" for key, size in self.custom.items()]
        return "\n".join(lines)


def size_report(template: TemplateLike, warn_bytes: int | None = None, over_bytes: int | None = None) -> SizeReport:
    """Measure ``template``; each part's bytes are its share of ``ByteSize()`` (the parts add up).

    The parts are read off one serialization: a field's bytes are its encoded segments, a
    ``custom`` key's bytes its map entry in the Struct (what ``ByteSize()`` of that key alone gives).
    """
    template = as_template(template)
    config = current_settings()
    data = memoryview(template.SerializeToString())
    names = {descriptor.number: descriptor.name for descriptor in template.DESCRIPTOR.fields}
    fields: dict[str, int] = {}
    custom: dict[str, int] = {}
    for number, start, payload, end in sorted(_segments(data), key=lambda segment: segment[0]):
        name = names.get(number, str(number))
        fields[name] = fields.get(name, 0) + end - start
        if name == "custom":
            for _, entry_start, entry_payload, entry_end in _segments(data[payload:end]):
                custom[_map_key(data, payload + entry_payload, payload + entry_end)] = entry_end - entry_start
    return SizeReport(
        total=len(data),
        fields=dict(sorted(fields.items(), key=lambda kv: -kv[1])),
        custom=dict(sorted(custom.items(), key=lambda kv: -kv[1])),
        warn_bytes=config.warn_bytes if warn_bytes is None else warn_bytes,
        over_bytes=config.over_bytes if over_bytes is None else over_bytes,
    )


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def _segments(data: memoryview) -> Iterator[tuple[int, int, int, int]]:
    """``(field number, start, payload start, end)`` of each field encoded in ``data`` (protobuf wire format)."""
    position = 0
    while position < len(data):
        start = position
        key, position = _varint(data, position)
        wire_type = key & 7
        payload = position
        if wire_type == 0:
            _, position = _varint(data, position)
        elif wire_type == 2:
            length, payload = _varint(data, position)
            position = payload + length
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
        else:
            raise TemplateError(f"unexpected protobuf wire type {wire_type} at byte {start}")
        yield key >> 3, start, payload, position


def _map_key(data: memoryview, start: int, end: int) -> str:
    """The string key (field 1) of the map entry encoded in ``data[start:end]``."""
    if data[start] == 0x0A:  # the key comes first, as every encoder writes it
        length, position = _varint(data, start + 1)
        return str(data[position : position + length], "utf-8")
    for number, _, payload, stop in _segments(data[start:end]):
        if number == 1:
            return str(data[start + payload : start + stop], "utf-8")
    return ""
