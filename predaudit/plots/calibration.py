"""Figures of ``predaudit calibration``: reliability diagrams and the temperature per epoch.

* :func:`plot_reliability` — per compared epoch, accuracy per confidence bin as bars
  against the diagonal, the bin counts below, ECE and its noise floor in the title
  (``reliability.<fmt>``);
* :func:`plot_temperature` — mean loss, loss at T* and T* per epoch on one time axis
  (``temperature.<fmt>``).

Object-oriented matplotlib only (:class:`matplotlib.figure.Figure`, never pyplot).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from predaudit.plots.axes import _wrap
from predaudit.plots.save import _check_format, write_job
from predaudit.plots.style import CORRECT, DPI, LOSS, MARK, MARKERS_MAX_EPOCHS, WRONG, literal
from predaudit.render.numbers import at_bound, temperature, temperatures, undo_phrase

if TYPE_CHECKING:
    from predaudit.report.calibration import SplitCalibration

TEMPERATURE = "#CC79A7"
"""Reddish purple (Okabe–Ito): the temperature and the loss at it."""
GAP = "#E69F00"


def verdict(split: SplitCalibration) -> str:
    """The finding, for a title."""
    c = split.comparison
    if c is None:
        return f"{split.name}: one epoch, nothing to compare"
    temps = temperatures(split.compared_temperatures())
    if c.temperature_share is None:
        return f"{split.name}: loss did not rise from epoch {c.from_epoch} to {c.to_epoch}; {temps}"
    return (
        f"{split.name}: one temperature would undo "
        f"{undo_phrase(c.temperature_share, temps, f'the loss rise {c.from_epoch} → {c.to_epoch}')}"
    )


def plot_reliability(split: SplitCalibration) -> Figure:
    """Reliability diagrams of the compared epochs (or the only one), side by side."""
    epochs = list(split.bins)
    fig = Figure(figsize=(5.0 * len(epochs), 5.6), dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(2, len(epochs), height_ratios=(3, 1))
    for j, epoch in enumerate(epochs):
        b = split.bins[epoch]
        row = split.row(epoch)
        ax = fig.add_subplot(grid[0, j])
        lo, hi = b.edges[:-1], b.edges[1:]
        full = np.isfinite(b.accuracy)
        ax.bar(
            lo[full],
            b.accuracy[full],
            width=(hi - lo)[full],
            align="edge",
            color=CORRECT,
            alpha=0.75,
            edgecolor="white",
            label="accuracy in bin",
            gid="accuracy",
        )
        ax.plot(
            b.confidence[full],
            b.accuracy[full],
            "o",
            color=WRONG,
            markersize=4,
            label="(mean confidence, accuracy)",
            gid="points",
        )
        ax.plot([0, 1], [0, 1], "--", color=MARK, linewidth=1, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("auto")
        ax.set_ylabel("accuracy")
        ax.set_title(
            f"epoch {epoch}: ECE {row.ece:.3f} (noise floor {row.ece_noise_floor:.3f})\n"
            f"T* {temperature(row.temperature, row.temperature_status)}",
            fontsize="medium",
        )
        ax.tick_params(labelbottom=False)
        if j == 0:
            ax.legend(loc="upper left", fontsize="small", frameon=False)
        cax = fig.add_subplot(grid[1, j], sharex=ax)
        cax.bar(
            lo, b.counts, width=hi - lo, align="edge", color=MARK, edgecolor="white", gid="counts"
        )
        cax.set_yscale("log" if b.counts.max(initial=0) > 0 else "linear")
        cax.set_xlabel("confidence (top-label probability)")
        cax.set_ylabel("samples")
    fig.suptitle(literal(_wrap(verdict(split), fig.get_figwidth(), 12.0)), fontsize="large")
    return fig


def plot_temperature(split: SplitCalibration) -> Figure:
    """NLL and loss at T* (top) and T* (bottom) per epoch, the compared epochs marked."""
    rows = split.per_epoch
    x = np.array([r.epoch for r in rows])
    nll = np.array([r.nll for r in rows])
    lt = np.array([r.loss_at_temperature for r in rows])
    temp = np.array([r.temperature for r in rows])
    marker = "o" if len(rows) <= MARKERS_MAX_EPOCHS else None
    fig = Figure(figsize=(8.0, 6.0), dpi=DPI, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 2)})
    top.plot(x, nll, marker=marker, markersize=3, color=LOSS, label="NLL (mean loss)", gid="nll")
    top.plot(
        x, lt, marker=marker, markersize=3, color=TEMPERATURE, label="loss at T*", gid="loss_at_t"
    )
    top.fill_between(x, lt, nll, color=GAP, alpha=0.3, label="calibration gap", linewidth=0)
    top.set_ylabel("nats")
    top.legend(loc="best", fontsize="small", frameon=False)
    bottom.plot(x, temp, marker=marker, markersize=3, color=TEMPERATURE, gid="temperature")
    # a fit that ran to the end of its range: an open triangle pointing beyond it
    status = np.array([r.temperature_status for r in rows])
    for code, shape in (("lower_bound", "v"), ("upper_bound", "^")):
        at = status == code
        if at.any():
            bottom.plot(
                x[at], temp[at], linestyle="none", marker=shape, markersize=7,
                markerfacecolor="white", color=TEMPERATURE, gid=code,
                label=f"T* {'≤' if code == 'lower_bound' else '≥'} {temp[at][0]:g}: the "
                "range's end (the loss keeps falling beyond it)",
            )  # fmt: skip
    if any(at_bound(s) for s in status):
        bottom.legend(loc="best", fontsize="small", frameon=False)
    bottom.axhline(1.0, color=MARK, linewidth=1, linestyle=":")
    bottom.set_ylabel("T*")
    bottom.set_xlabel("epoch")
    c = split.comparison
    if c is not None:
        for ax in (top, bottom):
            for e in (c.from_epoch, c.to_epoch):
                ax.axvline(e, color=MARK, linewidth=0.8, linestyle="--")
        mid = (x.min() + x.max()) / 2
        for e, word in ((c.from_epoch, "from"), (c.to_epoch, "to")):
            right = e > mid  # the label on the inner side of its line, inside the axes
            top.annotate(
                f"{word} {e}", (e, 1.0), xycoords=("data", "axes fraction"),
                xytext=(-3 if right else 3, -12), textcoords="offset points", color=MARK,
                fontsize="small", ha="right" if right else "left",
            )  # fmt: skip
    where = f"'{split.name}' itself (a diagnosis)" if split.self_fitted else f"'{split.fitted_on}'"
    bottom.set_title(literal(f"T* fitted per epoch on {where}"), fontsize="medium")
    fig.suptitle(literal(_wrap(verdict(split), fig.get_figwidth(), 12.0)), fontsize="large")
    return fig


def calibration_figures_for(
    split: SplitCalibration, folder: Path, *, fmt: str = "png"
) -> list[Path]:
    """The figures ``calibration --out`` writes for one split (atomically)."""
    folder = Path(folder)
    fmt = _check_format(fmt)
    return [
        write_job(folder / f"{name}.{fmt}", partial(plot, split), fmt)
        for name, plot in (("reliability", plot_reliability), ("temperature", plot_temperature))
    ]
