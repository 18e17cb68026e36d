"""The package's import graph, read with ``ast``: no circles between modules, and each layer imports only below it.

Every import counts, at module level or inside a function, except those under ``if TYPE_CHECKING:``
(they never run). A package whose ``__getattr__`` hands out names lazily (``_API = {name: module}``)
imports those modules as surely as a plain import would, so they count too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "jupyter_shimtask"
NAME = PACKAGE.name

# Modules that draw or parse for people: nothing below them may import them.
DISPLAY = ("magics", "cli", "views", "inspector")
# The rooms below the display modules: they import none of them.
LOWER = ("runners", "platform", "worker", "workflows")
# A RunResult draws itself (``str(result)``, its HTML) with views' verdict text and HTML.
DRAWS_ITSELF = {("runners.base", "views")}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    found = sorted(package.rglob("*.py"))
    return {module_name(path, package): path for path in found if "labextension" not in path.parts}


def _type_only(tree: ast.AST) -> set[int]:
    """The nodes under ``if TYPE_CHECKING:``."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def _lazy_exports(tree: ast.Module) -> list[str]:
    """The modules a package's ``_API = {name: module}`` table names (its ``__getattr__`` imports them)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_API" for t in node.targets):
            return [value.value for value in getattr(node.value, "values", []) if isinstance(value, ast.Constant)]
    return []


def _target(node: ast.Import | ast.ImportFrom, here: list[str]) -> list[tuple[str, list[str]]]:
    """What an import statement names below the package: (module, the names taken from it)."""
    if isinstance(node, ast.Import):
        inside = [alias.name for alias in node.names if alias.name == NAME or alias.name.startswith(NAME + ".")]
        return [(dotted.removeprefix(NAME).strip("."), []) for dotted in inside]
    if node.level:
        base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
        return [(".".join([*base, *([node.module] if node.module else [])]), [alias.name for alias in node.names])]
    if node.module and (node.module == NAME or node.module.startswith(NAME + ".")):
        return [(node.module.removeprefix(NAME).strip("."), [alias.name for alias in node.names])]
    return []


def imports(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The package's modules that module ``name`` (at ``path``) imports, by their names below the package."""
    known = set(known)
    tree = ast.parse(path.read_text(), str(path))
    here = [part for part in (name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]) if part]
    skipped = _type_only(tree)
    named = [
        target
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skipped
        for target in _target(node, here)
    ]
    if path.name == "__init__.py":
        named += [(".".join([*here, module]), []) for module in _lazy_exports(tree)]
    found = set()
    for dotted, names in named:
        submodules = {f"{dotted}.{item}".strip(".") for item in names} & known
        found |= submodules
        if len(submodules) < len(names) or not names:
            found |= {dotted} & known
    found.discard(name)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    found = modules(package)
    return {name: imports(name, path, found) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _in(name: str, rooms: Iterable[str]) -> bool:
    return any(name == room or name.startswith(room + ".") for room in rooms)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_is_read_from_every_module(graph: dict[str, set[str]]) -> None:
    assert {"runners.proc", "runners.base", "runners.engines", "worker.shimtask_warm_worker", "magics"} <= set(graph)
    assert "runners.proc" in graph["runners.subprocess"]  # module level
    assert "runners.engines" in graph[""]  # function level (jupyter_shimtask.build_image)
    assert "workflows.execute" in graph["workflows"]  # a lazy export


def test_no_import_circles(graph: dict[str, set[str]]) -> None:
    found = [sorted(group) for group in cycles(graph)]
    assert not found, f"import circles: {found}"


def test_lower_rooms_import_no_display_module(graph: dict[str, set[str]]) -> None:
    upward = sorted(
        (name, target)
        for name, targets in graph.items()
        if _in(name, LOWER)
        for target in targets
        if _in(target, DISPLAY) and (name, target) not in DRAWS_ITSELF
    )
    assert not upward, f"imports from a lower room into a display module: {upward}"


def test_runners_import_no_workflows_and_platform_no_runners(graph: dict[str, set[str]]) -> None:
    runners_up = sorted((n, t) for n, ts in graph.items() if _in(n, ["runners"]) for t in ts if _in(t, ["workflows"]))
    platform_up = sorted((n, t) for n, ts in graph.items() if _in(n, ["platform"]) for t in ts if _in(t, ["runners"]))
    assert not runners_up, f"runners reach up into workflows: {runners_up}"
    assert not platform_up, f"platform reaches up into runners: {platform_up}"


def test_worker_imports_nothing_from_the_package(graph: dict[str, set[str]]) -> None:
    paths = modules()
    for name, targets in graph.items():
        if _in(name, ["worker"]):
            assert not targets, f"{name} imports {sorted(targets)}: the worker runs where the package is not installed"
            tree = ast.parse(paths[name].read_text())
            relative = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]
            assert not relative, f"{name} imports relatively"


def test_a_circle_is_found(tmp_path: Path) -> None:
    package = tmp_path / NAME
    (package / "runners").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "runners" / "__init__.py").write_text("")
    (package / "runners" / "warm.py").write_text("def f():\n    from .subprocess import g\n")
    (package / "runners" / "subprocess.py").write_text("from . import warm\n")
    type_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .runners import warm\n"
    (package / "views.py").write_text(type_only)
    graph = import_graph(package)
    assert cycles(graph) == [{"runners.warm", "runners.subprocess"}]
    assert graph["views"] == set()
