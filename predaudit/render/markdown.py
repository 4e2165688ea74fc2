"""Markdown tables (GitHub-flavoured), defined once: the table builder and cell escaping."""

from __future__ import annotations

from collections.abc import Sequence

ALIGN = {"l": "---", "r": "---:"}
"""Column alignment letters and their delimiter cells."""


def cell(x: object) -> str:
    """``x`` as table-cell text: ``|`` escaped so it does not end the cell.

    >>> cell("a|b"), cell(3)
    ('a\\\\|b', '3')
    """
    return str(x).replace("|", "\\|")


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
    With ``escape`` every cell, header included, goes through :func:`cell`;
    without it the cells are taken as Markdown already (e.g. ``**bold**``, `` `code` ``).

    >>> print("\\n".join(table(["name", "n"], [["a|b", 3]], "lr", escape=True)))
    | name | n |
    | --- | ---: |
    | a\\|b | 3 |
    """
    text = cell if escape else str
    delim = [ALIGN[a] for a in (alignment or "r" * len(header))]
    out = ["| " + " | ".join(text(h) for h in header) + " |", "| " + " | ".join(delim) + " |"]
    out += ["| " + " | ".join(text(c) for c in r) + " |" for r in rows]
    return out
