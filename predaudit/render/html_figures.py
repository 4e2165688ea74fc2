"""Figures inside the HTML page: a matplotlib Figure in, an inline ``<svg>`` element out.

Text stays text (``svg.fonttype = none``: crisp and small; the browser draws it
with a local font, nothing is fetched). The XML prolog, the DOCTYPE, the RDF
metadata and the namespace declarations (none is needed inline in HTML) are
dropped, so the page holds no URL at all; every ``id`` (and each ``#id``
reference) gets a per-figure prefix so that several figures in one page never
share an id. Byte-stable: the same figure gives the same text.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from predaudit.render.html_parts import esc

_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_SIZE = re.compile(r'<svg\b([^>]*?)\swidth="([\d.]+)pt" height="([\d.]+)pt"')
_ID = re.compile(r'\bid="([^"]+)"')
_COMMENT = re.compile(r"<!--.*?-->", re.S)


class FigureCounter:
    """Hands out the id prefixes ``f1-``, ``f2-``, ... of one page."""

    def __init__(self) -> None:
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"f{self.n}-"


def svg_text(fig: Any) -> str:
    """``fig`` saved as SVG text (fonts as text, fixed hash salt, no date), then cleared."""
    import matplotlib as mpl

    buf = io.StringIO()
    try:
        with mpl.rc_context({"svg.hashsalt": "predaudit", "svg.fonttype": "none"}):
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    finally:
        fig.clear()
    return buf.getvalue()


def inline_svg(svg: str, prefix: str, label: str) -> str:
    """An SVG document as an element for an HTML page (see the module docstring).

    ``label`` (escaped here) becomes the figure's accessible name; the width in
    points becomes a ``max-width`` so the figure shrinks with the page but never
    grows past its drawn size.
    """
    svg = _PROLOG.sub("", svg, count=1)
    svg = _COMMENT.sub("", svg)
    svg = _METADATA.sub("", svg, count=1)
    svg = _NAMESPACES.sub("", svg)
    ids = set(_ID.findall(svg))
    if ids:
        svg = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
        svg = re.sub(
            r'(href="#|url\(#)([^")]+)',
            lambda m: m.group(1) + (prefix + m.group(2) if m.group(2) in ids else m.group(2)),
            svg,
        )
    svg = _SIZE.sub(
        lambda m: (
            f'<svg{m.group(1)} style="max-width:{float(m.group(2)) * 4 / 3:.0f}px" '
            f'role="img" aria-label="{esc(label)}"'
        ),
        svg,
        count=1,
    )
    return re.sub(r"[ \t]*\n[ \t]*", "\n", svg.strip())


def figure_html(plot: Callable[[], Any], counter: FigureCounter, label: str) -> str:
    """``<figure>`` with the figure ``plot()`` draws inline; a short note when it cannot
    be drawn (the page is still worth having without one figure)."""
    try:
        svg = inline_svg(svg_text(plot()), counter.next(), label)
    except ValueError as exc:  # e.g. a class name matplotlib reads as bad mathtext
        return f'<p class="note">Figure “{esc(label)}” could not be drawn: {esc(exc)}</p>'
    return f'<figure class="fig">{svg}</figure>'
