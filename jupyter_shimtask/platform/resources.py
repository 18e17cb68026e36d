"""The template's resources as the platform reads them: limits over requests, Kubernetes quantities."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING

from ..errors import TemplateError

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

_QUANTITY = re.compile(r"([0-9.]+(?:[eE][-+]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?")
_SUFFIX = {
    **{suffix: Decimal(1024) ** power for power, suffix in enumerate(("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    **{suffix: Decimal(1000) ** power for power, suffix in enumerate(("", "k", "M", "G", "T", "P", "E"))},
    "m": Decimal("0.001"),
}


def limits(template: TaskTemplate) -> dict[int, str]:
    """Resource limits as the platform sets them: the limit, or else the request."""
    resources = template.container.resources
    chosen = {entry.name: entry.value for entry in resources.requests}
    chosen.update({entry.name: entry.value for entry in resources.limits})
    return chosen


def memory_limit(template: TaskTemplate) -> str:
    from flyteidl.core.tasks_pb2 import Resources

    return limits(template).get(Resources.MEMORY, "")


def quantity(text: str) -> Decimal:
    """A Kubernetes quantity ("512Mi", "1.5G", "500m") as a number."""
    match = _QUANTITY.fullmatch(text.strip())
    if not match:
        raise TemplateError(f"resource value {text!r} is not a Kubernetes quantity (like 512Mi or 500m)")
    return Decimal(match[1]) * _SUFFIX[match[2] or ""]
