"""Ticks computed once per axis size and view, not at every measurement of a figure.

While a figure is laid out and drawn, matplotlib asks each axis for its ticks again and
again: for the axes' tight box, for the axis label's position (and its siblings'),
for the title's position, and to draw. Each time :meth:`matplotlib.axis.Axis._update_ticks`
calls the locator and the formatter afresh and updates every tick, for the same
answer as long as nothing they depend on has changed. :func:`remembered_ticks` keeps
each axis' last answer for the block and gives it again while the axis' view
interval, its axes' size on the canvas, its locators and formatters and its scale are
the ones it was computed for (and its formatters last formatted this axis' ticks, so
that their offset text is this axis'); any change computes it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

_NAME = "_update_ticks"


class _Remembered:
    """An axis' ``_update_ticks``, answering from its last call while nothing changed."""

    def __init__(self, axis: Axis, owners: dict[int, _Remembered]) -> None:
        self.axis = axis
        self.owners = owners  # formatter id -> the axis whose ticks it formatted last
        self.key: tuple | None = None
        self.ticks: list = []

    def _key(self) -> tuple:
        axis: Any = self.axis
        major, minor = axis.major, axis.minor
        return (
            tuple(axis.get_view_interval()),
            axis.axes.bbox.bounds,
            axis.get_scale(),
            id(major.locator),
            id(major.formatter),
            id(minor.locator),
            id(minor.formatter),
            axis.get_figure(root=True).dpi,
        )

    def __call__(self) -> list:
        axis: Any = self.axis
        key = self._key()
        formatters = (id(axis.major.formatter), id(axis.minor.formatter))
        if key != self.key or any(self.owners.get(f) is not self for f in formatters):
            self.ticks = type(axis)._update_ticks(axis)
            self.key = key
            for f in formatters:
                self.owners[f] = self
        return list(self.ticks)


def _axes_of(fig: Figure) -> list[Axis]:
    axes = fig.axes + [c for a in fig.axes for c in a.child_axes]
    return [axis for ax in axes for axis in (ax.xaxis, ax.yaxis)]


@contextmanager
def remembered_ticks(fig: Figure) -> Iterator[None]:
    """Inside the block, each axis of ``fig`` computes its ticks only when they may change."""
    owners: dict[int, _Remembered] = {}
    patched = []
    for axis in _axes_of(fig):
        if _NAME in vars(axis) or not hasattr(type(axis), _NAME):
            continue
        setattr(axis, _NAME, _Remembered(axis, owners))
        patched.append(axis)
    try:
        yield
    finally:
        for axis in patched:
            delattr(axis, _NAME)
