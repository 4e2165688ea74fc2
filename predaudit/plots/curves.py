"""The per-epoch curves of ``analyze``: loss and accuracy, and the loss split.

* :func:`plot_loss_accuracy` — mean loss and accuracy per epoch (``loss_accuracy.png``);
* :func:`plot_loss_split` — the loss split into correct and wrong samples
  (``loss_split.png``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from predaudit.plots.axes import (
    _epoch_axis,
    _floor,
    _legend_below,
    _mark_compared,
    _marker,
    _pair_axes,
    _single_axes,
    _title,
    _unit,
    heading,
)
from predaudit.plots.layout import PlainLogFormatter, light_minor_ticks
from predaudit.plots.style import ACCURACY, CORRECT, LOSS, MARK, WRONG
from predaudit.plots.text import _accuracy_phrase, _num, _pct, _rose

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from predaudit.report.analyze import SplitAnalysis


# -- loss and accuracy --------------------------------------------------------------------


def _loss_accuracy_title(split: SplitAnalysis) -> str:
    comp = split.comparison
    if comp is None:
        row = split.per_epoch[-1]
        return heading(
            split, f"mean loss {_num(row.loss)} nats, accuracy {_pct(row.accuracy)}", span=True
        )
    ra, rb = split.row(comp.from_epoch), split.row(comp.to_epoch)
    d = comp.delta_loss
    loss = (
        f"loss stayed at {_num(rb.loss)} nats" if d == 0 else f"loss {_rose(d)} {_num(abs(d))} nats"
    )
    epochs = f"{_unit(split)} {comp.from_epoch} → {comp.to_epoch}"
    text = f"{loss} ({epochs}) while {_accuracy_phrase(ra.accuracy, rb.accuracy)}"
    return heading(split, text, span=True)


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
    for side in ("left", "top", "bottom"):  # drawn by ax already, at the same place
        ax2.spines[side].set_visible(False)
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
            return heading(split, "mean loss 0 nats")
        return heading(
            split,
            f"wrong samples ({_pct(1 - row.accuracy)}) carry "
            f"{_pct(row.contribution_wrong / row.loss)} of the {_num(row.loss)}-nat mean loss",
        )
    ra, rb = split.row(comp.from_epoch), split.row(comp.to_epoch)
    err = _accuracy_phrase(1 - ra.accuracy, 1 - rb.accuracy).replace("accuracy", "error rate")
    if ra.loss_wrong is None or rb.loss_wrong is None or ra.loss_wrong == rb.loss_wrong:
        share = rb.contribution_wrong / rb.loss if rb.loss else 0.0
        return heading(
            split,
            f"wrong samples carry {_pct(share)} of the mean loss at {_unit(split)} {rb.epoch}; "
            + err,
        )
    return heading(
        split,
        f"wrong samples' mean loss {_rose(rb.loss_wrong - ra.loss_wrong)} from "
        f"{_num(ra.loss_wrong)} to {_num(rb.loss_wrong)} nats; {err}",
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
    ax_mean.yaxis.set_major_formatter(PlainLogFormatter())
    ax_mean.yaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False))
    finite = np.concatenate([lw_[np.isfinite(lw_)], lc_[np.isfinite(lc_)]])
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        ax_mean.set_ylim(lo / 2, hi * 2)
    ax_mean.set_ylabel("mean loss per sample (nats)")
    ax_mean.set_title(  # at the top (y=1): nothing above a log axis' panel to look for
        "Mean loss of a wrong and of a correct sample (log scale)", fontsize="medium", y=1.0
    )
    ax_mean.grid(axis="y", which="major", color="#dddddd", lw=0.6)

    _epoch_axis(ax_mean, split.epochs)
    if not owned:
        _epoch_axis(ax, split.epochs)
    ax.tick_params(axis="x", labelbottom=not owned)
    if owned:
        ax.set_xlabel("")
    _mark_compared(ax, split, label=True)
    _mark_compared(ax_mean, split, label=False)
    light_minor_ticks(ax_mean.yaxis)

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
