"""Building blocks of the HTML page: escaping, tables, badges, the style and the script.

Every string that reaches the page goes through :func:`esc` (``html.escape`` with
quotes), whatever its origin: paths, split and class names, sample ids and the
statements are all user-controlled. Tables carry, per cell, the exact value to sort
on in ``data-v``; the inline :data:`SCRIPT` sorts a table when a header is clicked,
and the page reads the same without it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

VERDICT_WORDS = {
    "supported": "Supported",
    "inconclusive": "Inconclusive",
    "rejected": "Rejected",
    "not_applicable": "Not applicable",
}
"""The badge text of each verdict (colours in :data:`STYLE`: as the terminal table)."""

ANSWERS = {
    "supported": "Yes",
    "inconclusive": "Not clear",
    "rejected": "No",
    "not_applicable": "Not applicable",
}
"""The verdict as the answer to the question above it."""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'unsafe-inline'"
"""The page's Content-Security-Policy: nothing may be fetched, from anywhere."""


def esc(x: object) -> str:
    """``x`` as text safe in HTML content and in quoted attribute values.

    >>> esc('<script>alert(1)</script>'), esc('&<>"\\'')
    ('&lt;script&gt;alert(1)&lt;/script&gt;', '&amp;&lt;&gt;&quot;&#x27;')
    """
    return html.escape(str(x), quote=True)


@dataclass(frozen=True)
class Td:
    """A table cell: shown text, the value it sorts by, and an optional CSS class/style."""

    text: str
    sort: float | str | None = None
    cls: str | None = None
    style: str | None = None


def _cell(c: object, numeric: bool = False) -> str:
    if not isinstance(c, Td):
        c = Td(str(c), c if isinstance(c, int | float) else None)
    attrs = ""
    if c.sort is not None:
        attrs += f' data-v="{esc(c.sort)}"'
    classes = " ".join(x for x in ("num" if numeric else "", c.cls or "") if x)
    if classes:
        attrs += f' class="{esc(classes)}"'
    if c.style:
        attrs += f' style="{esc(c.style)}"'
    return f"<td{attrs}>{esc(c.text)}</td>"


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    caption: str | None = None,
    numeric: Sequence[bool] | None = None,
    foot: Sequence[Sequence[object]] = (),
    sortable: bool = True,
    cls: str = "",
) -> str:
    """An HTML table; ``numeric[i]`` right-aligns column ``i`` (default: all but the first).

    ``foot`` rows (a total) stay below the sorted rows.
    """
    numeric = numeric if numeric is not None else [i > 0 for i in range(len(header))]
    classes = " ".join(x for x in ("sortable" if sortable else "", cls) if x)
    out = [f'<table class="{classes}">' if classes else "<table>"]
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append("<thead><tr>")
    for h, n in zip(header, numeric, strict=True):
        num = ' class="num"' if n else ""
        out.append(f'<th scope="col"{num}>{esc(h)}</th>')
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = "".join(_cell(c, n) for c, n in zip(row, numeric, strict=True))
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody>")
    if foot:
        out.append("<tfoot>")
        for row in foot:
            cells = "".join(_cell(c, n) for c, n in zip(row, numeric, strict=True))
            out.append(f"<tr>{cells}</tr>")
        out.append("</tfoot>")
    out.append("</table>")
    return "\n".join(out)


def badge(verdict: str) -> str:
    """The verdict as a coloured badge (``supported`` red ... ``not_applicable`` grey)."""
    word = VERDICT_WORDS.get(verdict, verdict)
    return f'<span class="badge v-{esc(verdict)}">{esc(word)}</span>'


def answer(verdict: str) -> str:
    """The answer in one big word, then the verdict's badge: ``Yes [Supported]``."""
    word = ANSWERS.get(verdict, verdict)
    if verdict == "not_applicable":
        return f'<span class="word">{esc(word)}</span>'
    return f'<span class="word">{esc(word)}</span> {badge(verdict)}'


def section(title: str, body: str, *, anchor: str | None = None, level: int = 3) -> str:
    """A titled section; ``anchor`` (already safe, see :func:`anchor_id`) makes it linkable."""
    a = f' id="{anchor}"' if anchor else ""
    return f"<section{a}><h{level}>{esc(title)}</h{level}>\n{body}\n</section>"


def anchor_id(*parts: str) -> str:
    """A fragment id made only of ``[a-z0-9-]`` from any text (split names are arbitrary).

    >>> anchor_id("split", "<script>x</script>", "2")
    'split-script-x-script-2'
    """
    text = "-".join(parts).lower()
    out = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in text)
    return "-".join(w for w in out.split("-") if w) or "x"


def para(text: str, cls: str | None = None) -> str:
    c = f' class="{esc(cls)}"' if cls else ""
    return f"<p{c}>{esc(text)}</p>"


STYLE = """
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--soft:#f6f8fa;
--red:#c62828;--red-bg:#fdecea;--yellow:#8a6100;--yellow-bg:#fff4cc;
--green:#1b7f3b;--green-bg:#e6f4ea;--grey:#57606a;--grey-bg:#eef0f2}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--fg);background:var(--bg)}
header.top{padding:18px 32px;border-bottom:1px solid var(--line);background:var(--soft)}
header.top h1{margin:0;font-size:20px}
header.top p{margin:2px 0 0;color:var(--muted);font-size:13px;overflow-wrap:anywhere}
main{max-width:1180px;margin:0 auto;padding:8px 32px 48px}
nav.splits ul{list-style:none;margin:12px 0;padding:0;display:flex;gap:22px;font-size:15px}
nav.splits .badge{font-size:12px}
h2{font-size:22px;margin:34px 0 6px;border-bottom:2px solid var(--line);padding-bottom:4px}
h3{font-size:17px;margin:26px 0 6px}
.meta{color:var(--muted);font-size:13px;margin:0 0 12px;overflow-wrap:anywhere}
.verdict{border:2px solid var(--grey);border-left-width:12px;border-radius:8px;padding:14px 20px;
margin:14px 0 8px;background:var(--grey-bg)}
.verdict .q{margin:0;font-size:14px;color:var(--muted);text-transform:uppercase;
letter-spacing:.04em}
.verdict .answer{margin:4px 0 2px;line-height:1.1}
.verdict .word{font-size:40px;font-weight:800;vertical-align:middle;margin-right:10px}
.verdict .answer .badge{font-size:16px;padding:4px 14px}
.v-supported .word{color:var(--red)}.v-inconclusive .word{color:var(--yellow)}
.v-rejected .word{color:var(--green)}.v-not_applicable .word{color:var(--grey)}
.verdict .statement{margin:6px 0 0;font-size:17px}
.verdict .extra{margin:6px 0 0;font-size:13px;color:var(--muted)}
.verdict.v-supported{border-color:var(--red);background:var(--red-bg)}
.verdict.v-inconclusive{border-color:#d4a000;background:var(--yellow-bg)}
.verdict.v-rejected{border-color:var(--green);background:var(--green-bg)}
.badge{display:inline-block;padding:2px 12px;border-radius:999px;font-weight:700;
color:#fff;background:var(--grey);vertical-align:middle;font-size:.8em;letter-spacing:.02em}
.badge.v-supported{background:var(--red)}
.badge.v-inconclusive{background:#f2c200;color:#3d2e00}
.badge.v-rejected{background:var(--green)}
.badge.v-not_applicable{background:#8c959f}
.kpis{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.kpi{border:1px solid var(--line);border-radius:6px;padding:6px 12px;min-width:120px;
background:var(--soft)}
.kpi b{display:block;font-size:18px}
.kpi span{font-size:12px;color:var(--muted)}
table{border-collapse:collapse;margin:8px 0 14px;font-size:14px;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:4px 0;caption-side:top;min-width:max-content}
th,td{border-bottom:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600;white-space:nowrap}
td{overflow-wrap:anywhere}
.num{text-align:right}
table.sortable th{cursor:pointer}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2";font-size:10px}
table.sortable th[aria-sort=descending]::after{content:" \\25BC";font-size:10px}
tfoot td{font-weight:600;border-top:2px solid var(--line)}
td.driver{font-weight:700;background:#fff8e1}
td.pass{color:var(--green);font-weight:700}
td.fail{color:var(--red);font-weight:700}
figure.fig{margin:10px 0 18px}
figure.fig svg{width:100%;height:auto;display:block}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:18px;align-items:start}
.note{color:var(--muted);font-style:italic}
.checks-fail,.checks-pass{border:2px solid var(--red);background:var(--red-bg);padding:8px 14px;
border-radius:6px;font-weight:600}
.checks-pass{border-color:var(--green);background:var(--green-bg)}
footer{color:var(--muted);font-size:12px;margin-top:40px}
"""
"""The page's CSS (inline: the page fetches nothing)."""

SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], i = th.cellIndex;
    var up = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", up ? "ascending" : "descending");
    function key(tr) {
      var td = tr.cells[i], v = td.getAttribute("data-v");
      if (v === null) v = td.textContent;
      var x = parseFloat(v);
      return isNaN(x) ? v.toLowerCase() : x;
    }
    Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b), c = x < y ? -1 : x > y ? 1 : 0;
      if (typeof x !== typeof y) c = typeof x === "number" ? -1 : 1;
      return up ? c : -c;
    }).forEach(function (tr) { body.appendChild(tr); });
  });
});
"""
"""Click a header to sort its table (again to reverse); ``data-v`` holds the exact value."""
