"""Python values made JSON-safe for --json output and JSON Lines export, and `to_json` for dataclasses."""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import math
from typing import Any, ClassVar


def to_jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, dict):
        return {str(k): to_jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        # maps come back from Arrow as lists of (key, value) pairs
        return [to_jsonable(x) for x in v]
    return str(v)


class JsonFields:
    """A dataclass mixin: `to_json()` gives the fields in declaration order, as
    `dataclasses.asdict` would (tuples as lists), except that a nested value with a
    `to_json` of its own renders itself. `_json_skip` names fields left out;
    `_json_optional` names fields left out while None. A class whose JSON renames or
    adds keys extends `to_json` (see FsckResult) or writes its own."""

    __dataclass_fields__: ClassVar[dict[str, Any]]     # the mixin goes on dataclasses only
    _json_skip: ClassVar[tuple[str, ...]] = ()
    _json_optional: ClassVar[tuple[str, ...]] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in self._json_skip or (value is None and f.name in self._json_optional):
                continue
            out[f.name] = _plain(value)
        return out


def _plain(v: Any) -> Any:
    if hasattr(v, "to_json"):
        return v.to_json()
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return dataclasses.asdict(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v
