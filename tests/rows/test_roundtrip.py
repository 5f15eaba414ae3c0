"""Round-trip under random histories: every version loads back exactly as committed.

Hypothesis draws a table (types, nullability, metadata, how repetitive its rows are) and
a sequence of edits; each edit is committed and then *every* version so far is loaded
and compared with what was committed: values bit for bit (`tables_equal`), schema with
its schema- and field-level metadata, and the `dsreg.*` keys `load` adds. Some examples
shrink the shard sizes, the ingest batch size and the compaction thresholds, so that
small tables still cross shard cuts, batch boundaries and compactions.
DSREG_TEST_EXAMPLES=400 runs a longer search (35 examples by default).
"""
from __future__ import annotations

import decimal
import os
import tempfile

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dsreg
from dsreg.rows.equality import tables_equal
from dsreg.rows.settings import CompactionSettings, RowSettings, ShardSettings

# -- random tables of many types ------------------------------------------------------
_INT_BOUNDS = {8: (-(1 << 7), (1 << 7) - 1), 16: (-(1 << 15), (1 << 15) - 1),
               32: (-(1 << 31), (1 << 31) - 1), 64: (-(1 << 63), (1 << 63) - 1)}
_STRINGS = ["", "a", "b", "é", "🦄 x", "a\x00b", "long " * 12, "neg", "pos"]
_F64_SPECIAL = np.array([0x7FF8000000000000, 0x7FF8000000000001, 0xFFF8000000000000, 0x8000000000000000,
                         0x0000000000000000, 0x7FF0000000000000, 0xFFF0000000000000, 0x0000000000000001],
                        dtype=np.uint64).view(np.float64)
_DAY_MS = 86_400_000

TYPES = [
    pa.int8(), pa.int64(), pa.uint16(), pa.uint64(), pa.float16(), pa.float32(), pa.float64(), pa.bool_(),
    pa.string(), pa.large_string(), pa.binary(), pa.binary(3), pa.decimal128(9, 2), pa.decimal256(40, 5),
    pa.date32(), pa.date64(), pa.time32("s"), pa.time64("ns"), pa.timestamp("s"),
    pa.timestamp("ms", tz="UTC"), pa.timestamp("ns", tz="Asia/Tokyo"), pa.duration("us"),
    pa.list_(pa.int32()), pa.large_list(pa.string()), pa.list_(pa.float32(), 2),
    pa.struct([("a", pa.int16()), ("b", pa.list_(pa.float64()))]), pa.map_(pa.string(), pa.int32()),
    pa.dictionary(pa.int8(), pa.string()), pa.dictionary(pa.int16(), pa.int64()),
    pa.list_(pa.dictionary(pa.int32(), pa.string())), pa.string_view(), pa.null(),
    pa.list_(pa.field("element", pa.int64(), metadata={b"m": b"1"})),
    pa.map_(pa.string(), pa.field("value", pa.float64(), nullable=False)),
]


def _pool(rng: np.random.Generator, t: pa.DataType, k: int) -> list:
    """k Python values of type t (edge values first), the alphabet rows are drawn from."""
    if pa.types.is_dictionary(t):
        return _pool(rng, t.value_type, k)
    if pa.types.is_integer(t):
        lo, hi = _INT_BOUNDS[t.bit_width]
        if pa.types.is_unsigned_integer(t):
            lo, hi = 0, (1 << t.bit_width) - 1
        edge = [0, 1, lo, hi] + ([-1] if lo < 0 else [])
        return edge + [int(v) for v in rng.integers(max(lo, -1000), min(hi, 1000), k)]
    if pa.types.is_floating(t):
        return list(_F64_SPECIAL) + [float(v) for v in rng.standard_normal(k)]
    if pa.types.is_boolean(t):
        return [True, False]
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _STRINGS + [f"s{int(v)}" for v in rng.integers(0, 10**6, k)]
    if pa.types.is_fixed_size_binary(t):
        return [bytes(rng.integers(0, 256, t.byte_width, dtype=np.uint8)) for _ in range(k + 1)] + [b"\x00" * t.byte_width]
    if pa.types.is_binary(t):
        return [b"", b"\x00", b"\xff" * 9] + [bytes(rng.integers(0, 256, int(n), dtype=np.uint8))
                                            for n in rng.integers(0, 12, k)]
    if pa.types.is_decimal(t):
        return [decimal.Decimal(0), decimal.Decimal(10**7 - 1).scaleb(-t.scale)] + \
            [decimal.Decimal(int(v)).scaleb(-t.scale) for v in rng.integers(-10**6, 10**6, k)]
    if pa.types.is_date64(t):
        return [0, -_DAY_MS] + [int(v) * _DAY_MS for v in rng.integers(-10**5, 10**5, k)]
    if pa.types.is_time32(t):
        return [0, 86399] + [int(v) for v in rng.integers(0, 86400, k)]
    if pa.types.is_time64(t):
        return [0, 86_400 * 10**9 - 1] + [int(v) for v in rng.integers(0, 86_400 * 10**9, k)]
    if pa.types.is_temporal(t):       # date32, timestamp, duration: plain integers
        return [0, -1, 1] + [int(v) for v in rng.integers(-10**9, 10**9, k)]
    if pa.types.is_null(t):
        return [None]
    if pa.types.is_fixed_size_list(t):
        child = _pool(rng, t.value_type, k)
        return [[child[i] for i in rng.integers(0, len(child), t.list_size)] for _ in range(k + 1)]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        child = _pool(rng, t.value_type, k) + ([None] if t.value_field.nullable else [])
        return [[]] + [[child[i] for i in rng.integers(0, len(child), int(m))] for m in rng.integers(0, 4, k)]
    if pa.types.is_struct(t):
        pools = [_pool(rng, f.type, k) + ([None] if f.nullable else []) for f in t]
        return [{f.name: p[rng.integers(0, len(p))] for f, p in zip(t, pools)} for _ in range(k + 1)]
    if pa.types.is_map(t):
        keys, items = _pool(rng, t.key_type, k), _pool(rng, t.item_type, k) + ([None] if t.item_field.nullable else [])
        return [[]] + [[(keys[rng.integers(0, len(keys))], items[rng.integers(0, len(items))])
                        for _ in range(int(m))] for m in rng.integers(0, 3, k)]
    raise AssertionError(t)


def make_array(rng: np.random.Generator, t: pa.DataType, n: int, distinct: int, null_p: float) -> pa.Array:
    nulls = rng.random(n) < null_p if null_p else np.zeros(n, dtype=bool)
    if pa.types.is_floating(t):       # through numpy, so NaN payloads and -0.0 survive
        pool = np.array(_pool(rng, t, distinct), dtype=np.float64)
        values = pool[rng.integers(0, len(pool), n)].astype(t.to_pandas_dtype())
        return pa.array(values, type=t, mask=nulls if nulls.any() else None)
    pool = _pool(rng, t, distinct)
    idx = rng.integers(0, len(pool), n)
    return pa.array([None if z else pool[i] for i, z in zip(idx.tolist(), nulls.tolist())], type=t)


def make_rows(rng: np.random.Generator, schema: pa.Schema, n: int, distinct: int) -> pa.Table:
    cols = [make_array(rng, f.type, n, distinct, 0.2 if f.nullable else 0.0) for f in schema]
    return pa.Table.from_arrays(cols, schema=schema)


def random_field(rng: np.random.Generator, name: str) -> pa.Field:
    t = TYPES[int(rng.integers(0, len(TYPES)))]
    nullable = pa.types.is_null(t) or bool(rng.random() < 0.7)
    meta = {b"doc": f"about {name}".encode()} if rng.random() < 0.3 else None
    return pa.field(name, t, nullable=nullable, metadata=meta)


def take_rows(table: pa.Table, idx) -> pa.Table:
    """table.take(idx), built from slices: Arrow's take has no kernel for view types."""
    idx = np.asarray(idx, dtype=np.int64)
    if len(idx) == 0:
        return table.slice(0, 0)
    brk = np.flatnonzero(np.diff(idx) != 1) + 1
    return pa.concat_tables([table.slice(int(run[0]), len(run)) for run in np.split(idx, brk)])


# -- comparing what load returns with what was committed ------------------------------
def without_pins(schema: pa.Schema) -> pa.Schema:
    kept = {k: v for k, v in (schema.metadata or {}).items() if not k.startswith(b"dsreg.")}
    return schema.with_metadata(kept) if kept else schema.remove_metadata()


def assert_loads_as(reg, dataset: str, commit_id: str, split: str, expected: pa.Table) -> None:
    got = reg.load(f"{dataset}@{commit_id}", split=split)
    meta = got.schema.metadata
    assert meta[b"dsreg.commit"] == commit_id.encode()
    assert meta[b"dsreg.split"] == split.encode()
    assert meta[b"dsreg.dataset"] == dataset.encode()
    assert without_pins(got.schema).equals(expected.schema, check_metadata=True), \
        f"schema of {split}@{commit_id[:8]}:\n{got.schema}\n!=\n{expected.schema}"
    for i, f in enumerate(expected.schema):   # nested names too, which Arrow's == ignores
        assert str(got.schema.field(i).type) == str(got.column(i).type) == str(f.type)
    assert tables_equal(got, expected), f"rows of {split}@{commit_id[:8]} differ"
    # rows that are equal are also equal to Arrow (which compares floats numerically,
    # so only where no NaN is involved) -- a cross-check of tables_equal itself
    got.validate(full=True)


# tiny shards, batches and compaction thresholds, so small tables exercise them
SMALL = RowSettings(ShardSettings(target_bytes=600, min_bytes=120, max_bytes=2400),
                    CompactionSettings(min_runs=12, min_mean_run_rows=3, min_dead_rows=50), batch_rows=13)


# -- the property ---------------------------------------------------------------------
EDITS = ["append", "insert", "delete", "edit", "add_column", "drop_column", "change_type",
         "add_split", "move_rows", "drop_split", "same", "metadata", "reverse"]

edit_steps = st.lists(st.tuples(st.sampled_from(EDITS), st.integers(0, 2**32 - 1)), min_size=1, max_size=7)


@settings(max_examples=int(os.environ.get("DSREG_TEST_EXAMPLES", 35)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(0, 120), ncols=st.integers(1, 4),
       distinct=st.sampled_from([2, 40]), small=st.booleans(), steps=edit_steps)
def test_every_version_loads_exactly_as_committed(seed, rows, ncols, distinct, small, steps):
    rng = np.random.default_rng(seed)
    fields = [random_field(rng, f"c{i}") for i in range(ncols)]
    meta = {b"origin": b"hypothesis", b"seed": str(seed).encode()} if rng.random() < 0.5 else None
    current = {"train": make_rows(rng, pa.schema(fields, metadata=meta), rows, distinct)}
    versions: list[tuple[str, dict[str, pa.Table]]] = []
    row_settings = SMALL if small else RowSettings()
    with tempfile.TemporaryDirectory() as d:
        reg = dsreg.Registry.init(d)
        try:
            r = reg.commit("ds", dict(current), message="initial", author="t", settings=row_settings)
            versions.append((r.id, dict(current)))
            assert r.splits["train"].rows == rows
            for i, (kind, s) in enumerate(steps):
                r, current = apply_edit(reg, rng, current, kind, s, distinct, i, row_settings)
                if r.unchanged:
                    assert versions[-1][0] == r.id
                else:
                    versions.append((r.id, dict(current)))
                for split, table in current.items():
                    if split in r.splits:
                        assert r.splits[split].rows == table.num_rows
                # every version, old ones included, still loads exactly
                for cid, tables in versions:
                    for split, table in tables.items():
                        assert_loads_as(reg, "ds", cid, split, table)
                assert set(reg.show("ds").splits) == set(current)
        finally:
            reg.close()


def apply_edit(reg, rng, current: dict[str, pa.Table], kind: str, s: int, distinct: int, step: int,
               row_settings: RowSettings):
    """Apply one edit to the expected tables and commit it; return (result, new tables)."""
    erng = np.random.default_rng(s)
    train = current["train"]
    n = train.num_rows
    new = dict(current)
    kw: dict = {}
    msg = f"{step}: {kind}"
    if kind == "append":
        more = make_rows(erng, train.schema, int(erng.integers(1, 30)), distinct)
        new["train"] = pa.concat_tables([train, more])
        r = reg.commit("ds", {"train": more}, message=msg, append=True, author="t", settings=row_settings)
        return r, new
    if kind == "insert":
        at = int(erng.integers(0, n + 1))
        more = make_rows(erng, train.schema, int(erng.integers(1, 30)), distinct)
        new["train"] = pa.concat_tables([train.slice(0, at), more, train.slice(at)])
    elif kind == "delete":
        new["train"] = take_rows(train, np.flatnonzero(erng.random(n) > 0.3))
    elif kind == "edit":
        hit = np.flatnonzero(erng.random(n) < 0.2)
        repl = make_rows(erng, train.schema, len(hit), distinct)
        idx = np.arange(n)
        idx[hit] = n + np.arange(len(hit))
        new["train"] = take_rows(pa.concat_tables([train, repl]), idx)
    elif kind == "add_column":
        f = random_field(erng, f"x{step}")
        new["train"] = train.append_column(f, make_array(erng, f.type, n, distinct, 0.2 if f.nullable else 0))
    elif kind == "drop_column":
        if train.num_columns > 1:
            new["train"] = train.remove_column(int(erng.integers(0, train.num_columns)))
    elif kind == "change_type":
        i = int(erng.integers(0, train.num_columns))
        f = random_field(erng, train.schema.field(i).name)
        new["train"] = train.set_column(i, f, make_array(erng, f.type, n, distinct, 0.2 if f.nullable else 0))
    elif kind == "add_split":
        other = make_rows(erng, pa.schema([random_field(erng, "y")]), int(erng.integers(0, 40)), distinct)
        new["test"] = other
        r = reg.commit("ds", {"test": other}, message=msg, author="t", settings=row_settings)
        return r, new
    elif kind == "move_rows":     # some train rows move to a new split "valid"
        moving = erng.random(n) < 0.3
        new["train"] = take_rows(train, np.flatnonzero(~moving))
        new["valid"] = take_rows(train, np.flatnonzero(moving))
        r = reg.commit("ds", {"train": new["train"], "valid": new["valid"]}, message=msg, author="t", settings=row_settings)
        assert r.splits["valid"].new_rows == 0 and r.splits["train"].new_rows == 0
        return r, new
    elif kind == "drop_split":
        extra = sorted(set(current) - {"train"})
        if extra:
            gone = extra[int(erng.integers(0, len(extra)))]
            del new[gone]
            kw["drop_splits"] = [gone]
            if erng.random() < 0.5:   # dropping alone, or with another split committed
                return reg.commit("ds", {}, message=msg, author="t", settings=row_settings, **kw), new
    elif kind == "metadata":
        new["train"] = train.replace_schema_metadata({b"note": f"step {step}".encode()})
    elif kind == "reverse":
        new["train"] = take_rows(train, np.arange(n)[::-1])
    r = reg.commit("ds", {"train": new["train"]}, message=msg, author="t", settings=row_settings, **kw)
    if kind in ("same", "metadata", "reverse", "delete"):
        assert r.splits["train"].new_rows == 0      # every row already stored
    if kind == "same" and len(current) == 1:
        assert r.unchanged
    return r, new


# -- a few fixed histories, to keep the obvious cases obvious ------------------------------
def test_roundtrip_example_history(registry):
    from helpers.tables import edit_table, make_table
    t = make_table(5000)
    history = []
    for kind in ["edit", "delete", "insert", "append", None]:
        history.append((registry.commit("ds", {"train": t}, message=str(kind)).id, t))
        if kind:
            t = edit_table(t, kind, fraction=0.05, seed=len(history)).table
    for back, (cid, table) in enumerate(reversed(history)):
        assert registry.resolve(f"ds@main~{back}") == cid
        assert_loads_as(registry, "ds", cid, "train", table)
        assert tables_equal(dsreg.load(f"ds@main~{back}"), table)   # the top-level API too


def test_batching_does_not_change_what_is_stored(registry):
    from dsreg.model.objects import get_commit, get_snapshot
    from helpers.tables import make_table
    t = make_table(3000)
    stored = []
    for batch_rows in [1, 7, 1000, 65536]:
        r = registry.commit(f"b{batch_rows}", {"train": t}, message="m", settings=RowSettings(batch_rows=batch_rows))
        assert_loads_as(registry, f"b{batch_rows}", r.id, "train", t)
        snap = get_snapshot(registry, get_commit(registry, r.id).splits["train"])
        stored.append(([s.id for s in snap.shards], snap.run_start.tolist(), snap.run_count.tolist()))
    assert all(x == stored[0] for x in stored)


@pytest.mark.parametrize("max_rows", [1, 3, 64, 65, 1000])
def test_streamed_reads_give_the_rows_in_order(registry, max_rows):
    """iter_snapshot (checkout, compaction) in windows of any size, over many runs."""
    from dsreg.model.objects import get_commit, get_snapshot
    from dsreg.rows.snapshots import iter_snapshot
    from helpers.tables import make_table
    t = make_table(3000)
    registry.commit("ds", t, message="m")
    rng = np.random.default_rng(0)
    mixed = take_rows(t, np.concatenate([rng.permutation(1000), np.arange(1000, 2000), rng.permutation(1000)]))
    registry.commit("ds", mixed, message="m")
    snap = get_snapshot(registry, get_commit(registry, registry.resolve("ds")).splits["train"])
    assert snap.num_runs > 1000
    parts = list(iter_snapshot(registry.store, snap, max_rows=max_rows))
    assert all(0 < p.num_rows <= max_rows for p in parts)
    assert tables_equal(pa.concat_tables(parts), mixed)
    cols = list(iter_snapshot(registry.store, snap, columns=["text", "id"], max_rows=max_rows))
    assert tables_equal(pa.concat_tables(cols), mixed.select(["text", "id"]))
