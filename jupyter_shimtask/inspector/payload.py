"""The JSON document that describes a template to displays: the widget, the static HTML and the
JupyterLab renderer (MIME type ``application/vnd.jupyter-shimtask.template+json``).

Every figure and every row a display shows is made here, once: sizes, the ``custom`` tree, the size
bars, the container's, metadata's, security context's and pod's rows. Displays only draw them.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..template import TemplateLike, as_template, executor_path, size_report, template_to_dict
from .model import STATIC_CUSTOM_BYTES, CustomTree, payload_tree, previous_version

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate
    from flyteidl.core.types_pb2 import LiteralType

    from ..diffing import TemplateDiff
    from .model import TreeNode

MIME_TYPE = "application/vnd.jupyter-shimtask.template+json"
PAYLOAD_VERSION = 2  # 2: the tree, bars, container rows, title and limits are in the payload


SIZE_KEYS_WHEN_TRIMMED = 200
FINDINGS_WHEN_TRIMMED = 200
BAR_ROWS = 25
PLACEHOLDER = re.compile(r"\{\{\s*\.[A-Za-z0-9_]+\s*\}\}")


@dataclass
class InspectedTemplate:
    """A template with everything the inspector shows: the payload, the ``custom`` tree, the previous version."""

    template: TaskTemplate
    payload: dict[str, Any]
    tree: CustomTree
    previous: TaskTemplate | None = None

    @classmethod
    def of(cls, target: Any, previous: Any = None) -> InspectedTemplate:
        """Read ``target`` (a task, TaskTemplate, file path or bytes); raises ``TemplateError`` for bad input."""
        from flytekit.core.base_task import Task

        from ..errors import TemplateError
        from ..fidelity import check
        from ..template import as_template

        template = as_template(target)
        if not template.ByteSize():
            raise TemplateError("empty TaskTemplate (0 bytes): no task id, type, interface or container")
        findings = check(target, template=template) if isinstance(target, Task) else check(template)
        before = as_template(previous) if previous is not None else previous_version(template)
        payload = template_payload(template, findings, custom_bytes=STATIC_CUSTOM_BYTES)
        return cls(template, payload, CustomTree(template.custom), before)

    @property
    def name(self) -> str:
        return self.template.id.name

    def diff(self) -> TemplateDiff | None:
        from ..diffing import since_previous

        return since_previous(self.previous, self.template) if self.previous is not None else None


def template_payload(
    template: TemplateLike, findings: list[Any] | None = None, custom_bytes: int | None = None
) -> dict[str, Any]:
    """Everything a display needs, computed once in Python.

    ``template`` is protobuf's JSON form (camelCase). ``size`` holds the exact byte figures of
    ``size_report``. ``findings`` are ``check`` results when the caller has them. ``interface``
    lists inputs and outputs (sorted by name) with their Flyte types in readable form. ``tree`` is
    the ``custom`` tree (see ``model.payload_tree``), ``bars`` the size bars, ``container`` the
    Container pane's sections of rows (with the pod's, as this kernel's settings see it).

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
    document, trimmed, tree = _document(template, report.custom, custom_bytes)
    custom_sizes = report.custom
    if trimmed:
        custom_sizes = dict(list(report.custom.items())[:SIZE_KEYS_WHEN_TRIMMED])
        trimmed["size_custom_keys_kept"] = len(custom_sizes)
        trimmed["size_custom_bytes_left_out"] = sum(report.custom.values()) - sum(custom_sizes.values())
    findings = findings or []
    if custom_bytes is not None and len(findings) > FINDINGS_WHEN_TRIMMED:
        trimmed.update(findings=len(findings), findings_kept=FINDINGS_WHEN_TRIMMED)
        findings = findings[:FINDINGS_WHEN_TRIMMED]
    kept = document.get("custom", {})
    listed = len(custom_sizes)
    beyond = (trimmed.get("custom_keys", listed) - listed, trimmed.get("size_custom_bytes_left_out", 0))
    return {
        "version": PAYLOAD_VERSION,
        "id": {
            "project": template.id.project,
            "domain": template.id.domain,
            "name": template.id.name,
            "version": template.id.version,
        },
        "title": task_title(template),
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
            "limits": f"warn above {report.warn_bytes:,}, over above {report.over_bytes:,}",
            "fields": report.fields,
            "custom": custom_sizes,
        },
        "bars": {
            "fields": size_bars(report.fields),
            "custom": size_bars(custom_sizes, {key for key in custom_sizes if key not in kept}, beyond),
        },
        "tree": tree,
        "container": container_sections(template, document),
        "findings": [asdict(finding) for finding in findings],
        "interface": interface_payload(template),
        "trimmed": trimmed or None,
    }


def task_title(template: TaskTemplate) -> str:
    name = template.id.name or "(unnamed task)"
    return f"{name} ({template.id.version})" if template.id.version else name


def _document(
    template: TaskTemplate, custom_sizes: dict[str, int], custom_bytes: int | None
) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """The template's JSON form, with ``custom`` cut down to ``custom_bytes`` when it is bigger, and its tree."""
    whole = template.custom.ByteSize()
    if custom_bytes is None or whole <= custom_bytes:
        return template_to_dict(template), {}, payload_tree(template.custom, size=whole)
    from flyteidl.core.tasks_pb2 import TaskTemplate
    from google.protobuf import json_format

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
    nodes: list[TreeNode] = [tree.node((key,)) for key in sorted(left_out[:SIZE_KEYS_WHEN_TRIMMED])]
    rows = [
        {"key": node.label, "kind": node.kind, "preview": node.preview, "size": node.size, "count": node.children}
        for node in nodes
    ]
    trimmed = {
        "custom_keys": len(custom_sizes),
        "custom_keys_kept": len(kept),
        "custom_bytes": whole,
        "custom_rows": rows,
    }
    return document, trimmed, payload_tree(template.custom, list(kept), nodes, whole)


def size_bars(
    sizes: dict[str, int], trimmed: Collection[str] = (), beyond: tuple[int, int] = (0, 0), limit: int = BAR_ROWS
) -> dict[str, Any]:
    """One bar per part, biggest first, as ``[name, bytes, trimmed]``; ``more`` sums up the rest as
    ``[parts, bytes]`` (with ``beyond``: parts and bytes that ``sizes`` does not list), or is ``None``."""
    ordered = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))
    rest = ordered[limit:]
    more = len(rest) + beyond[0]
    return {
        "rows": [[name, size, name in trimmed] for name, size in ordered[:limit]],
        "more": [more, sum(size for _, size in rest) + beyond[1]] if more else None,
    }


# -- the Container pane: sections of rows ----------------------------------------------------------
#
# A section is ``{"title", "rows"}``, or ``{"title", "note"}`` when it has nothing to list. A row is
# ``{"name", "text"}`` (plain text) or ``{"name", "code", "sep"}``: code items drawn one after the
# other with ``sep`` between them (``"\n"`` is a line break). A code item is a list of pieces; the
# odd-numbered ones are ``{{.placeholders}}`` the platform fills in, drawn marked.


def placeholder_pieces(argument: str) -> list[str]:
    """``argument`` cut around its ``{{.placeholders}}``: plain, placeholder, plain, ..."""
    pieces, last = [], 0
    for match in PLACEHOLDER.finditer(argument):
        pieces += [argument[last : match.start()], match.group()]
        last = match.end()
    return [*pieces, argument[last:]]


def _code_row(name: str, items: list[str], sep: str = " ", empty: str = "-") -> dict[str, Any]:
    if not items:
        return {"name": name, "text": empty}
    return {"name": name, "code": [[item] for item in items], "sep": sep}


def container_sections(template: TaskTemplate, document: dict[str, Any]) -> list[dict[str, Any]]:
    """The Container pane: container, metadata, config, security context (from the template's JSON
    form ``document``), and the pod around the container as this kernel's settings see it."""
    from ..config import settings
    from ..platform import describe

    container = document.get("container", {})
    if container:
        sections = [{"title": "container", "rows": container_rows(container)}]
    else:
        sections = [{"title": "container", "note": "none (this template runs no container of its own)"}]
    sections.append({"title": "metadata", "rows": metadata_rows(document.get("metadata", {}))})
    config = document.get("config", {})
    if config:
        sections.append({"title": "config", "rows": [_code_row(key, [str(config[key])]) for key in sorted(config)]})
    sections.append({"title": "security context", "rows": security_rows(document.get("securityContext", {}))})
    pod = describe(template, settings())
    sections.append({"title": "in the pod, and in a run here", "rows": [{"name": n, "text": t} for n, t in pod]})
    return sections


def container_rows(container: dict[str, Any]) -> list[dict[str, Any]]:
    args = container.get("args", [])
    rows = [_code_row("image", [container.get("image", "-")])]
    if container.get("command"):
        rows.append(_code_row("command", container["command"]))
    if args:
        rows.append({"name": "args", "code": [placeholder_pieces(argument) for argument in args], "sep": " "})
    else:
        rows.append({"name": "args", "text": "-"})
    env = [f"{kv.get('key', '')}={kv.get('value', '')}" for kv in container.get("env", [])]
    rows.append(_code_row("env", env, "\n"))
    resources = container.get("resources", {})
    for side in ("requests", "limits"):
        entries = resources.get(side, [])
        if entries:
            rows.append(_code_row(side, [f"{e.get('name', '?').lower()}={e.get('value', '')}" for e in entries], ", "))
    return rows


def metadata_rows(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    runtime = metadata.get("runtime", {})
    cache = "off"
    if metadata.get("discoverable"):
        cache = f"on, version {metadata.get('discoveryVersion', '')!r}"
        if metadata.get("cacheSerializable"):
            cache += ", serializable"
        if metadata.get("cacheIgnoreInputVars"):
            cache += f", ignoring {', '.join(metadata['cacheIgnoreInputVars'])}"
    rows = [
        _code_row("retries", [str(metadata.get("retries", {}).get("retries", 0))]),
        _code_row("timeout", [str(metadata.get("timeout", "none"))]),
        _code_row("cache", [cache]),
        _code_row("interruptible", [str(metadata.get("interruptible", False))]),
    ]
    if runtime:
        rows.append(_code_row("runtime", [" ".join(str(runtime.get(k, "")) for k in ("flavor", "version")).strip()]))
    for key in ("podTemplateName", "tags", "deprecatedErrorMessage"):
        if metadata.get(key):
            rows.append(_code_row(key, [str(metadata[key])]))
    return rows


def _secret_name(secret: dict[str, Any]) -> str:
    """A secret's reference only: group and key (and where it is mounted), never a value."""
    name = "/".join(part for part in (secret.get("group", ""), secret.get("key", "")) if part) or "(unnamed)"
    if secret.get("groupVersion"):
        name += f"@{secret['groupVersion']}"
    mount = secret.get("mountRequirement")
    extra = [f"mount {mount.lower()}"] if mount else []
    if secret.get("envVar"):
        extra.append(f"env {secret['envVar']}")
    return f"{name} ({', '.join(extra)})" if extra else name


def security_rows(security: dict[str, Any]) -> list[dict[str, Any]]:
    run_as = security.get("runAs", {})
    identity = [
        f"{key}: {run_as[key]}" for key in ("k8sServiceAccount", "iamRole", "executionIdentity") if run_as.get(key)
    ]
    client = run_as.get("oauth2Client", {})
    if client:
        identity.append(
            f"oauth2 client {client.get('clientId', '')} (secret {_secret_name(client.get('clientSecret', {}))})"
        )
    secrets = [_secret_name(secret) for secret in security.get("secrets", [])]
    tokens = [token.get("name", "(unnamed)") for token in security.get("tokens", [])]
    return [
        _code_row("run as", identity, "\n"),
        _code_row("secrets", secrets, "\n", "none"),
        _code_row("tokens", tokens, "\n", "none"),
    ]


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
