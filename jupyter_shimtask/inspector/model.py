"""What the inspector shows, in plain Python: the ``custom`` tree with exact byte sizes, search, tree state.

Every size here is protobuf's own ``ByteSize()`` of the message behind a node, never an estimate.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate
    from google.protobuf.struct_pb2 import Struct, Value

    from ..diffing import TemplateDiff

Key = str | int
NodePath = tuple[Key, ...]
Kind = Literal["object", "array", "string", "number", "bool", "null"]

ROOT: NodePath = ()
PAGE = 100  # children rendered at once under one node; "show more" adds a page
MATCH_LIMIT = 200  # matches whose branches a search opens
STATIC_CUSTOM_BYTES = 256 * 1024  # custom kept in the payload a notebook stores (the live tree has it all)
PREVIEW_CHARS = 80
_KINDS: dict[str | None, Kind] = {
    "struct_value": "object",
    "list_value": "array",
    "string_value": "string",
    "number_value": "number",
    "bool_value": "bool",
    "null_value": "null",
    None: "null",
}


@dataclass(frozen=True)
class TreeNode:
    """One ``custom`` entry: its place, a short preview and the exact bytes of its protobuf message."""

    path: NodePath
    kind: Kind
    preview: str
    size: int
    children: int

    @property
    def long(self) -> bool:
        """A string whose preview is cut: it opens to show the whole text."""
        return self.kind == "string" and self.preview.endswith('…"')

    @property
    def label(self) -> str:
        if not self.path:
            return "custom"
        last = self.path[-1]
        return f"[{last}]" if isinstance(last, int) else last


@dataclass(frozen=True)
class SearchResult:
    query: str
    matches: list[NodePath]
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.matches)

    def __str__(self) -> str:
        if not self.query:
            return ""
        if not self.total:
            return "no matches"
        shown = f", first {len(self.matches):,} opened" if self.truncated else ""
        return f"{self.total:,} match{'es' if self.total != 1 else ''}{shown}"


def scalar_text(value: Value) -> str:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return repr(value.number_value)  # a float, as the executor gets it
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    return "null"


def _preview(entry: Any, kind: Kind) -> str:
    if kind == "object":
        count = _count(entry, kind)
        return f"{{{count:,} key{'s' if count != 1 else ''}}}"
    if kind == "array":
        count = _count(entry, kind)
        return f"[{count:,} item{'s' if count != 1 else ''}]"
    if kind == "string":
        text = json.dumps(entry.string_value, ensure_ascii=False)
        return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 2] + '…"'
    return scalar_text(entry)


class CustomTree:
    """The template's ``custom`` Struct as a tree that is read only where it is looked at.

    Object children are listed by key (sorted: protobuf map order differs between processes),
    array children by index. A node's size is ``ByteSize()`` of its ``Value``; the root's is
    ``ByteSize()`` of the ``custom`` Struct itself.
    """

    def __init__(self, custom: Struct):
        self.custom = custom
        self._keys: dict[NodePath, list[str]] = {}
        self._nodes: dict[NodePath, TreeNode] = {}

    def entry(self, path: NodePath) -> Struct | Value:
        """The message at ``path``: the ``custom`` Struct for the root, a ``Value`` below it."""
        cursor: Any = self.custom
        for depth, key in enumerate(path):
            if isinstance(key, int):
                values = cursor.list_value.values if _kind(cursor) == "array" else None
                if values is None or not 0 <= key < len(values):
                    raise KeyError(path[: depth + 1])
                cursor = values[key]
            else:
                fields = _fields(cursor)
                if fields is None or key not in fields:
                    raise KeyError(path[: depth + 1])
                cursor = fields[key]
        return cursor

    def node(self, path: NodePath) -> TreeNode:
        node = self._nodes.get(path)
        if node is None:
            entry = self.entry(path)
            kind = _kind(entry)
            node = TreeNode(path, kind, _preview(entry, kind), entry.ByteSize(), _count(entry, kind))
            self._nodes[path] = node
        return node

    def child_keys(self, path: NodePath) -> Sequence[Key]:
        entry = self.entry(path)
        kind = _kind(entry)
        if kind == "array":
            return range(len(entry.list_value.values))
        return self._sorted_keys(path, entry) if kind == "object" else []

    def index_of(self, path: NodePath) -> int:
        """Position of ``path`` among its siblings."""
        parent, key = path[:-1], path[-1]
        if isinstance(key, int):
            return key
        return bisect.bisect_left(self._sorted_keys(parent, self.entry(parent)), key)

    def search(self, query: str, limit: int = MATCH_LIMIT) -> SearchResult:
        """Nodes whose key or scalar value contains ``query`` (ignoring case), in tree order."""
        needle = query.strip().casefold()
        if not needle:
            return SearchResult(query, [], 0)
        matches: list[NodePath] = []
        total = 0
        stack: list[tuple[NodePath, Any]] = [(ROOT, self.custom)]
        while stack:
            path, entry = stack.pop()
            kind = _kind(entry)
            if kind == "object":
                fields = _fields(entry)
                children: list[tuple[NodePath, Any]] = [
                    ((*path, key), fields[key]) for key in self._sorted_keys(path, entry)
                ]
            elif kind == "array":
                children = [((*path, index), item) for index, item in enumerate(entry.list_value.values)]
            else:
                children = []
            key = path[-1] if path else None
            key_hit = isinstance(key, str) and needle in key.casefold()
            value_hit = kind not in ("object", "array") and needle in scalar_text(entry).casefold()
            if key_hit or value_hit:
                total += 1
                if len(matches) < limit:
                    matches.append(path)
            stack.extend(reversed(children))
        return SearchResult(query, matches, total)

    def _sorted_keys(self, path: NodePath, entry: Struct | Value) -> list[str]:
        keys = self._keys.get(path)
        if keys is None:
            keys = self._keys[path] = sorted(_fields(entry) or ())
        return keys


@dataclass
class TreeState:
    """Which nodes are open and how many children each shows, turned into the rows a view draws.

    A node shows its first ``shown`` children (a page by default) plus the children a search
    pinned to lead to its matches; the rest are summed up in one "more" row.
    """

    tree: CustomTree
    page: int = PAGE
    opened: set[NodePath] = field(default_factory=lambda: {ROOT})
    shown: dict[NodePath, int] = field(default_factory=dict)
    result: SearchResult = field(default_factory=lambda: SearchResult("", [], 0))
    _pinned: dict[NodePath, set[Key]] = field(default_factory=dict)
    _opened_by_search: set[NodePath] = field(default_factory=set)

    def toggle(self, path: NodePath) -> None:
        self._opened_by_search.discard(path)
        if path in self.opened:
            self.opened.discard(path)
        else:
            self.opened.add(path)
            self.shown[path] = max(self.shown.get(path, 0), self.page)

    def show_more(self, path: NodePath) -> None:
        self._opened_by_search.discard(path)
        self.shown[path] = self.shown.get(path, self.page) + self.page

    def search(self, query: str) -> SearchResult:
        """Mark the matches and open the branches down to them (closing those the last search opened)."""
        self.opened -= self._opened_by_search
        self._opened_by_search = set()
        self._pinned = {}
        self.result = self.tree.search(query)
        for match in self.result.matches:
            for depth in range(len(match)):
                parent = match[:depth]
                self._pinned.setdefault(parent, set()).add(match[depth])
                if parent not in self.opened:
                    self.opened.add(parent)
                    self._opened_by_search.add(parent)
                    self.shown[parent] = 0
        return self.result

    def rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        self._add(ROOT, 0, rows, set(self.result.matches))
        return rows

    def _add(self, path: NodePath, depth: int, rows: list[dict[str, Any]], matches: set[NodePath]) -> None:
        node = self.tree.node(path)
        is_open = path in self.opened and (node.children > 0 or node.long)
        row = {
            "id": path_id(path),
            "depth": depth,
            "key": node.label,
            "kind": node.kind,
            "preview": node.preview,
            "size": node.size,
            "count": node.children,
            "open": is_open,
            "match": path in matches,
        }
        if node.long:
            row["long"] = True
            if is_open:  # an opened long string: its whole text, to read and copy
                row["text"] = self.tree.entry(path).string_value
        rows.append(row)
        if not is_open or node.long:
            return
        keys = self.tree.child_keys(path)
        first = min(self.shown.get(path, self.page), len(keys))
        pinned = {self.tree.index_of((*path, key)) for key in self._pinned.get(path, ())}
        visible = sorted(set(range(first)) | pinned)
        for index in visible:
            self._add((*path, keys[index]), depth + 1, rows, matches)
        hidden = len(keys) - len(visible)
        if hidden:
            rows.append({"id": path_id(path) + "+", "parent": path_id(path), "depth": depth + 1, "more": hidden})


def path_id(path: NodePath) -> str:
    """A node's id in a view: its path as JSON (keys may hold any character)."""
    return json.dumps(list(path), ensure_ascii=False)


def path_from_id(text: str) -> NodePath:
    return tuple(json.loads(text))


def _kind(entry: Any) -> Kind:
    """``object`` for the root Struct, else the kind of the Value."""
    if not hasattr(entry, "WhichOneof") or entry.DESCRIPTOR.name == "Struct":
        return "object"
    return _KINDS[entry.WhichOneof("kind")]


def _fields(entry: Any) -> Any:
    if entry.DESCRIPTOR.name == "Struct":
        return entry.fields
    return entry.struct_value.fields if entry.WhichOneof("kind") == "struct_value" else None


def _count(entry: Any, kind: Kind) -> int:
    if kind == "object":
        return len(_fields(entry))
    return len(entry.list_value.values) if kind == "array" else 0


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
        from ..payload import template_payload
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


def previous_version(template: TaskTemplate) -> TaskTemplate | None:
    """The version a ``%%shimtask`` cell replaced, when ``template`` is the newest of its task."""
    from ..authoring import registry

    return registry().previous(template)
