"""The node table in the cell while a workflow runs (one display, updated as nodes change)."""

from __future__ import annotations

import html
import time

from .result import NodeState, node_table_html

MIN_INTERVAL = 0.1  # seconds between redraws while nodes run


class LiveTable:
    def __init__(self, states: dict[str, NodeState], workflow: str):
        from IPython.display import HTML, display

        self.states = states
        self.workflow = workflow
        self.drawn = 0.0
        self.handle = display(HTML(self._html("running")), display_id=True)

    @staticmethod
    def wanted(live: bool | None) -> bool:
        """In a Jupyter kernel unless told otherwise (a terminal would print every redraw)."""
        if live is not None:
            return live
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
        return shell is not None and getattr(shell, "kernel", None) is not None

    def _html(self, phase: str) -> str:
        return f"<p>workflow <code>{html.escape(self.workflow)}</code> {phase}</p>{node_table_html(self.states)}"

    def update(self) -> None:
        now = time.monotonic()
        if now - self.drawn < MIN_INTERVAL:
            return
        self.drawn = now
        self.draw("running")

    def draw(self, phase: str) -> None:
        from IPython.display import HTML

        if self.handle is not None:
            self.handle.update(HTML(self._html(phase)))

    def close(self) -> None:
        """The run's result shows the final table; the live one goes."""
        from IPython.display import HTML

        if self.handle is not None:
            self.handle.update(HTML(""))
