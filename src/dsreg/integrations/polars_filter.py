"""Polars predicates as dsreg filters, so a polars scan skips row groups by their statistics.

Only what keeps every row polars would keep is translated: comparisons of a column to a
literal, `is_in`, `is_between`, `is_null` / `is_not_null`, and `&` / `|` of those. Of an
`&`, the parts that translate are pushed and the others dropped (a weaker filter); an `|`
needs both sides. The result may keep more rows than polars' predicate, never fewer: the
reader still filters every batch with polars' own predicate, so results are exact.

Where polars and Arrow disagree, nothing is pushed: polars orders NaN above every number
(`x > 1` holds for NaN, and footer statistics leave NaN out), so on floating columns only
`<`, `<=` and `==` of a number are pushed; `~` is pushed only around null tests.

The expression is read from polars' JSON serialization (`Expr.meta.serialize`), which polars
calls unstable: a shape not recognised here is simply not pushed.
"""
from __future__ import annotations

import json
import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

_FLIP = {"Lt": "Gt", "LtEq": "GtEq", "Gt": "Lt", "GtEq": "LtEq", "Eq": "Eq", "NotEq": "NotEq"}
_COMPARE = {"Lt": "less", "LtEq": "less_equal", "Gt": "greater", "GtEq": "greater_equal", "Eq": "equal",
            "NotEq": "not_equal"}
_UNITS = {"Milliseconds": "ms", "Microseconds": "us", "Nanoseconds": "ns"}
_NAN_SAFE = ("Lt", "LtEq", "Eq")        # comparisons NaN fails in polars too


def to_filter(predicate: Any, schema: pa.Schema) -> pc.Expression | None:
    """A pyarrow filter keeping at least the rows `predicate` (a polars Expr) keeps, or None."""
    try:
        tree = json.loads(predicate.meta.serialize(format="json"))
    except Exception:        # noqa: BLE001 - an expression polars cannot serialize is not pushed
        return None
    return _node(tree, schema)


def _node(node: Any, schema: pa.Schema) -> pc.Expression | None:
    if not isinstance(node, dict) or len(node) != 1:
        return None
    kind, body = next(iter(node.items()))
    if kind == "BinaryExpr":
        op = body.get("op")
        if op in ("And", "LogicalAnd"):
            parts = [p for p in (_node(body["left"], schema), _node(body["right"], schema)) if p is not None]
            return parts[0] & parts[1] if len(parts) == 2 else (parts[0] if parts else None)
        if op in ("Or", "LogicalOr"):
            left, right = _node(body["left"], schema), _node(body["right"], schema)
            return left | right if left is not None and right is not None else None
        if op in _COMPARE:
            return _comparison(body["left"], op, body["right"], schema)
        return None
    if kind == "Function":
        return _function(body.get("function"), body.get("input") or [], schema)
    return None


def _comparison(left: Any, op: str, right: Any, schema: pa.Schema) -> pc.Expression | None:
    if _column(right, schema) is not None:
        left, op, right = right, _FLIP[op], left
    name = _column(left, schema)
    if name is None:
        return None
    value = _literal(right, schema.field(name).type)
    if value is None or not _nan_safe(schema.field(name).type, op):
        return None
    return getattr(pc, _COMPARE[op])(pc.field(name), pc.scalar(value))


def _function(function: Any, inputs: list, schema: pa.Schema) -> pc.Expression | None:
    if not isinstance(function, dict) or "Boolean" not in function or not inputs:
        return None
    what = function["Boolean"]
    name = _column(inputs[0], schema)
    if what == "Not":
        inner = inputs[0].get("Function", {}) if isinstance(inputs[0], dict) else {}
        test = (inner.get("function") or {}).get("Boolean")
        col = _column((inner.get("input") or [None])[0], schema)
        if col is not None and test in ("IsNull", "IsNotNull"):
            return pc.field(col).is_valid() if test == "IsNull" else pc.field(col).is_null()
        return None
    if name is None:
        return None
    typ = schema.field(name).type
    if what == "IsNull":
        return pc.field(name).is_null()
    if what == "IsNotNull":
        return pc.field(name).is_valid()
    if isinstance(what, dict) and "IsIn" in what and len(inputs) == 2:
        values = _list_literal(inputs[1], typ)
        if values is None or (pa.types.is_floating(typ) and pc.any(pc.is_nan(values)).as_py()):
            return None
        return pc.field(name).isin(values)
    if isinstance(what, dict) and "IsBetween" in what and len(inputs) == 3:
        closed = what["IsBetween"].get("closed", "Both")
        low = _comparison(inputs[0], "GtEq" if closed in ("Both", "Left") else "Gt", inputs[1], schema)
        high = _comparison(inputs[0], "LtEq" if closed in ("Both", "Right") else "Lt", inputs[2], schema)
        parts = [p for p in (low, high) if p is not None]
        return parts[0] & parts[1] if len(parts) == 2 else (parts[0] if parts else None)
    return None


def _column(node: Any, schema: pa.Schema) -> str | None:
    if isinstance(node, dict) and isinstance(node.get("Column"), str) and node["Column"] in schema.names:
        return node["Column"]
    return None


def _literal(node: Any, typ: pa.DataType) -> pa.Scalar | None:
    """A polars literal as an Arrow scalar of the column's type, or None (not pushed)."""
    lit = node.get("Literal") if isinstance(node, dict) else None
    if not isinstance(lit, dict) or len(lit) != 1:
        return None
    (form, inner), = lit.items()
    if not isinstance(inner, dict) or len(inner) != 1:
        return None
    (kind, value), = inner.items()
    try:
        if kind in ("Int", "Float") or kind.startswith(("Int", "UInt", "Float")):
            if isinstance(value, float) and math.isnan(value):
                return None
            got = pa.scalar(value)
        elif kind in ("String", "Str"):
            got = pa.scalar(value, pa.string())
        elif kind == "Boolean":
            got = pa.scalar(bool(value))
        elif kind == "Date":
            got = pa.scalar(value, pa.date32())
        elif kind == "Datetime" and isinstance(value, list) and value[1] in _UNITS:
            got = pa.scalar(value[0], pa.timestamp(_UNITS[value[1]], value[2]))
        else:
            return None
        # exactly the column's type: a literal that does not fit is not pushed
        return got.cast(typ, safe=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None


def _list_literal(node: Any, typ: pa.DataType) -> pa.Array | None:
    """An `is_in` list (polars sends it as an Arrow IPC stream of one column)."""
    lit = node.get("Literal") if isinstance(node, dict) else None
    raw = lit.get("Scalar", {}).get("List") if isinstance(lit, dict) else None
    if not isinstance(raw, list):
        return None
    try:
        table = pa.ipc.open_stream(bytes(raw)).read_all()
        column = table.column(0).combine_chunks() if table.num_columns == 1 else None
        if column is None:
            return None
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            column = column.flatten()
        return column.cast(typ, safe=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None


def _nan_safe(typ: pa.DataType, op: str) -> bool:
    return not pa.types.is_floating(typ) or op in _NAN_SAFE
