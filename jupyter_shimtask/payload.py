"""The JSON document that describes a template to displays: the widget, the static HTML and the
JupyterLab renderer (MIME type ``application/vnd.jupyter-shimtask.template+json``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .template import TemplateLike, as_template, executor_path, size_report, template_to_dict

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate
    from flyteidl.core.types_pb2 import LiteralType

MIME_TYPE = "application/vnd.jupyter-shimtask.template+json"
PAYLOAD_VERSION = 1


def template_payload(template: TemplateLike, findings: list[Any] | None = None) -> dict[str, Any]:
    """Everything a display needs, computed once in Python.

    ``template`` is protobuf's JSON form (camelCase). ``size`` holds the exact byte figures of
    ``size_report``. ``findings`` are ``check`` results when the caller has them. ``interface``
    lists inputs and outputs (sorted by name) with their Flyte types in readable form.
    """
    template = as_template(template)
    report = size_report(template)
    return {
        "version": PAYLOAD_VERSION,
        "id": {
            "project": template.id.project,
            "domain": template.id.domain,
            "name": template.id.name,
            "version": template.id.version,
        },
        "type": template.type,
        "image": template.container.image,
        "executor": executor_path(template),
        "args": list(template.container.args),
        "template": template_to_dict(template),
        "size": {
            "total": report.total,
            "status": report.status,
            "warn_bytes": report.warn_bytes,
            "over_bytes": report.over_bytes,
            "fields": report.fields,
            "custom": report.custom,
        },
        "findings": [asdict(finding) for finding in findings or []],
        "interface": interface_payload(template),
    }


def interface_payload(template: TaskTemplate) -> dict[str, list[dict[str, str]]]:
    return {
        side: [
            {"name": name, "type": readable_type(variable.type), "description": variable.description}
            for name, variable in sorted(getattr(template.interface, side).variables.items())
        ]
        for side in ("inputs", "outputs")
    }


SIMPLE_TYPES = ("None", "int", "float", "str", "bool", "datetime", "timedelta", "binary", "error", "dict")


def readable_type(literal_type: LiteralType) -> str:
    """A Flyte LiteralType the way a Python author would write it (``list[int]``, ``FlyteFile[csv]``)."""
    kind = literal_type.WhichOneof("type")
    if kind == "simple":
        name = SIMPLE_TYPES[literal_type.simple] if literal_type.simple < len(SIMPLE_TYPES) else "unknown"
        title = literal_type.metadata.fields.get("title")
        return title.string_value if name == "dict" and title and title.string_value else name
    if kind == "collection_type":
        return f"list[{readable_type(literal_type.collection_type)}]"
    if kind == "map_value_type":
        return f"dict[str, {readable_type(literal_type.map_value_type)}]"
    if kind == "blob":
        name = "FlyteDirectory" if literal_type.blob.dimensionality == 1 else "FlyteFile"
        return f"{name}[{literal_type.blob.format}]" if literal_type.blob.format else name
    if kind == "structured_dataset_type":
        dataset = literal_type.structured_dataset_type
        return f"StructuredDataset[{dataset.format}]" if dataset.format else "StructuredDataset"
    if kind == "enum_type":
        return f"enum({', '.join(literal_type.enum_type.values)})"
    if kind == "union_type":
        return " | ".join(readable_type(variant) for variant in literal_type.union_type.variants)
    if kind == "schema":
        return "FlyteSchema"
    return "unknown"
