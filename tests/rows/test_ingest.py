"""Sources of rows: every file format, folders, in-memory tables, and the errors a user
can act on. Every failed commit leaves the registry exactly as it was."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.json as pjson
import pyarrow.parquet as pq
import pytest

import dsreg.rows.ingest
from dsreg.errors import BadInput, SchemaMismatch
from dsreg.progress import Progress
from dsreg.rows.equality import tables_equal
from dsreg.rows.settings import RowSettings, ShardSettings


def rows(n: int, start: int = 0) -> pa.Table:
    i = np.arange(start, start + n)
    return pa.table({"id": pa.array(i, pa.int64()), "score": pa.array(i / 7.0),
                     "text": pa.array([f"row {k}, \"quoted\"" for k in i], pa.string())})


def load_values(reg, spec="ds", split="train") -> pa.Table:
    t = reg.load(spec, split=split)
    return t.replace_schema_metadata(None)


def write_jsonl(path: Path, table: pa.Table) -> None:
    import json
    with open(path, "w") as f:
        for r in table.to_pylist():
            f.write(json.dumps(r) + "\n")


def assert_unchanged(reg, before):
    assert reg.datasets() == before


# -- formats ------------------------------------------------------------------------
def test_parquet_file(registry, tmp_path):
    t = rows(1000).replace_schema_metadata({b"from": b"parquet"})
    pq.write_table(t, tmp_path / "a.parquet", row_group_size=100)
    r = registry.commit("ds", str(tmp_path / "a.parquet"), message="m")
    assert r.splits["train"].rows == 1000
    got = registry.load("ds")
    assert tables_equal(got, t)
    assert got.schema.metadata[b"from"] == b"parquet"


@pytest.mark.parametrize("fmt,ext", [("csv", ".csv"), ("tsv", ".tsv")])
def test_csv_and_tsv(registry, tmp_path, fmt, ext):
    t = rows(500)
    path = tmp_path / f"data{ext}"
    pcsv.write_csv(t, path, pcsv.WriteOptions(delimiter="\t" if fmt == "tsv" else ","))
    registry.commit("ds", {"train": path}, message="m")
    want = pcsv.read_csv(path, parse_options=pcsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ","))
    assert tables_equal(registry.load("ds"), want)
    assert registry.load("ds").column("text").to_pylist() == t.column("text").to_pylist()


@pytest.mark.parametrize("ext", [".jsonl", ".ndjson", ".json"])
def test_json_lines(registry, tmp_path, ext):
    t = pa.table({"id": [1, 2, 3], "tags": [["a"], [], None], "obj": [{"x": 1}, None, {"x": 3}]})
    path = tmp_path / f"data{ext}"
    write_jsonl(path, t)
    registry.commit("ds", {"train": path}, message="m")
    got = registry.load("ds")
    assert tables_equal(got, pjson.read_json(path))
    assert got.to_pylist() == t.to_pylist()


def test_arrow_ipc_file_and_stream(registry, tmp_path):
    t = rows(300).append_column("d", pa.array(["a", "b", "c"] * 100).dictionary_encode())
    with pa.ipc.new_file(tmp_path / "f.arrow", t.schema) as w:
        for b in t.to_batches(max_chunksize=64):
            w.write_batch(b)
    with pa.ipc.new_stream(tmp_path / "s.arrows", t.schema) as w:
        w.write_table(t)
    feather.write_feather(t, tmp_path / "x.feather")
    for name in ["f.arrow", "s.arrows", "x.feather"]:
        registry.commit(name.replace(".", "-"), {"train": tmp_path / name}, message="m")
        got = registry.load(name.replace(".", "-"))
        assert tables_equal(got, t) and got.schema.field("d").type == t.schema.field("d").type
    # a stream written under a file extension is read as a stream too
    with pa.ipc.new_stream(tmp_path / "stream-in-disguise.arrow", t.schema) as w:
        w.write_table(t)
    registry.commit("disguised", tmp_path / "stream-in-disguise.arrow", message="m")
    assert tables_equal(registry.load("disguised"), t)


def test_folder_is_read_recursively_in_sorted_order(registry, tmp_path):
    d = tmp_path / "data"
    (d / "b" / "deeper").mkdir(parents=True)
    (d / "a").mkdir()
    parts = {"b/deeper/2.parquet": rows(5, 200), "a/9.parquet": rows(5, 100),
             "b/1.parquet": rows(5, 300), "0.parquet": rows(5, 0), "z.parquet": rows(5, 400)}
    for name, t in parts.items():
        pq.write_table(t, d / name)
    pq.write_table(rows(3, 999), d / ".hidden.parquet")        # hidden files are skipped
    (d / ".cache").mkdir()
    (d / ".cache" / "junk.txt").write_text("not data")
    registry.commit("ds", {"train": d}, message="m")
    order = sorted(d / name for name in parts)
    want = pa.concat_tables([pq.read_table(p) for p in order])
    assert tables_equal(load_values(registry), want)
    assert registry.load("ds").column("id").to_pylist()[:5] == [0, 1, 2, 3, 4]
    # the commit records where its rows came from
    assert registry.show("ds").metadata["sources"]["train"] == [str(p) for p in order]


@pytest.mark.parametrize("ext", [".csv", ".jsonl"])
def test_folder_of_text_files(registry, tmp_path, ext):
    d = tmp_path / "d"
    (d / "2024" / "02").mkdir(parents=True)
    (d / "2024" / "01").mkdir(parents=True)
    names = ["2024/02/b" + ext, "2024/01/a" + ext, "2024/01/b" + ext]
    for k, name in enumerate(names):
        part = rows(4, 10 * k).drop_columns(["text"])
        if ext == ".csv":
            pcsv.write_csv(part, d / name)
        else:
            write_jsonl(d / name, part)
    registry.commit("ds", {"train": d}, message="m")
    assert registry.load("ds").column("id").to_pylist() == \
        [10, 11, 12, 13, 20, 21, 22, 23, 0, 1, 2, 3]      # 2024/01/a, 2024/01/b, 2024/02/b


def test_several_paths_and_mixed_formats_of_one_schema(registry, tmp_path):
    t1, t2 = rows(10), rows(10, 10)
    pq.write_table(t1, tmp_path / "1.parquet")
    feather.write_feather(t2, tmp_path / "2.arrow")
    registry.commit("ds", {"train": [tmp_path / "1.parquet", tmp_path / "2.arrow"]}, message="m")
    assert tables_equal(load_values(registry), pa.concat_tables([t1, t2]))


def test_pyarrow_table_record_batch_reader_and_dataframe(registry):
    t = rows(1234)
    registry.commit("table", t, message="m")
    assert tables_equal(registry.load("table"), t)
    reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches(max_chunksize=100))
    registry.commit("reader", reader, message="m")
    assert tables_equal(registry.load("reader"), t)
    registry.commit("batch", t.to_batches()[0], message="m")
    assert tables_equal(registry.load("batch"), t.slice(0, t.to_batches()[0].num_rows))

    df = pd.DataFrame({"id": [3, 1, 2], "cat": pd.Categorical(["x", "y", "x"]), "f": [0.5, None, -0.0],
                       "s": ["a", None, "c"]}, index=[10, 20, 30])
    registry.commit("frame", df, message="m")
    got = registry.load("frame")
    assert tables_equal(got, pa.Table.from_pandas(df, preserve_index=False))
    assert pa.types.is_dictionary(got.schema.field("cat").type)
    back = got.to_pandas()       # pandas metadata survives, so the categorical comes back
    assert isinstance(back["cat"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(back, df.reset_index(drop=True))


def test_record_batch_reader_is_read_once(registry):
    t = rows(10)
    reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches())
    from dsreg.rows.ingest import open_source
    src = open_source(reader)
    list(src.batches())
    with pytest.raises(BadInput, match="only once"):
        list(src.batches())


def test_a_loaded_table_committed_back_is_unchanged(registry):
    t = rows(100).replace_schema_metadata({b"mine": b"kept"})
    first = registry.commit("ds", t, message="m")
    loaded = registry.load("ds")
    assert b"dsreg.commit" in loaded.schema.metadata
    again = registry.commit("ds", loaded, message="again")
    assert again.unchanged and again.id == first.id
    # the dsreg.* keys describe a read; they are never stored with the data
    edited = loaded.slice(1)
    r = registry.commit("ds", edited, message="edit")
    assert registry.load("ds").schema.metadata[b"dsreg.commit"] == r.id.encode()
    assert registry.load("ds").schema.metadata[b"mine"] == b"kept"


# -- schema disagreements between files of one split ---------------------------------------
def test_files_with_different_columns_name_the_file_and_difference(registry, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    pq.write_table(rows(5), d / "1.parquet")
    pq.write_table(rows(5).append_column("extra", pa.array([1] * 5)), d / "2.parquet")
    with pytest.raises(SchemaMismatch) as e:
        registry.commit("ds", {"train": d}, message="m")
    msg = str(e.value)
    assert "2.parquet" in msg and "extra column(s) extra" in msg and "1.parquet" in msg
    pq.write_table(rows(5).drop_columns(["text"]), d / "2.parquet")
    with pytest.raises(SchemaMismatch, match=r"2\.parquet.*missing column\(s\) text"):
        registry.commit("ds", {"train": d}, message="m")
    pq.write_table(rows(5).set_column(0, "id", pa.array([str(i) for i in range(5)])), d / "2.parquet")
    with pytest.raises(SchemaMismatch, match=r"2\.parquet.*column id is string, expected int64"):
        registry.commit("ds", {"train": d}, message="m")
    pq.write_table(rows(5).select(["text", "id", "score"]), d / "2.parquet")
    with pytest.raises(SchemaMismatch, match=r"2\.parquet.*different order"):
        registry.commit("ds", {"train": d}, message="m")
    assert registry.datasets() == []


def test_csv_files_with_different_headers(registry, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.csv").write_text("x,y\n1,2\n")
    (d / "b.csv").write_text("x,z\n3,4\n")
    with pytest.raises(SchemaMismatch, match=r"b\.csv.*missing column\(s\) y; extra column\(s\) z"):
        registry.commit("ds", {"train": d}, message="m")
    # same header, values that do not fit the first file's types
    (d / "b.csv").write_text("x,y\n3,hello\n")
    with pytest.raises(BadInput, match=r"b\.csv"):
        registry.commit("ds", {"train": d}, message="m")
    assert registry.datasets() == []


# -- malformed files and bad arguments ---------------------------------------------------
@pytest.mark.parametrize("name,content", [
    ("bad.parquet", b"PAR1 this is not parquet"),
    ("empty.parquet", b""),
    ("bad.arrow", b"\x00\x01garbage"),
    ("bad.arrows", b"ARROW1 nope"),
    ("ragged.csv", b"a,b\n1,2\n3,4,5\n"),
    ("empty.csv", b""),
    ("bad.jsonl", b'{"a": 1}\n{"a": \n'),
    ("mixed.jsonl", b'{"a": 1}\n{"a": "x"}\n'),
    ("binary.csv", b"a,b\n\xff\xfe,\x00\n"),
])
def test_malformed_files_are_bad_input_naming_the_file(registry, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    registry.commit("ok", rows(3), message="m")
    before = registry.datasets()
    try:
        registry.commit("ds", {"train": path}, message="m")
    except BadInput as e:
        assert name in str(e)
    else:   # a "binary" CSV may be valid after all; then it must round-trip
        assert name == "binary.csv"
        assert tables_equal(load_values(registry), pcsv.read_csv(path))
        return
    assert_unchanged(registry, before)


def test_a_parquet_file_cut_short(registry, tmp_path):
    pq.write_table(rows(5000), tmp_path / "t.parquet", row_group_size=500)
    data = (tmp_path / "t.parquet").read_bytes()
    (tmp_path / "t.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInput, match=r"t\.parquet"):
        registry.commit("ds", tmp_path / "t.parquet", message="m")
    assert registry.datasets() == []


def test_an_error_deep_inside_a_file_names_it_and_the_row(registry, tmp_path):
    # the type is inferred from the first block; a later block disagrees
    small_blocks = RowSettings(text_block_bytes=1 << 10)
    lines = ["n"] + [str(i) for i in range(2000)] + ["not a number"]
    (tmp_path / "late.csv").write_text("\n".join(lines) + "\n")
    registry.commit("ds", rows(3), message="m")
    head = registry.resolve("ds")
    with pytest.raises(BadInput, match=r"late\.csv.* after row \d+"):
        registry.commit("ds", tmp_path / "late.csv", message="m", settings=small_blocks)
    assert registry.resolve("ds") == head


def test_unknown_extension_missing_path_and_empty_folder(registry, tmp_path):
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    with pytest.raises(BadInput, match=r"data\.xlsx.*unknown file type '\.xlsx'"):
        registry.commit("ds", tmp_path / "data.xlsx", message="m")
    (tmp_path / "noext").write_text("a\n1\n")
    with pytest.raises(BadInput, match="unknown file type"):
        registry.commit("ds", tmp_path / "noext", message="m")
    with pytest.raises(BadInput, match="no such file or folder"):
        registry.commit("ds", tmp_path / "missing.parquet", message="m")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="holds no data files"):
        registry.commit("ds", tmp_path / "empty", message="m")
    d = tmp_path / "mixed"
    d.mkdir()
    pq.write_table(rows(2), d / "a.parquet")
    (d / "README.md").write_text("hi")
    with pytest.raises(BadInput, match=r"README\.md"):
        registry.commit("ds", d, message="m")
    with pytest.raises(BadInput, match="cannot commit a dict"):
        registry.commit("ds", {"train": {"a": [1]}}, message="m")
    assert registry.datasets() == []


def test_zero_columns_and_duplicate_names(registry, tmp_path):
    with pytest.raises(BadInput, match="no columns"):
        registry.commit("ds", pa.table({}), message="m")
    with pytest.raises(BadInput, match="no columns"):
        registry.commit("ds", pd.DataFrame(index=[1, 2]), message="m")
    dup = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    with pytest.raises(BadInput, match="duplicate column name"):
        registry.commit("ds", dup, message="m")
    (tmp_path / "dup.csv").write_text("a,b,a\n1,2,3\n")
    with pytest.raises(BadInput, match="duplicate column name.*a"):
        registry.commit("ds", tmp_path / "dup.csv", message="m")
    empty_name = pa.Table.from_arrays([pa.array([1])], names=[""])
    with pytest.raises(BadInput, match="empty name"):
        registry.commit("ds", empty_name, message="m")
    with pytest.raises(BadInput, match="DataFrame"):
        registry.commit("ds", pd.DataFrame({"a": [1, "x", 2.5]}), message="m")
    assert registry.datasets() == []


def test_zero_rows_keep_their_schema(registry, tmp_path):
    t = rows(0)
    pq.write_table(t, tmp_path / "none.parquet")
    r = registry.commit("ds", tmp_path / "none.parquet", message="m")
    assert r.splits["train"].rows == 0
    got = registry.load("ds")
    assert got.num_rows == 0 and got.schema.names == t.schema.names
    assert [f.type for f in got.schema] == [f.type for f in t.schema]


# -- ingest streams -------------------------------------------------------------------
class _Sampler(Progress):
    """After every batch: Arrow's allocated bytes, and Python's (numpy's) peak since the
    previous batch, so the peaks cover the whole stream."""

    def __init__(self):
        import tracemalloc
        self.tracemalloc = tracemalloc
        self.arrow_peak = self.py_peak = self.rows = 0

    def advance(self, n):
        self.rows += n
        self.arrow_peak = max(self.arrow_peak, pa.total_allocated_bytes())
        self.py_peak = max(self.py_peak, self.tracemalloc.get_traced_memory()[1])
        self.tracemalloc.reset_peak()


def test_ingest_streams_with_bounded_memory(registry):
    """A source far larger than the shard size never sits in memory whole. Arrow's
    allocations and Python's (numpy's) peaks, sampled after every batch, do not grow
    with the size of the source, and stay a fraction of it."""
    import tracemalloc

    import pyarrow.compute as pc
    batch_rows = 4000
    settings = RowSettings(ShardSettings(target_bytes=256 << 10, min_bytes=64 << 10, max_bytes=1 << 20),
                           batch_rows=batch_rows)
    schema = rows(1).schema

    def generate(batches):
        for b in range(batches):
            ids = pa.array(np.arange(b * batch_rows, (b + 1) * batch_rows, dtype=np.int64))
            text = pc.binary_join_element_wise("row ", pc.cast(ids, pa.string()), ", some text", "")
            yield pa.record_batch([ids, pc.divide(pc.cast(ids, pa.float64()), 7.0), text], schema=schema)

    def stream(name, batches):
        sampler = _Sampler()
        baseline = pa.total_allocated_bytes()
        tracemalloc.start()
        try:
            r = registry.commit(name, pa.RecordBatchReader.from_batches(schema, generate(batches)),
                                message="m", progress=sampler, settings=settings)
        finally:
            tracemalloc.stop()
        assert sampler.rows == batches * batch_rows == r.splits["train"].rows
        return sampler.arrow_peak - baseline, sampler.py_peak, sum(b.nbytes for b in generate(batches))

    small = stream("small", 40)
    big = stream("big", 160)
    arrow_big, py_big, total = big
    # four times the rows, not four times the memory: pending rows are cut into shards of
    # at most max_bytes (1 MiB here), so memory is a few shards' worth, plus the batch the
    # read-ahead thread (rows/pipeline.py) holds, which a sample may or may not catch
    assert arrow_big < small[0] + (3 << 20), (small, big)
    assert py_big < small[1] + (4 << 20), (small, big)
    assert arrow_big < total / 5 and py_big < total / 3, (small, big)
    assert registry.show("big").splits["train"].shards > 10
    assert tables_equal(registry.load("big"), pa.Table.from_batches(list(generate(160)), schema=schema))


def test_files_stream_batch_by_batch(registry, tmp_path):
    pq.write_table(rows(1000), tmp_path / "t.parquet", row_group_size=1000)
    seen = []
    from dsreg.rows.ingest import open_source
    for b in open_source(tmp_path / "t.parquet", batch_rows=100).batches():
        seen.append(b.num_rows)
    assert seen == [100] * 10


def test_batches_are_evened_out_whatever_the_chunking(registry):
    """Many tiny chunks are joined and huge batches sliced, to about `batch_rows` rows:
    work per batch has a fixed cost that must not be paid per tiny chunk."""
    settings = RowSettings(batch_rows=1000)

    class Count(Progress):
        def __init__(self):
            self.batches = []

        def advance(self, n):
            self.batches.append(n)

    t = rows(5000)
    tiny = pa.Table.from_batches(t.to_batches(max_chunksize=1))
    assert tiny.column(0).num_chunks == 5000
    seen = Count()
    registry.commit("tiny", tiny, message="m", progress=seen, settings=settings)
    assert seen.batches == [1000] * 5
    assert tables_equal(registry.load("tiny"), t)
    seen = Count()
    registry.commit("huge", pa.RecordBatchReader.from_batches(t.schema, [t.combine_chunks().to_batches()[0]]),
                    message="m", progress=seen, settings=settings)
    assert seen.batches == [1000] * 5
    uneven = pa.RecordBatchReader.from_batches(t.schema, [t.slice(0, 10).to_batches()[0], t.slice(10, 2500).to_batches()[0],
                                                          t.slice(2510).to_batches()[0]])
    seen = Count()
    registry.commit("uneven", uneven, message="m", progress=seen, settings=settings)
    assert seen.batches == [1000] * 5
    assert tables_equal(registry.load("uneven"), t)


# -- no silent change on ingest (issue 16) ---------------------------------------------
def _refused(reg, value, match, split="train", settings=None):
    before = reg.datasets()
    with pytest.raises(BadInput, match=match) as e:
        reg.commit("ds", {split: value} if not isinstance(value, dict) else value, message="m",
                   **({"settings": settings} if settings else {}))
    assert "\n" not in str(e.value)
    assert reg.datasets() == before
    return str(e.value)


@pytest.mark.parametrize("ext,data,line,says", [
    # a quote opened and never closed swallowed the rest of the file into one field
    (".csv", b'a,b\n1,"x\n2,3\n4,5\n', 2, "never closed"),
    (".csv", b'a,b\n1,2\n3,"4\n', 3, "never closed"),
    (".csv", b'a,b\n1,2\n3,"4', 3, "never closed"),
    (".tsv", b'a\tb\n1\t"x\n2\t3\n4\t5\n', 2, "never closed"),
    (".csv", b'"a,b\n1,2\n', 1, "never closed"),
    # text after a closing quote was glued onto the field ("abc"def read as abcdef)
    (".csv", b'a,b\n"abc"def,1\n', 2, "after a closing quote"),
    (".csv", b'a,b\n1,2\n3,"x" \n', 3, "after a closing quote"),
    (".tsv", b'a\tb\n"x"y\t1\n', 2, "after a closing quote"),
    (".csv", b'a,b\n1,"multi\nline"\n2,"x"y\n', 4, "after a closing quote"),
    (".csv", b'\xef\xbb\xbf"a,b\n1,2\n', 1, "never closed"),
])
def test_malformed_csv_quoting_is_refused_with_the_line(registry, tmp_path, ext, data, line, says):
    path = tmp_path / f"q{ext}"
    path.write_bytes(data)
    msg = _refused(registry, path, f"line {line}\\b")
    assert says in msg and f"q{ext}" in msg


@pytest.mark.parametrize("data", [
    b'a,b\nab"c,1\n',                     # a quote inside an unquoted field is a character
    b'a,b\n"x ""y"" z",1\n"",2\n"""",3\n',  # doubled quotes inside quoted fields
    b'a,b\n"multi\nline, with comma",1\n"crlf\r\nline",2\n',
    b'\xef\xbb\xbf"a","b"\n"1",2\n',          # a byte-order mark before a quoted header
    b'a,b\r\n"x",1\r\n"y",2',               # CRLF, no newline at the end
])
def test_well_formed_csv_quoting_reads_as_pythons_csv_does(registry, tmp_path, data):
    import csv
    import io
    path = tmp_path / "ok.csv"
    path.write_bytes(data)
    registry.commit("ds", path, message="m")
    got = load_values(registry)
    text = data.decode("utf-8-sig")
    want = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    assert got.column_names == want[0]
    assert [[str(v) for v in r.values()] for r in got.to_pylist()] == want[1:]


def test_quoted_newlines_across_a_block_boundary_keep_their_rows(registry, tmp_path, monkeypatch):
    """The reader cut blocks at any newline, also inside quotes: a multi-line value that
    straddled a block boundary became two rows of garbage (with 2 columns, silently)."""
    import csv
    import io
    small = RowSettings(text_block_bytes=64)
    body = "".join(f'{i},"line one of {i}\nline two, of {i}"\n' for i in range(50))
    path = tmp_path / "multi.csv"
    path.write_text("a,b\n" + body)
    registry.commit("ds", path, message="m", settings=small)
    want = list(csv.reader(io.StringIO(body, newline="")))
    got = load_values(registry)
    assert got.num_rows == 50
    assert [[str(r["a"]), r["b"]] for r in got.to_pylist()] == want


def _bad_utf8_strings() -> pa.Array:
    # "ok", then "caf\xe9": Latin-1 bytes in a string array that was never validated
    return pa.Array.from_buffers(pa.string(), 2, [None, pa.py_buffer(np.array([0, 2, 6], np.int32).tobytes()),
                                                  pa.py_buffer(b"okcaf\xe9")])


def test_invalid_utf8_in_string_columns_is_refused_naming_the_column(registry, tmp_path):
    (tmp_path / "top.jsonl").write_bytes(b'{"n": 1, "s": "ok"}\n{"n": 2, "s": "caf\xe9"}\n')
    msg = _refused(registry, tmp_path / "top.jsonl", "UTF-8")
    assert "column s" in msg and "top.jsonl" in msg
    (tmp_path / "nested.jsonl").write_bytes(b'{"n": 1, "l": ["ok", "caf\xe9"]}\n')
    assert "column l" in _refused(registry, tmp_path / "nested.jsonl", "UTF-8")
    (tmp_path / "struct.jsonl").write_bytes(b'{"n": 1, "st": {"x": "\xff\xfe"}}\n')
    assert "column st" in _refused(registry, tmp_path / "struct.jsonl", "UTF-8")
    bad = pa.table({"n": [1, 2], "s": _bad_utf8_strings()})
    assert "column s" in _refused(registry, bad, "UTF-8")
    feather.write_feather(bad, tmp_path / "bad.arrow", compression="uncompressed")
    assert "column s" in _refused(registry, tmp_path / "bad.arrow", "UTF-8")
    pq.write_table(bad, tmp_path / "bad.parquet")
    assert "column s" in _refused(registry, tmp_path / "bad.parquet", "UTF-8")
    nested = pa.table({"d": pa.DictionaryArray.from_arrays(pa.array([1, 0]), _bad_utf8_strings())})
    assert "column d" in _refused(registry, nested, "UTF-8")
    # valid text of every kind still commits
    good = pa.table({"s": ["é🦄", None, ""], "l": [["x"], None, []]})
    registry.commit("ok", good, message="m")
    assert tables_equal(registry.load("ok"), good)


@pytest.mark.parametrize("ext,data,col", [
    (".jsonl", b'{"a": 1}\n{"a": 18446744073709551616}\n', "a"),
    (".jsonl", b'{"a": 1}\n{"a": 9223372036854775808}\n', "a"),
    (".jsonl", b'{"a": -9223372036854775809}\n', "a"),
    (".jsonl", b'{"k": 1, "l": [1, 99999999999999999999]}\n', "l"),
    (".jsonl", b'{"k": 1, "s": {"x": 1.5}}\n{"k": 2, "s": {"x": 123456789012345678901}}\n', "s"),
    (".csv", b"a\n1\n18446744073709551616\n", "a"),
    (".csv", b"k,a\n1,1.5\n2,-9223372036854775809\n", "a"),
    (".tsv", b"a\n9223372036854775808\n", "a"),
])
def test_integers_beyond_int64_are_refused_not_rounded_to_floats(registry, tmp_path, ext, data, col):
    path = tmp_path / f"big{ext}"
    path.write_bytes(data)
    msg = _refused(registry, path, "beyond int64")
    assert f"column {col}" in msg and f"big{ext}" in msg


def test_floats_and_integers_within_int64_still_read(registry, tmp_path):
    (tmp_path / "f.csv").write_text("a,b,c\n1e19,9223372036854775807,1.5\n2.5,-9223372036854775808,"
                                    "123456789012345678901.0\n")
    registry.commit("csv", tmp_path / "f.csv", message="m")
    assert load_values(registry, "csv").to_pylist() == [
        {"a": 1e19, "b": 2**63 - 1, "c": 1.5}, {"a": 2.5, "b": -2**63, "c": 123456789012345678901.0}]
    (tmp_path / "f.jsonl").write_text('{"a": 1e19, "b": 9223372036854775807}\n{"a": 2.5, "b": 1}\n')
    registry.commit("jsonl", tmp_path / "f.jsonl", message="m")
    assert load_values(registry, "jsonl").to_pylist() == [{"a": 1e19, "b": 2**63 - 1}, {"a": 2.5, "b": 1}]


def test_a_named_pandas_index_is_kept_as_a_column(registry):
    df = pd.DataFrame({"x": [1.5, 2.5]}, index=pd.Index(["k1", "k2"], name="key"))
    registry.commit("named", df, message="m")
    got = registry.load("named")
    assert got.column_names == ["x", "key"] or got.column_names == ["key", "x"]
    assert got.column("key").to_pylist() == ["k1", "k2"]
    pd.testing.assert_frame_equal(got.to_pandas(), df)
    multi = pd.DataFrame({"x": [1, 2]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["p", "q"]))
    registry.commit("multi", multi, message="m")
    assert set(registry.load("multi").column_names) == {"x", "p", "q"}
    ranged = pd.DataFrame({"x": [1, 2]}, index=pd.RangeIndex(5, 7, name="row"))
    registry.commit("ranged", ranged, message="m")
    assert registry.load("ranged").column("row").to_pylist() == [5, 6]
    # an unnamed index stays out, as before
    registry.commit("plain", pd.DataFrame({"x": [1, 2]}, index=[10, 20]), message="m")
    assert registry.load("plain").column_names == ["x"]


def test_one_record_batch_reader_for_two_splits_is_refused(registry):
    t = rows(10)
    reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches())
    _refused(registry, {"train": reader, "test": reader}, "already read.*another split")
    # a reader an earlier commit consumed holds no rows any more: not an empty split
    reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches())
    registry.commit("ds", {"train": reader}, message="m")
    head = registry.resolve("ds")
    with pytest.raises(BadInput, match="already read"):
        registry.commit("ds", {"test": reader}, message="m", allow_empty=True)
    assert registry.resolve("ds") == head


def test_reserved_dsreg_metadata_keys_are_refused(registry):
    t = rows(3).replace_schema_metadata({b"dsreg.owner": b"me", b"mine": b"kept"})
    msg = _refused(registry, t, "reserved")
    assert "dsreg.owner" in msg
    # the keys load adds to say where rows came from are still dropped on a commit back
    registry.commit("ok", rows(3).replace_schema_metadata({b"mine": b"kept"}), message="m")
    again = registry.commit("ok", registry.load("ok"), message="again")
    assert again.unchanged


def _int96_file(path, values) -> None:
    t = pa.table({"t": pa.array(values, pa.timestamp("us"))})
    pq.write_table(t, path, use_deprecated_int96_timestamps=True)


def test_parquet_int96_timestamps_are_read_exactly(registry, tmp_path):
    import datetime as dt
    far = [dt.datetime(1500, 1, 1), dt.datetime(2500, 6, 1, 12, 0, 0, 7), None]
    _int96_file(tmp_path / "far.parquet", far)
    registry.commit("far", tmp_path / "far.parquet", message="m")
    got = registry.load("far").column("t")
    assert got.to_pylist() == far
    # in the nanosecond range, INT96 stays nanoseconds, sub-microsecond digits included
    near = pa.table({"t": pa.array([1, -1, None, 1_700_000_000_000_000_001], pa.timestamp("ns"))})
    pq.write_table(near, tmp_path / "near.parquet", use_deprecated_int96_timestamps=True)
    registry.commit("near", tmp_path / "near.parquet", message="m")
    assert tables_equal(load_values(registry, "near"), near)


def test_parquet_page_checksums_are_verified(registry, tmp_path):
    t = pa.table({"n": pa.array(np.arange(1000, dtype=np.int64)), "s": [f"value {i}" for i in range(1000)]})
    path = tmp_path / "sum.parquet"
    pq.write_table(t, path, write_page_checksum=True, compression="none", use_dictionary=False)
    data = bytearray(path.read_bytes())
    at = data.find(b"value 500")
    data[at + 6] ^= 0x01                      # "value 500" -> "value 400": still valid text
    path.write_bytes(bytes(data))
    msg = _refused(registry, path, "sum.parquet")
    assert "checksum" in msg.lower() or "crc" in msg.lower()


def test_a_fifo_is_named_as_not_a_regular_file(registry, tmp_path):
    import os
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    msg = _refused(registry, fifo, "not a regular file")
    assert "pipe.csv" in msg


@pytest.mark.parametrize("ext", [".csv", ".jsonl"])
def test_a_field_larger_than_a_read_block_is_read(registry, tmp_path, monkeypatch, ext):
    """A value longer than the reader's block (40 MiB against 16 MiB, scaled down here)
    failed with Arrow's "straddles two block boundaries"; the block grows instead."""
    small = RowSettings(text_block_bytes=1 << 16)
    big = "x" * (5 << 16)
    path = tmp_path / f"wide{ext}"
    if ext == ".csv":
        path.write_text("a,b\n" + "".join(f"{i},v{i}\n" for i in range(3000)) + f"3000,{big}\n3001,end\n")
    else:
        path.write_text("".join(f'{{"a": {i}, "b": "v{i}"}}\n' for i in range(3000))
                        + f'{{"a": 3000, "b": "{big}"}}\n{{"a": 3001, "b": "end"}}\n')
    registry.commit("ds", path, message="m", settings=small)
    got = load_values(registry)
    assert got.num_rows == 3002
    assert got.column("b")[3000].as_py() == big and got.column("b")[3001].as_py() == "end"
    assert got.column("a").to_pylist() == list(range(3002))


def test_arrays_a_reader_builds_broken_are_refused_not_stored(registry, tmp_path):
    """pyarrow's JSON reader builds lists of only nulls with offsets past their values
    (found by tests/test_ingest_fuzz.py); stored, they failed fingerprinting or loads."""
    for i, line in enumerate([b'{"a": [null, null]}\n', b'{"a": [[null], [null, null]]}\n']):
        (tmp_path / f"n{i}.jsonl").write_bytes(line)
        assert "column a" in _refused(registry, tmp_path / f"n{i}.jsonl", "not a valid Arrow array")


def test_a_quote_never_closed_in_a_big_file_is_refused_before_blocks_grow(registry, tmp_path, monkeypatch):
    """The rest of the file after such a quote is one row to Arrow: the quoting is checked
    before reading it again with larger blocks (which would hold the whole file)."""
    path = tmp_path / "open.csv"
    path.write_text("a,b\n" + "".join(f"{i},x{i}\n" for i in range(20)) + '20,"never closed\n'
                    + "".join(f"{i},x{i}\n" for i in range(21, 500)))
    grown = []
    real = dsreg.rows.ingest._text_reader
    monkeypatch.setattr(dsreg.rows.ingest, "_text_reader", lambda f, fmt, like, block: grown.append(block)
                        or real(f, fmt, like, block))
    _refused(registry, path, r"malformed quoting at line 22: a quoted field opens here and is never closed",
             settings=RowSettings(text_block_bytes=256))
    assert set(grown) == {256}
