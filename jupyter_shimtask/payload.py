"""The JSON document that describes a template to displays: the widget, the static HTML and the
JupyterLab renderer (MIME type ``application/vnd.jupyter-shimtask.template+json``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .template import TemplateLike, as_template, executor_path, size_report, template_to_dict

MIME_TYPE = "application/vnd.jupyter-shimtask.template+json"
PAYLOAD_VERSION = 1


def template_payload(template: TemplateLike, findings: list[Any] | None = None) -> dict[str, Any]:
    """Everything a display needs, computed once in Python.

    ``template`` is protobuf's JSON form (camelCase). ``size`` holds the exact byte figures of
    ``size_report``. ``findings`` are ``check`` results when the caller has them.
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
    }
