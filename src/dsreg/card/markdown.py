"""The card as a Hugging Face README.md: YAML header, then the body in Markdown."""
from __future__ import annotations

import json
import re
from collections.abc import Set as AbstractSet

from dsreg.card import text
from dsreg.card.model import Card, format_date
from dsreg.card.yamltext import dump
from dsreg.stats import TOP_K

# Markdown that could make a cell's text mean something else, backslash-escaped: table pipes,
# code, emphasis (`_` only where it can delimit it: not in user_id), links, entities, and a `~`
# that could close a strikethrough (so "~30 rows" stays as it is).
_INLINE = re.compile(r"[\\`*|]|\](?=[(\[:])|_(?![^\W_])|(?<![^\W_])_|&(?=#?\w+;)|(?<=\S)~")


def cell(s: str) -> str:
    """Text shown as it is inside a Markdown table cell: no table breaks, markup or HTML."""
    s = _INLINE.sub(lambda m: "\\" + m[0], s)
    return s.replace("<", "&lt;").replace(">", "&gt;").replace("\r", " ").replace("\n", " ")


def _text(s: str) -> str:
    """Plain text in Markdown prose: no HTML tags or autolinks from angle brackets."""
    return s.replace("<", "&lt;").replace(">", "&gt;")


def table(head: list[str], rows: list[list[str]], right: AbstractSet[int] = frozenset()) -> str:
    lines = ["| " + " | ".join(cell(h) for h in head) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def render(card: Card) -> str:
    out = ["---\n", dump(card.header()), "---\n\n", f"# {card.title}\n\n"]
    description = card.fields.get("description")
    out.append(description.strip() + "\n\n" if description else
               f"*No description yet. Add one with `dsreg card {card.dataset} --set description=@about.md`.*\n\n")
    out.append(f"This card describes **{card.dataset}** at commit `{card.commit}`"
               + (f" ({', '.join(card.refs)})" if card.refs else "")
               + f", committed {format_date(card.timestamp)} by {_text(card.author)}. The statistics, schema and "
               "changelog are computed by dsreg from the data of this exact version; the text above is written "
               "by people.\n\n")
    out += _load(card), _splits(card), _schema(card), _stats(card), _checks(card), _quality(card), _samples(card), \
        _changelog(card), _provenance(card)
    extra = card.extra_fields()
    if extra:
        out.append("## Additional fields\n\n")
        out += [f"- **{k}**: {_text(v if isinstance(v, str) else json.dumps(v))}\n" for k, v in extra.items()]
        out.append("\n")
    if card.warnings:
        out.append("## Notes\n\n" + "".join(f"- {w}\n" for w in card.warnings) + "\n")
    return "".join(out).rstrip("\n") + "\n"


def _load(card: Card) -> str:
    lines = card.load_lines()
    s = "## How to load this version\n\nPinned to the full commit id, so it reads these exact rows:\n\n"
    s += "```python\n" + lines["python"] + "\n```\n\n"
    if "python_remote" in lines:
        s += "Without a registry, straight from the remote:\n\n```python\n" + lines["python_remote"] + "\n```\n\n"
    s += "From the command line (fetch this version from a remote, then write its files as the `configs` " \
         "of the header name them):\n\n```bash\n" + "\n".join(lines["cli"]) + "\n```\n\n"
    return s


def _splits(card: Card) -> str:
    rows = [[name, text.num(s.rows), str(len(s.schema)), text.size(s.nbytes), text.size(s.stored_bytes)]
            for name, s in card.splits.items()]
    if not rows:
        return "## Splits\n\nThis version has no splits.\n\n"
    return "## Splits\n\n" + table(["split", "rows", "columns", "in memory", "stored"], rows, {1, 2, 3, 4}) + "\n"


def _schema(card: Card) -> str:
    out = ["## Schema\n\n"]
    for cfg in card.configs:
        first = card.splits[cfg["splits"][0]]
        if len(card.configs) > 1:
            label = "Splits" if len(cfg["splits"]) > 1 else "Split"
            out.append(f"{label} {', '.join(cfg['splits'])} (config `{cfg['name']}`):\n\n")
        out.append(table(["column", "Arrow type", "Hugging Face feature", "nullable"],
                         [[c["name"], c["type"], c["feature"], "yes" if c["nullable"] else "no"]
                          for c in first.columns()]) + "\n")
    return "".join(out)


def _stats(card: Card) -> str:
    out = ["## Statistics\n\n", text.EXACTNESS.format(k=TOP_K) + "\n\n"]
    for name, s in card.splits.items():
        out.append(f"### {name} ({text.num(s.rows)} rows)\n\n")
        rows = []
        for f in s.schema:
            st = s.stats.get(f.name)
            if st is None:
                rows.append([f.name, str(f.type), "—", "—", ""])
                continue
            rows.append([f.name, st["kind"], f"{text.pct(st['nulls'], st['rows'])}", text.distinct(st),
                         " · ".join(text.summary(st))])
        out.append(table(["column", "kind", "nulls", "distinct", "summary"], rows, {2, 3}) + "\n")
    return "".join(out)


def _checks(card: Card) -> str:
    if card.checks is None:
        return ""
    note = text.CHECKS_NOTE.format(branch=card.checks["branch"] or "(none: results recorded on this version)")
    return "## Checks\n\n" + note + "\n\n" + table(text.CHECKS_HEAD, text.check_rows(card), {3}) + "\n"


def _quality(card: Card) -> str:
    if not card.quality.get("splits"):
        return ""
    out = "## Quality\n\n" + text.QUALITY_NOTE + "\n\n" + table(text.QUALITY_HEAD, text.quality_rows(card), {1, 4})
    lines = text.quality_lines(card)
    return out + "\n" + "".join(f"- {_text(x)}\n" for x in lines) + ("\n" if lines else "")


def _samples(card: Card) -> str:
    out = ["## Sample rows\n\n"]
    for name, s in card.splits.items():
        if not s.samples:
            continue
        out.append(f"The first {len(s.samples)} rows of {name}:\n\n")
        names = list(s.samples[0])
        out.append(table(names, [[text.value(r[k], 60) for k in names] for r in s.samples]) + "\n")
    return "".join(out) if len(out) > 1 else ""


def _changelog(card: Card) -> str:
    rows = [[c.id[:12], format_date(c.timestamp), c.author, text.first_line(c.message), text.change_summary(c)]
            for c in card.changelog]
    return ("## Changelog\n\nEvery commit this version descends from, newest first, with what it changed "
            "against its first parent.\n\n" + table(["commit", "date", "author", "message", "changes"], rows) + "\n")


def _provenance(card: Card) -> str:
    out = ["## Provenance\n\n", f"- Commit: `{card.commit}`\n"]
    out.append("- Parents: " + (", ".join(f"`{p}`" for p in card.parents) if card.parents else "none (first commit)")
               + "\n")
    for split, src in card.sources.items():
        files = ", ".join(f"`{f}`" for f in src["files"])
        out.append(f"- Source of {split}: {files} (recorded by commit `{src['commit'][:12]}`)\n")
    out.append(f"- Card generated by {card.generator}; split files as `dsreg checkout` writes them: "
               f"`SPLIT/part-00000.parquet`, ...\n\n")
    return "".join(out)


__all__ = ["render", "table", "cell"]
