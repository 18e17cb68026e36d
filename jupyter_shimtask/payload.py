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


SIZE_KEYS_WHEN_TRIMMED = 200
FINDINGS_WHEN_TRIMMED = 200


def template_payload(
    template: TemplateLike, findings: list[Any] | None = None, custom_bytes: int | None = None
) -> dict[str, Any]:
    """Everything a display needs, computed once in Python.

    ``template`` is protobuf's JSON form (camelCase). ``size`` holds the exact byte figures of
    ``size_report``. ``findings`` are ``check`` results when the caller has them. ``interface``
    lists inputs and outputs (sorted by name) with their Flyte types in readable form.

    With ``custom_bytes``, a bigger template is trimmed so the document stays small enough to
    live in a notebook: ``template.custom`` keeps the keys (in sorted order) that fit in that many
    bytes, ``size.custom`` the biggest keys, ``findings`` the first ones; ``trimmed`` counts what
    was left out (it is ``None`` when nothing is). ``trimmed.custom_rows`` describes the keys left
    out of ``template.custom`` (the biggest ``SIZE_KEYS_WHEN_TRIMMED``, in key order) as the tree
    shows them: kind, preview and the exact bytes of the value; ``trimmed.custom_bytes`` is the
    whole ``custom`` Struct's. Displays draw these figures; they compute none of their own.
    """
    template = as_template(template)
    report = size_report(template)
    document, trimmed = _document(template, report.custom, custom_bytes)
    custom_sizes = report.custom
    if trimmed:
        custom_sizes = dict(list(report.custom.items())[:SIZE_KEYS_WHEN_TRIMMED])
        trimmed["size_custom_keys_kept"] = len(custom_sizes)
        trimmed["size_custom_bytes_left_out"] = sum(report.custom.values()) - sum(custom_sizes.values())
    findings = findings or []
    if custom_bytes is not None and len(findings) > FINDINGS_WHEN_TRIMMED:
        trimmed.update(findings=len(findings), findings_kept=FINDINGS_WHEN_TRIMMED)
        findings = findings[:FINDINGS_WHEN_TRIMMED]
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
        "template": document,
        "size": {
            "total": report.total,
            "status": report.status,
            "warn_bytes": report.warn_bytes,
            "over_bytes": report.over_bytes,
            "fields": report.fields,
            "custom": custom_sizes,
        },
        "findings": [asdict(finding) for finding in findings],
        "interface": interface_payload(template),
        "trimmed": trimmed or None,
    }


def _document(
    template: TaskTemplate, custom_sizes: dict[str, int], custom_bytes: int | None
) -> tuple[dict[str, Any], dict[str, int]]:
    """The template's JSON form, with ``custom`` cut down to ``custom_bytes`` when it is bigger."""
    if custom_bytes is None or template.custom.ByteSize() <= custom_bytes:
        return template_to_dict(template), {}
    from flyteidl.core.tasks_pb2 import TaskTemplate
    from google.protobuf import json_format

    from .inspector.model import CustomTree

    rest = TaskTemplate(**{field.name: value for field, value in template.ListFields() if field.name != "custom"})
    document = template_to_dict(rest)
    kept: dict[str, Any] = {}
    used = 0
    for key in sorted(custom_sizes):
        if used + custom_sizes[key] > custom_bytes:
            break
        kept[key] = json_format.MessageToDict(template.custom.fields[key])
        used += custom_sizes[key]
    document["custom"] = kept
    left_out = sorted((key for key in custom_sizes if key not in kept), key=lambda key: (-custom_sizes[key], key))
    tree = CustomTree(template.custom)
    rows = [
        {"key": key, "kind": node.kind, "preview": node.preview, "size": node.size, "count": node.children}
        for key in sorted(left_out[:SIZE_KEYS_WHEN_TRIMMED])
        for node in [tree.node((key,))]
    ]
    return document, {
        "custom_keys": len(custom_sizes),
        "custom_keys_kept": len(kept),
        "custom_bytes": template.custom.ByteSize(),
        "custom_rows": rows,
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
