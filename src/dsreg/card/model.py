"""A dataset card as a value, built from one version: its fields, splits, statistics,
sample rows, changelog and provenance. Renderers (markdown, html, JSON) only format it."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dsreg.card import hub
from dsreg.card.fields import card_fields
from dsreg.card.quality import checks_section, quality_section, range_rules
from dsreg.ids import CommitId
from dsreg.jsonvalues import to_jsonable
from dsreg.model.history import first_parent_chain
from dsreg.model.log import log_entries
from dsreg.model.objects import get_commit, get_snapshot
from dsreg.model.revisions import resolve
from dsreg.model.serialize import Commit, Snapshot
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.rows.arrowtypes import conform, storage_schema, strip_metadata
from dsreg.stats import STATS_FORMAT
from dsreg.stats.split import quietly, split_stats
from dsreg.version import __version__

if TYPE_CHECKING:
    from dsreg.manifest.rows import RemoteInfo
    from dsreg.registry import Registry

CARD_FORMAT = "dsreg-card-1"
SAMPLE_ROWS = 5
CHANGELOG_DIFFS = 100          # older commits are listed without their row counts
SAMPLE_TEXT = 200              # characters of a sample value kept
SAMPLE_ITEMS = 16              # items of a sample list kept


@dataclass
class SplitCard:
    name: str
    snapshot: str
    rows: int
    nbytes: int                  # in Arrow memory: the Hub's num_bytes
    stored_bytes: int            # of the Parquet shards it reads
    schema: pa.Schema
    stats: dict[str, dict]
    samples: list[dict]

    def columns(self) -> list[dict]:
        return [{"name": f.name, "type": str(f.type), "nullable": f.nullable, "feature": hub.feature_text(f.type)}
                for f in self.schema]


@dataclass
class Change:
    id: str
    parents: list[str]
    message: str
    author: str
    timestamp: int
    kind: str                    # "initial", "data", "metadata"
    splits: dict[str, dict] | None = None   # split -> {"status", "added", "removed", "modified", "keys", "schema"}
    fields_changed: list[str] = field(default_factory=list)


@dataclass
class Card:
    dataset: str
    commit: str
    refs: list[str]
    parents: list[str]
    message: str
    author: str
    timestamp: int
    fields: dict[str, Any]
    splits: dict[str, SplitCard]
    configs: list[dict]          # {"name", "splits": [...], "schema": pa.Schema}
    changelog: list[Change]
    sources: dict[str, dict]     # split -> {"commit", "files"}
    remote: dict | None          # {"name", "url"} of the remote to pull from, if any
    warnings: list[str] = field(default_factory=list)
    generator: str = f"dsreg {__version__}"
    checks: dict | None = None   # the branch's checks and their last results (card/quality.py)
    quality: dict = field(default_factory=dict)     # nulls, repeated and shared rows, ranges

    @property
    def title(self) -> str:
        return self.fields.get("pretty_name") or self.dataset

    @property
    def spec(self) -> str:
        return f"{self.dataset}@{self.commit}"

    @property
    def total_rows(self) -> int:
        return sum(s.rows for s in self.splits.values())

    def header(self) -> dict:
        """The YAML header: Hub card metadata, in the order the Hub's template lists it."""
        h: dict[str, Any] = {"pretty_name": self.title}
        for key in ("license", "license_name", "license_link", "license_details", "language", "language_details",
                    "annotations_creators", "language_creators", "multilinguality", "source_datasets",
                    "task_categories", "task_ids", "tags", "paperswithcode_id"):
            if key in self.fields:
                h[key] = self.fields[key]
        h["size_categories"] = [hub.size_category(self.total_rows)]
        infos, configs = [], []
        for cfg in self.configs:
            splits = [self.splits[s] for s in cfg["splits"]]
            info: dict[str, Any] = {"config_name": cfg["name"]} if len(self.configs) > 1 else {}
            info["features"] = hub.features(cfg["schema"])
            info["splits"] = [{"name": s.name, "num_bytes": s.nbytes, "num_examples": s.rows} for s in splits]
            info["download_size"] = sum(s.stored_bytes for s in splits)
            info["dataset_size"] = sum(s.nbytes for s in splits)
            infos.append(info)
            configs.append({"config_name": cfg["name"],
                            "data_files": [{"split": s.name, "path": f"{s.name}/part-*"} for s in splits]})
        if infos:
            h["dataset_info"] = infos[0] if len(infos) == 1 else infos
            h["configs"] = configs
        return h

    def load_lines(self) -> dict[str, Any]:
        split = next(iter(self.splits), "train")
        checkout = f"dsreg checkout {self.spec} -o {self.dataset.split('/')[-1]}"
        if self.remote:
            cli = [f"dsreg pull {self.remote['name']} {self.spec}", checkout]
        else:       # no remote was set up when the card was made: say where one goes
            cli = ["# REMOTE: the remote this dataset is shared through (dsreg clone URL sets it up as origin)",
                   f"dsreg pull REMOTE {self.spec}", checkout]
        out = {"python": f'import dsreg\ntable = dsreg.load("{self.spec}", split="{split}")', "cli": cli}
        if self.remote:
            out["python_remote"] = (f'import dsreg\ntable = dsreg.load("{self.spec}", split="{split}",\n'
                                    f'                   remote="{self.remote["url"]}")')
        return out

    def extra_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.fields.items() if k.startswith("x-")}

    def to_json(self) -> dict:
        return _json_safe({
            "format": CARD_FORMAT, "generator": self.generator, "dataset": self.dataset, "commit": self.commit,
            "refs": self.refs, "parents": self.parents, "message": self.message, "author": self.author,
            "timestamp": self.timestamp, "date": format_date(self.timestamp), "title": self.title,
            "header": self.header(), "fields": self.fields, "description": self.fields.get("description"),
            "load": self.load_lines(),
            "splits": {name: {"rows": s.rows, "num_bytes": s.nbytes, "stored_bytes": s.stored_bytes,
                              "snapshot": s.snapshot, "columns": s.columns(), "statistics": s.stats,
                              "samples": s.samples} for name, s in self.splits.items()},
            "statistics_format": STATS_FORMAT,
            "changelog": [vars(c) for c in self.changelog],
            "provenance": {"commit": self.commit, "parents": self.parents, "sources": self.sources,
                           "generator": self.generator},
            "checks": self.checks, "quality": self.quality,
            "warnings": self.warnings,
        })


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def format_date(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# -- building -------------------------------------------------------------------------
def build_card(reg: Registry, spec: str, progress: Progress = NO_PROGRESS) -> Card:
    rev = resolve(reg, spec)
    c = get_commit(reg, rev.commit_id)
    splits: dict[str, SplitCard] = {}
    snaps: dict[str, Snapshot] = {}
    for name in hub.ordered_splits(c.splits):
        sid = c.splits[name]
        snap = snaps[name] = get_snapshot(reg, sid)
        stats = split_stats(reg, sid, snap, progress)
        info = reg.manifest.snapshot_info(sid)
        splits[name] = SplitCard(name, sid, snap.rows, stats["bytes"], info.bytes if info else snap.nbytes,
                                 snap.schema, stats["columns"], sample_rows(reg.store, snap, SAMPLE_ROWS))
    history = log_entries(reg, rev.commit_id)
    refs = [r.name if r.kind == "branch" else f"tag {r.name}" for r in reg.manifest.refs(rev.dataset)
            if r.commit == rev.commit_id]
    remotes = reg.manifest.remotes()
    # whose checks: the branch the spec names, else one whose head this version is
    branch = rev.branch or next((r.name for r in reg.manifest.refs(rev.dataset)
                                 if r.kind == "branch" and r.commit == rev.commit_id), None)
    card = Card(
        dataset=rev.dataset, commit=rev.commit_id, refs=refs, parents=list(c.parents), message=c.message,
        author=c.author, timestamp=c.timestamp, fields=card_fields(c.metadata), splits=splits,
        configs=_configs(splits), changelog=_changelog(reg, rev.dataset, history, progress),
        sources=_sources(reg, rev.commit_id, list(splits)), remote=_remote(remotes),
        checks=checks_section(reg, rev.dataset, rev.commit_id, branch),
        quality=quality_section(reg, {n: (snaps[n], s.stats) for n, s in splits.items()},
                                range_rules(reg, rev.dataset, branch)))
    card.warnings = _warnings(card)
    return card


def _configs(splits: dict[str, SplitCard]) -> list[dict]:
    """Splits grouped by schema: one Hub config each (`default` for the first)."""
    groups: list[dict] = []
    for s in splits.values():
        schema = strip_metadata(s.schema)
        for g in groups:
            if g["schema"].equals(schema):
                g["splits"].append(s.name)
                break
        else:
            groups.append({"name": "default" if not groups else s.name, "splits": [s.name], "schema": schema})
    return groups


def _remote(remotes: list[RemoteInfo]) -> dict | None:
    if not remotes:
        return None
    r = next((r for r in remotes if r.name == "origin"), remotes[0])
    return {"name": r.name, "url": r.url}


def _changelog(reg: Registry, dataset: str, history, progress: Progress) -> list[Change]:
    from dsreg.diff.compare import diff
    out = []
    for i, e in enumerate(history):
        c = get_commit(reg, e.id)
        parent = get_commit(reg, e.parents[0]) if e.parents else None
        changed = sorted(k for k in set(card_fields(c.metadata)) | set(card_fields(parent.metadata) if parent else ())
                         if card_fields(c.metadata).get(k) != (card_fields(parent.metadata).get(k) if parent else None))
        kind = "initial" if parent is None else "metadata" if parent.splits == c.splits else "data"
        entry = Change(e.id, list(e.parents), e.message, e.author, e.timestamp, kind, fields_changed=changed)
        if kind != "metadata" and i < CHANGELOG_DIFFS:
            entry.splits = reg.manifest.commit_changes(e.id)
            if entry.splits is None:       # a commit's changes never change: computed once, then kept
                result = diff(reg, f"{dataset}@{e.id}", progress=progress)
                entry.splits = {name: {"status": s.status, "added": s.added, "removed": s.removed,
                                       "modified": s.modified, "keys": list(s.keys), "schema": s.schema.to_json()}
                                for name, s in result.splits.items() if s.status != "unchanged"}
                quietly(reg.manifest.set_commit_changes, e.id, entry.splits)
        out.append(entry)
    return out


def _sources(reg: Registry, commit_id: CommitId, splits: list[str]) -> dict[str, dict]:
    """For each split, the files the nearest commit that recorded any read it from."""
    out: dict[str, dict] = {}
    read: dict[str, Commit] = {}        # the walk asks for parents after the body below
    for cid in first_parent_chain(lambda c: read.pop(c).parents, commit_id):
        if len(out) >= len(splits):
            break
        c = read[cid] = get_commit(reg, cid)
        for split, files in (c.metadata.get("sources") or {}).items():
            if split in splits and split not in out:
                out[split] = {"commit": cid, "files": list(files)}
    return {s: out[s] for s in splits if s in out}


def _warnings(card: Card) -> list[str]:
    out = []
    for name, s in card.splits.items():
        if not hub.valid_split_name(name):
            out.append(f"split name {name!r} is not a valid Hugging Face split name (letters, digits, _ and .)")
        for f in s.schema:
            if "fixed_size_binary" in str(f.type):
                out.append(f"column {f.name!r} ({f.type}): the Hub has no fixed-size binary; described as binary")
            if "map<" in str(f.type):
                out.append(f"column {f.name!r} ({f.type}): the Hub has no map; described as a list of key/value structs")
        for col, st in s.stats.items():
            if st.get("error"):
                out.append(f"split {name}, column {col}: no statistics ({st['error']})")
    return list(dict.fromkeys(out))


# -- sample rows -------------------------------------------------------------------------
def sample_rows(store, snap: Snapshot, n: int) -> list[dict]:
    """The first `n` rows, JSON-ready and shortened; only the row groups holding them are read."""
    if snap.rows == 0 or n <= 0:
        return []
    storage = storage_schema(snap.schema)
    pieces, need = [], n
    for ref, start, count in snap.runs():
        take = min(count, need)
        pf = pq.ParquetFile(pa.BufferReader(store.get(ref.id)))
        md = pf.metadata
        edges = np.concatenate([[0], np.cumsum([md.row_group(i).num_rows for i in range(md.num_row_groups)])])
        first = int(np.searchsorted(edges, start, side="right")) - 1
        last = int(np.searchsorted(edges, start + take - 1, side="right")) - 1
        t = pf.read_row_groups(list(range(first, last + 1)))
        pieces.append(conform(t, storage).slice(start - int(edges[first]), take))
        need -= take
        if not need:
            break
    table = conform(pa.concat_tables(pieces), snap.schema)
    columns = {name: _values(col) for name, col in zip(table.column_names, table.columns)}
    return [{k: _shorten(to_jsonable(v[i])) for k, v in columns.items()} for i in range(table.num_rows)]


def _values(col: pa.ChunkedArray) -> list:
    try:
        return col.to_pylist()
    except (OverflowError, ValueError, pa.ArrowException):
        pass
    out = []
    for v in col:                  # values Python's datetime cannot hold, alone or nested
        try:
            out.append(v.as_py())
        except (OverflowError, ValueError, pa.ArrowException):
            t = v.type
            out.append(v.cast(pa.int64() if t.bit_width == 64 else pa.int32()).as_py()
                       if pa.types.is_temporal(t) else f"<{t} value outside Python's range>")
    return out


def _shorten(v: Any) -> Any:
    if isinstance(v, str) and len(v) > SAMPLE_TEXT:
        return v[:SAMPLE_TEXT] + "…"
    if isinstance(v, list):
        items = [_shorten(x) for x in v[:SAMPLE_ITEMS]]
        return items + ["…"] if len(v) > SAMPLE_ITEMS else items
    if isinstance(v, dict):
        return {k: _shorten(x) for k, x in v.items()}
    return v


__all__ = ["Card", "SplitCard", "Change", "build_card", "sample_rows", "format_date", "CARD_FORMAT"]
