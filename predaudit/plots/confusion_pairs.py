"""The figures of ``confusion`` for many classes: bar charts of the confused pairs.

Over :data:`PLOT_MAX_CLASSES` classes a C×C heatmap has cells smaller than a pixel
(a confusion is invisible) and would need C² memory; ``confusion.png`` is then
:func:`plot_top_confusions`, the report's most confused pairs as horizontal bars,
and ``confusion_diff.png`` is :func:`plot_confusion_changes`, the confusions that
grew (vermillion, right) and shrank (blue, left) most. Both take the report's pairs
(:class:`~predaudit.report.confusion.Confusion`,
:class:`~predaudit.report.confusion.PairChange`), never a matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from predaudit.plots.axes import _new_figure, _root, _wrap
from predaudit.plots.confusion import _named, _signed_count
from predaudit.plots.style import CORRECT, WRONG, literal
from predaudit.plots.text import _count, _pct

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from predaudit.report.confusion import Confusion, PairChange

PLOT_MAX_CLASSES = 100
"""Up to this many classes ``confusion.png`` is the heatmap; above, the top confused pairs."""
BARS_MAX = 30
"""The most bars one chart draws (the first of the report's ``--top`` pairs; the grown and
the shrunk confusions get half each)."""


def _pair_label(true: object, pred: object) -> str:
    return f"{literal(true)} → {literal(pred)}"


def _bars_axes(ax: Axes | None, n: int) -> tuple[Figure, Axes, bool]:
    if ax is not None:
        return _root(ax.figure), ax, False
    fig = _new_figure((9.0, max(3.0, 0.38 * n + 1.8)))
    return fig, fig.add_subplot(), True


def _finish(fig: Figure, ax: Axes, owned: bool, heading: str) -> None:
    if owned:
        fig.suptitle(_wrap(heading, float(fig.get_figwidth())), fontsize="large")
    else:
        ax.set_title(heading, fontsize="medium")


def plot_top_confusions(
    pairs: Sequence[Confusion],
    *,
    n_classes: int,
    accuracy: float,
    split: str | None = None,
    epoch: int | None = None,
    epoch_unit: str = "epoch",
    ax: Axes | None = None,
) -> Figure:
    """The most confused pairs (true → predicted) as horizontal bars, most frequent on top.

    ``pairs`` are the report's ``top_confusions`` (each with ``true``, ``pred``,
    ``count``, ``share_of_true``), the first :data:`BARS_MAX` drawn; the bar length
    is the count (bars with gid ``"pair"``, in the colour of wrong samples), each
    labelled with its count and share of the true class. The title names ``split``
    and ``epoch``, the accuracy and that the ``n_classes``-class matrix is too large
    to draw.
    """
    pairs = list(pairs)[:BARS_MAX]
    fig, ax, owned = _bars_axes(ax, len(pairs))
    names = [_pair_label(p.true, p.pred) for p in pairs]
    counts = [p.count for p in pairs]
    y = list(range(len(pairs)))
    bars = ax.barh(y, counts, color=WRONG, height=0.7)
    for bar in bars:
        bar.set_gid("pair")
    for yi, p in zip(y, pairs, strict=True):
        ax.annotate(
            f" {_count(p.count)} ({_pct(p.share_of_true)} of {literal(p.true)})",
            (p.count, yi),
            va="center",
            ha="left",
            fontsize="small",
        )
    ax.set_yticks(y, labels=names, fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("samples of the true class predicted as the other")
    ax.set_xlim(0, max(counts, default=1) * 1.35)
    ax.spines[["top", "right"]].set_visible(False)
    if not pairs:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no confused pairs", ha="center", va="center", transform=ax.transAxes)
    where = f"{epoch_unit} {epoch}" if epoch is not None else None
    text = (
        f"accuracy {_pct(accuracy)}; {_count(n_classes)} classes, too many to draw the "
        f"matrix: the {len(pairs)} most confused pairs"
    )
    _finish(fig, ax, owned, _named(text, split, where))
    return fig


def plot_confusion_changes(
    grew: Sequence[PairChange],
    shrank: Sequence[PairChange],
    *,
    n_classes: int,
    from_epoch: int,
    to_epoch: int,
    split: str | None = None,
    epoch_unit: str = "epoch",
    ax: Axes | None = None,
) -> Figure:
    """The confusions that grew and shrank most between two epochs, as diverging bars.

    ``grew`` and ``shrank`` are the report's :class:`PairChange` lists (the first
    ``BARS_MAX // 2`` of each are drawn); a bar's length
    is the change in count (``count_to − count_from``): vermillion to the right (more
    wrong samples, gid ``"grew"``), blue to the left (gid ``"shrank"``), each labelled
    ``from → to``.
    """
    grew, shrank = list(grew)[: BARS_MAX // 2], list(shrank)[: BARS_MAX // 2]
    rows = [*grew, *shrank]
    fig, ax, owned = _bars_axes(ax, len(rows))
    y = list(range(len(rows)))
    changes = [p.change for p in rows]
    bars = ax.barh(y, changes, height=0.7, color=[WRONG if c > 0 else CORRECT for c in changes])
    for bar, c in zip(bars, changes, strict=True):
        bar.set_gid("grew" if c > 0 else "shrank")
    for yi, p in zip(y, rows, strict=True):
        ax.annotate(
            f" {_signed_count(p.change)} ({_count(p.count_from)} → {_count(p.count_to)}) ",
            (p.change, yi),
            va="center",
            ha="left" if p.change > 0 else "right",
            fontsize="small",
        )
    ax.set_yticks(y, labels=[_pair_label(p.true, p.pred) for p in rows], fontsize="small")
    ax.invert_yaxis()
    limit = max((abs(c) for c in changes), default=1) * 1.6
    ax.set_xlim(-limit, limit)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"change in count, {epoch_unit} {from_epoch} → {to_epoch}")
    ax.spines[["top", "right"]].set_visible(False)
    if not rows:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no confusion changed", ha="center", va="center", transform=ax.transAxes)
    where = f"{epoch_unit} {from_epoch} → {to_epoch}"
    text = (
        f"{_count(n_classes)} classes, too many to draw the matrix: the confusions that "
        f"grew ({len(grew)}) and shrank ({len(shrank)}) most"
    )
    _finish(fig, ax, owned, _named(text, split, where))
    return fig
