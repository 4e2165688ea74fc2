"""Laying out and drawing a figure with less of matplotlib's per-figure work.

Two costs dominate a predaudit figure, and neither is the pixels: matplotlib's
constrained layout measures every axes' decorations twice (the second pass in case
the first moved a tick), and each tick mark is a ``Tick`` object of five artists.

* :class:`OnePassLayout` is the constrained layout that stops after its first pass
  when that pass moved no tick; when a tick moved, it makes the second pass like
  matplotlib does.
* :class:`MinorTickMarks` draws the unlabelled minor tick marks of a log axis as one
  artist (same locator, size, width, colour and direction) instead of one ``Tick``
  per mark.
* :class:`PlainLogFormatter` writes log tick labels as plain text (``10⁻³``): no
  mathtext to parse for every figure.
* :func:`paused_gc` keeps the cyclic garbage collector from walking the artists of
  a figure being built and drawn (thousands of objects, all alive).

Also, :func:`~predaudit.plots.save.save_figure` runs the layout itself and then draws
a PNG once, where ``savefig`` with a layout engine draws the whole figure twice.
"""

from __future__ import annotations

import gc
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
from matplotlib.artist import Artist
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import TICKDOWN, TICKLEFT, TICKRIGHT, TICKUP, Line2D  # type: ignore[attr-defined]
from matplotlib.ticker import LogFormatter, LogFormatterSciNotation, NullFormatter, NullLocator

if TYPE_CHECKING:
    from matplotlib.axis import XAxis, YAxis
    from matplotlib.backend_bases import RendererBase
    from matplotlib.figure import Figure
    from matplotlib.transforms import Bbox


def _rc(key: str) -> Any:
    """An rc value (matplotlib's stubs only know literal keys)."""
    return mpl.rcParams[key]  # type: ignore[index]


def _name(axis: XAxis | YAxis) -> str:
    """``"x"`` or ``"y"``."""
    return str(axis.axis_name)  # type: ignore[union-attr]


def _tick_locations(fig: Figure) -> list[np.ndarray]:
    """The major and minor tick locations of every axis of ``fig`` (child axes too)."""
    locs = []
    for ax in fig.axes + [c for a in fig.axes for c in a.child_axes]:
        for axis in (ax.xaxis, ax.yaxis):
            locs.append(np.asarray(axis.get_majorticklocs(), dtype=float))
            locs.append(np.asarray(axis.get_minorticklocs(), dtype=float))
    return locs


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


_STEPS = (
    "make_layoutgrids",
    "make_layout_margins",
    "make_margin_suptitles",
    "match_submerged_margins",
    "check_no_collapsed_axes",
    "reposition_axes",
    "reset_margins",
)
"""The private functions of ``matplotlib._constrained_layout`` that one pass is made of."""


class OnePassLayout(ConstrainedLayoutEngine):
    """``layout="constrained"``, in one pass when the first pass moved no tick.

    matplotlib's constrained layout always runs its algorithm twice, because moving
    the axes can change their ticks (a shorter axis gets fewer) and so the space
    their labels need. Here the ticks are compared before and after the first pass:
    unchanged, the second pass would measure the same labels, so it is skipped. What
    it could still move is a label placed in data coordinates that sticks out of the
    axes (a top tick label at the last epoch): by the change in axes size times its
    overhang, a pixel or two, inside the padding. A figure with a colorbar (placed
    from its parent's first-pass position) always gets both passes, and so does any
    figure with a matplotlib whose private layout functions differ from these.
    """

    def execute(self, fig: Figure) -> Any:
        """Move and resize the axes of ``fig`` (see :class:`ConstrainedLayoutEngine`)."""
        try:
            from matplotlib import _constrained_layout as cl
        except ImportError:
            return super().execute(fig)
        if not all(hasattr(cl, step) for step in _STEPS):
            return super().execute(fig)
        compress = self._compress  # type: ignore[attr-defined]
        if compress or any(getattr(ax, "_colorbars", None) for ax in fig.axes):
            return super().execute(fig)  # a colorbar is placed from its parent: two passes
        width, height = fig.get_size_inches()
        params = self._params  # type: ignore[attr-defined]
        pads = {"w_pad": params["w_pad"] / width, "h_pad": params["h_pad"] / height}
        spaces = {"hspace": params["hspace"], "wspace": params["wspace"]}
        try:
            return self._one_pass(fig, cl, pads, spaces, params["rect"])
        except (TypeError, AttributeError, KeyError):  # other private functions
            return super().execute(fig)

    def _one_pass(self, fig: Figure, cl: Any, pads: dict, spaces: dict, rect: Any) -> Any:
        renderer = fig._get_renderer()  # type: ignore[attr-defined]
        grids = cl.make_layoutgrids(fig, None, rect=rect)
        if not grids["hasgrids"]:
            return super().execute(fig)  # matplotlib's warning
        for _ in range(2):
            cl.make_layout_margins(grids, fig, renderer, **pads, **spaces)
            cl.make_margin_suptitles(grids, fig, renderer, **pads)
            cl.match_submerged_margins(grids, fig)
            grids[fig].update_variables()
            measured = _tick_locations(fig)
            if cl.check_no_collapsed_axes(grids, fig):
                cl.reposition_axes(grids, fig, renderer, **pads, **spaces)
            else:
                return super().execute(fig)  # matplotlib's warning, its way
            cl.reset_margins(grids, fig)
            if _same(measured, _tick_locations(fig)):
                break
        return grids


# -- minor tick marks -----------------------------------------------------------------------

_MARKERS = {
    ("x", "out"): TICKDOWN,
    ("x", "in"): TICKUP,
    ("y", "out"): TICKLEFT,
    ("y", "in"): TICKRIGHT,
}

_SIDES = {"gridOn", "tick1On", "tick2On", "label1On", "label2On"}
"""The keys of an axis' minor tick settings that only say where ticks are drawn."""


class MinorTickMarks(Artist):
    """The minor tick marks of ``axis`` drawn as one artist, from its own minor locator.

    What matplotlib would draw for unlabelled minor ticks on the first side (left or
    bottom): the locator's locations in view, less those on a major tick, each a
    tick marker of the rc size, width and colour. Use :func:`light_minor_ticks`.
    """

    def __init__(self, axis: XAxis | YAxis, locator: Any) -> None:
        super().__init__()
        name = _name(axis)
        marker = _MARKERS[name, _rc(f"{name}tick.direction")]
        ax = axis.axes
        self.axes = ax
        self._axis = axis
        self._locator = locator
        transform = (
            ax.get_yaxis_transform("tick1") if name == "y" else ax.get_xaxis_transform("tick1")
        )
        color = _rc(f"{name}tick.color")
        self._marks = Line2D(
            [],
            [],
            linestyle="none",
            marker=marker,
            markersize=_rc(f"{name}tick.minor.size"),
            markeredgewidth=_rc(f"{name}tick.minor.width"),
            color=color,
            markeredgecolor=color,
            transform=transform,
            clip_on=False,
        )
        self._marks.set_figure(ax.get_figure(root=False))  # type: ignore[arg-type]
        self.set_zorder(axis.get_zorder())
        self.set_in_layout(False)

    def locations(self) -> np.ndarray:
        """The locations of the marks drawn now: in view, none on a major tick."""
        axis = self._axis
        minor = np.asarray(self._locator(), dtype=float)
        if minor.size == 0:
            return minor
        transform = axis.get_transform()
        lo, hi = sorted(transform.transform(np.asarray(axis.get_view_interval(), dtype=float)))
        t_minor = transform.transform(minor)
        t_major = transform.transform(np.asarray(axis.get_majorticklocs(), dtype=float))
        tol = (hi - lo) * 1e-5
        on_major = np.isclose(t_minor[:, None], t_major[None, :], atol=tol, rtol=0).any(axis=1)
        in_view = (t_minor >= lo - 1e-10 * abs(hi - lo)) & (t_minor <= hi + 1e-10 * abs(hi - lo))
        return minor[~on_major & in_view]

    def draw(self, renderer: RendererBase) -> None:
        if not self.get_visible() or not self._axis.get_visible():
            return
        locs = self.locations()
        zeros = np.zeros(locs.size)
        if _name(self._axis) == "y":
            self._marks.set_data(zeros, locs)
        else:
            self._marks.set_data(locs, zeros)
        self._marks.draw(renderer)
        self.stale = False

    def get_window_extent(self, renderer: RendererBase | None = None) -> Bbox:
        return self._marks.get_window_extent(renderer)


def light_minor_ticks(axis: XAxis | YAxis) -> bool:
    """Draw the minor ticks of a log ``axis`` as one :class:`MinorTickMarks`, when that
    looks the same: their labels are empty, on the first side only, pointing in or out.

    Call it once the axis' limits and locators are set. Returns whether it did.
    """
    ax = axis.axes
    name = _name(axis)
    if axis.get_scale() != "log" or (name, _rc(f"{name}tick.direction")) not in _MARKERS:
        return False
    kw = getattr(axis, "_minor_tick_kw", {})
    if (
        axis.get_ticks_position() not in ("left", "bottom")
        or set(kw) - _SIDES
        or not kw.get("tick1On", True)
        or kw.get("tick2On", False)
        or kw.get("gridOn", False)
    ):
        return False  # not on the first side only, a minor grid, or restyled by tick_params
    formatter = axis.get_minor_formatter()
    if not isinstance(formatter, NullFormatter):
        if not isinstance(formatter, LogFormatter):
            return False
        lo, hi = sorted(axis.get_view_interval())
        # matplotlib's LogFormatter labels minor ticks only within minor_thresholds[0] decades
        if lo <= 0 or math.log10(hi / lo) <= formatter.minor_thresholds[0]:
            return False
    locator = axis.get_minor_locator()
    if isinstance(locator, NullLocator):
        return False
    axis.set_minor_locator(NullLocator())
    locator.set_axis(axis)
    ax.add_artist(MinorTickMarks(axis, locator))
    return True


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside the block (it is collected after, as usual)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# -- log tick labels as plain text ----------------------------------------------------------

_SUPERSCRIPT = str.maketrans("0123456789-−", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁻")
_MATH = re.compile(
    r"^\$\\mathdefault\{(?P<body>[^${}\\]*(?:\\times[^${}\\]*)?(?:\^\{[-−]?\d+\})?)\}\$$"
)


def _plain(label: str) -> str:
    """``$\\mathdefault{10^{-3}}$`` as ``10⁻³`` (and ``2\\times10^{-1}`` as ``2×10⁻¹``)."""
    match = _MATH.match(label)
    if match is None:
        return label
    body = match.group("body").replace("\\times", "×")
    base, _, exponent = body.partition("^{")
    return base + exponent.rstrip("}").translate(_SUPERSCRIPT) if exponent else base


class PlainLogFormatter(LogFormatterSciNotation):
    """matplotlib's log tick labels (``10⁻³``, ``2×10⁻¹``) written with Unicode superscripts.

    The same labels, for the same ticks, as :class:`LogFormatterSciNotation`, but as
    plain text: mathtext is parsed afresh for every figure, plain text is not.
    """

    def __call__(self, x: float, pos: int | None = None) -> str:
        return _plain(super().__call__(x, pos))
