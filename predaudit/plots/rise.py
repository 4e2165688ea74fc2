"""The samples behind a rise, paired: :func:`plot_rise_samples` (``rise_samples.png``).

A slope chart: every sample wrong at both compared epochs is a line from its loss
at the earlier epoch (left) to its loss at the later one (right), so a reader sees
at a glance whether the wrong samples got more wrong, and by how much. The
samples correct at both epochs are a faint band behind them, for contrast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import patheffects
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

from predaudit.plots.axes import (
    _legend_below,
    _message_figure,
    _single_axes,
    _title,
    _unit,
    heading,
)
from predaudit.plots.layout import light_minor_ticks
from predaudit.plots.style import CORRECT, MARK, RISE_FLOOR, RISE_LINES_MAX, WRONG
from predaudit.plots.text import _count, _num, _signed

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from predaudit.report.analyze import SplitAnalysis

_X = np.array([0.0, 1.0])
"""The two compared epochs' positions on the x axis."""
CORRECT_BAND = (0.1, 0.9)
"""Quantiles of the correct → correct band (the middle 80%)."""
WRONG_BANDS = ((0.1, 0.9), (0.25, 0.75))
"""Quantile bands of the wrong → wrong samples when there are too many for lines."""


def _rise_title(split: SplitAnalysis, lf: np.ndarray, lt: np.ndarray) -> str:
    n = lf.size
    if n == 0:
        return heading(split, "no sample was wrong at both epochs")
    if n == 1:
        a, b = float(lf[0]), float(lt[0])
        did = "got more wrong" if b > a else "got less wrong" if b < a else "kept its loss"
        return heading(
            split, f"the one sample wrong at both epochs {did}: {_num(a)} → {_num(b)} nats"
        )
    k = int((lt > lf).sum())
    ma, mb = float(np.median(lf)), float(np.median(lt))
    who = f"all {_count(n)}" if k == n else f"{_count(k)} of {_count(n)}"
    return heading(
        split,
        f"{who} samples wrong at both epochs got more wrong; "
        f"median loss {_num(ma)} → {_num(mb)} nats",
    )


def _epoch_ticks(split: SplitAnalysis) -> list[str]:
    comp = split.comparison
    assert comp is not None
    unit = _unit(split)
    word = {"best_loss": "best", "first": "first"}.get(comp.from_reason)
    end = "last" if comp.to_epoch == split.epochs[-1] else None
    return [
        f"{unit} {e}" + (f"\n({w})" if w else "")
        for e, w in ((comp.from_epoch, word), (comp.to_epoch, end))
    ]


def _floor_formatter(floor: float, floored: bool) -> FuncFormatter:
    def fmt(v: float, _: Any) -> str:
        if floored and np.isclose(v, floor):
            return f"≤ {floor:g}"
        return f"{v:g}"

    return FuncFormatter(fmt)


def plot_rise_samples(split: SplitAnalysis, ax: Axes | None = None) -> Figure:
    """The samples wrong at both compared epochs, each as a line from its loss then to now.

    The x axis has the two compared epochs; the y axis is the per-sample loss
    (nats, log scale). Up to :data:`RISE_LINES_MAX` wrong → wrong samples, each is a
    segment ``(0, loss_from) → (1, loss_to)`` of one ``LineCollection`` (gid
    ``"wrong_to_wrong"``) with a point at each end (``PathCollection``, gid
    ``"wrong_to_wrong_ends"``); with more, bands of their 10–90% and 25–75% quantiles
    at each epoch (gids ``"wrong_to_wrong_10_90"``, ``"wrong_to_wrong_25_75"``). A
    thick line (gid ``"wrong_to_wrong_median"``) joins their median loss at the two
    epochs. The samples correct at both epochs are a faint blue band of their
    10–90% quantiles (gid ``"correct_to_correct"``) with their median (gid
    ``"correct_to_correct_median"``). Losses below :data:`RISE_FLOOR` are drawn at
    it, and its tick reads ``≤ 0.001``. Needs the per-sample values of an aligned
    comparison (``split.samples``); otherwise the figure says why.
    """
    comp, s = split.comparison, split.samples
    if comp is None:
        return _message_figure(
            heading(split, "no samples to follow, nothing to compare"),
            split.note or "The run has a single epoch; save predictions at more epochs.",
            ax,
        )
    if s is None:
        return _message_figure(
            heading(split, "samples are not aligned across epochs"),
            comp.transitions_reason or "Samples are not aligned across epochs.",
            ax,
        )
    fig, ax, owned = _single_axes(ax, (7.2, 5.6))
    ww = ~s.correct_from & ~s.correct_to
    cc = s.correct_from & s.correct_to
    lf = np.asarray(s.loss_from[ww], dtype=float)
    lt = np.asarray(s.loss_to[ww], dtype=float)
    cf = np.asarray(s.loss_from[cc], dtype=float)
    ct = np.asarray(s.loss_to[cc], dtype=float)
    floor = RISE_FLOOR
    shown: list[np.ndarray] = []  # every y value drawn, floored
    handles: list[Any] = []

    if cf.size:  # the correct → correct samples: a faint band, for contrast
        lo = np.maximum([np.quantile(cf, CORRECT_BAND[0]), np.quantile(ct, CORRECT_BAND[0])], floor)
        hi = np.maximum([np.quantile(cf, CORRECT_BAND[1]), np.quantile(ct, CORRECT_BAND[1])], floor)
        med = np.maximum([np.median(cf), np.median(ct)], floor)
        ax.fill_between(_X, lo, hi, color=CORRECT, alpha=0.16, lw=0, gid="correct_to_correct")
        ax.plot(_X, med, color=CORRECT, lw=1.2, ls="--", alpha=0.8, gid="correct_to_correct_median")
        shown += [lo, hi]
        handles.append(
            Patch(
                color=CORRECT,
                alpha=0.25,
                label=f"correct at both epochs (n = {_count(cf.size)}): middle 80%, median dashed",
            )
        )

    n = lf.size
    if n:
        yf, yt = np.maximum(lf, floor), np.maximum(lt, floor)
        shown += [yf, yt]
        if n <= RISE_LINES_MAX:
            alpha = float(np.clip(2.5 / np.sqrt(n), 0.3, 0.85))
            segments = [np.array([[0.0, a], [1.0, b]]) for a, b in zip(yf, yt, strict=True)]
            ax.add_collection(
                LineCollection(
                    segments, colors=WRONG, linewidths=1.3, alpha=alpha, gid="wrong_to_wrong"
                )
            )
            ax.scatter(
                np.concatenate([np.zeros(n), np.ones(n)]),
                np.concatenate([yf, yt]),
                s=18,
                color=WRONG,
                alpha=min(1.0, alpha + 0.1),
                lw=0,
                zorder=3,
                gid="wrong_to_wrong_ends",
            )
            handles.append(
                Line2D(
                    [], [], color=WRONG, lw=1.3, marker="o", ms=4, alpha=alpha,
                    label=f"wrong at both epochs (n = {_count(n)}): one line per sample",
                )
            )  # fmt: skip
        else:
            for (qa, qb), alpha in zip(WRONG_BANDS, (0.2, 0.4), strict=True):
                lo = np.array([np.quantile(yf, qa), np.quantile(yt, qa)])
                hi = np.array([np.quantile(yf, qb), np.quantile(yt, qb)])
                gid = f"wrong_to_wrong_{round(100 * qa)}_{round(100 * qb)}"
                ax.fill_between(_X, lo, hi, color=WRONG, alpha=alpha, lw=0, gid=gid)
            handles.append(
                Patch(
                    color=WRONG,
                    alpha=0.45,
                    label=f"wrong at both epochs (n = {_count(n)}): middle 50% and 80%",
                )
            )
        ma, mb = max(float(np.median(lf)), floor), max(float(np.median(lt)), floor)
        ax.plot(
            _X,
            [ma, mb],
            color=WRONG,
            lw=3.4,
            marker="o",
            ms=7,
            zorder=4,
            solid_capstyle="round",
            path_effects=[patheffects.withStroke(linewidth=5.6, foreground="black")],
            gid="wrong_to_wrong_median",
        )
        for x, v, ha in ((-0.06, ma, "right"), (1.06, mb, "left")):
            ax.text(x, v, _num(v), ha=ha, va="center", fontsize="medium", weight="bold",
                    color=WRONG, gid="median_label")  # fmt: skip
        handles.append(
            Line2D(
                [], [], color=WRONG, lw=3.4, marker="o", ms=6,
                path_effects=[patheffects.withStroke(linewidth=5.6, foreground="black")],
                label=f"median of the wrong samples: {_num(ma)} → {_num(mb)} nats",
            )
        )  # fmt: skip
    else:
        ax.text(0.5, 0.5, "no sample was wrong at both epochs", ha="center", va="center",
                transform=ax.transAxes, gid="message")  # fmt: skip

    values = np.concatenate(shown) if shown else np.array([floor, 1.0])
    floored = bool(
        (np.concatenate([lf, lt]) < floor).any()
        or (
            cf.size
            and min(np.quantile(cf, CORRECT_BAND[0]), np.quantile(ct, CORRECT_BAND[0])) < floor
        )
    )
    bottom = floor if floored else max(float(values.min()), floor)
    top = max(float(values.max()), bottom * 10)
    ax.set_yscale("log")
    ax.set_ylim(bottom / 10**0.25, top * 10**0.25)
    if 0 < n <= RISE_LINES_MAX:
        _label_largest_rise(ax, lf, lt, float(np.median(lt)), floor)
    if floored:
        ax.axhline(floor, color=MARK, lw=0.8, ls=":", zorder=1, gid="floor")
    if top / bottom < 1e3:  # few decades: 1, 2, 5, 10, ...
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    else:
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0,)))
    ax.yaxis.set_major_formatter(_floor_formatter(floor, floored))
    ax.yaxis.set_minor_formatter(NullFormatter())
    light_minor_ticks(ax.yaxis)
    ax.grid(axis="y", which="major", color="#e4e4e4", lw=0.6, zorder=0)
    ax.set_ylabel("per-sample loss (nats, log scale)")

    ax.set_xlim(-0.45, 1.45)
    ax.xaxis.set_major_locator(FixedLocator([0.0, 1.0]))
    ax.set_xticklabels(_epoch_ticks(split))
    ax.tick_params(axis="x", length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for x in _X:
        ax.axvline(x, color=MARK, lw=0.6, zorder=0.5)

    _legend_below(fig, ax, owned, handles, ncols=1)
    _title(fig, ax, owned, _rise_title(split, lf, lt), clear=owned)  # log scale: no offset
    return fig


def _label_largest_rise(
    ax: Axes, lf: np.ndarray, lt: np.ndarray, median_to: float, floor: float
) -> None:
    """Name the largest rise at the end of its line, unless that is where the median's label is."""
    delta = lt - lf
    i = int(np.argmax(delta))
    if delta[i] <= 0:
        return
    lo, hi = ax.get_ylim()
    end, med = max(float(lt[i]), floor), max(median_to, floor)
    if abs(np.log10(end / med)) < 0.09 * np.log10(hi / lo):  # too close to the median's label
        return
    ax.annotate(
        f"{_signed(float(delta[i]))} nats\n(largest rise)",
        (1.0, end),
        xytext=(8, 0),
        textcoords="offset points",
        ha="left",
        va="center",
        fontsize="small",
        color=WRONG,
        gid="largest_rise",
    )
