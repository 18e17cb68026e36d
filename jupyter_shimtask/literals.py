"""Python values <-> LiteralMaps, through flytekit's own TypeEngine."""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import LiteralMap
    from flyteidl.core.tasks_pb2 import TaskTemplate


def python_types(template: TaskTemplate, task: Any = None) -> tuple[dict[str, type], dict[str, type]]:
    """Input and output Python types: the task's own where known, else guessed from the template."""
    if task is not None and getattr(task, "python_interface", None) is not None:
        return dict(task.python_interface.inputs), dict(task.python_interface.outputs)
    from flytekit.core.type_engine import TypeEngine
    from flytekit.models.interface import TypedInterface

    interface = TypedInterface.from_flyte_idl(template.interface)
    return TypeEngine.guess_python_types(interface.inputs), TypeEngine.guess_python_types(interface.outputs)


@contextlib.contextmanager
def data_context(raw_dir: Path | None = None) -> Iterator[Any]:
    """A flytekit context whose offloaded data (files, dataframes) goes under ``raw_dir``."""
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.core.data_persistence import FileAccessProvider

    ctx = FlyteContextManager.current_context()
    if raw_dir is None:
        yield ctx
        return
    raw_dir.mkdir(parents=True, exist_ok=True)
    access = FileAccessProvider(local_sandbox_dir=str(raw_dir / "sandbox"), raw_output_prefix=str(raw_dir))
    with FlyteContextManager.with_context(ctx.with_file_access(access)) as scoped:
        yield scoped


def encode_inputs(
    template: TaskTemplate, values: dict[str, Any] | None, task: Any = None, raw_dir: Path | None = None
) -> LiteralMap:
    """The ``inputs.pb`` LiteralMap for ``values``; raises InputError naming what is wrong."""
    from flytekit.core.type_engine import TypeEngine

    values = dict(values or {})
    declared = template.interface.inputs.variables
    types, _ = python_types(template, task)
    defaults = _defaults(task)
    missing = [name for name in declared if name not in values and name not in defaults]
    unknown = [name for name in values if name not in declared]
    if missing or unknown:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(f"{name} ({type_name(types.get(name))})" for name in missing))
        if unknown:
            parts.append("unknown " + ", ".join(unknown) + f" (inputs are: {', '.join(declared) or 'none'})")
        raise InputError("; ".join(parts))
    from flytekit.models.types import LiteralType
    from flytekit.utils.asyn import loop_manager

    # The async entry point: the sync one memoizes by value, so a second run would get a URI in an
    # earlier run's (deleted) folder.
    to_literal = loop_manager.synced(TypeEngine.async_to_literal)
    literals = {}
    with data_context(raw_dir) as ctx:
        for name, variable in declared.items():
            value = values[name] if name in values else defaults[name]
            python_type = types[name]
            if python_type is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)  # as pyflyte run (click's FLOAT) takes a whole number
            try:
                literal = to_literal(ctx, value, python_type, LiteralType.from_flyte_idl(variable.type))
            except Exception as exc:
                raise InputError(
                    f"input {name}: expected {type_name(python_type)}, got {type(value).__name__} {_short(value)}",
                    detail=str(exc),
                ) from exc
            literals[name] = literal.to_flyte_idl()
    from flyteidl.core.literals_pb2 import LiteralMap

    return LiteralMap(literals=literals)


def decode_outputs(literal_map: LiteralMap, template: TaskTemplate, task: Any = None) -> dict[str, Any]:
    """Python values for an ``outputs.pb``; dataframes are read into memory."""
    from flytekit.core.type_engine import TypeEngine
    from flytekit.models.literals import LiteralMap as LiteralMapModel

    _, types = python_types(template, task)
    model = LiteralMapModel.from_flyte_idl(literal_map)
    with data_context() as ctx:
        values = TypeEngine.literal_map_to_kwargs(ctx, model, {name: types[name] for name in model.literals})
    # the task's declaration order; a bare template's map order changes per process, so sort
    order = list(types) if task is not None else sorted(values)
    return {name: _materialize(values[name]) for name in order if name in values}


def _materialize(value: Any) -> Any:
    from flytekit.types.structured import StructuredDataset

    if isinstance(value, StructuredDataset):
        with contextlib.suppress(ImportError):
            import pandas as pd

            return value.open(pd.DataFrame).all()
    return value


def _defaults(task: Any) -> dict[str, Any]:
    interface = getattr(task, "python_interface", None)
    if interface is None:
        return {}
    return {name: default for name, (_, default) in interface.inputs_with_defaults.items() if default is not None}


def type_name(python_type: Any) -> str:
    """A type as a message names it: ``int``, ``list[int]``, ``?`` when unknown."""
    import typing

    if python_type is None:
        return "?"
    if typing.get_origin(python_type) is not None:  # list[int], dict[str, float], Optional[...]
        return str(python_type).replace("typing.", "")
    return getattr(python_type, "__name__", None) or str(python_type).replace("typing.", "")


def parse_value(text: str) -> Any:
    """A ``key=value`` value as typed in a magic: a Python literal if it is one, else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def given_inputs(value: Any, source: str) -> dict[str, Any]:
    """``value`` (what ``source`` gave: a Python expression, a JSON document) as a dict of inputs."""
    if not isinstance(value, dict):
        raise InputError(f"{source} gives a {type(value).__name__}; it must give a dict of name: value")
    return dict(value)


def parse_inputs(
    target: Any, items: list[str], given: dict[str, Any] | None = None, *, as_literals: bool = False
) -> dict[str, Any]:
    """Inputs for ``target``: ``given`` (Python values), overridden by ``name=value`` items.

    Items are read as ``pyflyte run`` reads its options: each value goes through flytekit's own
    click type for the input's declared type (JSON for lists, dicts and dataclasses, paths for
    files and directories, ISO dates, whole numbers for floats). Names the task does not declare
    are kept as text, for ``encode_inputs`` to report. With ``as_literals`` (for code that writes
    the inputs out, as export does) each value is a Python literal if it is one, else its text;
    inputs declared ``str`` keep their text either way.
    """
    values = dict(given or {})
    values.update(_literal_items(target, items) if as_literals else _typed_items(target, items))
    return values


def _literal_items(target: Any, items: list[str]) -> dict[str, Any]:
    interface = getattr(target, "python_interface", None)
    text_inputs = {name for name, kind in interface.inputs.items() if kind is str} if interface else set()
    values: dict[str, Any] = {}
    for name, text in _texts(items).items():
        value = parse_value(text)
        values[name] = text if name in text_inputs and not isinstance(value, str) else value
    return values


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _typed_items(target: Any, items: list[str]) -> dict[str, Any]:
    texts = _texts(items)
    if not texts:
        return {}
    import click
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.interaction.click_types import FlyteLiteralConverter

    declared, types = _input_types(target)
    context = click.Context(click.Command("shimtask"))
    values: dict[str, Any] = {}
    for name, text in texts.items():
        if name not in declared:
            values[name] = text
            continue
        converter = FlyteLiteralConverter(
            FlyteContextManager.current_context(), declared[name], types[name], is_remote=False
        )
        try:
            values[name] = converter.convert(context, None, converter.click_type.convert(text, None, context))
        except click.BadParameter as exc:
            reason = exc.format_message().strip().splitlines()[0]
            raise InputError(
                f"input {name}: expected {type_name(types[name])} ({converter.click_type.name}), "
                f"got {_short(text)}: {reason}",
                detail=exc.format_message(),
            ) from None
    return values


def _input_types(target: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each input's Flyte LiteralType (flytekit's model) and Python type, for anything with an
    interface: a task or workflow object (its own Python types), else a template (guessed)."""
    interface = getattr(target, "python_interface", None)
    if interface is not None:
        from flytekit.core.interface import transform_interface_to_typed_interface

        typed = transform_interface_to_typed_interface(interface)
        return {name: variable.type for name, variable in typed.inputs.items()}, dict(interface.inputs)
    from flytekit.models.types import LiteralType

    from .template import as_template

    template = as_template(target)
    types, _ = python_types(template)
    return {name: LiteralType.from_flyte_idl(v.type) for name, v in template.interface.inputs.variables.items()}, types


def _texts(items: list[str]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.isidentifier():
            raise InputError(f"{item!r}: inputs are written name=value")
        if name in texts:
            raise InputError(f"input {name} given twice")
        texts[name] = text
    return texts
