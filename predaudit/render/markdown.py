"""Markdown tables (GitHub-flavoured), defined once: the table builder and cell escaping."""

from __future__ import annotations

import re
from collections.abc import Sequence

from predaudit.render.safe import one_line

ALIGN = {"l": "---", "r": "---:"}
"""Column alignment letters and their delimiter cells."""


def cell(x: object) -> str:
    """``x`` as table-cell text: ``|`` escaped so it does not end the cell (for cells that
    are Markdown already; user text goes through :func:`text`).

    >>> cell("a|b"), cell(3)
    ('a\\\\|b', '3')
    """
    return str(x).replace("|", "\\|")


_MARKUP = re.compile(r"([\\`*_\[\]<>|#~!&])")


def text(x: object) -> str:
    r"""``x`` (user text: a split or class name, an id, a path) as literal Markdown: each
    character Markdown could read as syntax (backslash, backtick, ``* _ [ ] < > | # ~ ! &``)
    backslash-escaped, on one line (a newline or other control character becomes the
    escape ``\xNN``, shown as such).

    >>> print(text("a|b"), text(3), text("<b>*x*</b>"), text("l1\nl2"))
    a\|b 3 \<b\>\*x\*\</b\> l1\\x0al2
    """
    return _MARKUP.sub(r"\\\1", one_line(x))


def code(x: object) -> str:
    r"""``x`` as an inline code span no content can end early: the fence is one backtick
    longer than the longest run inside, ``|`` is escaped (GitHub splits table cells on it
    even in code), and control characters are escaped.

    >>> print(code("test"), code("a`b"), code("x|y"))
    `test` `` a`b `` `x\|y`
    """
    text = one_line(x).replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or text.startswith(" ") or text.endswith(" ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def align(n_left: int, n_columns: int) -> str:
    """The alignment of a table whose first ``n_left`` columns are left-aligned, the rest
    right-aligned (``n_left`` may exceed ``n_columns``).

    >>> align(1, 4), align(0, 2), align(3, 2)
    ('lrrr', 'rr', 'll')
    """
    n = min(n_left, n_columns)
    return "l" * n + "r" * (n_columns - n)


def table(
    header: Sequence[object],
    rows: Sequence[Sequence[object]],
    alignment: str | None = None,
    *,
    escape: bool = False,
) -> list[str]:
    """The lines of a Markdown table: header, delimiter row, one line per row.

    ``alignment`` has one letter per column, ``l`` or ``r`` (default: all right).
    With ``escape`` every cell, header included, goes through :func:`text` (user text);
    without it the cells are taken as Markdown already (e.g. ``**bold**``, `` `code` ``).

    >>> print("\\n".join(table(["name", "n"], [["a|b", 3]], "lr", escape=True)))
    | name | n |
    | --- | ---: |
    | a\\|b | 3 |
    """
    text_of = text if escape else str
    delim = [ALIGN[a] for a in (alignment or "r" * len(header))]
    out = ["| " + " | ".join(text_of(h) for h in header) + " |", "| " + " | ".join(delim) + " |"]
    out += ["| " + " | ".join(text_of(c) for c in r) + " |" for r in rows]
    return out
