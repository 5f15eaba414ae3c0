"""Small inline SVG charts for the HTML card: no scripts, no network, readable without CSS."""
from __future__ import annotations

from html import escape

from dsreg.card import text

BAR = "#4c78a8"
NULL = "#e45756"
TRACK = "#e8e8e8"


def nulls(fraction: float, nulls: int, rows: int) -> str:
    bar, w, h = 120, 200, 12
    filled = round(bar * fraction, 1)
    label = f"{text.pct(nulls, rows)} null ({text.num(nulls)} of {text.num(rows)})"
    return (f'<svg class="chart nulls" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            f'data-null-fraction="{fraction:.6g}" font-size="10"><title>{escape(label)}</title>'
            f'<rect x="0" y="1" width="{bar}" height="{h - 2}" fill="{TRACK}"/>'
            f'<rect class="null" x="0" y="1" width="{filled}" height="{h - 2}" fill="{NULL}"/>'
            f'<text x="{bar + 4}" y="{h - 2}">{escape(text.pct(nulls, rows))} null</text></svg>')


def histogram(edges: list[float], counts: list[int], exact: bool) -> str:
    w, h = 200, 48
    n = len(counts)
    top = max(counts) or 1
    bw = w / n
    bars = []
    for i, c in enumerate(counts):
        bh = round((h - 2) * c / top, 1)
        tip = f"{text.num(edges[i])} to {text.num(edges[i + 1])}: {'' if exact else '≈'}{text.num(c)}"
        bars.append(f'<rect class="bar" x="{i * bw:.1f}" y="{h - bh:.1f}" width="{max(bw - 1, 0.5):.1f}" '
                    f'height="{bh}" fill="{BAR}"><title>{escape(tip)}</title></rect>')
    caption = f"{text.num(edges[0])} … {text.num(edges[-1])}"
    return (f'<figure class="chart-box"><svg class="chart histogram" role="img" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" data-bins="{n}" data-exact="{str(exact).lower()}">'
            f'<title>histogram{"" if exact else " (estimated)"}</title>{"".join(bars)}</svg>'
            f'<figcaption>{escape(caption)}</figcaption></figure>')


def top_values(top: list, nonnull: int, limit: int = 8) -> str:
    shown = top[:limit]
    row, label_w, bar_w = 15, 90, 110
    w, h = label_w + bar_w + 48, row * len(shown)
    peak = max(c for _, c in shown) or 1
    parts = []
    for i, (v, c) in enumerate(shown):
        y = i * row
        bw = round(bar_w * c / peak, 1)
        label = text.value(v, 14)
        parts.append(f'<text x="{label_w - 4}" y="{y + 11}" text-anchor="end">{escape(label)}</text>'
                     f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{bw}" height="{row - 4}" fill="{BAR}">'
                     f'<title>{escape(text.value(v, 200))}: {text.num(c)}</title></rect>'
                     f'<text x="{label_w + bw + 4}" y="{y + 11}">{text.pct(c, nonnull)}</text>')
    more = f'<figcaption>and {len(top) - limit} more</figcaption>' if len(top) > limit else ""
    return (f'<figure class="chart-box"><svg class="chart top-values" role="img" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" data-values="{len(shown)}" font-size="11"><title>most frequent values</title>'
            f'{"".join(parts)}</svg>{more}</figure>')


def for_column(st: dict) -> str:
    """The charts of one column: its null fraction, then a histogram or its top values."""
    out = [nulls(st.get("null_fraction", 0.0), st["nulls"], st["rows"])]
    if st.get("error"):
        return "".join(out)
    hist = st.get("histogram")
    if hist and len(hist["counts"]) > 1:
        out.append(histogram(hist["edges"], hist["counts"], hist["exact"]))
    elif st.get("top"):
        out.append(top_values(st["top"], st["rows"] - st["nulls"]))
    return "".join(out)


__all__ = ["nulls", "histogram", "top_values", "for_column"]
