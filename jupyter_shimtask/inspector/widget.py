"""The inspector in the notebook: ipywidgets 8 core widgets, and a small anywidget view for the
``custom`` tree (one model drawing thousands of rows, instead of a widget per row).

Widgets here only display; what they show comes from ``model`` and ``render``.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from ..errors import ShimTaskError
from ..template import save_template, template_to_json
from .model import PAGE, NodePath, SearchResult, TreeState, path_from_id
from .payload import MIME_TYPE, InspectedTemplate
from .render import (
    STYLE,
    container_html,
    header_html,
    interface_html,
    size_html,
    static_html,
    summary_text,
)

HERE = Path(__file__).resolve().parent
FORMATS = ((".pb", "Save .pb"), (".json", "Save JSON"), (".yaml", "Save YAML"))


class CustomTreeView(anywidget.AnyWidget):
    """Draws ``rows`` (from ``TreeState.rows``) and sends back toggle / show-more clicks."""

    _esm = (HERE / "tree.js").read_text()
    _css = (HERE / "tree.css").read_text()
    rows = traitlets.List().tag(sync=True)
    query = traitlets.Unicode("").tag(sync=True)
    page = traitlets.Int(PAGE).tag(sync=True)

    def __init__(self, state: TreeState, **kwargs: Any):
        super().__init__(rows=state.rows(), page=state.page, **kwargs)
        self.state = state
        self.on_msg(self._on_message)

    def toggle(self, path: NodePath) -> None:
        self.state.toggle(path)
        self.rows = self.state.rows()

    def show_more(self, path: NodePath) -> None:
        self.state.show_more(path)
        self.rows = self.state.rows()

    def search(self, query: str) -> SearchResult:
        result = self.state.search(query)
        with self.hold_sync():
            self.query = query
            self.rows = self.state.rows()
        return result

    def _on_message(self, _: Any, content: dict[str, Any], buffers: list[bytes]) -> None:
        event, path = content.get("event"), path_from_id(content.get("id", "[]"))
        if event == "toggle":
            self.toggle(path)
        elif event == "more":
            self.show_more(path)


class CopyJsonButton(anywidget.AnyWidget):
    """Copies the template's JSON to the clipboard; the text travels only when the button is clicked."""

    _esm = (HERE / "copy.js").read_text()

    def __init__(self, text: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.text = text
        self.on_msg(self._on_message)

    def _on_message(self, _: Any, content: dict[str, Any], buffers: list[bytes]) -> None:
        if content.get("event") == "copy":
            self.send({"text": self.text()})


class Inspector(widgets.VBox):
    """Header, then tabs: Interface, Custom (tree with search), Container, Size, Export and Diff."""

    def __init__(self, inspected: InspectedTemplate):
        self.inspected = inspected
        payload = inspected.payload
        self.header = widgets.HTML(STYLE + header_html(payload))
        self.tree = CustomTreeView(TreeState(inspected.tree))
        self.search = widgets.Text(placeholder="search keys and values", continuous_update=False)
        self.search.add_class("shimtask-search")
        self.matches = widgets.HTML()
        self.search.observe(lambda change: self.find(change["new"]), "value")
        has_custom = bool(inspected.tree.node(()).children)
        custom = (
            widgets.VBox([widgets.HBox([self.search, self.matches]), self.tree])
            if has_custom
            else widgets.HTML(
                "<p>no <code>custom</code> payload: the executor gets an empty <code>tt.custom</code></p>"
            )
        )
        self.export_path = widgets.Text(value=f"{inspected.name or 'template'}.pb", description="file")
        self.export_status = widgets.HTML()
        save_buttons = []
        for suffix, label in FORMATS:
            button = widgets.Button(description=label)
            button.on_click(lambda _, suffix=suffix: self.save(suffix))
            save_buttons.append(button)
        self.copy = CopyJsonButton(lambda: template_to_json(inspected.template))
        export = widgets.VBox([self.export_path, widgets.HBox([*save_buttons, self.copy]), self.export_status])
        panes = {
            "Interface": widgets.HTML(interface_html(payload)),
            "Custom": custom,
            "Container": widgets.HTML(container_html(payload)),
            "Size": widgets.HTML(size_html(payload)),
            "Export": export,
        }
        changes = inspected.diff()
        if changes is not None:
            panes["Diff"] = widgets.HTML(f'<div class="shimtask-insp">{changes._repr_html_()}</div>')
        self.tabs = widgets.Tab(
            children=list(panes.values()), titles=list(panes), selected_index=1 if has_custom else 0
        )
        super().__init__([self.header, self.tabs])
        self.add_class("shimtask-inspector")

    def find(self, query: str) -> SearchResult:
        result = self.tree.search(query)
        self.matches.value = html.escape(str(result))
        return result

    def save(self, suffix: str) -> Path | None:
        target = Path(self.export_path.value.strip() or "template").expanduser().with_suffix(suffix)
        try:
            path = save_template(self.inspected.template, target)
        except (ShimTaskError, OSError) as error:
            self.export_status.value = f"<span class='shimtask-finding-error'>{html.escape(str(error))}</span>"
            return None
        self.export_status.value = (
            f"saved <code>{html.escape(str(path.resolve()))}</code> ({path.stat().st_size:,} bytes)"
        )
        return path

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget, and what shows where no kernel runs: plain text, HTML and the payload."""
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle.update(static_bundle(self.inspected))
        return bundle

    def __repr__(self) -> str:
        return summary_text(self.inspected.payload)


def static_bundle(inspected: InspectedTemplate) -> dict[str, Any]:
    payload = inspected.payload
    return {
        "text/plain": summary_text(payload),
        "text/html": static_html(payload, inspected.tree),
        MIME_TYPE: payload,
    }
