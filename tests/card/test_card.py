"""Dataset cards: a Hugging Face header the Hub accepts, for every type; fields people set;
the Markdown, HTML (checked in headless Chromium) and JSON forms; what a 2,000,000-row card reads."""
from __future__ import annotations

import datetime as dt
import glob
import html.parser
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from dsreg.card import build_card, render
from helpers.cli import fails, misuse, run
from helpers.tables import edit_table, make_table
from helpers.typecases import CASES

# -- the Hub's rules, written out here independently of dsreg.card.hub ----------------------
# Top-level keys of a dataset card's metadata (hub-docs datasetcard.md; huggingface_hub DatasetCardData).
HUB_KEYS = {
    "pretty_name", "license", "license_name", "license_link", "license_details", "language", "language_details",
    "tags", "annotations_creators", "language_creators", "multilinguality", "size_categories", "source_datasets",
    "task_categories", "task_ids", "paperswithcode_id", "configs", "dataset_info", "extra_gated_fields",
    "extra_gated_prompt", "train-eval-index", "viewer",
}
SIZE_BUCKETS = ["n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B",
                "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T"]
_UNITS = "(s|ms|us|ns)"
_SIMPLE = {"null": pa.null(), "bool": pa.bool_(), "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(),
           "int64": pa.int64(), "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(),
           "uint64": pa.uint64(), "float16": pa.float16(), "float32": pa.float32(), "float64": pa.float64(),
           "string": pa.string(), "large_string": pa.large_string(), "string_view": pa.string_view(),
           "binary": pa.binary(), "large_binary": pa.large_binary(), "binary_view": pa.binary_view(),
           "date32": pa.date32(), "date64": pa.date64()}


def bucket(rows: int) -> str:
    """The Hub's size category: n<1K below 1,000 rows, then one bucket per power of ten."""
    if rows < 1000:
        return "n<1K"
    digits = len(str(rows))                     # 1,000..9,999 -> 4 digits -> 1K<n<10K
    return SIZE_BUCKETS[digits - 3] if digits - 3 < len(SIZE_BUCKETS) - 1 else "n>1T"


def dtype_to_arrow(s: str) -> pa.DataType:
    """A `datasets.Value` dtype as the Arrow type `datasets` reads it as (string_to_arrow)."""
    if s in _SIMPLE:
        return _SIMPLE[s]
    if m := re.fullmatch(rf"timestamp\[{_UNITS}\]", s):
        return pa.timestamp(m[1])
    if m := re.fullmatch(rf"timestamp\[{_UNITS}, tz=([a-zA-Z0-9/_+\-:]*)\]", s):
        return pa.timestamp(m[1], m[2])
    if m := re.fullmatch(rf"duration\[{_UNITS}\]", s):
        return pa.duration(m[1])
    if m := re.fullmatch(r"time32\[(s|ms)\]", s):
        return pa.time32(m[1])
    if m := re.fullmatch(r"time64\[(us|ns)\]", s):
        return pa.time64(m[1])
    if m := re.fullmatch(r"decimal(128|256)\((\d+), (-?\d+)\)", s):
        return (pa.decimal128 if m[1] == "128" else pa.decimal256)(int(m[2]), int(m[3]))
    raise AssertionError(f"not a Hub dtype: {s!r}")


def feature_to_arrow(f: dict) -> pa.DataType:
    """The Arrow type `datasets.Features._from_yaml_list` makes of one YAML feature."""
    kinds = [k for k in f if k in ("dtype", "struct", "list", "large_list", "sequence")]
    assert len(kinds) == 1, f"a feature has exactly one of dtype/struct/list/large_list: {f}"
    extra = set(f) - {"name", kinds[0]} - ({"length"} if kinds[0] == "list" else set())
    assert not extra, f"unexpected keys {extra} in {f}"
    kind, inner = kinds[0], f[kinds[0]]
    assert kind != "sequence", "dsreg writes the unambiguous list form, not sequence"
    if kind == "dtype":
        if isinstance(inner, dict):
            assert list(inner) == ["class_label"] and isinstance(inner["class_label"]["names"], dict)
            return pa.int64()
        return dtype_to_arrow(inner)
    if kind == "struct":
        return pa.struct([(c["name"], feature_to_arrow(c)) for c in inner])
    value = dtype_to_arrow(inner) if isinstance(inner, str) else \
        pa.struct([(c["name"], feature_to_arrow(c)) for c in inner]) if isinstance(inner, list) else \
        feature_to_arrow(inner)
    if kind == "large_list":
        return pa.large_list(value)
    return pa.list_(value, f["length"]) if "length" in f else pa.list_(value)


def hub_view(t: pa.DataType) -> pa.DataType:
    """What a column of type `t` should be described as on the Hub (see docs/cards.md)."""
    if pa.types.is_dictionary(t):
        return hub_view(t.value_type)
    if pa.types.is_fixed_size_binary(t):
        return pa.binary()
    if pa.types.is_map(t):
        return pa.list_(pa.struct([("key", hub_view(t.key_type)), ("value", hub_view(t.item_type))]))
    if pa.types.is_struct(t):
        return pa.struct([(f.name, hub_view(f.type)) for f in t])
    if pa.types.is_fixed_size_list(t):
        return pa.list_(hub_view(t.value_type), t.list_size)
    if pa.types.is_large_list(t) or pa.types.is_large_list_view(t):
        return pa.large_list(hub_view(t.value_type))
    if pa.types.is_list(t) or pa.types.is_list_view(t):
        return pa.list_(hub_view(t.value_type))
    return t


def check_hub_header(header: dict, schemas: dict[str, pa.Schema], rows: dict[str, int]) -> None:
    """Fail on anything the Hub would not accept or would misread."""
    unknown = set(header) - HUB_KEYS
    assert not unknown, f"unknown top-level keys {unknown}"
    assert header["size_categories"] == [bucket(sum(rows.values()))]
    for key in ("language", "task_categories", "tags", "task_ids"):
        assert key not in header or (isinstance(header[key], list) and all(isinstance(v, str) for v in header[key]))
    infos = header["dataset_info"] if isinstance(header["dataset_info"], list) else [header["dataset_info"]]
    configs = {c["config_name"]: c for c in header["configs"]}
    described = {}
    for info in infos:
        name = info.get("config_name", "default")
        assert name in configs
        splits = {s["name"]: s for s in info["splits"]}
        assert set(splits) == {d["split"] for d in configs[name]["data_files"]}
        for split, s in splits.items():
            assert set(s) == {"name", "num_bytes", "num_examples"} and s["num_examples"] == rows[split]
            assert isinstance(s["num_bytes"], int) and s["num_bytes"] > 0
            described[split] = info["features"]
        assert isinstance(info["download_size"], int) and isinstance(info["dataset_size"], int)
    assert set(described) == set(schemas)
    for split, schema in schemas.items():
        features = described[split]
        assert [f["name"] for f in features] == schema.names
        for f, field in zip(features, schema):
            assert feature_to_arrow(f).equals(hub_view(field.type)), (field.name, f, field.type)


def header_of(markdown: str) -> dict:
    assert markdown.startswith("---\n")
    return yaml.safe_load(markdown.split("---\n", 2)[1])


# -- every type -------------------------------------------------------------------------------
def all_types_table(rows: int = 12) -> pa.Table:
    """One column of each Arrow type dsreg stores (tests/test_types.py), `rows` long."""
    cols = {name: pa.concat_arrays([arr] * (rows // len(arr) + 1)).slice(0, rows) for name, arr in sorted(CASES.items())}
    return pa.table(cols)


def test_header_is_valid_for_every_type(registry, tmp_path):
    table = all_types_table()
    registry.commit("types", {"train": table, "test": table.slice(0, 5)})
    card = build_card(registry, "types")
    markdown = render(card, "md")
    header = header_of(markdown)
    assert header == card.header()
    check_hub_header(header, {"train": table.schema, "test": table.schema}, {"train": 12, "test": 5})
    # every column has statistics, and nothing failed
    for split in card.splits.values():
        assert set(split.stats) == set(table.column_names)
        assert not [c for c, st in split.stats.items() if "error" in st]
    # configs point at the files `dsreg checkout` writes
    registry.checkout("types", tmp_path / "out")
    for data_file in header["configs"][0]["data_files"]:
        assert glob.glob(str(tmp_path / "out" / data_file["path"]))


def test_the_checker_fails_on_unknown_keys_and_wrong_buckets():
    table = pa.table({"a": [1, 2]})
    good = {"pretty_name": "x", "size_categories": ["n<1K"], "configs": [
        {"config_name": "default", "data_files": [{"split": "train", "path": "train/part-*"}]}],
        "dataset_info": {"features": [{"name": "a", "dtype": "int64"}], "download_size": 1, "dataset_size": 2,
                         "splits": [{"name": "train", "num_bytes": 2, "num_examples": 2}]}}
    check_hub_header(good, {"train": table.schema}, {"train": 2})
    with pytest.raises(AssertionError, match="unknown top-level"):
        check_hub_header({**good, "licence": "mit"}, {"train": table.schema}, {"train": 2})
    with pytest.raises(AssertionError):
        check_hub_header({**good, "size_categories": ["1K<n<10K"]}, {"train": table.schema}, {"train": 2})
    with pytest.raises(AssertionError):
        check_hub_header(good, {"train": pa.schema([("a", pa.int32())])}, {"train": 2})


@pytest.mark.parametrize("rows, want", [(0, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"), (9_999, "1K<n<10K"),
                                        (10_000, "10K<n<100K"), (999_999, "100K<n<1M"), (1_000_000, "1M<n<10M"),
                                        (2_020_100, "1M<n<10M"), (10**8, "100M<n<1B"), (10**9, "1B<n<10B"),
                                        (10**12 - 1, "100B<n<1T"), (10**12, "n>1T")])
def test_size_categories(rows, want):
    from dsreg.card.hub import size_category
    assert size_category(rows) == want == bucket(rows)


def test_split_schemas_that_differ_become_configs(registry):
    registry.commit("ds", {"train": pa.table({"a": [1, 2, 3]}), "test": pa.table({"a": ["x"], "b": [1.5]})})
    card = build_card(registry, "ds")
    header = header_of(render(card, "md"))
    assert [c["config_name"] for c in header["configs"]] == ["default", "test"]
    check_hub_header(header, {"train": pa.schema([("a", pa.int64())]),
                              "test": pa.schema([("a", pa.string()), ("b", pa.float64())])}, {"train": 3, "test": 1})


# -- fields people write -------------------------------------------------------------------------
def test_set_fields_round_trip(registry, tmp_path):
    registry.commit("reviews", {"train": make_table(300)}, message="first")
    about = tmp_path / "about.md"
    about.write_text("Reviews of **things**.\n\nSecond paragraph.\n")
    out = run("card", "reviews", "--set", "license=cc-by-4.0", "--set", f"description=@{about}",
              "--set", "task_categories=text-classification, text-generation", "--set", "language=en",
              "--set", "tags=reviews,synthetic", "--set", "pretty_name=Synthetic reviews", "--set", "x-owner=nlp team")
    assert re.fullmatch(r"\[main [0-9a-f]{12}\] card fields recorded\n", out.stdout)
    registry.commit("reviews", {"train": make_table(400)}, message="more rows")      # fields carry over
    md = run("card", "reviews").stdout
    header = header_of(md)
    assert header["license"] == "cc-by-4.0" and header["pretty_name"] == "Synthetic reviews"
    assert header["task_categories"] == ["text-classification", "text-generation"]
    assert header["language"] == ["en"] and header["tags"] == ["reviews", "synthetic"]
    assert "x-owner" not in header and "- **x-owner**: nlp team" in md
    assert "Reviews of **things**.\n\nSecond paragraph.\n" in md
    assert "| card: set license, description, task_categories, language, tags, pretty_name, x-owner |" in md
    # no data moved: the metadata commit has its parent's splits
    log = registry.log("reviews")
    assert registry.show(f"reviews@{log[1].id}").splits == registry.show(f"reviews@{log[2].id}").splits
    # unset, and setting the same value again changes nothing
    run("card", "reviews", "--set", "tags=")
    assert "tags" not in header_of(run("card", "reviews").stdout)
    again = run("card", "reviews", "--set", "license=cc-by-4.0").stdout
    assert again.startswith("nothing changed; reviews@main stays at ")


def test_unknown_fields_are_refused_with_the_known_ones(registry):
    registry.commit("reviews", {"train": make_table(10)})
    line = fails("card", "reviews", "--set", "licence=mit", code=2, says="unknown card field 'licence'")
    assert "known fields: annotations_creators, description, language," in line and "x-licence" in line
    fails("card", "reviews", "--set", "size_categories=n<1K", code=2, says="computed from the data")
    fails("card", "reviews", "--set", "license=CC BY 4.0", code=2, says="not a Hub license id")
    fails("card", "reviews", "--set", "multilinguality=some", code=2, says="not one of monolingual")
    fails("card", "reviews", "--set", "license", code=2, says="expected KEY=VALUE")
    registry.tag("reviews", "v1")
    fails("card", "reviews@v1", "--set", "license=mit", code=2, says="is not one")
    assert len(registry.log("reviews")) == 1


# -- the body and the other formats ------------------------------------------------------------
@pytest.fixture
def reviews(registry):
    v1 = make_table(3_000, seed=3)
    registry.commit("reviews", {"train": v1, "test": make_table(500, seed=4)}, message="first version", keys=["id"])
    registry.tag("reviews", "v1")
    edit = edit_table(v1, "edit", fraction=0.01)
    registry.commit("reviews", {"train": edit.table}, message="fix 1% of scores")
    return registry, edit


def test_markdown_body(reviews):
    registry, edit = reviews
    full = registry.resolve("reviews")
    md = render(build_card(registry, "reviews"), "md")
    assert f'dsreg.load("reviews@{full}", split="train")' in md
    assert f"\ndsreg pull REMOTE reviews@{full}\n" in md and "origin reviews" not in md    # no remote set up
    for section in ("## How to load this version", "## Splits", "## Schema", "## Statistics", "## Sample rows",
                    "## Changelog", "## Provenance"):
        assert section in md
    assert f"| fix 1% of scores | train: +0 −0 ~{len(edit.modified_ids)} rows |" in md
    assert "| first version | test: new split, 500 rows; train: new split, 3,000 rows |" in md
    assert "- Source of train: `<pyarrow.Table>`" in md
    assert f"- Parents: `{registry.resolve('reviews@v1')}`" in md
    # the card of v1 describes v1, not the head
    md1 = render(build_card(registry, "reviews@v1"), "md")
    assert "fix 1% of scores" not in md1 and registry.resolve("reviews@v1") in md1


def test_pull_line_names_the_registrys_remote(reviews, tmp_path):
    from dsreg.remote import transfer
    registry, _ = reviews
    full = registry.resolve("reviews")
    for name in ("team", "origin", "backup"):
        (tmp_path / name).mkdir()
        transfer.add_remote(registry, name, f"file://{tmp_path / name}")
        lines = build_card(registry, "reviews").load_lines()
        want = "team" if name == "team" else "origin"        # origin when there is one, else the one there is
        assert lines["cli"][0] == f"dsreg pull {want} reviews@{full}", lines
        assert f'remote="file://{tmp_path / want}"' in lines["python_remote"]


def test_markdown_tables_escape_column_names_and_values(registry):
    table = pa.table({"a|b": [1, 2], "__init__": ["*bold*", "x|y"], "user_id": ["`code`", "[a](http://x)"]})
    registry.commit("odd", {"train": table})
    md = render(build_card(registry, "odd"), "md")
    lines = md.splitlines()
    head = lines.index("The first 2 rows of train:") + 2
    assert lines[head] == r"| a\|b | \_\_init\_\_ | user_id |"
    assert lines[head + 2] == r"| 1 | \*bold\* | \`code\` |"
    assert lines[head + 3] == r"| 2 | x\|y | [a\](http://x) |"
    for line in lines[head:head + 4]:         # as many cells as columns: no pipe breaks a row
        assert len(re.split(r"(?<!\\)\|", line)) == 3 + 2, line
    assert r"| a\|b | number |" in md and r"| \_\_init\_\_ | string |" in md     # the statistics table too


def test_dates_and_times_show_in_their_own_terms(registry):
    """Quantiles and histogram bins of dates and times are ISO text, in every format, like min and max."""
    n = 5_000
    days = pa.array(list(range(18_000, 18_000 + n)), pa.int32()).cast(pa.date32())
    stamps = pa.array([1_706_871_600_000_000 + 3_600_000_000 * i for i in range(n)], pa.int64()) \
        .cast(pa.timestamp("us", "UTC"))
    registry.commit("when", {"train": pa.table({"day": days, "at": stamps})})
    card = build_card(registry, "when")
    st = json.loads(render(card, "json"))["splits"]["train"]["statistics"]
    day, at = st["day"], st["at"]
    first_day, first_at = days[0].as_py(), stamps[0].as_py()
    assert (day["min"], day["max"]) == (first_day.isoformat(), days[-1].as_py().isoformat())
    assert at["min"] == "2024-02-02T11:00:00+00:00"
    for q, label in ((0.05, "5%"), (0.5, "50%"), (0.95, "95%")):     # within a percent of rank
        assert abs((dt.date.fromisoformat(day["quantiles"][label]) - first_day).days - q * n) <= 0.01 * n
        hours = (dt.datetime.fromisoformat(at["quantiles"][label]) - first_at) / dt.timedelta(hours=1)
        assert hours == int(hours) and abs(hours - q * n) <= 0.01 * n    # values of the column, to the microsecond
    for s in (day, at):
        assert isinstance(s["mean"], str) and all(isinstance(v, str) for v in s["quantiles"].values())
        assert s["histogram"]["edges"][0] == s["min"] and s["histogram"]["edges"][-1] == s["max"]
        assert all(isinstance(e, str) for e in s["histogram"]["edges"]) and sum(s["histogram"]["counts"]) == n
    md = render(card, "md")
    assert f"median ≈{day['quantiles']['50%']} " in md and f"median ≈{at['quantiles']['50%']} " in md
    assert "e+" not in md.split("## Statistics")[1].split("## Sample rows")[0]
    html = render(card, "html")
    assert html.count('class="chart histogram"') == 2 and f"{day['min']} … {day['max']}" in html


def test_json_card_has_the_same_content(reviews):
    registry, _ = reviews
    card = build_card(registry, "reviews")
    doc = json.loads(render(card, "json"))
    assert doc["header"] == header_of(render(card, "md"))
    assert doc["commit"] == registry.resolve("reviews") and len(doc["changelog"]) == 2
    train = doc["splits"]["train"]
    assert train["rows"] == 3_000 and train["statistics"]["label"]["distinct"] == 3
    assert len(train["samples"]) == 5 and set(train["samples"][0]) == set(make_table(1).column_names)


def test_card_command_writes_files(reviews, tmp_path):
    out = run("card", "reviews@v1", "--format", "html", "-o", str(tmp_path / "card.html")).stdout
    assert out == f"wrote the html card of reviews@v1 to {tmp_path / 'card.html'}\n"
    assert (tmp_path / "card.html").read_text().startswith("<!DOCTYPE html>")
    doc = json.loads(run("card", "reviews", "--format", "json").stdout)
    assert doc["dataset"] == "reviews"
    fails("card", "reviews", "-o", str(tmp_path / "missing" / "x.md"), says="cannot write")


def test_a_failed_card_write_leaves_the_old_card_whole(reviews, tmp_path, monkeypatch):
    """The card file is replaced atomically: a write that fails (a full disk) keeps the old
    card, whole, and leaves no temporary file; through a symlink, the target is replaced."""
    (tmp_path / "cards").mkdir()
    card = tmp_path / "cards" / "README.md"
    card.write_text("the old card\n")

    def full(src, dst):
        raise OSError(28, "No space left on device")
    with monkeypatch.context() as m:
        m.setattr(os, "replace", full)
        fails("card", "reviews", "-o", str(card), says=f"cannot write {card}: No space left on device")
    assert card.read_text() == "the old card\n" and [p.name for p in card.parent.iterdir()] == ["README.md"]
    (card.parent / "link.md").symlink_to(card)
    run("card", "reviews", "-o", str(card.parent / "link.md"))
    assert (card.parent / "link.md").is_symlink() and card.read_text().startswith("---\n")


def test_an_unwritable_card_file_records_nothing(reviews, tmp_path):
    registry, _ = reviews
    before = (registry.resolve("reviews"), len(registry.log("reviews")))
    fails("card", "reviews", "--set", "x-a=1", "-o", str(tmp_path / "missing" / "x.md"),
          says=f"cannot write {tmp_path / 'missing' / 'x.md'}: no folder {tmp_path / 'missing'}")
    (tmp_path / "a-file").write_text("")
    fails("card", "reviews", "--set", "x-a=1", "-o", str(tmp_path / "a-file" / "x.md"), says="no folder")
    (tmp_path / "dir.md").mkdir()
    misuse("card", "reviews", "--set", "x-a=1", "-o", str(tmp_path / "dir.md"), says="is a directory")
    assert (registry.resolve("reviews"), len(registry.log("reviews"))) == before
    assert "x-a" not in build_card(registry, "reviews").fields


def test_set_with_a_format_but_no_file_is_refused(reviews, tmp_path):
    """--set prints what it recorded, not a card: a --format for no card is a mistake, said before recording."""
    registry, _ = reviews
    before = registry.resolve("reviews")
    fails("card", "reviews", "--set", "x-a=1", "--format", "html", code=2, says="add -o FILE")
    assert registry.resolve("reviews") == before
    out = run("card", "reviews", "--set", "x-a=1", "--format", "json", "-o", str(tmp_path / "card.json")).stdout
    assert out.endswith(f"to {tmp_path / 'card.json'}\n")
    assert json.loads((tmp_path / "card.json").read_text())["fields"] == {"x-a": "1"}


def test_unsetting_a_field_not_set_changes_nothing(reviews):
    registry, _ = reviews
    head = registry.resolve("reviews")
    out = run("card", "reviews", "--set", "license=").stdout
    assert out == f"nothing changed; reviews@main stays at {head[:12]}\n" and registry.resolve("reviews") == head
    run("card", "reviews", "--set", "license=", "--set", "tags=a", "--set", "x-b=")
    assert registry.log("reviews")[0].message == "card: set tags"          # only what changed
    run("card", "reviews", "--set", "tags=a", "--set", "license=mit")
    assert registry.log("reviews")[0].message == "card: set license"
    run("card", "reviews", "--set", "tags=", "--set", "license=mit", "--set", "x-c=")
    assert registry.log("reviews")[0].message == "card: unset tags"


# -- HTML in a real browser ----------------------------------------------------------------------
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    message = "headless Chromium is not installed; run scripts/setup-test.sh"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def dump_dom(browser: str, page: Path) -> str:
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "<html" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


class Elements(html.parser.HTMLParser):
    """Tag and class counts, and every URL-bearing attribute, of a DOM dump."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, set[str], dict]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.found.append((tag, set((a.get("class") or "").split()), a))

    def count(self, tag: str, cls: str | None = None) -> int:
        return sum(1 for t, c, _ in self.found if t == tag and (cls is None or cls in c))


def test_html_card_in_chromium(reviews, tmp_path):
    browser = chromium()
    registry, _ = reviews
    card = build_card(registry, "reviews")
    page = tmp_path / "card.html"
    page.write_text(render(card, "html"), encoding="utf-8")
    dom = Elements()
    dom.feed(dump_dom(browser, page))
    columns = sum(len(s.schema) for s in card.splits.values())
    # a table of statistics per split, with a null-fraction chart per column
    assert dom.count("table", "stats") == len(card.splits) == 2
    assert dom.count("svg", "nulls") == columns
    # histograms for numbers with many values, bars for columns with few
    histograms = sum(1 for s in card.splits.values() for st in s.stats.values() if st.get("histogram"))
    assert histograms >= 4 and dom.count("svg", "histogram") == histograms
    assert dom.count("svg", "top-values") >= 2
    assert dom.count("rect", "bar") > 20 * histograms
    for cls in ("schema", "splits", "samples", "changelog"):
        assert dom.count("table", cls) >= 1
    # self-contained: no scripts, nothing fetched
    assert dom.count("script") == 0
    urls = [v for _, _, a in dom.found for k, v in a.items() if k in ("src", "href") and v]
    assert urls == []


# -- the 2,000,000-row card ------------------------------------------------------------------------
@pytest.mark.slow
def test_card_of_two_million_rows_reads_no_rows_but_its_samples(registry, monkeypatch):
    """Why a card costs a fraction of a read (timed in bench/card_timing.py): the first card
    computed the version's statistics (a commit leaves them to it, so as never to wait for
    them), so the next computes none and reads only the shard holding its sample rows, where
    a load reads every shard."""
    import dsreg.stats.split
    from dsreg.model.objects import get_commit, get_snapshot
    registry.commit("big", {"train": make_table(2_000_000)})
    first = render(build_card(registry, "big"), "md")
    snap = get_snapshot(registry, get_commit(registry, registry.resolve("big")).splits["train"])
    shards = {ref.id for ref in snap.shards}
    read: list[str] = []
    original = registry.store.get
    monkeypatch.setattr(registry.store, "get", lambda oid: read.append(oid) or original(oid))

    def no_merge(*args, **kw):
        raise AssertionError("the card merged statistics the first card should have kept")
    monkeypatch.setattr(dsreg.stats.split, "merge_split", no_merge)
    assert render(build_card(registry, "big"), "md") == first
    first = snap.shards[int(snap.run_shard[0])].id
    assert [oid for oid in read if oid in shards] == [first]
    read.clear()
    registry.load("big")
    assert len(shards) >= 2 and {oid for oid in read if oid in shards} == shards
