"""Return several outputs from an executor by name, never by position."""

from __future__ import annotations

from typing import Any


class OutputsByName(tuple):
    """A tuple ordered the way flytekit will read it in this process, remembering the names."""

    output_names: tuple[str, ...]

    def __new__(cls, names: list[str], values: dict[str, Any]) -> OutputsByName:
        instance = super().__new__(cls, (values[name] for name in names))
        instance.output_names = tuple(names)
        return instance


def outputs_by_name(tt: Any, **values: Any) -> Any:
    """Executor helper: ``return outputs_by_name(tt, total=3, label="x")``.

    ``pyflyte-execute`` assigns a returned tuple to the outputs in the order of the interface's
    protobuf map, which changes from process to process; this orders the values by that same map.
    """
    names = list(tt.interface.outputs.keys())
    missing = [name for name in names if name not in values]
    unknown = [name for name in values if name not in names]
    if missing or unknown:
        raise TypeError(f"outputs_by_name: missing {missing}, unknown {unknown}; outputs are {sorted(names)}")
    if len(names) == 1:
        return values[names[0]]
    return OutputsByName(names, values)
