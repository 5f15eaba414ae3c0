"""Bad input: a corpus of malformed files (tests/reliability/badinputs/, made by make_corpus.py there)
and a table of command lines with bad names, revisions, remotes and credentials.

Each one must give exactly one `Error:` line on stderr that says what is wrong, the
documented exit code (1: an error you can act on, 2: misuse), no traceback, and leave the
registry byte for byte as it was.

How "byte for byte" is checked: before and after, the SQLite write-ahead log is folded
into the database file (`PRAGMA wal_checkpoint(TRUNCATE)`), then every path under
`.dsreg/` and every file's bytes are hashed, leaving out only the `-wal` and `-shm` files.
After a checkpoint the WAL holds nothing committed, and the shared-memory file is an
index SQLite rebuilds at will; any transaction the command committed is then in the
database file and changes the hash. (Hashing the WAL itself would flag harmless
differences in a file readers may create, truncate or delete.)
"""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

import dsreg
from dsreg.cli import cli
from dsreg.remote import transfer
from helpers.reliability import record, tree_hash
from helpers.tables import make_table

HERE = Path(__file__).resolve().parent
B = HERE / "badinputs"
SECRET = "dsregLEAK/secret+Zq9w8e7r6t5y4u3i2o1p"

# (case id, arguments, exit code, what the one Error line must say, environment)
FILES = [
    ("truncated.parquet", "magic bytes not found"),
    ("garbage.parquet", "magic bytes not found"),
    ("empty.parquet", "0 bytes"),
    ("only_magic.parquet", "cannot read it as PARQUET"),
    ("bad_footer_magic.parquet", "magic bytes not found"),
    ("footer_length_lies.parquet", "smaller than the size reported"),
    ("zero_columns.parquet", "no columns"),
    ("zero_rows.parquet", "holds no rows"),
    ("duplicate_columns.parquet", "duplicate column name"),
    ("empty_column_name.parquet", "empty name"),
    ("truncated.csv", "cannot read it as CSV"),
    ("ragged.csv", "Expected 3 columns, got 2"),
    ("empty.csv", "Empty CSV"),
    ("header_only.csv", "holds no rows"),
    ("duplicate_header.csv", "duplicate column name"),
    ("empty_header.csv", "empty name"),
    ("binary.csv", "cannot read it as CSV"),
    ("invalid.jsonl", "cannot read it as JSONL"),
    ("truncated.jsonl", "cannot read it as JSONL"),
    ("changing_type.jsonl", "changed from number to string"),
    ("not_objects.jsonl", "cannot read it as JSONL"),
    ("empty.jsonl", "cannot read it as JSONL"),
    ("zero_columns.jsonl", "no columns"),
    ("nested_150_objects.jsonl", "column a nests too deeply"),
    ("nested_2000_lists.jsonl", "line 1 nests values more than 1000 levels deep"),
    ("nested_100000.jsonl", "line 4 nests values more than 1000 levels deep"),
    ("truncated.arrow", "cannot read it as ARROW"),
    ("unsupported_type.arrow", "which Parquet cannot store"),
    ("unsupported_interval.arrow", "which Parquet cannot store"),
    ("unclosed_quote.csv", "malformed quoting at line 2: a quoted field opens here and is never closed"),
    ("unclosed_quote_at_end.csv", "malformed quoting at line 3"),
    ("text_after_quote.csv", "malformed quoting at line 2: 'd' after a closing quote"),
    ("unclosed_quote.tsv", "cannot read it as TSV: malformed quoting at line 2"),
    ("latin1.jsonl", "column s holds text that is not valid UTF-8"),
    ("latin1_nested.jsonl", "column l holds text that is not valid UTF-8"),
    ("invalid_utf8.arrow", "column s holds text that is not valid UTF-8"),
    ("bigint.jsonl", "column id holds an integer beyond int64 at line 2"),
    ("bigint.csv", "column id holds an integer beyond int64 at row 2"),
    ("dictionary_of_string_view.arrow", "column d has type dictionary<values=string_view"),
    ("fixed_size_list_of_size_0.arrow", "fixed-size list of size 0"),
    ("bad_page_checksum.parquet", "CRC checksum verification failed"),
    ("reserved_metadata.parquet", "'dsreg.owner' is reserved"),
    ("notes.txt", "unknown file type"),
    ("mixed_types", "column id is string, expected int64"),
    ("mixed_columns", "does not match"),
    ("mixed_bad_file", "b.parquet: cannot read it as PARQUET"),
    ("empty_folder", "holds no data files"),
    ("no_such_file.parquet", "no such file or folder"),
]
# made at run time: git cannot hold them
RUNTIME_FILES = [
    ("fifo", "{FIFO}", "is not a regular file"),
]

CASES = [(f"file:{name}", ["commit", "ds", str(B / name)], 1, says, None) for name, says in FILES] + [
    (f"file:{name}", ["commit", "ds", path], 1, says, None) for name, path, says in RUNTIME_FILES] + [
    ("file:mixed in one split", ["commit", "ds", f"train={B / 'good.parquet'}",
                                 f"train={B / 'mixed_types' / 'b.parquet'}"], 1, "does not match", None),
    ("file:bad second split", ["commit", "ds", f"a={B / 'good.parquet'}", f"b={B / 'ragged.csv'}"], 1,
     "Expected 3 columns", None),
    ("file:append other schema", ["commit", "ds", "--append", str(B / "duplicate_header.csv")], 1,
     "duplicate column", None),
    # names
    ("name:dataset ../x", ["commit", "../x", str(B / "good.parquet")], 2, "invalid dataset name '../x'", None),
    ("name:dataset absolute", ["commit", "/etc/x", str(B / "good.parquet")], 2, "invalid dataset name", None),
    ("name:dataset control char", ["commit", "a\x01b", str(B / "good.parquet")], 2, "control character", None),
    ("name:dataset leading -", ["commit", "--", "-rf", str(B / "good.parquet")], 2, "starts with '-'", None),
    ("name:dataset @{", ["commit", "ds@{1}", str(B / "good.parquet")], 2, "invalid dataset name", None),
    ("name:dataset empty", ["commit", "", str(B / "good.parquet")], 2, "it is empty", None),
    ("name:branch ../x", ["commit", "ds", str(B / "good.parquet"), "--branch", "../x"], 2,
     "invalid branch name '../x'", None),
    ("name:branch @{u}", ["commit", "ds", str(B / "good.parquet"), "--branch", "@{u}"], 2, "invalid branch name",
     None),
    ("name:branch empty", ["commit", "ds", str(B / "good.parquet"), "--branch", ""], 2, "it is empty", None),
    ("name:branch absolute", ["branch", "ds", "/tmp/evil"], 2, "invalid branch name", None),
    ("name:branch control char", ["branch", "ds", "a\x7fb"], 2, "control character", None),
    ("name:branch leading -", ["branch", "ds", "--", "-d"], 2, "starts with '-'", None),
    ("name:tag ../x", ["tag", "ds", "../x"], 2, "invalid tag name", None),
    ("name:tag escape", ["tag", "ds", "v\x1b[2J"], 2, "control character", None),
    ("name:tag .lock", ["tag", "ds", "v1.lock"], 2, "'.lock'", None),
    ("name:tag empty", ["tag", "ds", ""], 2, "it is empty", None),
    ("name:split control char", ["commit", "ds", f"a\x02b={B / 'good.parquet'}"], 2, "invalid split name", None),
    ("name:split space", ["commit", "ds", f"a b={B / 'good.parquet'}"], 2, "invalid split name", None),
    ("name:remote ../x", ["remote", "add", "../x", "file:///tmp"], 2, "invalid remote name", None),
    # names that look like commit ids, or like other names, or too long to be file names
    ("name:branch full commit id", ["branch", "ds", "{HEAD}"], 2, "looks like a commit id", None),
    ("name:tag commit id prefix", ["tag", "ds", "{HEAD12}"], 2, "looks like a commit id", None),
    ("name:commit --branch hex", ["commit", "ds", str(B / "good.parquet"), "--branch", "cafe1234"], 2,
     "looks like a commit id", None),
    ("name:branch bidi override", ["branch", "ds", "dev\u202e"], 2, "invisible or direction-changing", None),
    ("name:tag zero-width space", ["tag", "ds", "v\u200b1"], 2, "invisible or direction-changing", None),
    ("name:branch C1 control", ["branch", "ds", "a\x9bb"], 2, "control character", None),
    ("name:dataset bidi override", ["commit", "d\u202es", str(B / "good.parquet")], 2,
     "invisible or direction-changing", None),
    ("name:dataset too long", ["commit", "x" * 201, str(B / "good.parquet")], 2, "longer than 200 bytes", None),
    ("name:branch too long", ["branch", "ds", "b" * 201], 2, "longer than 200 bytes", None),
    ("name:split too long", ["commit", "ds", f"{'s' * 201}={B / 'good.parquet'}"], 2, "longer than 200 bytes",
     None),
    # revisions
    ("rev:unknown branch", ["show", "ds@nope"], 1, "unknown revision 'ds@nope'", None),
    ("rev:unknown commit", ["show", "ds@abcdef"], 1, "unknown revision", None),
    ("rev:ambiguous prefix", ["show", "ds@{AMBIGUOUS}"], 1, "ambiguous revision", None),
    ("rev:too far back", ["show", "ds@main~99"], 1, "history has only", None),
    ("rev:~ and 5000 digits", ["show", "ds@main~" + "9" * 5000], 1, "history has only", None),
    ("rev:~ and 5000 digits in log", ["log", "ds@v1~1~" + "7" * 5000], 1, "history has only", None),
    ("rev:~ and 5000 digits in diff", ["diff", "ds@main~" + "1" * 5000], 1, "history has only", None),
    ("rev:unknown dataset", ["show", "nope"], 1, "unknown dataset 'nope'", None),
    ("rev:reflog syntax", ["show", "ds@{1}"], 2, "'@{...}' is not supported", None),
    ("rev:nothing after @", ["log", "ds@"], 2, "nothing after '@'", None),
    ("rev:bad dataset", ["show", "../x@main"], 2, "invalid dataset name", None),
    ("rev:bad rev name", ["show", "ds@a..b"], 2, "invalid revision", None),
    ("rev:unknown split", ["checkout", "ds", "--split", "nope", "-o", "{TMP}/out"], 1, "has no split 'nope'",
     None),
    ("rev:negative count", ["log", "ds", "-n", "-1"], 2, "-1", None),
    ("rev:diff unknown", ["diff", "ds@main", "ds@nope"], 1, "unknown revision", None),
    ("rev:non-ASCII digit", ["show", "ds@main~\u0661"], 2, "invalid revision", None),
    # remotes: URLs
    ("remote:s3 no bucket", ["remote", "add", "bad", "s3://"], 2, "malformed S3 URL", None),
    ("remote:unsupported scheme", ["remote", "add", "bad", "ftp://x/y"], 2, "unsupported remote URL", None),
    ("remote:relative folder", ["remote", "add", "bad", "file://relative/path"], 2, "malformed folder remote URL",
     None),
    ("remote:dotdot prefix", ["remote", "add", "bad", "s3://bucket/../x"], 2, "'..' are not allowed", None),
    ("remote:credentials in URL", ["remote", "add", "bad", f"s3://AKIAEXAMPLE:{SECRET}@bucket/x"], 2,
     "must not hold credentials", None),
    ("remote:credentials in endpoint", ["remote", "add", "bad", "s3://bucket/x", "--endpoint-url",
                                        f"http://me:{SECRET}@127.0.0.1:9"], 2, "must not hold credentials", None),
    ("remote:password holding a quote", ["remote", "add", "bad", f"file://me:pa'{SECRET}@/tmp/x"], 2,
     "must not hold credentials", None),
    ("remote:query string", ["remote", "add", "bad", f"s3://bucket/x?secret={SECRET}"], 2, "query string", None),
    ("remote:endpoint query string", ["remote", "add", "bad", "s3://bucket/x", "--endpoint-url",
                                      f"http://127.0.0.1:9/?X-Amz-Security-Token={SECRET}"], 2, "query string", None),
    ("remote:clone query string", ["clone", f"s3://bucket/x?secret={SECRET}", "{TMP}/c1"], 2, "query string", None),
    ("remote:missing percent-encoded folder", ["remote", "add", "bad", "file:///no/such%20folder"], 1,
     "remote folder /no/such folder does not exist", None),
    ("remote:endpoint not a URL", ["remote", "add", "bad", "s3://bucket/x", "--endpoint-url", "not-a-url"], 2,
     "invalid endpoint URL", None),
    ("remote:existing name", ["remote", "add", "origin", "file:///tmp"], 2, "already exists", None),
    ("remote:missing folder", ["remote", "add", "bad", "file:///no/such/folder/here"], 1, "does not exist", None),
    ("remote:unreachable endpoint", ["remote", "add", "bad", "s3://bucket/x", "--endpoint-url", "{CLOSED}", "--check"], 1,
     "cannot reach", None),
    ("remote:missing bucket", ["remote", "add", "bad", "s3://no-such-bucket-here/x", "--endpoint-url",
                               "{S3}"], 1, "does not exist", None),
    ("remote:wrong key id", ["remote", "add", "bad", "s3://authbucket/x", "--endpoint-url", "{AUTH}", "--check"], 1,
     "InvalidAccessKeyId", "wrong"),
    ("remote:wrong secret", ["remote", "add", "bad", "s3://authbucket/x", "--endpoint-url", "{AUTH}", "--check"], 1,
     "SignatureDoesNotMatch", "badsecret"),
    ("remote:read-only push", ["push", "readonly"], 1, "AccessDenied", None),
    ("remote:wrong key on fetch", ["fetch", "auth"], 1, "InvalidAccessKeyId", "wrong"),
    ("remote:unknown remote", ["push", "nope", "ds"], 2, "unknown remote 'nope'", None),
    ("remote:fetch unknown remote", ["fetch", "nope", "ds"], 2, "unknown remote", None),
    ("remote:pull missing branch", ["pull", "origin", "ds@nope"], 2, "has no branch or tag 'nope'", None),
    ("remote:pull unknown dataset", ["pull", "origin", "zzz"], 1, "unknown dataset 'zzz'", None),
    ("remote:fsck unknown remote", ["fsck", "--remote", "nope"], 2, "unknown remote", None),
    ("remote:gc grace without remote", ["gc", "--grace", "1h"], 2, "--grace applies to 'gc --remote' only", None),
    ("remote:gc bad grace", ["gc", "--remote", "origin", "--grace", "soon"], 2, "invalid duration", None),
    ("remote:clone missing bucket", ["clone", "s3://no-such-bucket-here/x", "{TMP}/c1", "--endpoint-url", "{S3}"],
     1, "does not exist", None),
    ("remote:clone unreachable", ["clone", "s3://bucket/x", "{TMP}/c2", "--endpoint-url", "{CLOSED}"], 1,
     "cannot reach", None),
    ("remote:clone into a file", ["clone", "file:///tmp", "{GOOD}"], 2, "is a file", None),
    ("remote:clone into a folder in use", ["clone", "file:///tmp", "{ROOT}"], 1, "not an empty folder", None),
]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory, s3_endpoint, s3_auth):
    """One registry for the whole corpus (each case must leave it as it was): dataset ds
    with two commits, a tag and a branch; remote origin (a folder, pushed) and auth (the
    credential-checking S3 server, added with read-write keys)."""
    root = tmp_path_factory.mktemp("badinput")
    mp = pytest.MonkeyPatch()
    mp.setenv("DSREG_AUTHOR", "Test <t@example.com>")
    reg = dsreg.Registry.init(root / "project")
    t = make_table(200)
    reg.commit("ds", {"train": t}, message="v1")
    reg.tag("ds", "v1")
    reg.commit("ds", {"train": t.slice(0, 150), "test": t.slice(150)}, message="v2")
    reg.branch("ds", "dev")
    (root / "remote").mkdir()
    transfer.add_remote(reg, "origin", f"file://{root / 'remote'}")
    transfer.push(reg, "origin")
    # read-only credentials, as S3 treats them: every write answered 403 AccessDenied
    from helpers.faultproxy import FaultProxy
    from helpers.s3 import new_bucket
    bucket = new_bucket(s3_endpoint)
    transfer.add_remote(reg, "direct", f"s3://{bucket}/reg", s3_endpoint)
    transfer.push(reg, "direct")
    proxy = FaultProxy(s3_endpoint).__enter__()
    proxy.deny_writes = True
    transfer.add_remote(reg, "readonly", f"s3://{bucket}/reg", proxy.url)
    reg.commit("ds", {"extra": t.slice(0, 10)}, message="v3: not on the remotes yet")
    with mp.context() as m:
        m.setenv("AWS_ACCESS_KEY_ID", s3_auth["rw"]["AWS_ACCESS_KEY_ID"])
        m.setenv("AWS_SECRET_ACCESS_KEY", s3_auth["rw"]["AWS_SECRET_ACCESS_KEY"])
        transfer.add_remote(reg, "auth", "s3://authbucket/reg", s3_auth["endpoint"])
    # a second commit row sharing the head's first 8 characters, for the ambiguity case
    head = reg.resolve("ds")
    twin = head[:8] + ("0" if head[8] != "0" else "1") + head[9:]
    reg.manifest.conn.execute("INSERT INTO commits SELECT ?, dataset, parents, message, author, timestamp, metadata "
                              "FROM commits WHERE id=?", (twin, head))
    reg.close()
    (root / "good").write_text("a file, not a folder")
    os.mkfifo(root / "pipe.csv")
    envs = {
        None: {},
        "wrong": {"AWS_ACCESS_KEY_ID": "AKIADSREGWRONGKEY001", "AWS_SECRET_ACCESS_KEY": SECRET},
        "badsecret": {"AWS_ACCESS_KEY_ID": s3_auth["rw"]["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY": SECRET},
    }
    subst = {"{CLOSED}": f"http://127.0.0.1:{_closed_port()}", "{S3}": s3_endpoint, "{AUTH}": s3_auth["endpoint"],
             "{TMP}": str(root / "tmp"), "{GOOD}": str(root / "good"), "{ROOT}": str(root / "project"),
             "{AMBIGUOUS}": head[:8], "{HEAD}": head, "{HEAD12}": head[:12], "{FIFO}": str(root / "pipe.csv")}
    yield {"root": root / "project", "envs": envs, "subst": subst, "secrets": [SECRET]}
    proxy.__exit__(None, None, None)
    mp.undo()


TRIED: list[str] = []


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_error_and_changes_nothing(world, case, monkeypatch):
    name, args, code, says, env_name = case
    monkeypatch.setenv("DSREG_S3_MAX_ATTEMPTS", "1")        # fail fast against closed ports
    monkeypatch.setenv("DSREG_S3_CONNECT_TIMEOUT", "2")
    args = [world["subst"].get(a, a) if a.startswith("{") and a.endswith("}") else a for a in args]
    args = [a.replace("{TMP}", world["subst"]["{TMP}"]).replace("{AMBIGUOUS}", world["subst"]["{AMBIGUOUS}"])
            for a in args]
    root = world["root"]
    before = tree_hash(root / ".dsreg")
    result = CliRunner().invoke(cli, ["--registry", str(root), *args], env=world["envs"][env_name])
    err = result.stderr
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert result.exit_code == code, (result.exit_code, err, result.exception)
    assert len(errors) == 1, err
    assert says in errors[0], errors[0]
    assert "Traceback" not in err and "Traceback" not in result.stdout
    if code == 1:
        assert err.splitlines() == errors       # our errors: that one line and nothing else
    for secret in world["secrets"]:
        assert secret not in err and secret not in result.stdout
    assert tree_hash(root / ".dsreg") == before, f"{name} changed the registry"
    for made in ("c1", "c2", "out"):
        assert not (Path(world["subst"]["{TMP}"]) / made).exists()
    TRIED.append(name)


# -- the Python API: misuse is a DsregError of one line, never a raw Python or Arrow error --
def _deep_struct(levels: int):
    import pyarrow as pa
    t = pa.int64()
    for _ in range(levels):
        t = pa.struct([("x", t)])
    return pa.table({"s": pa.nulls(2, t)})


def _nested(levels: int):
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def _frame(columns, values=((1, 2),)):
    import pandas as pd
    return pd.DataFrame([list(v) for v in values], columns=columns)


def _reader(*batches):
    import pyarrow as pa
    return pa.RecordBatchReader.from_batches(pa.schema([("a", pa.int64())]), iter(batches))


def _batch(**columns):
    import pyarrow as pa
    return pa.record_batch(columns)


T = make_table(20)
# (case id, call with the registry, DsregError subclass, what its one line must say)
API_CASES = [
    ("load: columns twice", lambda reg: reg.load("ds", columns=["id", "id"]), "UsageError", "more than once"),
    ("load: columns a string", lambda reg: reg.load("ds", columns="id"), "UsageError", "not the string 'id'"),
    ("load: dsreg.load columns twice", lambda reg: dsreg.load("ds", columns=["id", "label", "id"], registry=reg),
     "UsageError", "'id' more than once"),
    ("load: remote, columns twice", lambda reg: dsreg.load("ds@v1", remote=f"file://{reg.root.parent / 'remote'}",
                                                           columns=["id", "id"]), "UsageError", "more than once"),
    ("load: remote, columns a string", lambda reg: dsreg.load("ds@v1", remote=f"file://{reg.root.parent / 'remote'}",
                                                              columns="id"), "UsageError", "not the string"),
    ("metadata: an object", lambda reg: reg.commit("ds", T, metadata={"x": object()}), "UsageError",
     "holds a object at ['x']"),
    ("metadata: a set", lambda reg: reg.commit("ds", T, metadata={"x": [{1, 2}]}), "UsageError", "holds a set"),
    ("metadata: bytes", lambda reg: reg.commit("ds", T, metadata={"x": b"raw"}), "UsageError", "holds a bytes"),
    ("metadata: NaN", lambda reg: reg.commit("ds", T, metadata={"x": float("nan")}), "UsageError", "holds nan"),
    ("metadata: infinity", lambda reg: reg.commit("ds", T, metadata={"x": {"y": float("inf")}}), "UsageError",
     "holds inf"),
    ("metadata: a tuple", lambda reg: reg.commit("ds", T, metadata={"x": (1, 2)}), "UsageError", "holds a tuple"),
    ("metadata: a number as key", lambda reg: reg.commit("ds", T, metadata={1: "x"}), "UsageError",
     "has the key 1"),
    ("metadata: not a dict", lambda reg: reg.commit("ds", T, metadata=[("a", 1)]), "UsageError",
     "must be a dict"),
    ("metadata: 100 levels deep", lambda reg: reg.commit("ds", T, metadata={"x": _nested(100)}), "UsageError",
     "nests more than 64 levels"),
    ("metadata: 100000 levels deep", lambda reg: reg.commit("ds", T, metadata={"x": _nested(100_000)}),
     "UsageError", "nests more than 64 levels"),
    ("commit: message not text", lambda reg: reg.commit("ds", T, message=5), "UsageError", "message must be a string"),
    ("commit: author not text", lambda reg: reg.commit("ds", T, author=["me"]), "UsageError",
     "author must be a string"),
    ("commit: split named by a number", lambda reg: reg.commit("ds", {1: T}), "UsageError",
     "split names must be strings, not int 1"),
    ("commit: split named None", lambda reg: reg.commit("ds", {None: T}), "UsageError", "not NoneType"),
    ("commit: drop_splits a string", lambda reg: reg.commit("ds", {}, drop_splits="test"), "UsageError",
     "not the string 'test'"),
    ("commit: keys a string", lambda reg: reg.commit("ds", T, keys="id"), "UsageError", "not the string 'id'"),
    ("DataFrame: duplicate columns", lambda reg: reg.commit("ds", _frame(["a", "a"])), "BadInput",
     "duplicate column label(s) a"),
    ("DataFrame: 1 and '1'", lambda reg: reg.commit("ds", _frame([1, "1"])), "BadInput", "duplicate column"),
    ("DataFrame: tuple labels", lambda reg: reg.commit("ds", _frame([("a", "b"), "c"])), "BadInput",
     "labelled ('a', 'b') (tuple)"),
    ("DataFrame: MultiIndex", lambda reg: reg.commit("ds", _frame(__import__("pandas").MultiIndex.from_tuples(
        [("a", "b"), ("a", "c")]))), "BadInput", "must be strings"),
    ("DataFrame: None label", lambda reg: reg.commit("ds", _frame([None, "x"])), "BadInput", "labelled nan"),
    ("DataFrame: complex values", lambda reg: reg.commit("ds", _frame(["z", "n"], [(1 + 2j, 1)])), "BadInput",
     "cannot convert the DataFrame"),
    ("DataFrame: objects", lambda reg: reg.commit("ds", _frame(["o", "n"], [(object(), 1)])), "BadInput",
     "cannot convert the DataFrame"),
    ("batches: one that does not fit the reader", lambda reg: reg.commit("ds", _reader(_batch(a=[1]), _batch(b=["x"]))),
     "BadInput", "<pyarrow.RecordBatchReader>: batch 2 does not match its schema: missing column(s) a"),
    ("batches: not a batch", lambda reg: reg.commit("ds", _reader(_batch(a=[1]), 5)), "BadInput", "batch 2"),
    ("batches: a list of them", lambda reg: reg.commit("ds", [_batch(a=[1]), _batch(a=[2])]), "BadInput",
     "cannot commit a list"),
    ("types: struct 99 deep", lambda reg: reg.commit("ds", _deep_struct(99)), "UnsupportedType",
     "column s nests too deeply"),
    ("types: struct 5000 deep", lambda reg: reg.commit("ds", _deep_struct(5000)), "UnsupportedType",
     "column s nests too deeply"),
    ("types: list 50 deep", lambda reg: reg.commit("ds", __import__("pyarrow").table({"l": __import__("pyarrow").nulls(
        1, _list_type(50))})), "UnsupportedType", "column l nests too deeply"),
]


def _list_type(levels: int):
    import pyarrow as pa
    t = pa.int64()
    for _ in range(levels):
        t = pa.list_(t)
    return t


@pytest.mark.parametrize("case", API_CASES, ids=[c[0] for c in API_CASES])
def test_python_api_misuse_raises_one_dsreg_error_and_changes_nothing(world, case, monkeypatch, tmp_path):
    import dsreg.errors as errors
    name, call, kind, says = case
    monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
    root = world["root"]
    before = tree_hash(root / ".dsreg")
    reg = dsreg.Registry(root)
    try:
        with pytest.raises(errors.DsregError) as caught:
            call(reg)
    finally:
        reg.close()
    e = caught.value
    assert type(e).__name__ == kind or isinstance(e, getattr(errors, kind)), (type(e), e)
    assert "\n" not in str(e) and says in str(e), str(e)
    assert tree_hash(root / ".dsreg") == before, f"{name} changed the registry"
    TRIED.append(name)


def test_corpus_is_what_make_corpus_writes(tmp_path):
    """The checked-in files are exactly what the script makes (so they can be regenerated)."""
    import importlib.util
    copy = tmp_path / "badinputs"
    shutil.copytree(B, copy, ignore=shutil.ignore_patterns("__pycache__"))
    spec = importlib.util.spec_from_file_location("make_corpus", copy / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
    made = {p.relative_to(copy).as_posix(): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    ours = {p.relative_to(B).as_posix(): p.read_bytes() for p in B.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}
    assert made.keys() == ours.keys()
    # Parquet writers stamp their version in the footer: compare the rest exactly
    for name in made:
        if not name.endswith(".parquet"):
            assert made[name] == ours[name], name


def test_bad_input_figures():
    assert len(CASES) >= 40
    record("bad input", cases=len(CASES) + len(API_CASES), tried=len(TRIED), files_in_corpus=len(FILES),
           python_api_cases=len(API_CASES), registry_changed=0, tracebacks=0)
