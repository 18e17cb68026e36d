"""HTML and text for the inspector, made from ``template_payload``: the widget's panes and the static
fallback (GitHub, nbviewer, a notebook opened without a kernel) share these functions."""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import Any

from .model import ROOT, CustomTree

PLACEHOLDER = re.compile(r"\{\{\s*\.[A-Za-z0-9_]+\s*\}\}")
BAR_ROWS = 25
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


def task_title(payload: dict[str, Any]) -> str:
    identifier = payload["id"]
    name = identifier["name"] or "(unnamed task)"
    return f"{name} ({identifier['version']})" if identifier["version"] else name


def header_html(payload: dict[str, Any]) -> str:
    size = payload["size"]
    status = size["status"]
    limit = f"warn above {size['warn_bytes']:,}, over above {size['over_bytes']:,}"
    rows = [
        ("task", _code(task_title(payload))),
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
    pieces, last = [], 0
    for match in PLACEHOLDER.finditer(argument):
        pieces += [html.escape(argument[last : match.start()]), f"<mark>{html.escape(match.group())}</mark>"]
        last = match.end()
    return "".join([*pieces, html.escape(argument[last:])])


def container_html(payload: dict[str, Any]) -> str:
    template = payload["template"]
    container = template.get("container", {})
    parts = []
    if container:
        args = " ".join(f"<code>{mark_placeholders(argument)}</code>" for argument in container.get("args", []))
        rows = [("image", _code(container.get("image", "-")))]
        if container.get("command"):
            rows.append(("command", " ".join(_code(part) for part in container["command"])))
        rows.append(("args", args or "-"))
        env = container.get("env", [])
        rows.append(("env", "<br>".join(_code(f"{kv.get('key', '')}={kv.get('value', '')}") for kv in env) or "-"))
        resources = container.get("resources", {})
        for side in ("requests", "limits"):
            entries = resources.get(side, [])
            if entries:
                rows.append(
                    (side, ", ".join(_code(f"{e.get('name', '?').lower()}={e.get('value', '')}") for e in entries))
                )
        parts.append("<p><b>container</b></p>" + _table(rows))
    else:
        parts.append("<p><b>container</b>: none (this template runs no container of its own)</p>")
    parts.append("<p><b>metadata</b></p>" + _table(metadata_rows(template.get("metadata", {}))))
    config = template.get("config", {})
    if config:
        parts.append("<p><b>config</b></p>" + _table([(key, _code(value)) for key, value in sorted(config.items())]))
    parts.append("<p><b>security context</b></p>" + _table(security_rows(template.get("securityContext", {}))))
    return f'<div class="shimtask-insp">{"".join(parts)}</div>'


def platform_html(rows: list[tuple[str, str]]) -> str:
    """The pod's secrets (names only), retries and timeout, and what a run in this kernel does with them."""
    table = _table([(name, html.escape(text)) for name, text in rows])
    return f'<div class="shimtask-insp"><p><b>in the pod, and in a run here</b></p>{table}</div>'


def metadata_rows(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    runtime = metadata.get("runtime", {})
    cache = "off"
    if metadata.get("discoverable"):
        cache = f"on, version {metadata.get('discoveryVersion', '')!r}"
        if metadata.get("cacheSerializable"):
            cache += ", serializable"
        if metadata.get("cacheIgnoreInputVars"):
            cache += f", ignoring {', '.join(metadata['cacheIgnoreInputVars'])}"
    rows = [
        ("retries", _code(metadata.get("retries", {}).get("retries", 0))),
        ("timeout", _code(metadata.get("timeout", "none"))),
        ("cache", _code(cache)),
        ("interruptible", _code(metadata.get("interruptible", False))),
    ]
    if runtime:
        rows.append(("runtime", _code(" ".join(str(runtime.get(k, "")) for k in ("flavor", "version")).strip())))
    for key in ("podTemplateName", "tags", "deprecatedErrorMessage"):
        if metadata.get(key):
            rows.append((key, _code(metadata[key])))
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


def security_rows(security: dict[str, Any]) -> list[tuple[str, str]]:
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
        ("run as", "<br>".join(_code(item) for item in identity) or "-"),
        ("secrets", "<br>".join(_code(item) for item in secrets) or "none"),
        ("tokens", "<br>".join(_code(item) for item in tokens) or "none"),
    ]


def bars_html(sizes: dict[str, int], title: str, limit: int = BAR_ROWS, beyond: tuple[int, int] = (0, 0)) -> str:
    """One bar per part, biggest first; the rest (and ``beyond``: parts and bytes not in ``sizes``) in one line."""
    ordered = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))
    if not ordered:
        return ""
    largest = max(ordered[0][1], 1)
    rows = "".join(
        f'<tr><td>{_code(name)}</td><td class="shimtask-bytes" data-bytes="{size}">{size:,}</td>'
        f'<td><span class="shimtask-bar" style="width:{max(1, round(160 * size / largest))}px"></span></td></tr>'
        for name, size in ordered[:limit]
    )
    rest_count = len(ordered[limit:]) + beyond[0]
    if rest_count:
        rest_bytes = sum(size for _, size in ordered[limit:]) + beyond[1]
        rows += f"<tr><td>{rest_count:,} more</td><td class='shimtask-bytes'>{rest_bytes:,}</td></tr>"
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
    size = payload["size"]
    trimmed = payload.get("trimmed") or {}
    beyond = (custom_key_count(payload) - len(size["custom"]), trimmed.get("size_custom_bytes_left_out", 0))
    custom = bars_html(size["custom"], "bytes per custom key", beyond=beyond) or "<p>no <code>custom</code> payload</p>"
    bars = bars_html(size["fields"], "bytes per field") + custom + (SIZE_NOTE if size["custom"] else "")
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
        f"task      {task_title(payload)}, type {payload['type'] or '-'}",
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
