"""The template inspector: ``inspect(task_or_template)`` shows it in a notebook cell."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from ..errors import ShimTaskError

if TYPE_CHECKING:
    from .widget import Inspector


class InspectProblem:
    """What ``inspect`` shows instead of a widget when the input is not an inspectable template."""

    def __init__(self, message: str):
        self.message = message

    def __repr__(self) -> str:
        return f"cannot inspect: {self.message}"

    def _repr_html_(self) -> str:
        return (
            '<div class="shimtask-problem" style="border-left:4px solid #c62828;padding:4px 8px">'
            f"<b>cannot inspect</b>: {html.escape(self.message)}</div>"
        )


def inspect(target: Any, previous: Any = None) -> Inspector | InspectProblem:
    """The inspector for a task, a TaskTemplate, a ``.pb``/``.json``/``.yaml`` path or raw bytes.

    ``previous`` (any of the same) adds a Diff tab; by default it is the version a ``%%shimtask``
    cell replaced. Bad input gives an ``InspectProblem`` with a one-line message, not an exception.
    """
    from .payload import InspectedTemplate

    try:
        inspected = InspectedTemplate.of(target, previous)
    except ShimTaskError as error:
        return InspectProblem(str(error))
    from .widget import Inspector

    return Inspector(inspected)


__all__ = ["InspectProblem", "inspect"]
