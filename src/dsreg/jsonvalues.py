"""Python values from Arrow rows, made JSON-safe for --json output and JSON Lines export."""
from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from typing import Any


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
