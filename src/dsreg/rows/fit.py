"""Does a shard hold what its snapshot says? Column names in order, and types of the same
kind, as far as Parquet keeps them.

Reading casts a shard's columns to the committed types (see `snapshots.conform`), and a
cast from int64 to float64 or from a date to a timestamp succeeds: a snapshot forged to
name another schema than its shards' would read as other values without a word. Parquet
itself gives some types back otherwise than written (time32[s] as time32[ms], date64 as
date32, dictionaries decoded), so types are compared by kind, not exactly.
"""
from __future__ import annotations

import pyarrow as pa


def type_kind(t: pa.DataType):
    """What of a type survives a Parquet round trip: a comparable, hashable shape."""
    if isinstance(t, pa.ExtensionType):
        return type_kind(t.storage_type)
    if pa.types.is_dictionary(t):
        return type_kind(t.value_type)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t) or \
            pa.types.is_fixed_size_binary(t):
        return "binary"
    for kind, test in (("bool", pa.types.is_boolean), ("int", pa.types.is_integer), ("float", pa.types.is_floating),
                       ("decimal", pa.types.is_decimal), ("null", pa.types.is_null)):
        if test(t):
            return kind
    if pa.types.is_temporal(t):
        return "temporal"
    if pa.types.is_struct(t):
        return ("struct", tuple((f.name, type_kind(f.type)) for f in t))
    if pa.types.is_map(t):
        return ("map", type_kind(t.key_type), type_kind(t.item_type))
    if hasattr(t, "value_type"):            # lists of every kind
        return ("list", type_kind(t.value_type))
    return str(t)


def misfit(shard: pa.Schema, committed: pa.Schema) -> str | None:
    """What about a shard's schema does not fit the committed one (None: it fits)."""
    if shard.names != committed.names:
        return f"its columns are {', '.join(shard.names)[:200]}, the snapshot's {', '.join(committed.names)[:200]}"
    for have, want in zip(shard, committed):
        if type_kind(have.type) != type_kind(want.type):
            return f"its column {have.name} is {str(have.type)[:100]}, the snapshot's {str(want.type)[:100]}"
    return None
