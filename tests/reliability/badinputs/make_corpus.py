"""Writes the bad-input corpus of tests/test_badinput.py into this folder, deterministically.

    python tests/badinputs/make_corpus.py

Every file is small and made from fixed bytes or a fixed table, so running this again
reproduces the checked-in files exactly (Parquet bytes depend on the pyarrow version
only through the writer's metadata, which the broken files do not rely on).
"""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent


def table(n: int = 50) -> pa.Table:
    return pa.table({"id": pa.array(range(n), pa.int64()), "label": pa.array([f"l{i % 3}" for i in range(n)]),
                     "score": pa.array([i / 7 for i in range(n)])})


def parquet_bytes(t: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(t, sink)
    return sink.getvalue()


def ipc_bytes(t: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, t.schema) as w:
        w.write_table(t)
    return sink.getvalue().to_pybytes()


def flipped_page() -> bytes:
    sink = io.BytesIO()
    pq.write_table(table(), sink, write_page_checksum=True, compression="none", use_dictionary=False)
    data = bytearray(sink.getvalue())
    data[data.find(b"l1") + 1] ^= 0x03          # "l1" -> "l2": still valid text
    return bytes(data)


def main() -> None:
    for p in HERE.iterdir():
        if p.name not in ("make_corpus.py", "__pycache__"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    good = parquet_bytes(table())
    files: dict[str, bytes] = {
        # Parquet
        "truncated.parquet": good[: len(good) // 2],
        "garbage.parquet": bytes((i * 7919) % 251 for i in range(4096)),
        "empty.parquet": b"",
        "only_magic.parquet": b"PAR1PAR1",
        "bad_footer_magic.parquet": good[:-4] + b"XXXX",
        "footer_length_lies.parquet": good[:-8] + (10**6).to_bytes(4, "little") + b"PAR1",
        "zero_columns.parquet": parquet_bytes(pa.table({})),
        "zero_rows.parquet": parquet_bytes(table(0)),
        "duplicate_columns.parquet": parquet_bytes(pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4])],
                                                                         names=["a", "a"])),
        "empty_column_name.parquet": parquet_bytes(pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4])],
                                                                         names=["", "b"])),
        # CSV
        "truncated.csv": b"id,label,score\n1,a,0.5\n2,b,0.25\n3,\"unterminated",
        "ragged.csv": b"id,label,score\n1,a,0.5\n2,b\n3,c,0.1,extra\n",
        "empty.csv": b"",
        "header_only.csv": b"id,label,score\n",
        "duplicate_header.csv": b"a,a\n1,2\n3,4\n",
        "empty_header.csv": b",b\n1,2\n3,4\n",
        "binary.csv": bytes(range(256)) * 4,
        # JSON Lines
        "invalid.jsonl": b'{"id": 1, "label": "a"}\n{"id": 2, "label": \n{"id": 3, "label": "c"}\n',
        "truncated.jsonl": b'{"id": 1, "label": "a"}\n{"id": 2, "lab',
        "changing_type.jsonl": b'{"id": 1}\n{"id": "two"}\n',
        "not_objects.jsonl": b"[1, 2]\n[3, 4]\n",
        "empty.jsonl": b"",
        "zero_columns.jsonl": b"{}\n{}\n",
        # nested beyond Parquet (150 objects), beyond any column (2,000 lists), and so deep that
        # Arrow's reader overflows the C stack (100,000: the process used to die of SIGSEGV)
        "nested_150_objects.jsonl": b'{"id": 1}\n' + b'{"a": ' * 150 + b"1" + b"}" * 150 + b"\n",
        "nested_2000_lists.jsonl": b'{"id": 1, "a": ' + b"[" * 2000 + b"]" * 2000 + b"}\n",
        "nested_100000.jsonl": b'{"id": 1}\n' * 3 + b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        # Arrow IPC
        "truncated.arrow": ipc_bytes(table())[:200],
        "unsupported_type.arrow": ipc_bytes(pa.table({"u": pa.UnionArray.from_sparse(
            pa.array([0, 1], pa.int8()), [pa.array([1, 2]), pa.array(["a", "b"])])})),
        "unsupported_interval.arrow": ipc_bytes(pa.table({"i": pa.array(
            [pa.MonthDayNano([1, 2, 3])], pa.month_day_nano_interval())})),
        # quoting Arrow's reader took silently (issue 16): rows swallowed, text glued on
        "unclosed_quote.csv": b'a,b\n1,"x\n2,3\n4,5\n',
        "unclosed_quote_at_end.csv": b'a,b\n1,2\n3,"4\n',
        "text_after_quote.csv": b'a,b\n"abc"def,1\n',
        "unclosed_quote.tsv": b'a\tb\n1\t"x\n2\t3\n',
        # text that is not UTF-8, integers beyond int64
        "latin1.jsonl": b'{"id": 1, "s": "ok"}\n{"id": 2, "s": "caf\xe9"}\n',
        "latin1_nested.jsonl": b'{"id": 1, "l": ["caf\xe9"], "st": {"x": "ok"}}\n',
        "invalid_utf8.arrow": ipc_bytes(pa.table({"s": pa.Array.from_buffers(
            pa.string(), 1, [None, pa.py_buffer(b"\0\0\0\0\4\0\0\0"), pa.py_buffer(b"caf\xe9")])})),
        "bigint.jsonl": b'{"id": 1}\n{"id": 18446744073709551616}\n',
        "bigint.csv": b"id\n1\n-9223372036854775809\n",
        # types Parquet takes at commit and cannot give back
        "dictionary_of_string_view.arrow": ipc_bytes(pa.table({"d": pa.array(["a", None]).cast(
            pa.string_view()).dictionary_encode()})),
        "fixed_size_list_of_size_0.arrow": ipc_bytes(pa.table({"f": pa.array([[], None], pa.list_(pa.int32(), 0))})),
        # a data page whose bytes no longer match the checksum the writer stored
        "bad_page_checksum.parquet": flipped_page(),
        "reserved_metadata.parquet": parquet_bytes(table().replace_schema_metadata({b"dsreg.owner": b"me"})),
        # other
        "notes.txt": b"not a data file\n",
    }
    for name, data in files.items():
        (HERE / name).write_bytes(data)
    # one split, files that disagree
    mixed = HERE / "mixed_types"
    mixed.mkdir()
    (mixed / "a.parquet").write_bytes(good)
    (mixed / "b.parquet").write_bytes(parquet_bytes(table().set_column(0, "id", pa.array([str(i) for i in range(50)]))))
    mixed = HERE / "mixed_columns"
    mixed.mkdir()
    (mixed / "a.parquet").write_bytes(good)
    (mixed / "b.csv").write_bytes(b"id,other\n1,x\n")
    mixed = HERE / "mixed_bad_file"
    mixed.mkdir()
    (mixed / "a.parquet").write_bytes(good)
    (mixed / "b.parquet").write_bytes(good[:100])
    (HERE / "empty_folder").mkdir()
    (HERE / "empty_folder" / ".keep").write_bytes(b"")
    (HERE / "good.parquet").write_bytes(good)


if __name__ == "__main__":
    main()
