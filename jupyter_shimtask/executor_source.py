"""What an executor class's own code uses, read from its source with ``ast`` rather than searched as text."""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any


def executor_uses(task: Any, *names: str) -> bool:
    """Whether the code of ``task``'s executor class uses any of ``names`` (as a name or an attribute).

    A name in a comment or a string does not count; one imported under another name
    (``from jupyter_shimtask import outputs_by_name as by_name``) counts under its own.
    """
    executor_type = getattr(task, "executor_type", None)
    if executor_type is None:
        return False
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(executor_type)))
    except (OSError, TypeError, SyntaxError):
        return False
    aliases = {**_aliases(_module_tree(executor_type)), **_aliases(tree)}
    wanted = set(names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and aliases.get(node.id, node.id) in wanted:
            return True
        if isinstance(node, ast.Attribute) and node.attr in wanted:
            return True
    return False


def _module_tree(executor_type: type) -> ast.AST | None:
    module = inspect.getmodule(executor_type)
    try:
        return ast.parse(inspect.getsource(module)) if module is not None else None
    except (OSError, TypeError, SyntaxError):
        return None


def _aliases(tree: ast.AST | None) -> dict[str, str]:
    """Local names that imports in ``tree`` bind to another name: ``{"by_name": "outputs_by_name"}``."""
    found = {}
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.asname:
                    found[alias.asname] = alias.name.rpartition(".")[2]
    return found
