"""A workflow's inputs as the LiteralMap its execution starts from (launch plan defaults and fixed inputs)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..literals import encode_inputs
from .compile import CompiledWorkflow

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import LiteralMap


def workflow_inputs(compiled: CompiledWorkflow, values: dict[str, Any] | None, raw: Path) -> LiteralMap:
    """Python values typed by the workflow's interface; a launch plan adds its defaults and fixed inputs."""
    from flyteidl.core.literals_pb2 import LiteralMap

    values = dict(values or {})
    fixed = sorted(set(values) & set(compiled.fixed_inputs))
    if fixed:
        raise InputError(f"launch plan {compiled.entity.name} fixes {', '.join(fixed)}; run without them")
    given = {**compiled.default_inputs, **compiled.fixed_inputs}
    variables = compiled.template.interface.inputs.variables
    missing = [name for name in variables if name not in values and name not in given]
    if given:  # encode only what is neither a launch plan default nor fixed
        encoded = _encode_some(compiled, values, [*values, *missing], raw)
        return LiteralMap(literals={**given, **encoded})
    return encode_inputs(compiled.template, values, compiled.entity, raw_dir=raw)


def _encode_some(compiled: CompiledWorkflow, values: dict[str, Any], names: list[str], raw: Path) -> dict:
    from flyteidl.core.interface_pb2 import TypedInterface

    template = type(compiled.template)()
    template.interface.CopyFrom(TypedInterface())
    for name in names:
        variable = compiled.template.interface.inputs.variables.get(name)
        if variable is None:
            known = ", ".join(compiled.template.interface.inputs.variables)
            raise InputError(f"unknown input {name} (inputs are: {known})")
        template.interface.inputs.variables[name].CopyFrom(variable)
    workflow = getattr(compiled.entity, "workflow", compiled.entity)
    return dict(encode_inputs(template, values, workflow, raw_dir=raw).literals)
