"""Figures that tell the story of a run: each function takes data and returns a Figure.

* :func:`plot_loss_accuracy` — mean loss and accuracy per epoch (``loss_accuracy.png``);
* :func:`plot_loss_split` — the loss split into correct and wrong samples
  (``loss_split.png``);
* :func:`plot_transitions` — the four transition cells' contributions to ΔL
  (``transitions.png``);
* :func:`plot_loss_distribution` — per-sample losses at the two compared epochs
  (``loss_distribution.png``);
* :func:`plot_confusion` — a row-normalised confusion heatmap (``confusion.png``).

Figures are built with the object-oriented API (:class:`matplotlib.figure.Figure`,
never ``pyplot``), so nothing is registered globally and nothing is shown; the
``write_*`` functions save them atomically. Every title states the finding, and
the same Okabe–Ito colour means the same thing in every figure: :data:`WRONG`
(vermillion) is always the wrong samples, :data:`CORRECT` (blue) the correct ones.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    PercentFormatter,
)

from predaudit.output import write_atomic
from predaudit.report.vocab import CELL_LABELS
from predaudit.report.vocab import CELLS as CELL_ORDER

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from predaudit.report.analyze import SplitAnalysis
    from predaudit.report.confusion import SplitConfusion

# -- palette (Okabe & Ito, colour-blind safe) -----------------------------------------------

WRONG = "#D55E00"
"""Vermillion: wrong samples, in every figure."""
CORRECT = "#0072B2"
"""Blue: correct samples, in every figure."""
CORRECT_TO_WRONG = "#E69F00"
"""Orange: samples that went from correct to wrong."""
WRONG_TO_CORRECT = "#56B4E9"
"""Sky blue: samples that went from wrong to correct."""
ACCURACY = "#009E73"
"""Bluish green: accuracy."""
LOSS = "#000000"
"""Black: the mean loss over all samples (and ΔL)."""
MARK = "#666666"
"""Grey: the compared epochs."""

CELL_COLORS = {
    "correct_to_correct": CORRECT,
    "correct_to_wrong": CORRECT_TO_WRONG,
    "wrong_to_correct": WRONG_TO_CORRECT,
    "wrong_to_wrong": WRONG,
}

FORMATS = ("png", "svg", "pdf")
DPI = 100
LOSS_FLOOR = 1e-12
"""Smallest loss (nats) shown on a log axis; smaller values (and 0) are drawn at it."""
ANNOTATE_MAX_CLASSES = 20
"""Confusion heatmaps with at most this many classes get counts written in the cells."""
TOP_PAIRS = 10
"""How many confused pairs the many-class heatmap lists."""
MARKERS_MAX_EPOCHS = 40
"""Per-epoch curves get point markers up to this many epochs."""

ANALYZE_FIGURES = ("loss_accuracy", "loss_split", "transitions", "loss_distribution")

# Byte-stable output (committed README images do not change when nothing changed).
_METADATA: dict[str, dict[str, Any]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
}


# -- number formatting --------------------------------------------------------------------


def _num(x: float) -> str:
    """A loss in nats for a title: 3 significant digits, no scientific notation above 1e-3."""
    ax = abs(x)
    if ax == 0:
        return "0"
    if ax >= 100:
        return f"{x:,.0f}"
    if ax >= 1e-3:
        return f"{x:#.3g}".rstrip(".")
    return f"{x:.2g}"


def _signed(x: float) -> str:
    return ("+" if x >= 0 else "−") + _num(abs(x))


def _pct(frac: float, *, other: float | None = None) -> str:
    """``0.943 -> '94%'``; one decimal when whole percents would hide a difference.

    Never rounds to 0% or 100% what is not: ``'<0.1%'``, ``'>99.9%'``.
    """
    whole = f"{100 * frac:.0f}%"
    if (other is not None and f"{100 * other:.0f}%" == whole and other != frac) or (
        whole in ("0%", "100%") and 0 < frac < 1
    ):
        tenth = f"{100 * frac:.1f}%"
        if tenth == "100.0%" and frac < 1:
            return ">99.9%"
        if tenth == "0.0%" and frac > 0:
            return "<0.1%"
        return tenth
    return whole


def _signed_pct(frac: float) -> str:
    return ("+" if frac >= 0 else "−") + f"{abs(100 * frac):.0f}%"


def _count(n: int) -> str:
    return f"{n:,}"


def _rose(d: float) -> str:
    return "rose" if d > 0 else "fell"


def _accuracy_phrase(a: float, b: float) -> str:
    if abs(b - a) < 0.005:
        return f"accuracy stayed at {_pct(b)}"
    return f"accuracy {_rose(b - a)} from {_pct(a, other=b)} to {_pct(b, other=a)}"


# -- figure plumbing ----------------------------------------------------------------------


def _new_figure(figsize: tuple[float, float]) -> Figure:
    return Figure(figsize=figsize, dpi=DPI, layout="constrained")


def _root(fig: Any) -> Figure:
    """The top-level Figure of an Axes' figure (which may be a SubFigure)."""
    while not isinstance(fig, Figure):
        fig = fig.figure
    return fig


def _single_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes, bool]:
    """``(figure, axes, owned)``: a new figure when ``ax`` is None."""
    if ax is None:
        fig = _new_figure(figsize)
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
        fig = _new_figure(figsize)
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


def _title(fig: Figure, ax: Axes, owned: bool, text: str, *, suptitle: bool = False) -> None:
    """The finding as the title: the figure's suptitle when we own a multi-panel figure."""
    width = float(fig.get_figwidth())
    if suptitle and owned:
        fig.suptitle(_wrap(text, width), fontsize="large")
    else:
        share = 1.0 if owned else ax.get_position().width
        ax.set_title(_wrap(text, width * share), fontsize="large")


def _message_figure(title: str, message: str, ax: Axes | None = None) -> Figure:
    """A figure that says plainly why there is nothing to draw."""
    fig, ax, _ = _single_axes(ax, (8, 2.6))
    ax.set_axis_off()
    ax.set_title(title, fontsize="large")
    ax.text(
        0.5,
        0.5,
        textwrap.fill(message, 80),
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
    """Dashed grey lines at the compared epochs, labelled along the top edge."""
    names = compared_labels(split)
    if names is None or split.comparison is None:
        return
    a, b = split.comparison.from_epoch, split.comparison.to_epoch
    for e, gid in ((a, "compared_from"), (b, "compared_to")):
        ax.axvline(e, color=MARK, linestyle="--", linewidth=1, zorder=1.5, gid=gid)
    if not label:
        return
    top = ax.secondary_xaxis("top")
    top.tick_params(axis="x", length=3, colors=MARK, labelsize="small")
    if a == b:
        top.set_xticks([a], labels=[f"{names[0]} = {names[1]}"])
        return
    top.set_xticks([a, b], labels=list(names))
    lo, hi = ax.get_xlim()
    if (b - a) / (hi - lo) < 0.2:  # close together: push the labels apart
        for text, ha in zip(top.get_xticklabels(), ("right", "left"), strict=True):
            text.set_horizontalalignment(ha)


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


# -- loss and accuracy --------------------------------------------------------------------


def _loss_accuracy_title(split: SplitAnalysis) -> str:
    comp = split.comparison
    if comp is None:
        row = split.per_epoch[-1]
        return f"Epoch {row.epoch}: mean loss {_num(row.loss)} nats, accuracy {_pct(row.accuracy)}"
    ra, rb = split.row(comp.from_epoch), split.row(comp.to_epoch)
    d = comp.delta_loss
    loss = (
        f"Loss stayed at {_num(rb.loss)} nats" if d == 0 else f"Loss {_rose(d)} {_num(abs(d))} nats"
    )
    epochs = f"epoch {comp.from_epoch} → {comp.to_epoch}"
    return f"{loss} ({epochs}) while {_accuracy_phrase(ra.accuracy, rb.accuracy)}"


def plot_loss_accuracy(split: SplitAnalysis, ax: Axes | None = None) -> Figure:
    """Mean loss (nats, left axis) and accuracy (%, right axis) per epoch.

    The compared epochs are marked with dashed lines and labelled along the top
    (``best 7``, ``last 30``). The loss line has gid ``"loss"``, the accuracy line
    (on a twin axes) ``"accuracy"``.
    """
    fig, ax, owned = _single_axes(ax, (8, 4.5))
    x = np.asarray(split.epochs)
    loss = np.array([r.loss for r in split.per_epoch])
    acc = np.array([100 * r.accuracy for r in split.per_epoch])
    marker = _marker(split.epochs)

    (loss_line,) = ax.plot(
        x, loss, color=LOSS, lw=2, marker=marker, ms=4, label="mean loss (nats)", gid="loss"
    )
    ax.set_ylabel("mean loss (nats)")
    top = float(np.nanmax(loss)) if loss.size else 1.0
    ax.set_ylim(0, top * 1.1 if top > 0 else 1.0)
    _epoch_axis(ax, split.epochs)

    ax2 = ax.twinx()
    (acc_line,) = ax2.plot(
        x, acc, color=ACCURACY, lw=2, marker=marker, ms=4, label="accuracy (%)", gid="accuracy"
    )
    ax2.set_ylabel("accuracy (%)", color=ACCURACY)
    ax2.tick_params(axis="y", colors=ACCURACY)
    # At least 10 points of accuracy on the axis, so that "flat" looks flat.
    lo, hi = float(acc.min()), float(acc.max())
    mid, half = (lo + hi) / 2, max(hi - lo, 10.0) / 2 * 1.1
    lo, hi = max(mid - half, 0.0), min(mid + half, 100.0)
    if hi - lo < 10:
        lo, hi = (0.0, 10.0) if lo == 0 else (90.0, 100.0)
    ax2.set_ylim(lo - 0.5 if lo == 0 else lo, hi + 0.5 if hi == 100 else hi)

    _mark_compared(ax, split, label=True)
    handles: list[Any] = [loss_line, acc_line]
    if split.comparison is not None:
        handles.append(Line2D([], [], color=MARK, ls="--", lw=1, label="compared epochs"))
    _legend_below(fig, ax, owned, handles, ncols=len(handles))
    _title(fig, ax, owned, _loss_accuracy_title(split))
    return fig


# -- the loss split -----------------------------------------------------------------------


def _loss_split_title(split: SplitAnalysis) -> str:
    comp = split.comparison
    if comp is None:
        row = split.per_epoch[-1]
        if row.loss == 0:
            return f"Epoch {row.epoch}: mean loss 0 nats"
        return (
            f"Epoch {row.epoch}: wrong samples ({_pct(1 - row.accuracy)}) carry "
            f"{_pct(row.contribution_wrong / row.loss)} of the {_num(row.loss)}-nat mean loss"
        )
    ra, rb = split.row(comp.from_epoch), split.row(comp.to_epoch)
    err = _accuracy_phrase(1 - ra.accuracy, 1 - rb.accuracy).replace("accuracy", "error rate")
    if ra.loss_wrong is None or rb.loss_wrong is None or ra.loss_wrong == rb.loss_wrong:
        share = rb.contribution_wrong / rb.loss if rb.loss else 0.0
        return f"Wrong samples carry {_pct(share)} of the mean loss at epoch {rb.epoch}; {err}"
    return (
        f"Wrong samples' mean loss {_rose(rb.loss_wrong - ra.loss_wrong)} from "
        f"{_num(ra.loss_wrong)} to {_num(rb.loss_wrong)} nats; {err}"
    )


def plot_loss_split(split: SplitAnalysis, axes: Sequence[Axes] | None = None) -> Figure:
    """Where the mean loss comes from, per epoch, in two panels.

    Top: stacked areas of ``contribution_correct`` (gid ``"contribution_correct"``)
    and ``contribution_wrong`` on top of it (gid ``"contribution_wrong"``), which sum
    to the mean loss drawn over them (gid ``"loss"``); a single epoch is drawn as a
    stacked bar. Bottom: the mean loss of a wrong and of a correct sample (gids
    ``"loss_wrong"``, ``"loss_correct"``; log scale, values floored at
    :data:`LOSS_FLOOR`, gaps where a group is empty). ``axes`` is a pair (top, bottom).
    """
    fig, (ax, ax_mean), owned = _pair_axes(
        axes, (8, 6.5), rows=2, sharex=True, height_ratios=(1.15, 1)
    )
    x = np.asarray(split.epochs, dtype=float)
    cc = np.array([r.contribution_correct for r in split.per_epoch])
    cw = np.array([r.contribution_wrong for r in split.per_epoch])
    loss = np.array([r.loss for r in split.per_epoch])
    marker = _marker(split.epochs)

    if len(x) == 1:
        ax.bar(x, cc, width=0.25, color=CORRECT, alpha=0.8, gid="contribution_correct")
        ax.bar(x, cw, bottom=cc, width=0.25, color=WRONG, alpha=0.8, gid="contribution_wrong")
    else:
        ax.fill_between(x, 0, cc, color=CORRECT, alpha=0.8, lw=0, gid="contribution_correct")
        ax.fill_between(x, cc, cc + cw, color=WRONG, alpha=0.8, lw=0, gid="contribution_wrong")
    ax.plot(x, loss, color=LOSS, lw=1.8, marker=marker, ms=3.5, gid="loss")
    top = float(loss.max()) if loss.size else 1.0
    ax.set_ylim(0, top * 1.1 if top > 0 else 1.0)
    ax.set_ylabel("share of mean loss (nats)")
    ax.set_title("Mean loss = part from correct + part from wrong samples", fontsize="medium")

    def group(values: list[float | None]) -> np.ndarray:
        arr = np.array([np.nan if v is None else v for v in values], dtype=float)
        return _floor(arr)

    lw_ = group([r.loss_wrong for r in split.per_epoch])
    lc_ = group([r.loss_correct for r in split.per_epoch])
    ax_mean.plot(x, lw_, color=WRONG, lw=2, marker=marker, ms=3.5, gid="loss_wrong")
    ax_mean.plot(x, lc_, color=CORRECT, lw=2, marker=marker, ms=3.5, gid="loss_correct")
    ax_mean.set_yscale("log")
    finite = np.concatenate([lw_[np.isfinite(lw_)], lc_[np.isfinite(lc_)]])
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        ax_mean.set_ylim(lo / 2, hi * 2)
    ax_mean.set_ylabel("mean loss per sample (nats)")
    ax_mean.set_title("Mean loss of a wrong and of a correct sample (log scale)", fontsize="medium")
    ax_mean.grid(axis="y", which="major", color="#dddddd", lw=0.6)

    _epoch_axis(ax_mean, split.epochs)
    if not owned:
        _epoch_axis(ax, split.epochs)
    ax.tick_params(axis="x", labelbottom=not owned)
    if owned:
        ax.set_xlabel("")
    _mark_compared(ax, split, label=True)
    _mark_compared(ax_mean, split, label=False)

    handles: list[Any] = [
        Patch(color=WRONG, alpha=0.8, label="wrong samples"),
        Patch(color=CORRECT, alpha=0.8, label="correct samples"),
        Line2D([], [], color=LOSS, lw=1.8, label="mean loss, all samples"),
    ]
    if split.comparison is not None:
        handles.append(Line2D([], [], color=MARK, ls="--", lw=1, label="compared epochs"))
    _legend_below(fig, ax, owned, handles, ncols=len(handles))
    _title(fig, ax, owned, _loss_split_title(split), suptitle=True)
    return fig


# -- transitions --------------------------------------------------------------------------


def _transitions_title(split: SplitAnalysis) -> str:
    comp = split.comparison
    assert comp is not None and comp.transitions is not None
    cells, d = comp.transitions, comp.delta_loss
    if d == 0:
        return f"Mean loss did not change from epoch {comp.from_epoch} to {comp.to_epoch}"
    if d > 0:
        key = max(CELL_ORDER, key=lambda k: cells[k].contribution)
        what = f"{_num(d)}-nat rise"
    else:
        key = min(CELL_ORDER, key=lambda k: cells[k].contribution)
        what = f"{_num(-d)}-nat fall"
    label = CELL_LABELS[key]
    share = cells[key].contribution / d
    return f"{label[0].upper()}{label[1:]} samples account for {share:.0%} of the {what}"


def plot_transitions(split: SplitAnalysis, ax: Axes | None = None) -> Figure:
    """The four transition cells' contributions to ΔL (nats) as bars, and ΔL itself.

    Each cell's bar (gid = the cell name) is annotated with its contribution, its
    share of ΔL and its sample count; a fifth, hatched bar (gid ``"delta_loss"``)
    and a dashed line across the plot (gid ``"delta_loss_line"``) show ΔL, so the
    bar that reaches the line is the rise. Without a comparison (one epoch) or
    without aligned samples the figure says so in words.
    """
    comp = split.comparison
    if comp is None:
        return _message_figure(
            "No transitions: nothing to compare",
            split.note or "The run has a single epoch; save predictions at more epochs.",
            ax,
        )
    if comp.transitions is None:
        return _message_figure(
            "No transitions: samples are not aligned across epochs",
            f"Cannot follow samples from epoch {comp.from_epoch} to {comp.to_epoch}: "
            + (comp.transitions_reason or "samples are not aligned")
            + ".",
            ax,
        )
    fig, ax, owned = _single_axes(ax, (8, 4.8))
    cells, d = comp.transitions, comp.delta_loss
    n_total = sum(c.n for c in cells.values())
    values = [cells[k].contribution for k in CELL_ORDER] + [d]
    xs = np.arange(len(values))
    for i, key in enumerate(CELL_ORDER):
        ax.bar(i, cells[key].contribution, width=0.62, color=CELL_COLORS[key], gid=key)
    ax.bar(
        len(CELL_ORDER),
        d,
        width=0.62,
        color="white",
        edgecolor=LOSS,
        hatch="///",
        linewidth=1.2,
        gid="delta_loss",
    )
    ax.axhline(0, color=LOSS, lw=0.8)
    ax.axhline(d, color=LOSS, ls="--", lw=1, gid="delta_loss_line")
    ax.text(
        1.0,
        d,
        f" ΔL = {_signed(d)}",
        transform=ax.get_yaxis_transform(),
        ha="left",
        va="center",
        fontsize="small",
        gid="delta_loss_label",
    )

    span = max(max(values), 0.0) - min(min(values), 0.0) or 1.0
    for i, key in enumerate(CELL_ORDER):
        c = cells[key]
        share = f" ({_signed_pct(c.contribution / d)})" if d != 0 else ""
        note = f"{_signed(c.contribution)}{share}\n" if c.n else ""
        _bar_note(ax, i, c.contribution, f"{note}n = {_count(c.n)}")
    _bar_note(ax, len(CELL_ORDER), d, f"{_signed(d)}\nn = {_count(n_total)}")
    lo = min(min(values), 0.0) - 0.22 * span
    hi = max(max(values), 0.0) + 0.22 * span
    ax.set_ylim(lo, hi)

    ticks = [CELL_LABELS[k].replace(" → ", "\n→ ") for k in CELL_ORDER] + ["all samples\n= ΔL"]
    ax.set_xticks(xs, labels=ticks)
    ax.set_xlim(-0.6, len(values) - 0.4)
    ax.set_ylabel("contribution to ΔL (nats)")
    ax.set_xlabel(f"correctness at epoch {comp.from_epoch} → at epoch {comp.to_epoch}")
    ax.tick_params(axis="x", length=0)
    _title(fig, ax, owned, _transitions_title(split))
    return fig


def _bar_note(ax: Axes, x: float, height: float, text: str) -> None:
    """Write ``text`` just beyond the end of a bar (above a positive, below a negative one)."""
    up = height >= 0
    ax.annotate(
        text,
        (x, height),
        xytext=(0, 4 if up else -4),
        textcoords="offset points",
        ha="center",
        va="bottom" if up else "top",
        fontsize="small",
        gid="bar_note",
    )


# -- loss distributions -------------------------------------------------------------------


def _median(values: np.ndarray) -> float | None:
    return float(np.median(values)) if values.size else None


def plot_loss_distribution(split: SplitAnalysis, axes: Sequence[Axes] | None = None) -> Figure:
    """Histograms of per-sample loss at the two compared epochs (log-spaced bins).

    Left panel: the samples wrong at each epoch; right panel: the samples correct
    at each epoch. The earlier epoch is a dashed outline, the later one filled;
    a thin vertical line marks each median. Losses below :data:`LOSS_FLOOR` (and
    exact zeros) are counted in the first bin. Histograms are ``StepPatch``
    artists with gids like ``"wrong_from"``, ``"correct_to"``. Needs the per-sample
    values of an aligned comparison (``split.samples``); otherwise the figure says
    why. ``axes`` is a pair (wrong, correct).
    """
    comp, s = split.comparison, split.samples
    if comp is None:
        return _message_figure(
            "No loss distributions: nothing to compare",
            split.note or "The run has a single epoch; save predictions at more epochs.",
        )
    if s is None:
        return _message_figure(
            "No loss distributions: per-sample losses are not available",
            comp.transitions_reason or "Samples are not aligned across epochs.",
        )
    a, b = comp.from_epoch, comp.to_epoch
    names = compared_labels(split) or (f"epoch {a}", f"epoch {b}")
    groups = {
        "wrong_from": s.loss_from[~s.correct_from],
        "wrong_to": s.loss_to[~s.correct_to],
        "correct_from": s.loss_from[s.correct_from],
        "correct_to": s.loss_to[s.correct_to],
    }
    fig, (ax_w, ax_c), owned = _pair_axes(axes, (9.5, 4.6), rows=1, sharex=False)
    handles: list[Any] = []
    for ax, group, color in ((ax_w, "wrong", WRONG), (ax_c, "correct", CORRECT)):
        both = np.concatenate([groups[f"{group}_from"], groups[f"{group}_to"]])
        edges = _log_bins(both)
        lo, hi = edges[0], edges[-1]
        n_floored = int((both < LOSS_FLOOR).sum())
        for when, name in (("from", names[0]), ("to", names[1])):
            values = np.clip(groups[f"{group}_{when}"], lo, hi)
            counts, _ = np.histogram(values, bins=edges)
            later = when == "to"
            ax.stairs(
                counts,
                edges,
                fill=later,
                alpha=0.45 if later else 1.0,
                color=color,
                linestyle="-" if later else "--",
                linewidth=1.6,
                gid=f"{group}_{when}",
            )
            if later:
                ax.stairs(counts, edges, color=color, linewidth=1.6)
            med = _median(values)
            if med is not None:
                ax.axvline(
                    med,
                    color=color,
                    lw=1,
                    ls="-" if later else "--",
                    alpha=0.9,
                    gid=f"{group}_{when}_median",
                )
            handles.append(
                Patch(
                    facecolor=color if later else "none",
                    alpha=0.45 if later else 1.0,
                    edgecolor=color,
                    linestyle="-" if later else "--",
                    label=f"{group}, {name}: n = {_count(values.size)}",
                )
            )
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        if hi / lo < 1e3:  # few decades: label 1, 2, 5, 10, 20, ... instead of powers of ten
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("samples")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        xlabel = "per-sample loss (nats, log scale)"
        if n_floored:
            xlabel += f"\n{_count(n_floored)} below {LOSS_FLOOR:.0e} counted in the first bin"
        ax.set_xlabel(xlabel)
        meds = [_median(groups[f"{group}_{w}"]) for w in ("from", "to")]
        if meds[0] is not None and meds[1] is not None:
            sub = f"{group.capitalize()} samples: median {_num(meds[0])} → {_num(meds[1])} nats"
        else:
            missing = " or ".join(n for m, n in zip(meds, names, strict=True) if m is None)
            sub = f"{group.capitalize()} samples (none at {missing})"
        ax.set_title(sub, fontsize="medium")
        if all(groups[f"{group}_{w}"].size == 0 for w in ("from", "to")):
            ax.text(0.5, 0.5, f"no {group} samples", ha="center", transform=ax.transAxes)
    _legend_below(fig, ax_w, owned, handles, ncols=2)
    _title(fig, ax_w, owned, _distribution_title(groups, a, b), suptitle=True)
    return fig


def _log_bins(values: np.ndarray) -> np.ndarray:
    """Log-spaced bin edges covering ``values`` floored at :data:`LOSS_FLOOR`.

    About ``2·sqrt(n)`` bins, between 8 and 40.
    """
    values = values[np.isfinite(values)]
    n = int(np.clip(2 * np.sqrt(values.size), 8, 40))
    if values.size and values.min() >= LOSS_FLOOR:
        lo = float(values.min()) / 1.05
    else:
        lo = LOSS_FLOOR
    hi = float(values.max()) * 1.05 if values.size else 1.0
    return np.geomspace(lo, max(hi, lo * 10), n + 1)


def _distribution_title(groups: dict[str, np.ndarray], a: int, b: int) -> str:
    for group in ("wrong", "correct"):
        ma, mb = _median(groups[f"{group}_from"]), _median(groups[f"{group}_to"])
        if ma is not None and mb is not None:
            change = (
                f"stayed at {_num(mb)}"
                if ma == mb
                else f"{_rose(mb - ma)} from {_num(ma)} to {_num(mb)}"
            )
            return f"Median loss of {group} samples {change} nats (epoch {a} → {b})"
    return f"Per-sample loss at epoch {a} and {b}"


# -- confusion ----------------------------------------------------------------------------


def top_confusions(matrix: np.ndarray, k: int = 10) -> list[tuple[int, int, int]]:
    """The ``k`` largest off-diagonal cells as ``(true, pred, count)``, count > 0, largest first.

    Ties go to the lower (true, pred) index.
    """
    m = np.asarray(matrix)
    off = m.astype(np.int64, copy=True)
    np.fill_diagonal(off, 0)
    flat = off.ravel()
    order = np.argsort(-flat, kind="stable")[:k]
    c = m.shape[0]
    return [(int(i // c), int(i % c), int(flat[i])) for i in order if flat[i] > 0]


def _pairs(
    matrix: np.ndarray, names: list[str], top_pairs: Iterable[Any] | None, k: int
) -> list[tuple[str, str, int, float | None]]:
    """Top pairs as ``(true name, pred name, count, share of the true class)``.

    ``top_pairs`` items may be ``(true, pred, count)`` tuples, ``{"true", "pred",
    "count"}`` dicts, or objects with ``true_index``, ``pred_index`` and ``count``
    (:class:`predaudit.analysis.confusion.Confusion`); ``true``/``pred`` are class
    indices (ints) or names.
    """
    raw: list[tuple[Any, Any, int]]
    if top_pairs is None:
        raw = list(top_confusions(matrix, k))
    else:
        raw = []
        for p in top_pairs:
            if hasattr(p, "true_index"):
                raw.append((int(p.true_index), int(p.pred_index), int(p.count)))
            elif isinstance(p, dict):
                raw.append((p["true"], p["pred"], int(p["count"])))
            else:
                t, q, n = p
                raw.append((t, q, int(n)))

    def index(x: Any) -> int | None:
        if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
            return int(x)
        return names.index(str(x)) if str(x) in names else None

    rows = matrix.sum(axis=1)
    out = []
    for t, q, n in raw[:k]:
        ti, qi = index(t), index(q)
        share = n / rows[ti] if ti is not None and rows[ti] > 0 else None
        out.append(
            (
                names[ti] if ti is not None else str(t),
                names[qi] if qi is not None else str(q),
                n,
                share,
            )
        )
    return out


def _confusion_title(matrix: np.ndarray, pairs: list[tuple[str, str, int, float | None]]) -> str:
    total = int(matrix.sum())
    if total == 0:
        return "No samples"
    acc = f"Accuracy {_pct(float(np.trace(matrix)) / total)}"
    if not pairs:
        return f"{acc}: no confusions"
    t, q, n, share = pairs[0]
    of = f", {_pct(share)} of {t}" if share is not None else ""
    return f"{acc}; most confused: {t} → {q} ({_count(n)} samples{of})"


def plot_confusion(
    matrix: np.ndarray,
    labels: Sequence[str],
    *,
    title: str | None = None,
    top_pairs: Iterable[Any] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Confusion heatmap: rows = true class, columns = predicted class.

    ``matrix`` is an array of shape (n_classes, n_classes) of counts; ``labels``
    the class names (length n_classes). Colour is the share of the row (true
    class), on a square-root scale so that small confusions show; the image's
    data (``AxesImage.get_array()``) is that share. Up to
    :data:`ANNOTATE_MAX_CLASSES` classes the counts are written in the cells as
    integers (texts with gid ``"count"``). With more classes every k-th class is
    named and the top confused pairs are listed in a side panel (or, when ``ax``
    is given, in the title). ``top_pairs`` are ``(true, pred, count)`` tuples or
    ``{"true", "pred", "count"}`` dicts with class indices or names; by default
    the largest off-diagonal cells. The default title states the accuracy and
    the most confused pair.
    """
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix must be square, got shape {m.shape}")
    c = m.shape[0]
    if len(labels) != c:
        raise ValueError(f"labels has {len(labels)} names but matrix has {c} classes")
    m = np.rint(m).astype(np.int64)
    names = [str(x) for x in labels]
    annotate = c <= ANNOTATE_MAX_CLASSES
    pairs = _pairs(m, names, top_pairs, TOP_PAIRS)

    panel = None
    if ax is None:
        if annotate:
            side = max(4.8, 0.42 * c + 2.6)
            fig = _new_figure((side + 1.2, side))
            ax = fig.add_subplot()
        else:
            fig = _new_figure((13, 9.5))
            grid = fig.add_gridspec(1, 2, width_ratios=(4.2, 1.6))
            ax = fig.add_subplot(grid[0])
            panel = fig.add_subplot(grid[1])
        owned = True
    else:
        fig, owned = _root(ax.figure), False

    rows = m.sum(axis=1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros(m.shape, dtype=float), where=rows > 0)
    norm = PowerNorm(gamma=0.5, vmin=0.0, vmax=1.0)
    im = ax.imshow(share, cmap="Blues", norm=norm, interpolation="nearest", aspect="equal")
    im.set_gid("share")
    if owned:
        bar = fig.colorbar(im, ax=ax, shrink=0.8 if annotate else 0.6, pad=0.02)
        bar.set_label("share of the true class (%)")
        bar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))

    if annotate:
        digits = max(len(str(int(m.max()))) if m.size else 1, 1)
        size = float(np.clip(42 / digits, 6, 10)) if c > 8 else 10.0
        for i in range(c):
            for j in range(c):
                ax.text(
                    j,
                    i,
                    f"{m[i, j]:d}",
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="white" if norm(share[i, j]) > 0.6 else "black",
                    gid="count",
                )
        ticks = list(range(c))
        tick_size: Any = "medium" if c <= 10 else "small"
    else:
        step = math.ceil(c / 25)
        ticks = list(range(0, c, step))
        tick_size = 8
    ax.set_xticks(ticks, labels=[names[i] for i in ticks], fontsize=tick_size)
    ax.set_yticks(ticks, labels=[names[i] for i in ticks], fontsize=tick_size)
    longest = max((len(names[i]) for i in ticks), default=0)
    if not annotate or longest * len(ticks) > 40:
        ax.tick_params(axis="x", labelrotation=90 if not annotate else 45)
        if annotate:
            for text in ax.get_xticklabels():
                text.set_horizontalalignment("right")
                text.set_rotation_mode("anchor")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.tick_params(length=2 if not annotate else 0)

    if not annotate:  # outline the top confused cells, in the colour of wrong samples
        index = {name: i for i, name in enumerate(names)}
        for t, q, _, _ in pairs:
            if t in index and q in index:
                ax.add_patch(
                    Rectangle(
                        (index[q] - 0.5, index[t] - 0.5),
                        1,
                        1,
                        fill=False,
                        edgecolor=WRONG,
                        linewidth=1.2,
                        gid="top_pair",
                    )
                )
    heading = title if title is not None else _confusion_title(m, pairs)
    if panel is not None:
        panel.set_axis_off()
        lines = [
            "Most confused pairs (outlined)",
            "true → predicted: count (share of true)",
            "",
        ]
        for t, q, n, sh in pairs:
            share_txt = f" ({_pct(sh)})" if sh is not None else ""
            lines.append(f"{t} → {q}: {_count(n)}{share_txt}")
        if not pairs:
            lines.append("none: every sample is on the diagonal")
        panel.text(0, 1, "\n".join(lines), va="top", ha="left", gid="top_pairs")
    elif not annotate and pairs and title is None:
        listed = "; ".join(f"{t} → {q} ({_count(n)})" for t, q, n, _ in pairs[:3])
        heading = f"{heading}\nTop confusions: {listed}"
    if owned:
        fig.suptitle(_wrap(heading, float(fig.get_figwidth())), fontsize="large")
    else:
        ax.set_title(heading, fontsize="medium")
    return fig


# -- writing ------------------------------------------------------------------------------


def _check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"plot format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def save_figure(fig: Figure, path: Path, *, fmt: str = "png", dpi: int = DPI) -> Path:
    """Save ``fig`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    fmt = _check_format(fmt)
    buf = io.BytesIO()
    with mpl.rc_context({"svg.hashsalt": "predaudit"}):
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
    write_atomic(path, buf.getvalue())
    return path


def _write_and_close(fig: Figure, path: Path, fmt: str, dpi: int) -> Path:
    try:
        return save_figure(fig, path, fmt=fmt, dpi=dpi)
    finally:
        fig.clear()


def analyze_figures(split: SplitAnalysis) -> list[str]:
    """The names of the figures that can be drawn for ``split``, in order.

    One epoch (no comparison): only ``loss_accuracy`` and ``loss_split``; samples
    not aligned: no ``loss_distribution`` (``transitions`` then says why there are
    no transitions).
    """
    names = ["loss_accuracy", "loss_split"]
    if split.comparison is not None:
        names.append("transitions")
        if split.samples is not None:
            names.append("loss_distribution")
    return names


_ANALYZE_PLOTTERS = {
    "loss_accuracy": plot_loss_accuracy,
    "loss_split": plot_loss_split,
    "transitions": plot_transitions,
    "loss_distribution": plot_loss_distribution,
}


def write_analyze_figures(
    split: SplitAnalysis, out_dir: Path, *, fmt: str = "png", dpi: int = DPI
) -> list[Path]:
    """Write the analyze figures of one split into ``out_dir`` (created if needed).

    Files are ``loss_accuracy.<fmt>``, ``loss_split.<fmt>``, ``transitions.<fmt>``,
    ``loss_distribution.<fmt>`` — those :func:`analyze_figures` says can be drawn —
    each written atomically; returns their paths in that order.
    """
    fmt = _check_format(fmt)
    out_dir = Path(out_dir)
    paths = []
    for name in analyze_figures(split):
        fig = _ANALYZE_PLOTTERS[name](split)
        paths.append(_write_and_close(fig, out_dir / f"{name}.{fmt}", fmt, dpi))
    return paths


def write_confusion_figure(
    matrix: np.ndarray,
    labels: Sequence[str],
    out_path: Path,
    *,
    fmt: str = "png",
    top_pairs: Iterable[Any] | None = None,
    title: str | None = None,
    dpi: int = DPI,
) -> Path:
    """Write :func:`plot_confusion` to ``out_path`` atomically; returns the path written.

    The file's suffix is set to ``.<fmt>`` (``confusion.png`` becomes
    ``confusion.svg`` with ``fmt="svg"``).
    """
    fmt = _check_format(fmt)
    out_path = Path(out_path).with_suffix(f".{fmt}")
    fig = plot_confusion(matrix, labels, title=title, top_pairs=top_pairs)
    return _write_and_close(fig, out_path, fmt, dpi)


def analyze_figures_for(split: SplitAnalysis, folder: Path, *, fmt: str = "png") -> list[Path]:
    """The figures ``analyze --out`` writes for one split."""
    return write_analyze_figures(split, folder, fmt=fmt)


def confusion_figures_for(split: SplitConfusion, folder: Path, *, fmt: str = "png") -> list[Path]:
    """The figures ``confusion --out`` writes for one split."""
    e = split.epoch
    return [
        write_confusion_figure(
            e.matrix,
            [str(label) for label in e.labels],
            folder / f"confusion.{fmt}",
            fmt=fmt,
            top_pairs=e.top_confusions,
        )
    ]
