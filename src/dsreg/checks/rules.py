"""Check rules: parsed from their text, validated against a version's schema.

A rule's canonical text (`Rule.text`) is what the manifest stores and what travels to
remotes: parsing it again gives the same rule. Row-local rules look at each row alone;
set rules at all rows of a split (or of several); version rules at counts and schemas.
"""
from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from dsreg.errors import BadRule

ROW_LOCAL = ("not-null", "range", "values")
SET_RULES = ("unique", "no-duplicates", "no-leakage")
VERSION_RULES = ("rows", "schema-frozen", "max-change")
KINDS = ROW_LOCAL + SET_RULES + VERSION_RULES

USAGE = {
    "not-null": "not-null COL...", "unique": "unique COL...", "range": "range COL MIN MAX",
    "values": "values COL V...", "rows": "rows MIN [MAX]", "schema-frozen": "schema-frozen",
    "max-change": "max-change FRACTION", "no-leakage": "no-leakage [SPLIT...]", "no-duplicates": "no-duplicates",
}


@dataclass(frozen=True)
class Rule:
    kind: str
    columns: tuple[str, ...] = ()       # not-null, unique, range, values
    low: float | None = None            # range: MIN, rows: MIN
    high: float | None = None           # range: MAX, rows: MAX (None: no upper bound)
    values: tuple[str, ...] = ()        # values: the allowed values, as written
    fraction: float | None = None       # max-change
    splits: tuple[str, ...] = ()        # no-leakage: the splits compared (empty: all)

    @property
    def text(self) -> str:
        args: list[str] = list(self.columns)
        if self.kind == "range":
            args += [_number_text(self.low), _number_text(self.high)]
        elif self.kind == "values":
            args += list(self.values)
        elif self.kind == "rows":
            args += [_number_text(self.low)] + ([_number_text(self.high)] if self.high is not None else [])
        elif self.kind == "max-change":
            args.append(_number_text(self.fraction))
        elif self.kind == "no-leakage":
            args += list(self.splits)
        return shlex.join([self.kind, *args])

    def __str__(self) -> str:
        return self.text


def _number_text(x: float | None) -> str:
    assert x is not None
    return str(int(x)) if float(x).is_integer() and abs(x) < 2 ** 53 else repr(float(x))


def _number(text: str, what: str, rule: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise BadRule(f"{rule}: {what} {text!r} is not a number", f"usage: {USAGE[rule]}") from None
    if math.isnan(x):
        raise BadRule(f"{rule}: {what} may not be NaN", f"usage: {USAGE[rule]}")
    return x


def parse_rule(rule: str | Sequence[str]) -> Rule:
    """A rule from its text (`"range score 0 1"`) or its words (`["range", "score", "0", "1"]`)."""
    words = shlex.split(rule) if isinstance(rule, str) else list(rule)
    if not words:
        raise BadRule("no rule given", f"rules: {', '.join(KINDS)}")
    kind, args = words[0], words[1:]
    if kind not in KINDS:
        from difflib import get_close_matches
        close = get_close_matches(kind, KINDS, n=1)
        raise BadRule(f"unknown rule {kind!r}", f"did you mean {close[0]!r}?" if close else
                      f"rules: {', '.join(KINDS)}")

    def need(ok: bool) -> None:
        if not ok:
            raise BadRule(f"malformed rule {shlex.join(words)!r}", f"usage: {USAGE[kind]}")
    if kind in ("not-null", "unique"):
        need(len(args) >= 1 and len(set(args)) == len(args))
        return Rule(kind, columns=tuple(args))
    if kind == "range":
        need(len(args) == 3)
        low, top = _number(args[1], "MIN", kind), _number(args[2], "MAX", kind)
        if low > top:
            raise BadRule(f"range: MIN {args[1]} is above MAX {args[2]}", f"usage: {USAGE[kind]}")
        return Rule(kind, columns=(args[0],), low=low, high=top)
    if kind == "values":
        need(len(args) >= 2)
        return Rule(kind, columns=(args[0],), values=tuple(dict.fromkeys(args[1:])))
    if kind == "rows":
        need(1 <= len(args) <= 2)
        low = _number(args[0], "MIN", kind)
        high: float | None = _number(args[1], "MAX", kind) if len(args) == 2 else None
        if low < 0 or not low.is_integer() or (high is not None and (not high.is_integer() or high < low)):
            raise BadRule("rows: MIN and MAX must be whole numbers, 0 <= MIN <= MAX", f"usage: {USAGE[kind]}")
        return Rule(kind, low=low, high=high)
    if kind == "max-change":
        need(len(args) == 1)
        fraction = _number(args[0], "FRACTION", kind)
        if fraction < 0:
            raise BadRule("max-change: FRACTION must be 0 or more (0.05: at most 5% of the rows change)")
        return Rule(kind, fraction=fraction)
    if kind == "no-leakage":
        need(len(set(args)) == len(args) and len(args) != 1)
        return Rule(kind, splits=tuple(args))
    need(not args)          # schema-frozen, no-duplicates
    return Rule(kind)


# -- validation against a version ----------------------------------------------------------
def validate(rule: Rule, schemas: dict[str, pa.Schema]) -> None:
    """Refuse a rule that cannot hold for a version of these splits' schemas: a column no
    split has, a range on a column that is not numeric, values of the wrong kind, a split
    that is not there. (No splits yet: nothing to hold it against.)"""
    if not schemas:
        return
    for col in rule.columns:
        types = {s: schema.field(col).type for s, schema in schemas.items() if col in schema.names}
        if not types:
            names = sorted({n for schema in schemas.values() for n in schema.names})
            raise BadRule(f"{rule.kind}: no split has a column {col!r}", f"columns: {', '.join(names)}")
        for split, t in types.items():
            _check_type(rule, col, split, t)
    for split in rule.splits:
        if split not in schemas:
            raise BadRule(f"no-leakage: there is no split {split!r}", f"splits: {', '.join(sorted(schemas))}")


def _check_type(rule: Rule, col: str, split: str, t: pa.DataType) -> None:
    if rule.kind == "range" and not is_numeric(t):
        raise BadRule(f"range: column {col!r} of split {split!r} is {t}, not a number",
                      "a range applies to integer, floating point and decimal columns")
    if rule.kind == "values":
        if not (is_text(t) or pa.types.is_integer(t) or pa.types.is_boolean(t)):
            raise BadRule(f"values: column {col!r} of split {split!r} is {t}",
                          "values applies to text, integer and boolean columns")
        allowed_values(rule, t)     # raises if a value cannot be of that type


def is_numeric(t: pa.DataType) -> bool:
    t = t.value_type if pa.types.is_dictionary(t) else t
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def is_text(t: pa.DataType) -> bool:
    t = t.value_type if pa.types.is_dictionary(t) else t
    return pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view",
                                                                             lambda _: False)(t)


def allowed_values(rule: Rule, t: pa.DataType) -> pa.Array:
    """The rule's values as an array of the column's type."""
    t = t.value_type if pa.types.is_dictionary(t) else t
    if is_text(t):
        return pa.array(rule.values, pa.string())
    try:
        if pa.types.is_boolean(t):
            table = {"true": True, "false": False}
            return pa.array([table[v.lower()] for v in rule.values], pa.bool_())
        return pa.array([int(v) for v in rule.values], t)
    except (KeyError, ValueError, OverflowError, pa.ArrowInvalid):
        raise BadRule(f"values: {', '.join(rule.values)} are not all {t} values (column {rule.columns[0]!r})") from None


__all__ = ["Rule", "parse_rule", "validate", "allowed_values", "is_numeric", "is_text", "KINDS", "ROW_LOCAL",
           "SET_RULES", "VERSION_RULES", "USAGE"]
