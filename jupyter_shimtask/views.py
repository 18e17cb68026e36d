"""Plain displays: what a %%shimtask cell defined. (The inspector widget lives in ``inspector``.)"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .template import size_report

if TYPE_CHECKING:
    from .authoring import DefinedTask
    from .diffing import TemplateDiff

COLUMNS = ("variable", "task", "type", "executor", "image", "bytes")


@dataclass
class TaskSummary:
    tasks: list[DefinedTask]
    classes: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)  # @task functions and workflows

    @property
    def footer(self) -> str:
        if self.tasks:
            return ""
        if self.entities:
            return f"defined {', '.join([*self.classes, *self.entities])}"
        return f"defined {', '.join(self.classes)}; no task instances yet"

    def changes(self) -> list[TemplateDiff]:
        """For each task this cell redefined: what changed since its previous version."""
        from .diffing import since_previous

        return [
            since_previous(defined.previous, defined.template) for defined in self.tasks if defined.previous is not None
        ]

    def rows(self) -> list[tuple[str, ...]]:
        rows = []
        for defined in self.tasks:
            report = size_report(defined.template)
            size = f"{report.total:,}" + ("" if report.status == "ok" else f" ({report.status})")
            rows.append(
                (
                    defined.variable,
                    defined.template.id.name,
                    defined.template.type,
                    defined.executor,
                    defined.template.container.image,
                    size,
                )
            )
        return rows

    def __repr__(self) -> str:
        if not self.tasks:
            return self.footer
        rows = [COLUMNS, *self.rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        table = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
        return "\n".join(table + [str(change) for change in self.changes()])

    def _repr_html_(self) -> str:
        if not self.tasks:
            return f"<p>{html.escape(self.footer)}</p>"
        head = "".join(f"<th>{name}</th>" for name in COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td><code>{html.escape(cell)}</code></td>" for cell in row) + "</tr>"
            for row in self.rows()
        )
        changes = "".join(change._repr_html_() for change in self.changes())
        return f'<table class="shimtask-summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{changes}'
