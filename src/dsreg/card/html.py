"""The card as one self-contained HTML page: inline CSS and SVG, no scripts, nothing fetched."""
from __future__ import annotations

import json
import re
from collections.abc import Set as AbstractSet
from html import escape

from dsreg.card import charts, text
from dsreg.card.model import Card, format_date
from dsreg.card.yamltext import dump
from dsreg.stats import TOP_K

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;margin:0;background:#f6f8fa}
main{max-width:1120px;margin:0 auto;padding:24px 28px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:32px}
h3{font-size:15px;margin:20px 0 8px}.sub{color:#57606a;margin:0 0 12px}
.badges{display:flex;flex-wrap:wrap;gap:6px;padding:0;margin:8px 0 0;list-style:none}
.badges li{background:#ddf4ff;border-radius:12px;padding:1px 10px;font-size:12px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px}
pre{background:#f6f8fa;padding:10px 12px;border-radius:6px;overflow:auto}
.chart{display:block;margin:2px 0}figure.chart-box{margin:4px 0}figcaption{color:#57606a;font-size:11px}
td.charts{width:250px}.note{color:#57606a;font-size:12.5px}.desc p{margin:0 0 10px}
"""


def render(card: Card) -> str:
    body = [f"<header><h1>{escape(card.title)}</h1><p class=\"sub\">{escape(text.subtitle(card))}</p>",
            _badges(card), "</header>", _description(card), _load(card), _splits(card), _schema(card),
            _stats(card), _checks(card), _quality(card), _samples(card), _changelog(card), _provenance(card), _extra(card), _header(card)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<meta name=\"generator\" content=\"{escape(card.generator)}\">"
            f"<title>{escape(card.title)} · {escape(card.commit[:12])}</title><style>{CSS}</style></head>\n"
            f"<body><main>{''.join(body)}</main></body></html>\n")


def _badges(card: Card) -> str:
    h = card.header()
    items = [f"size: {h['size_categories'][0]}"]
    for key in ("license", "language", "task_categories", "tags"):
        v = h.get(key)
        if v:
            items.append(f"{key}: {', '.join(v) if isinstance(v, list) else v}")
    return "<ul class=\"badges\">" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def _section(ident: str, title: str, content: str) -> str:
    return f"<section id=\"{ident}\"><h2>{escape(title)}</h2>{content}</section>"


def _table(cls: str, head: list[str], rows: list[list[str]], numeric: AbstractSet[int] = frozenset(), raw: AbstractSet[int] = frozenset(),
           attrs: str = "") -> str:
    """`rows` cells are escaped, except the columns in `raw` (already HTML)."""
    out = [f"<table class=\"{cls}\"{attrs}><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head)
           + "</tr></thead><tbody>"]
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            cls = ' class="n"' if i in numeric else ' class="charts"' if i in raw else ""
            cells.append(f"<td{cls}>{c if i in raw else escape(c)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</tbody></table>"


def _description(card: Card) -> str:
    d = card.fields.get("description")
    if not d:
        return _section("description", "About", f"<p class=\"note\">No description yet. Add one with "
                        f"<code>dsreg card {escape(card.dataset)} --set description=@about.md</code>.</p>")
    return _section("description", "About", "<div class=\"desc\">" + markdown_html(d) + "</div>")


def markdown_html(text: str) -> str:
    """The little Markdown a description usually has (paragraphs, lists, headings, code, emphasis)
    as HTML; anything else stays text. Links stay text too: the page fetches and links nothing."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if block.startswith("```"):
            body = "\n".join(lines[1:-1] if lines[-1].strip() == "```" else lines[1:])
            out.append(f"<pre><code>{escape(body)}</code></pre>")
        elif all(re.match(r"\s*[-*] ", line) for line in lines):
            items = [_inline(re.sub(r"^\s*[-*] ", "", line)) for line in lines]
            out.append("<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>")
        elif m := re.match(r"(#{1,4}) (.*)", block):
            out.append(f"<h{len(m[1]) + 2}>{_inline(m[2])}</h{len(m[1]) + 2}>")
        else:
            out.append(f"<p>{_inline(' '.join(line.strip() for line in lines))}</p>")
    return "".join(out)


def _inline(text: str) -> str:
    s = escape(text, quote=False)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    s = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", s)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", s)


def _load(card: Card) -> str:
    lines = card.load_lines()
    out = f"<p>Pinned to the full commit id:</p><pre><code>{escape(lines['python'])}</code></pre>"
    if "python_remote" in lines:
        out += f"<p>Without a registry, from the remote:</p><pre><code>{escape(lines['python_remote'])}</code></pre>"
    out += f"<p>From the command line:</p><pre><code>{escape(chr(10).join(lines['cli']))}</code></pre>"
    return _section("load", "How to load this version", out)


def _splits(card: Card) -> str:
    rows = [[n, text.num(s.rows), str(len(s.schema)), text.size(s.nbytes), text.size(s.stored_bytes)]
            for n, s in card.splits.items()]
    return _section("splits", "Splits", _table("splits", ["split", "rows", "columns", "in memory", "stored"], rows,
                                                {1, 2, 3, 4}) if rows else "<p>No splits.</p>")


def _schema(card: Card) -> str:
    out = []
    for cfg in card.configs:
        s = card.splits[cfg["splits"][0]]
        if len(card.configs) > 1:
            out.append(f"<h3>{escape(', '.join(cfg['splits']))} (config {escape(cfg['name'])})</h3>")
        out.append(_table("schema", ["column", "Arrow type", "Hugging Face feature", "nullable"],
                          [[c["name"], c["type"], c["feature"], "yes" if c["nullable"] else "no"]
                           for c in s.columns()]))
    return _section("schema", "Schema", "".join(out))


def _stats(card: Card) -> str:
    out = [f"<p class=\"note\">{escape(text.EXACTNESS.format(k=TOP_K))}</p>"]
    for name, s in card.splits.items():
        rows = []
        for f in s.schema:
            st = s.stats.get(f.name)
            if st is None:
                rows.append([f.name, str(f.type), "—", "—", "", ""])
                continue
            rows.append([f.name, st["kind"], text.pct(st["nulls"], st["rows"]), text.distinct(st),
                         " · ".join(text.summary(st)), charts.for_column(st)])
        out.append(f"<h3>{escape(name)} ({text.num(s.rows)} rows)</h3>")
        out.append(_table("stats", ["column", "kind", "nulls", "distinct", "summary", "chart"], rows, {2, 3}, {5},
                          f" data-split=\"{escape(name)}\""))
    return _section("statistics", "Statistics", "".join(out))


def _checks(card: Card) -> str:
    if card.checks is None:
        return ""
    note = text.CHECKS_NOTE.format(branch=card.checks["branch"] or "(none: results recorded on this version)")
    return _section("checks", "Checks", f"<p class=\"note\">{escape(note)}</p>"
                    + _table("checks", text.CHECKS_HEAD, text.check_rows(card), {3}))


def _quality(card: Card) -> str:
    if not card.quality.get("splits"):
        return ""
    lines = text.quality_lines(card)
    return _section("quality", "Quality", f"<p class=\"note\">{escape(text.QUALITY_NOTE)}</p>"
                    + _table("quality", text.QUALITY_HEAD, text.quality_rows(card), {1, 4})
                    + ("<ul>" + "".join(f"<li>{escape(x)}</li>" for x in lines) + "</ul>" if lines else ""))


def _samples(card: Card) -> str:
    out = []
    for name, s in card.splits.items():
        if s.samples:
            names = list(s.samples[0])
            out.append(f"<h3>{escape(name)}: first {len(s.samples)} rows</h3>")
            out.append(_table("samples", names, [[text.value(r[k], 60) for k in names] for r in s.samples]))
    return _section("samples", "Sample rows", "".join(out)) if out else ""


def _changelog(card: Card) -> str:
    rows = [[c.id[:12], format_date(c.timestamp), c.author, text.first_line(c.message), text.change_summary(c)]
            for c in card.changelog]
    return _section("changelog", "Changelog", _table("changelog", ["commit", "date", "author", "message", "changes"],
                                                     rows))


def _provenance(card: Card) -> str:
    items = [f"<dt>Commit</dt><dd><code>{escape(card.commit)}</code></dd>",
             "<dt>Parents</dt><dd>" + (", ".join(f"<code>{escape(p)}</code>" for p in card.parents) or "none")
             + "</dd>"]
    for split, src in card.sources.items():
        items.append(f"<dt>Source of {escape(split)}</dt><dd>{escape(', '.join(src['files']))} "
                     f"(commit <code>{escape(src['commit'][:12])}</code>)</dd>")
    items.append(f"<dt>Generated by</dt><dd>{escape(card.generator)}</dd>")
    return _section("provenance", "Provenance", "<dl>" + "".join(items) + "</dl>")


def _extra(card: Card) -> str:
    extra = card.extra_fields()
    notes = "".join(f"<li>{escape(w)}</li>" for w in card.warnings)
    out = ""
    if extra:
        out += _section("fields", "Additional fields", "<dl>" + "".join(
            f"<dt>{escape(k)}</dt><dd>{escape(v if isinstance(v, str) else json.dumps(v))}</dd>"
            for k, v in extra.items()) + "</dl>")
    if notes:
        out += _section("notes", "Notes", f"<ul>{notes}</ul>")
    return out


def _header(card: Card) -> str:
    return _section("hub-header", "Hugging Face header", "<details><summary>YAML metadata of the README.md card"
                    f"</summary><pre><code>{escape(dump(card.header()))}</code></pre></details>")


__all__ = ["render"]
