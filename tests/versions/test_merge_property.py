"""Property: a merge of two random edit sequences on two branches gives exactly what a
reference merge computed here with plain Python over pyarrow rows gives: the same rows
and cells, or the same conflicts (keyed); the same multiset of rows (keyless)."""
from __future__ import annotations

import tempfile
from collections import Counter

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dsreg
from dsreg.errors import MergeConflict

ABSENT = object()

edits = st.lists(st.one_of(
    st.tuples(st.just("set"), st.integers(0, 7), st.sampled_from(["a", "b"]), st.integers(0, 2)),
    st.tuples(st.just("del"), st.integers(0, 7)),
    st.tuples(st.just("ins"), st.integers(100, 102), st.integers(0, 2)),
    st.tuples(st.just("addcol"), st.sampled_from(["x", "y"]), st.integers(0, 1)),
    st.tuples(st.just("dropcol"), st.just("b")),
), max_size=6)


def apply(cols: list[str], rows: dict, ops) -> tuple[list[str], dict]:
    cols, rows = list(cols), {k: dict(v) for k, v in rows.items()}
    for op in ops:
        ids = sorted(rows)
        if op[0] == "set" and ids and op[2] in cols:
            rows[ids[op[1] % len(ids)]][op[2]] = op[3] if op[2] == "a" else f"s{op[3]}"
        elif op[0] == "del" and ids:
            del rows[ids[op[1] % len(ids)]]
        elif op[0] == "ins" and op[1] not in rows:
            rows[op[1]] = {"id": op[1], **{c: (op[2] if c != "b" else f"n{op[2]}") for c in cols if c != "id"}}
        elif op[0] == "addcol" and op[1] not in cols:
            cols.append(op[1])
            for k, r in rows.items():
                r[op[1]] = (k + op[2]) % 3
        elif op[0] == "dropcol" and op[1] in cols:
            cols.remove(op[1])
            for r in rows.values():
                del r[op[1]]
    return cols, rows


def to_table(cols, rows) -> pa.Table:
    types = {"id": pa.int64(), "a": pa.int64(), "b": pa.string(), "x": pa.int64(), "y": pa.int64()}
    schema = pa.schema([(c, types[c]) for c in cols])
    return pa.Table.from_pylist([rows[k] for k in rows], schema=schema)


def reference(base, ours, theirs):
    """Three-way keyed merge: (columns, rows by id) or the set of conflicts (id, column|None)."""
    (bc, b), (oc, o), (tc, t) = base, ours, theirs
    cols = [c for c in oc if not (c in bc and c not in tc)] + [c for c in tc if c not in bc and c not in oc]

    def cell(side_cols, rows, k, c):
        return rows[k][c] if k in rows and c in side_cols else ABSENT

    def state(side_cols, rows, k):
        if k not in rows:
            return "none" if k not in b else "gone"
        if k in b and all(b[k][c] == rows[k][c] for c in cols if c in bc and c in side_cols):
            return "base"
        return "row"
    out, conflicts = {}, set()
    for k in sorted(set(b) | set(o) | set(t)):
        so, st_ = state(oc, o, k), state(tc, t, k)
        if so == "gone" and st_ in ("gone", "base") or st_ == "gone" and so == "base":
            continue
        if "gone" in (so, st_):
            conflicts.add((k, None))
            continue
        if k not in o:                   # only theirs has it
            out[k] = {c: cell(tc, t, k, c) for c in cols}
            continue
        if k not in t:
            out[k] = {c: cell(oc, o, k, c) for c in cols}
            continue
        row = {}
        for c in cols:
            bv = cell(bc, b, k, c) if k in b else ABSENT
            ov, tv = cell(oc, o, k, c), cell(tc, t, k, c)
            if ov == tv or tv == bv:
                row[c] = ov
            elif ov == bv:
                row[c] = tv
            else:
                conflicts.add((k, c))
        out[k] = row
    if conflicts:
        return conflicts
    return cols, {k: {c: (None if v is ABSENT else v) for c, v in r.items()} for k, r in out.items()}


def both_branches(reg, base_t, ours_t, theirs_t, keys):
    reg.commit("ds", base_t, message="base", keys=keys)
    reg.branch("ds", "feature")
    reg.commit("ds", ours_t, message="ours")
    reg.commit("ds", theirs_t, message="theirs", branch="feature")


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(n=st.integers(1, 6), ours_ops=edits, theirs_ops=edits)
def test_keyed_merge_matches_reference(n, ours_ops, theirs_ops):
    base = (["id", "a", "b"], {i: {"id": i, "a": i % 3, "b": f"s{i % 2}"} for i in range(n)})
    ours, theirs = apply(*base, ours_ops), apply(*base, theirs_ops)
    expected = reference(base, ours, theirs)
    with tempfile.TemporaryDirectory() as d:
        with dsreg.Registry.init(d) as reg:
            both_branches(reg, to_table(*base), to_table(*ours), to_table(*theirs), ["id"])
            try:
                reg.merge("ds@feature")
            except MergeConflict as e:
                got = {(r["id"], r["column"]) for r in e.conflicts["train"].to_pylist()}
                assert got == expected
                return
            assert not isinstance(expected, set), expected
            merged = reg.load("ds")
            cols, rows = expected
            assert merged.column_names == cols
            assert {r["id"]: r for r in merged.to_pylist()} == rows


keyless_edits = st.lists(st.one_of(
    st.tuples(st.just("del"), st.integers(0, 9)),
    st.tuples(st.just("ins"), st.integers(0, 3)),
), max_size=6)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(base_rows=st.lists(st.integers(0, 3), min_size=1, max_size=8), ours_ops=keyless_edits,
       theirs_ops=keyless_edits)
def test_keyless_merge_is_multiset_arithmetic(base_rows, ours_ops, theirs_ops):
    def edit(rows, ops):
        rows = list(rows)
        for op, v in ops:
            if op == "del" and rows:
                rows.pop(v % len(rows))
            elif op == "ins":
                rows.append(v)
        return rows
    ours, theirs = edit(base_rows, ours_ops), edit(base_rows, theirs_ops)
    b, o, t = Counter(base_rows), Counter(ours), Counter(theirs)
    expected = Counter({v: max(o[v] + t[v] - b[v], 0) for v in set(b) | set(o) | set(t)})
    if ours == theirs:          # the same change on both sides is taken once
        expected = Counter(ours)
    with tempfile.TemporaryDirectory() as d:
        with dsreg.Registry.init(d) as reg:
            both_branches(reg, *(pa.table({"v": pa.array(x, pa.int64())}) for x in (base_rows, ours, theirs)), [])
            reg.merge("ds@feature")
            assert Counter(reg.load("ds")["v"].to_pylist()) == +expected
