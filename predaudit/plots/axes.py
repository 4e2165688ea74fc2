"""Figure and axes plumbing shared by the figures: new figures, given axes, titles, epochs.

Figures are built with the object-oriented API (:class:`matplotlib.figure.Figure`,
never ``pyplot``), so nothing is registered globally and nothing is shown.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator, MaxNLocator

from predaudit.plots.layout import OnePassLayout
from predaudit.plots.style import DPI, LOSS_FLOOR, MARK, MARKERS_MAX_EPOCHS, literal

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from predaudit.report.analyze import SplitAnalysis


def _new_figure(figsize: tuple[float, float], *, one_pass: bool = False) -> Figure:
    """A figure with the constrained layout; ``one_pass``: in one pass when the first
    moved no tick (:class:`~predaudit.plots.layout.OnePassLayout`)."""
    return Figure(figsize=figsize, dpi=DPI, layout=OnePassLayout() if one_pass else "constrained")


def _root(fig: Any) -> Figure:
    """The top-level Figure of an Axes' figure (which may be a SubFigure)."""
    while not isinstance(fig, Figure):
        fig = fig.figure
    return fig


def _single_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes, bool]:
    """``(figure, axes, owned)``: a new figure when ``ax`` is None."""
    if ax is None:
        fig = _new_figure(figsize, one_pass=True)
        return fig, fig.add_subplot(), True
    return _root(ax.figure), ax, False


def _pair_axes(
    axes: Sequence[Axes] | None,
    figsize: tuple[float, float],
    *,
    rows: int,
    sharex: bool,
    height_ratios: Sequence[float] | None = None,
) -> tuple[Figure, tuple[Axes, Axes], bool]:
    if axes is None:
        fig = _new_figure(figsize, one_pass=True)
        grid = fig.subplots(
            rows,
            3 - rows,
            sharex=sharex,
            gridspec_kw={"height_ratios": height_ratios} if height_ratios else None,
        )
        return fig, (grid[0], grid[1]), True
    if len(axes) != 2:
        raise ValueError(f"axes must be a pair of Axes, got {len(axes)}")
    return _root(axes[0].figure), (axes[0], axes[1]), False


def _wrap(text: str, width_in: float, size_pt: float = 12.0) -> str:
    """Wrap ``text`` to lines that fit ``width_in`` inches at ``size_pt`` points."""
    chars = max(int(width_in * 72 / (0.6 * size_pt)), 20)
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def _title(
    fig: Figure, ax: Axes, owned: bool, text: str, *, suptitle: bool = False, clear: bool = False
) -> None:
    """The finding as the title: the figure's suptitle when we own a multi-panel figure.

    ``clear``: nothing is drawn above the axes (no top ticks or labels, no offset text),
    so the title is placed at the top (``y=1``, where matplotlib would put it) without
    matplotlib measuring the axes' decorations to look for what is above, at every layout
    and every drawing.
    """
    width = float(fig.get_figwidth())
    if suptitle and owned:
        fig.suptitle(literal(_wrap(text, width)), fontsize="large")
    else:
        share = 1.0 if owned else ax.get_position().width
        ax.set_title(
            literal(_wrap(text, width * share)), fontsize="large", y=1.0 if clear else None
        )


def _unit(split: Any) -> str:
    """``"epoch"`` or ``"step"``: what the split's evaluation numbers count."""
    return str(getattr(split, "epoch_unit", "epoch") or "epoch")


def heading(
    split: Any,
    text: str,
    *,
    epochs: tuple[int, int] | int | None = None,
    span: bool = False,
) -> str:
    """A title naming the split and the epochs it speaks of: ``"test · epoch 7 → 30: …"``.

    ``epochs`` is a pair ``(from, to)`` or one epoch; by default the compared
    epochs of ``split`` (its last epoch without a comparison). With ``span`` the
    run's range of epochs, ``"test · epochs 1–30: …"``.
    """
    unit = _unit(split)
    if span and len(split.epochs) > 1:
        where = f"{unit}s {split.epochs[0]}–{split.epochs[-1]}"
    else:
        if epochs is None:
            comp = getattr(split, "comparison", None)
            epochs = (comp.from_epoch, comp.to_epoch) if comp is not None else split.epochs[-1]
        where = (
            f"{unit} {epochs[0]} → {epochs[1]}" if isinstance(epochs, tuple) else f"{unit} {epochs}"
        )
    return f"{split.name} · {where}: {text}"


def _message_figure(title: str, message: str, ax: Axes | None = None) -> Figure:
    """A figure that says plainly why there is nothing to draw."""
    fig, ax, _ = _single_axes(ax, (8, 2.6))
    ax.set_axis_off()
    ax.set_title(literal(title), fontsize="large")
    ax.text(
        0.5,
        0.5,
        literal(textwrap.fill(message, 80)),
        ha="center",
        va="center",
        transform=ax.transAxes,
        gid="message",
    )
    return fig


def _epoch_axis(ax: Axes, epochs: Sequence[int]) -> None:
    """Integer epoch ticks, thinned to fit; a single epoch gets one tick."""
    lo, hi = min(epochs), max(epochs)
    if lo == hi:
        ax.set_xlim(lo - 1, hi + 1)
        ax.xaxis.set_major_locator(FixedLocator([lo]))
    else:
        pad = 0.02 * (hi - lo)
        ax.set_xlim(lo - pad, hi + pad)
        ax.xaxis.set_major_locator(MaxNLocator(nbins="auto", integer=True))
    ax.set_xlabel("epoch")


def compared_labels(split: SplitAnalysis) -> tuple[str, str] | None:
    """Labels of the compared epochs, e.g. ``("best 7", "last 30")``; None without a comparison."""
    comp = split.comparison
    if comp is None:
        return None
    word = {"best_loss": "best", "first": "first"}.get(comp.from_reason, "from")
    end_word = "last" if comp.to_epoch == split.epochs[-1] else "to"
    return f"{word} {comp.from_epoch}", f"{end_word} {comp.to_epoch}"


def _mark_compared(ax: Axes, split: SplitAnalysis, *, label: bool) -> None:
    """Dashed grey lines at the compared epochs, labelled along the top edge.

    The labels are minor ticks of ``ax``'s own x axis drawn on its top side only
    (a :class:`~matplotlib.ticker.FixedLocator` at the two epochs), sized like major
    ticks: what a secondary x axis would draw, without a second Axes to build, lay
    out and draw. A shared x axis shares its minor locator: ``label=False`` hides
    the minor ticks of ``ax`` on both sides.
    """
    names = compared_labels(split)
    if names is None or split.comparison is None:
        return
    a, b = split.comparison.from_epoch, split.comparison.to_epoch
    for e, gid in ((a, "compared_from"), (b, "compared_to")):
        ax.axvline(e, color=MARK, linestyle="--", linewidth=1, zorder=1.5, gid=gid)
    if not label:
        ax.tick_params(
            axis="x", which="minor", bottom=False, top=False, labelbottom=False, labeltop=False
        )
        return
    locs, texts = ([a], [f"{names[0]} = {names[1]}"]) if a == b else ([a, b], list(names))
    ax.xaxis.remove_overlapping_locs = False  # an epoch may also be a major tick
    ax.xaxis.set_minor_locator(FixedLocator(locs))
    ax.xaxis.set_minor_formatter(FixedFormatter(texts))
    ax.tick_params(
        axis="x", which="minor", bottom=False, labelbottom=False, top=True, labeltop=True,
        length=3, width=_rc("xtick.major.width"),
        pad=_rc("xtick.major.pad"), colors=MARK, labelsize="small",
    )  # fmt: skip
    lo, hi = ax.get_xlim()
    if a != b and (b - a) / (hi - lo) < 0.2:  # close together: push the labels apart
        first, second = ax.xaxis.get_minor_ticks(2)
        first.label2.set_horizontalalignment("right")
        second.label2.set_horizontalalignment("left")


def _rc(key: str) -> Any:
    """An rc value (matplotlib's stubs only know literal keys)."""
    return mpl.rcParams[key]  # type: ignore[index]


def _legend_below(fig: Figure, ax: Axes, owned: bool, handles: list[Any], ncols: int) -> None:
    """A legend outside the data: below the axes (or the best free corner of a given ``ax``)."""
    if owned:
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=ncols,
            frameon=False,
            fontsize="small",
        )
    else:
        ax.legend(handles=handles, loc="best", fontsize="small")


def _marker(epochs: Sequence[int]) -> str | None:
    return "o" if len(epochs) <= MARKERS_MAX_EPOCHS else None


def _floor(values: np.ndarray) -> np.ndarray:
    return np.maximum(values, LOSS_FLOOR)
