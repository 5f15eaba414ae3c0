"""What the Hugging Face Hub reads from a card's YAML header: its keys, the `size_categories`
buckets, and Arrow types as `dataset_info.features` (the form `datasets.Features._to_yaml_list`
writes: `dtype`, `list` (with `length` when fixed), `large_list`, `struct`)."""
from __future__ import annotations

import pyarrow as pa

# The top-level keys of the Hub's dataset card metadata (hub-docs datasetcard.md, huggingface_hub DatasetCardData).
HEADER_KEYS = (
    "pretty_name", "license", "license_name", "license_link", "license_details", "language", "language_details",
    "annotations_creators", "language_creators", "multilinguality", "source_datasets", "task_categories",
    "task_ids", "tags", "paperswithcode_id", "size_categories", "dataset_info", "configs",
    "extra_gated_fields", "extra_gated_prompt", "train-eval-index", "viewer",
)

SIZE_CATEGORIES = (
    (1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"),
)


def size_category(rows: int) -> str:
    """The Hub's bucket for a number of examples: n<1K up to 999 rows, 1K<n<10K from 1,000, ..."""
    for limit, name in SIZE_CATEGORIES:
        if rows < limit:
            return name
    return "n>1T"


def dtype(t: pa.DataType) -> str:
    """A scalar Arrow type as a `datasets.Value` dtype string."""
    if pa.types.is_dictionary(t):
        return dtype(t.value_type)
    simple = {
        "null": pa.types.is_null, "bool": pa.types.is_boolean, "int8": pa.types.is_int8,
        "int16": pa.types.is_int16, "int32": pa.types.is_int32, "int64": pa.types.is_int64,
        "uint8": pa.types.is_uint8, "uint16": pa.types.is_uint16, "uint32": pa.types.is_uint32,
        "uint64": pa.types.is_uint64, "float16": pa.types.is_float16, "float32": pa.types.is_float32,
        "float64": pa.types.is_float64, "date32": pa.types.is_date32, "date64": pa.types.is_date64,
        "string": pa.types.is_string, "large_string": pa.types.is_large_string,
        "string_view": pa.types.is_string_view, "binary": pa.types.is_binary,
        "large_binary": pa.types.is_large_binary, "binary_view": pa.types.is_binary_view,
    }
    for name, test in simple.items():
        if test(t):
            return name
    if pa.types.is_fixed_size_binary(t):
        return "binary"                          # datasets has no fixed-size binary
    if pa.types.is_time32(t) or pa.types.is_time64(t):
        return f"time{t.bit_width}[{t.unit}]"
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.unit}, tz={t.tz}]" if t.tz else f"timestamp[{t.unit}]"
    if pa.types.is_duration(t):
        return f"duration[{t.unit}]"
    if pa.types.is_decimal(t):
        return f"decimal{t.bit_width}({t.precision}, {t.scale})"
    raise ValueError(f"no Hugging Face dtype for Arrow type {t}")


def feature(t: pa.DataType) -> dict:
    """One column's feature, without its name: {"dtype": ...}, {"list": ...}, {"struct": [...]}..."""
    if pa.types.is_dictionary(t):
        # The files hold the values; a class_label would make `datasets` load integers instead.
        return feature(t.value_type)
    if pa.types.is_struct(t):
        return {"struct": [{"name": f.name, **feature(f.type)} for f in t]}
    if pa.types.is_map(t):
        # no map feature: a map is stored (and read by `datasets`) as a list of key/value structs
        return {"list": [{"name": "key", **feature(t.key_type)}, {"name": "value", **feature(t.item_type)}]}
    if pa.types.is_fixed_size_list(t):
        return {"list": _simplify(feature(t.value_type)), "length": t.list_size}
    if pa.types.is_large_list(t) or pa.types.is_large_list_view(t):
        return {"large_list": _simplify(feature(t.value_type))}
    if pa.types.is_list(t) or pa.types.is_list_view(t):
        return {"list": _simplify(feature(t.value_type))}
    return {"dtype": dtype(t)}


def _simplify(inner: dict):
    """`list: {dtype: int32}` is written `list: int32`; `list: {struct: [...]}` as `list: [...]`."""
    if list(inner) == ["dtype"]:
        return inner["dtype"]
    if list(inner) == ["struct"]:
        return inner["struct"]
    return inner


def features(schema: pa.Schema) -> list[dict]:
    return [{"name": f.name, **feature(f.type)} for f in schema]


def feature_text(t: pa.DataType) -> str:
    """A short human form of the feature: `string`, `list<float32>[4]`, `struct{a: int64}`."""
    if pa.types.is_dictionary(t):
        return feature_text(t.value_type)
    if pa.types.is_struct(t):
        return "struct{" + ", ".join(f"{f.name}: {feature_text(f.type)}" for f in t) + "}"
    if pa.types.is_map(t):
        return f"list<struct{{key: {feature_text(t.key_type)}, value: {feature_text(t.item_type)}}}>"
    if pa.types.is_fixed_size_list(t):
        return f"list<{feature_text(t.value_type)}>[{t.list_size}]"
    if pa.types.is_large_list(t) or pa.types.is_large_list_view(t):
        return f"large_list<{feature_text(t.value_type)}>"
    if pa.types.is_list(t) or pa.types.is_list_view(t):
        return f"list<{feature_text(t.value_type)}>"
    return dtype(t)


SPLIT_ORDER = ("train", "validation", "test")


def ordered_splits(names) -> list[str]:
    """train, validation, test first (as the Hub shows them), then the others by name."""
    names = list(names)
    return [s for s in SPLIT_ORDER if s in names] + sorted(s for s in names if s not in SPLIT_ORDER)


def valid_split_name(name: str) -> bool:
    import re
    return re.fullmatch(r"\w+(\.\w+)*", name) is not None
