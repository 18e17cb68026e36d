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
        return _cut(self.kind, self.preview)

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


def count_preview(kind: Kind, count: int) -> str:
    """``{3 keys}`` for an object, ``[3 items]`` for an array."""
    if kind == "object":
        return f"{{{count:,} key{'s' if count != 1 else ''}}}"
    return f"[{count:,} item{'s' if count != 1 else ''}]"


def _cut(kind: Kind, preview: str) -> bool:
    return kind == "string" and preview.endswith('…"')


def _preview(entry: Any, kind: Kind) -> str:
    if kind in ("object", "array"):
        return count_preview(kind, _count(entry, kind))
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


# -- the tree as the saved payload carries it -------------------------------------------------------
#
# Column by column, one entry a node in tree order (a node, then its children): ``labels``,
# ``kinds`` (a string, one letter a node: see ``KIND_LETTERS``), ``bytes``, ``previews`` and
# ``children`` (how many of the nodes that follow are its children). ``long`` lists the strings
# whose preview is cut (they open to their whole text, which is in ``template.custom``) and
# ``trimmed`` the keys left out of the saved copy. A kernel-less view draws these as they are.

KIND_LETTERS: dict[Kind, str] = {"object": "o", "array": "a", "string": "s", "number": "n", "bool": "b", "null": "z"}


class _Columns:
    def __init__(self) -> None:
        self.labels: list[str] = []
        self.kinds: list[str] = []
        self.bytes: list[int] = []
        self.previews: list[str] = []
        self.children: list[int] = []
        self.long: list[int] = []
        self.trimmed: list[int] = []

    def add(self, label: str, kind: Kind, size: int, preview: str, children: int = 0) -> int:
        self.labels.append(label)
        self.kinds.append(KIND_LETTERS[kind])
        self.bytes.append(size)
        self.previews.append(preview)
        self.children.append(children)
        return len(self.labels) - 1

    def add_value(self, value: Value, label: str) -> None:
        """``value`` and everything below it."""
        kind = _KINDS[value.WhichOneof("kind")]
        if kind == "object":
            fields = value.struct_value.fields
            self.add(label, kind, value.ByteSize(), count_preview(kind, len(fields)), len(fields))
            for key in sorted(fields):
                self.add_value(fields[key], key)
        elif kind == "array":
            items = value.list_value.values
            self.add(label, kind, value.ByteSize(), count_preview(kind, len(items)), len(items))
            for index, item in enumerate(items):
                self.add_value(item, f"[{index}]")
        else:
            preview = _preview(value, kind)
            at = self.add(label, kind, value.ByteSize(), preview)
            if _cut(kind, preview):
                self.long.append(at)

    def as_dict(self) -> dict[str, Any]:
        return {**vars(self), "kinds": "".join(self.kinds)}


def payload_tree(
    custom: Struct, kept: Sequence[str] | None = None, trimmed: Sequence[TreeNode] = (), size: int | None = None
) -> dict[str, Any]:
    """The ``custom`` tree a saved payload carries: every key, or the ``kept`` ones and the ``trimmed`` ones.

    With ``trimmed`` keys (their values are not in the saved copy) the root lists the kept keys and
    the trimmed ones in key order. The root's bytes are the whole ``custom`` Struct's (``size``, when
    the caller has it already).
    """
    fields = custom.fields
    keys = list(fields) if kept is None else list(kept)
    left_out = {node.label: node for node in trimmed}
    columns = _Columns()
    size = custom.ByteSize() if size is None else size
    columns.add("custom", "object", size, count_preview("object", len(keys) + len(left_out)), len(keys) + len(left_out))
    for key in sorted([*keys, *left_out]):
        node = left_out.get(key)
        if node is None:
            columns.add_value(fields[key], key)
        else:
            columns.trimmed.append(columns.add(node.label, node.kind, node.size, node.preview))
    return columns.as_dict()


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


def previous_version(template: TaskTemplate) -> TaskTemplate | None:
    """The version a ``%%shimtask`` cell replaced, when ``template`` is the newest of its task."""
    from ..authoring import registry

    return registry().previous(template)
