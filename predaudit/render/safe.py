"""User text (ids, class names, split names, paths) shown as data, never as markup or
terminal control: one place for the escaping every renderer shares.

- :func:`visible`: control characters (C0 but newline, DEL, C1), bidirectional
  overrides and lone surrogates become ``\\xNN`` / ``\\uNNNN`` escapes, so an id cannot
  move the cursor, recolour the terminal, reorder a line or fail to encode;
- :class:`SafeConsole`: a Rich console that parses no markup (``[/]`` in a class name
  is text) and shows every string and :class:`~rich.text.Text` through :func:`visible`;
- :func:`csv_text`: a CSV text cell that a spreadsheet could read as a formula
  (``=``, ``+``, ``-``, ``@``, tab, CR first) is prefixed with ``'`` (OWASP); numbers
  are never changed.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.text import Text

_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def visible(text: str, *, newlines: bool = True) -> str:
    """``text`` with every control character escaped (newlines kept unless ``newlines=False``).

    >>> visible("a\\x1b[31mb"), visible("x\\ud800"), visible("l1\\nl2", newlines=False)
    ('a\\\\x1b[31mb', 'x\\\\ud800', 'l1\\\\x0al2')
    """
    return (_UNSAFE if newlines else _UNSAFE_LINE).sub(_escape, text)


def one_line(x: object) -> str:
    """``str(x)`` on one line, control characters escaped (for cells and headings)."""
    return visible(str(x), newlines=False)


class SafeConsole(Console):
    """A Rich console for reports holding user text: no markup, control characters escaped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        super().__init__(*args, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:  # every str cell, title, caption
        kwargs["markup"] = False
        return super().render_str(visible(text), **kwargs)

    def render(self, renderable: Any, options: Any = None) -> Any:
        if isinstance(renderable, Text) and _UNSAFE.search(renderable.plain):
            safe = Text(
                visible(renderable.plain),
                style=renderable.style,
                justify=renderable.justify,
                overflow=renderable.overflow,
                no_wrap=renderable.no_wrap,
                end=renderable.end,
            )
            return super().render(safe, options)
        return super().render(renderable, options)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """A CSV text cell a spreadsheet will not run: ``'`` before a leading ``= + - @``, tab or
    CR (OWASP CSV injection), unless the text is a number (``-5`` stays ``-5``).

    >>> csv_text("=HYPERLINK(1)"), csv_text("-5"), csv_text("-1e-3"), csv_text("cat")
    ("'=HYPERLINK(1)", '-5', '-1e-3', 'cat')
    """
    if value.startswith(_FORMULA_START) and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text


class _SafeWriter:
    """A :func:`csv.writer` whose text cells go through :func:`csv_text`."""

    def __init__(self, buf: Any) -> None:
        self._w = csv.writer(buf, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._w.writerow([csv_text(x) if isinstance(x, str) else x for x in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(buf: Any) -> _SafeWriter:
    """The CSV writer of every renderer: ``\\n`` line ends, formula-like text neutralised.

    >>> import io
    >>> buf = io.StringIO()
    >>> _ = writer(buf).writerow(["=1+1", "-2.5", 3, "@x"])
    >>> buf.getvalue()
    "'=1+1,-2.5,3,'@x\\n"
    """
    return _SafeWriter(buf)
