"""How a logical Arrow type maps to the types dsreg stores, compares and decodes it as.

- **storage type** (`storage_type`): what rows are matched, fingerprinted and written to
  shards as, so that equal rows make equal shard bytes whatever their source called
  things: nested fields get canonical names (`item`, `key`, `value`; pyarrow's Parquet
  reader says `element`) and no metadata, and string and binary views become their large
  offset forms (Arrow's `take` has no kernels for views). Dictionaries stay dictionaries.
- **decoded type** (`decoded_type`): dictionaries decoded, at every level; what two
  columns must agree on to hold comparable values.
- **comparison type** (`comparison_type`): the decoded type with floats as unsigned
  integers of their width, whose values compare bitwise (NaN payloads and the sign of
  zero count).
- **committed type**, back from storage (`conform`): rows read from shards are given the
  committed schema again (types, nested names, nullability, metadata), exactly.

The three mappings share one walk over nested types (`_map_nested`).
"""
from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from dsreg.errors import CorruptObject


def _map_nested(t: pa.DataType, leaf: Callable[[pa.DataType], pa.DataType], *, decode: bool,
                rename: bool) -> pa.DataType:
    """`t` with `leaf` applied to each type that nests none. `decode`: dictionaries become
    their value types. `rename`: nested fields take canonical names and lose metadata
    (else they keep name, nullability and metadata)."""
    def inner(x: pa.DataType) -> pa.DataType:
        return _map_nested(x, leaf, decode=decode, rename=rename)

    def child(f: pa.Field, name: str) -> pa.Field:
        return pa.field(name, inner(f.type), f.nullable) if rename else f.with_type(inner(f.type))
    if pa.types.is_dictionary(t):
        return inner(t.value_type) if decode else pa.dictionary(t.index_type, inner(t.value_type), t.ordered)
    if pa.types.is_struct(t):
        return pa.struct([child(f, f.name) for f in t])
    if pa.types.is_map(t):
        return pa.map_(child(t.key_field, "key"), child(t.item_field, "value"), t.keys_sorted)
    if pa.types.is_fixed_size_list(t):
        return pa.list_(child(t.value_field, "item"), t.list_size)
    if pa.types.is_large_list(t):
        return pa.large_list(child(t.value_field, "item"))
    if pa.types.is_list(t):
        return pa.list_(child(t.value_field, "item"))
    if pa.types.is_large_list_view(t):
        return pa.large_list_view(child(t.value_field, "item"))
    if pa.types.is_list_view(t):
        return pa.list_view(child(t.value_field, "item"))
    return leaf(t)


def _unviewed(t: pa.DataType) -> pa.DataType:
    if pa.types.is_string_view(t):
        return pa.large_string()
    if pa.types.is_binary_view(t):
        return pa.large_binary()
    return t


def _as_is(t: pa.DataType) -> pa.DataType:
    return t


_FLOAT_BITS = {16: pa.uint16(), 32: pa.uint32(), 64: pa.uint64()}


def _float_bits(t: pa.DataType) -> pa.DataType:
    return _FLOAT_BITS[t.bit_width] if pa.types.is_floating(t) else t


def storage_type(t: pa.DataType) -> pa.DataType:
    """The type rows of type `t` are matched and stored as (see the module's docstring).
    The snapshot keeps the committed type; reading casts back to it (`conform`)."""
    return _map_nested(t, _unviewed, decode=False, rename=True)


def decoded_type(t: pa.DataType) -> pa.DataType:
    """`t` with every dictionary decoded: the type to cast to before viewing values."""
    return _map_nested(t, _as_is, decode=True, rename=False)


def comparison_type(t: pa.DataType) -> pa.DataType:
    """The type whose values compare bitwise: floats as uints, dictionaries decoded."""
    return _map_nested(t, _float_bits, decode=True, rename=False)


def storage_schema(schema: pa.Schema) -> pa.Schema:
    """The schema rows of `schema` are stored as, without metadata."""
    return pa.schema([pa.field(f.name, storage_type(f.type), f.nullable) for f in schema])


def strip_metadata(schema: pa.Schema) -> pa.Schema:
    """The schema without schema- or field-level metadata (shards never carry it)."""
    return pa.schema([pa.field(f.name, f.type, f.nullable) for f in schema])


def same_type(a: pa.DataType, b: pa.DataType) -> bool:
    """Equal including nested field names and metadata (Arrow's `==` ignores list and map
    field names)."""
    return a.equals(b, check_metadata=True) and str(a) == str(b)


# -- back from storage ----------------------------------------------------------------
def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Give rows read from shards the committed schema (types, nullability, metadata).

    Parquet hands some types back otherwise than they were written (time32[s] as
    time32[ms], date64 as date32, dictionaries of non-strings decoded, the storage form
    of view types): each column is turned back into the committed type, exactly. A shard
    whose columns cannot be (a snapshot that does not describe it) is CorruptObject.
    """
    if table.schema.equals(schema, check_metadata=True) and \
            all(same_type(c.type, f.type) for c, f in zip(table.columns, schema)):
        return table
    if table.column_names != schema.names:
        raise CorruptObject(f"a shard's columns ({', '.join(table.column_names)[:200]}) are not the ones its "
                            f"snapshot names ({', '.join(schema.names)[:200]})", "run 'dsreg fsck'")
    try:
        columns = [restore_column(col, f.type) for col, f in zip(table.columns, schema)]
        return pa.Table.from_arrays(columns, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise CorruptObject(f"a shard's column does not fit its snapshot's schema ({_first_line(e)})",
                            "run 'dsreg fsck'") from None


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


def restore_column(col: pa.ChunkedArray, t: pa.DataType) -> pa.ChunkedArray:
    if same_type(col.type, t):
        return col
    try:
        cast = col.cast(t)
        if same_type(cast.type, t):
            return cast
    except pa.ArrowNotImplementedError:   # Arrow cannot cast values into a dictionary
        pass
    # rebuilt level by level (this also gives maps their field names, which a cast keeps)
    return pa.chunked_array([_restore_array(c, t) for c in col.chunks], type=t)


def _restore_array(arr: pa.Array, t: pa.DataType) -> pa.Array:
    """`arr` as type `t`, dictionary-encoding values wherever `t` has a dictionary."""
    if same_type(arr.type, t):
        return arr
    mask = arr.is_null() if arr.null_count else None
    if pa.types.is_dictionary(t):
        if not pa.types.is_dictionary(arr.type):
            arr = _restore_array(arr, t.value_type).dictionary_encode()
        return arr.cast(t)
    if pa.types.is_struct(t):
        children = [_restore_array(arr.field(i), f.type) for i, f in enumerate(t)]
        return pa.StructArray.from_arrays(children, fields=list(t), mask=mask)
    # list-like: offsets are slice-aware and absolute, values are the whole child array
    if pa.types.is_map(t):
        keys = _restore_array(arr.values.field(0), t.key_type)
        items = _restore_array(arr.values.field(1), t.item_type)
        return pa.MapArray.from_arrays(arr.offsets, keys, items, type=t, mask=mask)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        cls = pa.LargeListArray if pa.types.is_large_list(t) else pa.ListArray
        return cls.from_arrays(arr.offsets, _restore_array(arr.values, t.value_type), type=t, mask=mask)
    if pa.types.is_fixed_size_list(t):
        size = t.list_size
        values = _restore_array(arr.values.slice(arr.offset * size, len(arr) * size), t.value_type)
        return pa.FixedSizeListArray.from_arrays(values, type=t, mask=mask)
    return arr.cast(t)


__all__ = ["storage_type", "decoded_type", "comparison_type", "storage_schema", "strip_metadata", "same_type",
           "conform", "restore_column"]
