"""The keyed three-way merge of the rows that matter, cell by cell, over arrays.

Rows pair by key across base, ours and theirs (exact key ids, not hashes). Each side's
state per key is "base" (equal to the base row, or kept), "row" (changed or inserted),
"gone" (deleted) or "none" (never had it). Only a key both sides changed needs its whole
rows: those, and only those, are fetched and compared cell by cell; a key only theirs
changed takes theirs' row as it is, and one only ours changed stays. Conflicts (two
different changes of a cell, delete against modify, one new key inserted twice
differently) are listed in key order, as are appended rows.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsreg.errors import DuplicateMergeKey
from dsreg.rows.fingerprint import hash_array
from dsreg.versions.mergeplan import CUT, NEW, THEIRS, Side, SplitMerge, to_json

_ABSENT = np.uint64(0x9E3779B97F4A7C15)   # the hash of a cell a side does not have
NONE, BASE, ROW, GONE = 0, 1, 2, 3


def merge_rows(m: SplitMerge, base: Side, ours: Side, theirs: Side, ours_kept: np.ndarray,
               theirs_kept: np.ndarray, strategy: str, resolve: dict[tuple, Any] | None) -> None:
    """Keyed merge of the rows that matter. Per row of `base`: `ours_kept`, ours' row
    number of it when ours kept it unchanged, else -1; `theirs_kept`, whether theirs kept it."""
    keys, names = m.keys, m.schema.names
    ids = key_ids([base.keys, ours.keys, theirs.keys], keys)
    n = int(max((int(i.max()) + 1 for i in ids if len(i)), default=0))
    b_of, o_of, t_of = (_slots(i, n) for i in ids)
    has_b, has_o, has_t = b_of >= 0, o_of >= 0, t_of >= 0
    kept_o = _gather(np.asarray(ours_kept, dtype=np.int64), b_of, -1)
    kept_t = _gather(np.asarray(theirs_kept, dtype=np.int64), b_of, 0) > 0
    # a row changed when a cell of a column both it and the base have changed: a column
    # added or removed is a change of the schema, not of every row
    eq_o = _same_as_base(ours, base, o_of, b_of, [c for c in names if c in base.columns and c in ours.columns])
    eq_t = _same_as_base(theirs, base, t_of, b_of, [c for c in names if c in base.columns and c in theirs.columns])
    so = np.select([has_o & eq_o, has_o, ~has_b, kept_o >= 0], [BASE, ROW, NONE, BASE], GONE)
    st = np.select([has_t & eq_t, has_t, ~has_b, kept_t], [BASE, ROW, NONE, BASE], GONE)
    if any(c not in base.columns for c in names):
        # columns a side added: a row both sides have merges cell by cell even where neither
        # changed the base's cells, so each side's new cells are kept (and differ: conflict)
        both = has_o & has_t
        so[both], st[both] = ROW, ROW
    act = ~((st == BASE) | (st == NONE) | ((so == GONE) & (st == GONE)))
    o_pos = _gather(ours.pos, o_of, -1)
    ours_at = np.where((so == ROW) | ((so == BASE) & has_o), o_pos, np.where(so == BASE, kept_o, -1))
    theirs_pos = np.where(st == ROW, _gather(theirs.pos, t_of, -1), -1)
    plan = _Plan(m, ours_at, theirs_pos, keys, [(base, b_of), (ours, o_of), (theirs, t_of)])

    only_theirs = np.flatnonzero(act & ((so == BASE) | (so == NONE)))
    plan.take_theirs(only_theirs, st[only_theirs] == GONE)
    gone = np.flatnonzero(act & ~((so == BASE) | (so == NONE)) & ((so == GONE) | (st == GONE)))
    _delete_against_modify(plan, gone, so, st, strategy, resolve)
    both_changed = np.flatnonzero(act & (so == ROW) & (st == ROW))
    _cells(plan, both_changed, base, ours, theirs, b_of, o_of, t_of, strategy, resolve)
    plan.finish()


class _Plan:
    """Edits and appends of the keys being merged (indexed by key id), written to `m`;
    appends and conflicts come out in key order."""

    def __init__(self, m: SplitMerge, ours_at, theirs_pos, keys, sides):
        self.m, self.ours_at, self.theirs_pos, self.keys, self.sides = m, ours_at, theirs_pos, keys, sides
        self.appends: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.conflicts: list[tuple[int, tuple]] = []

    def take_theirs(self, u: np.ndarray, gone: np.ndarray) -> None:
        at, tp, m = self.ours_at[u], self.theirs_pos[u], self.m
        cut = gone & (at >= 0)
        m.edit(at[cut], CUT, 0)
        m.removed += int(cut.sum())
        into = ~gone & (at >= 0)
        m.edit(at[into], THEIRS, tp[into])
        m.modified += int(into.sum())
        add = ~gone & (at < 0)
        self.appends.append((u[add], np.full(int(add.sum()), THEIRS, np.int64), tp[add]))
        m.added += int(add.sum())

    def replace(self, u: np.ndarray, cells: np.ndarray) -> None:
        """New rows (one row of pool indices each) for keys `u`."""
        rows = self.m.new(cells)
        at = self.ours_at[u]
        self.m.edit(at[at >= 0], NEW, rows[at >= 0])
        self.m.modified += int((at >= 0).sum())
        self.appends.append((u[at < 0], np.full(int((at < 0).sum()), NEW, np.int64), rows[at < 0]))
        self.m.added += int((at < 0).sum())

    def replace_by(self, u: int, row: pa.Table) -> None:
        """Key `u`'s row becomes a resolve row (a one-row table with every column)."""
        self.replace(np.array([u]), np.full(len(self.m.schema), self.m.source(row), np.int64))

    def key_tuples(self, u: np.ndarray) -> list[tuple]:
        """Each key's values, from the first side that has it."""
        out: list[Any] = [None] * len(u)
        for side, of in self.sides:
            sel = [j for j in range(len(u)) if out[j] is None and of[u[j]] >= 0]
            if sel:
                t = side.keys.take(pa.array(of[u[sel]]))
                for j, key in zip(sel, zip(*(t[k].to_pylist() for k in self.keys))):
                    out[j] = key
        return out

    def conflict(self, u: int, entry: tuple) -> None:
        self.conflicts.append((u, entry))

    def finish(self) -> None:
        if self.appends:
            u, kind, idx = (np.concatenate(x) for x in zip(*self.appends))
            order = np.argsort(u, kind="stable")
            self.m.append(kind[order], idx[order])
        self.conflicts.sort(key=lambda c: c[0])
        self.m.conflicts.extend(entry for _, entry in self.conflicts)


def _delete_against_modify(plan: _Plan, u: np.ndarray, so, st, strategy: str, resolve) -> None:
    """One side deleted the row, the other changed it: a conflict, unless settled."""
    if not len(u):
        return
    keys = plan.key_tuples(u)
    rows: list[list] = []
    if strategy == "fail":      # the rows, to describe each conflict
        for side, of in plan.sides:
            rows.append(_pylist(side, of[u]))
    theirs = []
    for j, (uu, key) in enumerate(zip(u.tolist(), keys)):
        if resolve is not None and key in resolve:
            plan.replace_by(uu, resolve[key])
        elif strategy == "fail":
            desc = [to_json(rows[0][j]) if rows[0][j] is not None else None,
                    to_json(rows[1][j]) if so[uu] == ROW else None,
                    to_json(rows[2][j]) if st[uu] == ROW else None]
            plan.conflict(uu, (dict(zip(plan.keys, key)), None, *desc))
        elif strategy == "theirs":
            theirs.append(uu)
    picked = np.array(theirs, dtype=np.int64)
    plan.take_theirs(picked, st[picked] == GONE)


def _cells(plan: _Plan, u: np.ndarray, base: Side, ours: Side, theirs: Side, b_of, o_of, t_of, strategy: str,
           resolve) -> None:
    """Both sides have the row (changed, or inserted): merged cell by cell, reading these
    rows whole and no others."""
    if not len(u):
        return
    m, names = plan.m, plan.m.schema.names
    has_b = b_of[u] >= 0
    fo, ft = ours.fetch(o_of[u], None), theirs.fetch(t_of[u], None)
    ho = {c: hash_array(fo[c]) if c in ours.columns else np.full(len(u), _ABSENT) for c in names}
    ht = {c: hash_array(ft[c]) if c in theirs.columns else np.full(len(u), _ABSENT) for c in names}
    # the base's cells matter only where the two sides differ: read just those columns
    # of its rows (scattered over the whole table, they cost a row group each)
    differ = [c for c in names if c in base.columns and (ho[c] != ht[c]).any()]
    fb = base.fetch(b_of[u][has_b], differ) if differ else pa.table({})
    off_o, off_t = m.source(fo), m.source(ft)
    rows = np.arange(len(u), dtype=np.int64)
    pick = np.empty((len(u), len(names)), dtype=np.int64)
    clash = np.zeros((len(u), len(names)), dtype=bool)
    for j, c in enumerate(names):
        hb = np.full(len(u), _ABSENT)
        if c in differ:
            hb[has_b] = hash_array(fb[c])
        keep_o = (ho[c] == ht[c]) | (ht[c] == hb)
        take_t = ~keep_o & (ho[c] == hb)
        clash[:, j] = ~keep_o & ~take_t
        from_t = take_t | (clash[:, j] if strategy == "theirs" else False)
        pick[:, j] = np.where(from_t, off_t + rows, off_o + rows)
    any_clash = clash.any(axis=1)
    settled = np.zeros(len(u), dtype=bool)          # by a resolve row, or listed as conflicts
    if any_clash.any() and (resolve is not None or strategy == "fail"):
        at = np.flatnonzero(any_clash)
        b_row = np.cumsum(has_b) - 1
        for i, key in zip(at.tolist(), plan.key_tuples(u[at])):
            if resolve is not None and key in resolve:
                plan.replace_by(int(u[i]), resolve[key])
            elif strategy == "fail":
                kd = dict(zip(plan.keys, key))
                for j in np.flatnonzero(clash[i]).tolist():
                    c = names[j]
                    bv = to_json(_cell(fb, int(b_row[i]), c)) if has_b[i] else None     # (c differs)
                    plan.conflict(int(u[i]), (kd, c, bv, to_json(_cell(fo, i, c)), to_json(_cell(ft, i, c))))
            else:
                continue
            settled[i] = True
    from_t = pick >= off_t
    all_t = ~settled & from_t.all(axis=1)
    plan.take_theirs(u[all_t], np.zeros(int(all_t.sum()), dtype=bool))
    mixed = ~settled & ~all_t & from_t.any(axis=1)
    plan.replace(u[mixed], pick[mixed])


def _cell(t: pa.Table, i: int, c: str) -> Any:
    return t[c][i].as_py() if c in t.column_names else None


def _pylist(side: Side, of: np.ndarray) -> list:
    """Whole rows of a side as dicts (None where the side lacks the key)."""
    out: list = [None] * len(of)
    have = np.flatnonzero(of >= 0)
    if len(have):
        for j, row in zip(have.tolist(), side.fetch(of[have], None).to_pylist()):
            out[j] = row
    return out


def _same_as_base(side: Side, base: Side, of: np.ndarray, b_of: np.ndarray, compared: list[str]) -> np.ndarray:
    """Per key: the side's row equals the base's on the compared columns (stored
    fingerprints when both have them, else cell hashes of the rows both have)."""
    both = (of >= 0) & (b_of >= 0)
    out = np.zeros(len(of), dtype=bool)
    if not both.any():
        return out
    if side.fingerprints is not None and base.fingerprints is not None:
        out[both] = side.fingerprints[of[both]] == base.fingerprints[b_of[both]]
        return out
    ts, tb = side.fetch(of[both], compared), base.fetch(b_of[both], compared)
    eq = np.ones(int(both.sum()), dtype=bool)
    for c in compared:
        eq &= hash_array(ts[c]) == hash_array(tb[c])
    out[both] = eq
    return out


def _slots(ids: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, -1, dtype=np.int64)
    out[ids] = np.arange(len(ids), dtype=np.int64)
    return out


def _gather(values: np.ndarray, idx: np.ndarray, fill: int) -> np.ndarray:
    if not len(values):
        return np.full(len(idx), fill, dtype=np.int64)
    return np.where(idx >= 0, values[np.maximum(idx, 0)], fill).astype(np.int64)


def _exact(t: pa.DataType) -> bool:
    # types whose values Arrow's hash tables and Python's equality agree on (floats do
    # not: -0.0 and NaN)
    return (pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t)
            or pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_temporal(t)
            or pa.types.is_boolean(t))


def key_ids(tables: list[pa.Table], keys) -> list[np.ndarray]:
    """Per table, each row's key id: equal keys, equal ids, numbered in order of first
    appearance over the tables in turn. A key twice in one table is refused."""
    sizes = [t.num_rows for t in tables]
    ids = _arrow_ids(tables, keys) if all(_exact(t.schema.field(k).type) for t in tables for k in keys) else None
    if ids is None:
        seen: dict[tuple, int] = {}
        ids = np.array([seen.setdefault(key, len(seen)) for t in tables
                        for key in zip(*(t[k].to_pylist() for k in keys))], dtype=np.int64)
    parts = np.split(ids, np.cumsum(sizes)[:-1])
    for t, part in zip(tables, parts):
        if len(np.unique(part)) < len(part):
            order = np.argsort(part, kind="stable")
            s = part[order]
            second = int(order[1:][s[1:] == s[:-1]].min())
            raise DuplicateMergeKey({k: t[k][second].as_py() for k in keys})
    return parts


def _arrow_ids(tables: list[pa.Table], keys) -> np.ndarray | None:
    try:
        cols = [pa.chunked_array([c for t in tables for c in t[k].cast(tables[0].schema.field(k).type).chunks],
                                 type=tables[0].schema.field(k).type) for k in keys]
        codes = [pc.dictionary_encode(c.combine_chunks(), null_encoding="encode").indices
                 .to_numpy(zero_copy_only=False).astype(np.int64) for c in cols]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if not codes or not len(codes[0]):
        return np.zeros(0, dtype=np.int64)
    _, first, inverse = np.unique(np.stack(codes, axis=1), axis=0, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


__all__ = ["merge_rows", "key_ids"]
