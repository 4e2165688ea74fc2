"""An Agg canvas whose renderer remembers text measurements from one figure to the next.

matplotlib measures every text it lays out or draws: the width, height and descent of
the string (FreeType lays out every glyph, hinted), and for each line the font's
ascent, descent and line gap (looked up again in the font's tables every time). It
keeps the first in a cache tied to one renderer, so each new figure measures its tick
labels, axis labels and legend texts afresh, and it never keeps the second. The
:class:`MeasuringRenderer` keeps both, in caches shared by every figure of the
process, keyed by everything the answer depends on (the string, the font properties,
the resolution, and the rc settings that choose the font file and its hinting); the
numbers are the ones :class:`~matplotlib.backends.backend_agg.RendererAgg` computes.
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.font_manager import FontProperties, fontManager, get_font

_FONT_RC = (
    "font.family",
    "font.style",
    "font.variant",
    "font.weight",
    "font.stretch",
    "font.size",
    "font.serif",
    "font.sans-serif",
    "font.cursive",
    "font.fantasy",
    "font.monospace",
    "text.hinting",
    "text.kerning_factor",
)
"""The rc settings that can change which font a FontProperties finds, or its metrics."""

_CACHE_MAX = 8192
_extents: dict[tuple, tuple[float, float, float]] = {}
_heights: dict[tuple, tuple[Any, Any, Any]] = {}

# the font tables Text._get_layout reads, in its order
_HEIGHT_TABLES = (
    ("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"),
    ("hhea", "lineGap", "ascent", "descent"),
)


def _rc_key() -> tuple:
    rc: Any = mpl.rcParams  # matplotlib's stubs only know literal keys
    return (id(fontManager), len(fontManager.ttflist)) + tuple(
        str(rc.get(name)) for name in _FONT_RC
    )


def clear_caches() -> None:
    """Forget every measurement (they are also forgotten past ``_CACHE_MAX`` of them)."""
    _extents.clear()
    _heights.clear()


class MeasuringRenderer(RendererAgg):
    """:class:`RendererAgg` with its text measurements kept across figures.

    ``get_text_width_height_descent`` of plain (not math) text, and the font height
    metrics ``Text`` asks a renderer for (``_get_font_height_metrics``, read from the
    same ``OS/2`` or ``hhea`` table as matplotlib does without it).
    """

    rc_key: tuple = ()
    """The font rc settings when the canvas last handed this renderer out."""

    def get_text_width_height_descent(
        self, s: str, prop: FontProperties, ismath: Any
    ) -> tuple[float, float, float]:
        if ismath:
            return super().get_text_width_height_descent(s, prop, ismath)
        key = (s, hash(prop), self.dpi, self.rc_key)
        found = _extents.get(key)
        if found is None:
            if len(_extents) >= _CACHE_MAX:
                _extents.clear()
            found = _extents[key] = super().get_text_width_height_descent(s, prop, ismath)
        return found

    def _get_font_height_metrics(self, prop: FontProperties) -> tuple[Any, Any, Any]:
        key = (hash(prop), self.dpi, self.rc_key)
        found = _heights.get(key)
        if found is None:
            if len(_heights) >= _CACHE_MAX:
                _heights.clear()
            found = _heights[key] = _font_height_metrics(prop, self.dpi)
        return found


def _font_height_metrics(prop: FontProperties, dpi: float) -> tuple[Any, Any, Any]:
    """``(ascent, descent, line gap)`` in pixels, as ``Text._get_layout`` computes them;
    ``(None, None, None)`` (measure the text instead) for a font without those tables."""
    font: Any = get_font(fontManager._find_fonts_by_props(prop))  # type: ignore[attr-defined]
    for table_name, gap_key, ascent_key, descent_key in _HEIGHT_TABLES:
        table = font.get_sfnt_table(table_name)
        if table is None:
            continue
        head = font.get_sfnt_table("head")
        scale = 1 / head["unitsPerEm"] * prop.get_size_in_points() * dpi / 72
        return table[ascent_key] * scale, -table[descent_key] * scale, table[gap_key] * scale
    return None, None, None


class MeasuringCanvas(FigureCanvasAgg):
    """:class:`FigureCanvasAgg` drawing with a :class:`MeasuringRenderer`."""

    def get_renderer(self) -> RendererAgg:
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        if self._lastKey != key:
            self.renderer = MeasuringRenderer(w, h, self.figure.dpi)
            self._lastKey = key  # type: ignore[assignment]
        renderer: Any = self.renderer
        renderer.rc_key = _rc_key()
        return renderer
