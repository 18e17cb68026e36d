"""HTML and text for the inspector, made from ``template_payload``: the widget's panes and the static
fallback (GitHub, nbviewer, a notebook opened without a kernel) share these functions."""

from __future__ import annotations

import html
from collections import Counter
from typing import Any

from .model import ROOT, CustomTree
from .payload import placeholder_pieces

STATIC_TREE_NODES = 300
SHOWN_FINDINGS = 20
STATIC_TEXT_CHARS = 4096  # of one long string in the static HTML copy

STYLE = """<style>
.shimtask-insp { font-size: var(--jp-content-font-size1, 13px); }
.shimtask-insp table { border-collapse: collapse; margin: 2px 0 8px; }
.shimtask-insp th, .shimtask-insp td { text-align: left; padding: 1px 10px 1px 0; vertical-align: top; }
.shimtask-insp .shimtask-bytes { text-align: right; font-variant-numeric: tabular-nums; }
.shimtask-insp mark { background: var(--jp-search-selected-match-background-color, #f5c800);
  color: var(--jp-search-selected-match-color, #000); }
.shimtask-badge { padding: 0 6px; border-radius: 8px; color: #fff; font-weight: 600; }
.shimtask-badge-ok { background: #2e7d32; }
.shimtask-badge-warn { background: #ef6c00; }
.shimtask-badge-over { background: #c62828; }
.shimtask-bar { height: 9px; background: var(--jp-brand-color1, #1976d2); display: inline-block; }
.shimtask-finding-error { color: var(--jp-error-color1, #c62828); }
.shimtask-finding-warning { color: var(--jp-warn-color1, #ef6c00); }
</style>"""


def _code(text: Any) -> str:
    return f"<code>{html.escape(str(text))}</code>"


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(name)}</th><td>{value}</td></tr>" for name, value in rows)
    return f"<table>{body}</table>"


def header_html(payload: dict[str, Any]) -> str:
    size = payload["size"]
    status = size["status"]
    limit = size["limits"]
    rows = [
        ("task", _code(payload["title"])),
        ("type", _code(payload["type"] or "-")),
        ("image", _code(payload["image"] or "-")),
        ("executor", _code(payload["executor"] or "-")),
        (
            "size",
            f'<span class="shimtask-total" data-bytes="{size["total"]}">{size["total"]:,} bytes</span> '
            f'<span class="shimtask-badge shimtask-badge-{status}" title="{limit}">{status}</span> '
            f"<small>({html.escape(limit)})</small>",
        ),
    ]
    return f'<div class="shimtask-insp shimtask-header">{_table(rows)}</div>'


def interface_html(payload: dict[str, Any]) -> str:
    parts = []
    for side in ("inputs", "outputs"):
        variables = payload["interface"][side]
        if not variables:
            parts.append(f"<p><b>{side}</b>: none</p>")
            continue
        rows = "".join(
            f"<tr><td>{_code(v['name'])}</td><td>{_code(v['type'])}</td><td>{html.escape(v['description'])}</td></tr>"
            for v in variables
        )
        parts.append(
            f"<p><b>{side}</b></p><table><tr><th>name</th><th>type</th><th>description</th></tr>{rows}</table>"
        )
    return f'<div class="shimtask-insp">{"".join(parts)}</div>'


def mark_placeholders(argument: str) -> str:
    """The argument, escaped, with each ``{{.placeholder}}`` the platform fills in marked."""
    return _pieces_html(placeholder_pieces(argument))


def _pieces_html(pieces: list[str]) -> str:
    """Plain and ``{{.placeholder}}`` pieces, one after the other (see ``payload.container_sections``)."""
    return "".join(
        f"<mark>{html.escape(piece)}</mark>" if index % 2 else html.escape(piece) for index, piece in enumerate(pieces)
    )


def _cell_html(row: dict[str, Any]) -> str:
    if "text" in row:
        return html.escape(row["text"])
    separator = "<br>" if row["sep"] == "\n" else html.escape(row["sep"])
    return separator.join(f"<code>{_pieces_html(item)}</code>" for item in row["code"])


def _section_html(section: dict[str, Any]) -> str:
    title = html.escape(section["title"])
    if "note" in section:
        return f"<p><b>{title}</b>: {html.escape(section['note'])}</p>"
    return f"<p><b>{title}</b></p>" + _table([(row["name"], _cell_html(row)) for row in section["rows"]])


def container_html(payload: dict[str, Any]) -> str:
    """The container, metadata, config, security context and the pod, from the payload's rows."""
    return f'<div class="shimtask-insp">{"".join(_section_html(section) for section in payload["container"])}</div>'


def bars_html(bars: dict[str, Any], title: str) -> str:
    """The payload's bars (biggest first) and the line that sums up the rest."""
    if not bars["rows"]:
        return ""
    largest = max(bars["rows"][0][1], 1)
    rows = "".join(
        f'<tr><td>{_code(name)}</td><td class="shimtask-bytes" data-bytes="{size}">{size:,}</td>'
        f'<td><span class="shimtask-bar" style="width:{max(1, round(160 * size / largest))}px"></span></td></tr>'
        for name, size, _ in bars["rows"]
    )
    if bars["more"]:
        count, size = bars["more"]
        rows += f"<tr><td>{count:,} more</td><td class='shimtask-bytes'>{size:,}</td></tr>"
    return f"<p><b>{html.escape(title)}</b></p><table>{rows}</table>"


def findings_html(payload: dict[str, Any], limit: int = SHOWN_FINDINGS) -> str:
    findings = payload["findings"]
    if not findings:
        return "<p><b>findings</b></p><p>none: <code>check</code> found nothing lost on the way</p>"
    items = "".join(
        f'<li class="shimtask-finding-{f["severity"]}"><b>{html.escape(f["code"])}</b>'
        f"{' ' + _code(f['path']) if f['path'] else ''}: {html.escape(f['message'])}</li>"
        for f in findings[:limit]
    )
    total = (payload.get("trimmed") or {}).get("findings", len(findings))
    if total > limit:
        counts = Counter(f["code"] for f in findings)
        kinds = ", ".join(f"{code} x {count:,}" for code, count in counts.most_common())
        items += f"<li>... {total - limit:,} more (of the first {len(findings):,}: {html.escape(kinds)})</li>"
    return f"<p><b>findings</b> ({total:,})</p><ul>{items}</ul>"


def custom_key_count(payload: dict[str, Any]) -> int:
    return (payload.get("trimmed") or {}).get("custom_keys", len(payload["size"]["custom"]))


SIZE_NOTE = (
    "<p><small>A key's bytes are its whole entry in <code>custom</code> (name and framing included); "
    "the tree shows each value's own bytes.</small></p>"
)


def size_html(payload: dict[str, Any]) -> str:
    size, bars = payload["size"], payload["bars"]
    custom = bars_html(bars["custom"], "bytes per custom key") or "<p>no <code>custom</code> payload</p>"
    bars = bars_html(bars["fields"], "bytes per field") + custom + (SIZE_NOTE if size["custom"] else "")
    return (
        '<table class="shimtask-insp"><tr>'
        f'<td style="padding-right:40px">{bars}</td><td>{findings_html(payload)}</td></tr></table>'
    )


def custom_tree_html(tree: CustomTree, budget: int = STATIC_TREE_NODES) -> str:
    """``custom`` as nested ``<details>`` (no script needed), its first ``budget`` nodes only."""
    remaining = [budget]

    def branch(path: tuple) -> str:
        keys = tree.child_keys(path)
        items = []
        for index, key in enumerate(keys):
            if remaining[0] <= 0:
                items.append(f"<li>... {len(keys) - index:,} more</li>")
                break
            remaining[0] -= 1
            node = tree.node((*path, key))
            line = f"{_code(node.label)} {html.escape(node.preview)} <small>{node.size:,} B</small>"
            if node.children:
                items.append(f"<li><details><summary>{line}</summary>{branch(node.path)}</details></li>")
            elif node.long:
                items.append(f"<li><details><summary>{line}</summary>{_full_text(tree, node.path)}</details></li>")
            else:
                items.append(f"<li>{line}</li>")
        return f"<ul>{''.join(items)}</ul>"

    root = tree.node(ROOT)
    if not root.children:
        return "<p>no <code>custom</code> payload: the executor gets an empty <code>tt.custom</code></p>"
    summary = f"<b>custom</b> {html.escape(root.preview)} <small>{root.size:,} B</small>"
    return f"<details open><summary>{summary}</summary>{branch(ROOT)}</details>"


def _full_text(tree: CustomTree, path: tuple) -> str:
    """A long string, readable in full up to ``STATIC_TEXT_CHARS`` (the live inspector has it all)."""
    text = tree.entry(path).string_value
    rest = len(text) - STATIC_TEXT_CHARS
    more = f"<br><small>... {rest:,} more characters in the live inspector</small>" if rest > 0 else ""
    return f'<pre style="white-space:pre-wrap">{html.escape(text[:STATIC_TEXT_CHARS])}</pre>{more}'


def static_html(payload: dict[str, Any], tree: CustomTree) -> str:
    sections = [
        ("custom", custom_tree_html(tree)),
        ("interface", interface_html(payload)),
        ("container", container_html(payload)),
        ("size", size_html(payload)),
    ]
    body = "".join(
        f"<details{' open' if name == 'size' else ''}><summary><b>{name}</b></summary>{content}</details>"
        for name, content in sections
    )
    return f'{STYLE}<div class="shimtask-insp shimtask-static">{header_html(payload)}{body}</div>'


def summary_text(payload: dict[str, Any]) -> str:
    """A few stable lines (sorted, no ids or times) that nbval can compare."""
    size = payload["size"]
    interface = payload["interface"]

    def variables(side: str) -> str:
        return ", ".join(f"{v['name']}: {v['type']}" for v in interface[side]) or "none"

    largest = sorted(size["fields"].items(), key=lambda item: (-item[1], item[0]))
    custom = sorted(size["custom"].items(), key=lambda item: (-item[1], item[0]))
    findings = Counter(f["code"] for f in payload["findings"])
    lines = [
        f"task      {payload['title']}, type {payload['type'] or '-'}",
        f"image     {payload['image'] or '-'}",
        f"executor  {payload['executor'] or '-'}",
        f"inputs    {variables('inputs')}",
        f"outputs   {variables('outputs')}",
        f"size      {size['total']:,} bytes ({size['status']})",
        f"fields    {', '.join(f'{name} {value:,}' for name, value in largest) or '-'}",
        f"custom    {', '.join(f'{name} {value:,}' for name, value in custom[:5]) or 'none'}"
        + (f" (+{custom_key_count(payload) - 5:,} keys)" if custom_key_count(payload) > 5 else ""),
        f"findings  {', '.join(code if n == 1 else f'{code} x {n:,}' for code, n in findings.items()) or 'none'}",
    ]
    return "\n".join(lines)
