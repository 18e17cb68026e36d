"""Bindings become literals, and branch conditions are evaluated on literals, as the platform does."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .compile import START_NODE, WorkflowError

if TYPE_CHECKING:
    from flyteidl.core.condition_pb2 import BooleanExpression, Operand
    from flyteidl.core.literals_pb2 import BindingData, Literal, Scalar

# (node id in the binding's scope, output name) -> the literal; node id "" is the scope's inputs
Lookup = Callable[[str, str], "Literal"]


def resolve(binding_data: BindingData, lookup: Lookup) -> Literal:
    """The literal a binding stands for: constants as they are, promises looked up, nested lists and maps."""
    from flyteidl.core.literals_pb2 import Literal, LiteralCollection, LiteralMap
    from flyteidl.core.literals_pb2 import Union as UnionLiteral

    kind = binding_data.WhichOneof("value")
    if kind == "scalar":
        literal = Literal(scalar=binding_data.scalar)
    elif kind == "collection":
        literal = Literal(
            collection=LiteralCollection(literals=[resolve(item, lookup) for item in binding_data.collection.bindings])
        )
    elif kind == "map":
        literal = Literal(
            map=LiteralMap(literals={key: resolve(item, lookup) for key, item in binding_data.map.bindings.items()})
        )
    elif kind == "promise":
        promise = binding_data.promise
        literal = lookup("" if promise.node_id == START_NODE else promise.node_id, promise.var)
    else:
        raise WorkflowError(f"a binding of kind {kind} cannot be resolved here")
    if binding_data.HasField("union"):
        wrapped = Literal()
        wrapped.scalar.union.CopyFrom(UnionLiteral(value=literal, type=binding_data.union.targetType))
        return wrapped
    return literal


def resolve_all(bindings: Any, lookup: Lookup) -> dict[str, Literal]:
    return {binding.var: resolve(binding.binding, lookup) for binding in bindings}


_COMPARE = {
    0: operator.eq,  # EQ
    1: operator.ne,  # NEQ
    2: operator.gt,  # GT
    3: operator.ge,  # GTE
    4: operator.lt,  # LT
    5: operator.le,  # LTE
}


def evaluate(expression: BooleanExpression, values: dict[str, Literal]) -> bool:
    """A branch condition on the branch node's bound inputs (``values``, by binding name)."""
    if expression.HasField("conjunction"):
        conjunction = expression.conjunction
        left = evaluate(conjunction.left_expression, values)
        if conjunction.operator == 0:  # AND
            return left and evaluate(conjunction.right_expression, values)
        return left or evaluate(conjunction.right_expression, values)
    comparison = expression.comparison
    left = _operand(comparison.left_value, values)
    right = _operand(comparison.right_value, values)
    if (left is None or right is None) and comparison.operator not in (0, 1):
        raise WorkflowError("a branch condition compares None with an order (<, >); only == and != apply")
    try:
        return bool(_COMPARE[comparison.operator](left, right))
    except TypeError as exc:
        raise WorkflowError(f"a branch condition compares {left!r} with {right!r}: {exc}") from exc


def _operand(operand: Operand, values: dict[str, Literal]) -> Any:
    kind = operand.WhichOneof("val")
    if kind == "primitive":
        return _primitive(operand.primitive)
    if kind == "scalar":
        return _scalar(operand.scalar)
    literal = values.get(operand.var)
    if literal is None:
        raise WorkflowError(f"a branch condition reads {operand.var}, which the branch node does not bind")
    while literal.HasField("scalar") and literal.scalar.HasField("union"):
        literal = literal.scalar.union.value
    if not literal.HasField("scalar"):
        raise WorkflowError(f"a branch condition reads {operand.var}, which is not a single value")
    return _scalar(literal.scalar)


def _scalar(scalar: Scalar) -> Any:
    kind = scalar.WhichOneof("value")
    if kind == "primitive":
        return _primitive(scalar.primitive)
    if kind == "none_type":
        return None
    raise WorkflowError(f"a branch condition compares a {kind}; conditions compare primitive values")


def _primitive(primitive: Any) -> Any:
    kind = primitive.WhichOneof("value")
    value = getattr(primitive, kind)
    if kind == "datetime":
        return value.ToDatetime()
    if kind == "duration":
        return value.ToTimedelta()
    return value
