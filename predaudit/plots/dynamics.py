"""The figures of ``dynamics``: the data map and the forgetting-events histogram.

* :func:`plot_data_map` — Dataset Cartography's map: variability (x) against
  confidence (y), one point per sample coloured by correctness, the region
  thresholds drawn and a few samples labelled by id (``data_map.png``);
* :func:`plot_forgetting` — how many samples had 0, 1, 2, ... forgetting events,
  the 0 bar split into never learned and never forgotten (``forgetting_events.png``);
* :func:`plot_loss_trajectories` — the per-sample loss over the epochs of the
  samples whose loss rose most from the first to the last epoch of the range
  (``loss_trajectories.png``).

Object-oriented matplotlib only (no ``pyplot``). Colours as in every figure:
:data:`~predaudit.plots.style.WRONG` for wrong, :data:`~predaudit.plots.style.CORRECT`
for correct, :data:`~predaudit.plots.style.CORRECT_TO_WRONG` for forgetting.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from predaudit.plots.axes import _legend_below, _single_axes, _title
from predaudit.plots.save import _check_format, write_job
from predaudit.plots.style import CORRECT, CORRECT_TO_WRONG, DPI, MARK, WRONG, literal
from predaudit.plots.text import _count

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from predaudit.report.dynamics import SplitDynamics

DYNAMICS_FIGURES = ("data_map", "forgetting_events", "loss_trajectories")
LABELLED = 3
"""How many of the most ambiguous, hardest and likely mislabeled samples get their id written."""
CORRECTNESS_CMAP = LinearSegmentedColormap.from_list(
    "predaudit_correctness", [WRONG, "#DDDDDD", CORRECT]
)
"""Correctness 0 (always wrong, vermillion) through grey to 1 (always correct, blue)."""
LOSS_FLOOR = 1e-4
"""Losses below this are drawn at it (the loss axis is logarithmic; a loss can be 0)."""


def labelled_samples(split: SplitDynamics, k: int = LABELLED) -> list[int]:
    """Rows whose id the map writes: the ``k`` most ambiguous, hardest and likely mislabeled."""
    rows = [
        *split.most_ambiguous[:k],
        *split.hardest[:k],
        *(p.position for p in split.label_problems.samples[:k]),
    ]
    return list(dict.fromkeys(rows))


def _map_title(split: SplitDynamics) -> str:
    c = split.region_counts
    n = split.n_samples
    return (
        f"{_count(c['ambiguous'])} of {_count(n)} samples ambiguous, "
        f"{_count(c['hard-to-learn'])} hard to learn, {_count(split.never_learned)} never learned "
        f"(epochs {split.epochs[0]}–{split.epochs[-1]})"
    )


def plot_data_map(split: SplitDynamics, ax: Axes | None = None) -> Figure:
    """The data map: variability × confidence, coloured by correctness.

    Artists: the points have gid ``"samples"`` (offsets = (variability,
    confidence), array = correctness); the threshold lines ``"easy_confidence"``,
    ``"hard_confidence"`` and ``"ambiguous_variability"`` (finite thresholds only);
    the id labels ``"label_<row>"``.
    """
    fig, ax, owned = _single_axes(ax, (8, 6.4))
    s = split.samples
    order = np.argsort(s.correctness, kind="stable")[::-1]  # the wrong ones drawn on top
    points = ax.scatter(
        s.variability[order],
        s.confidence[order],
        c=s.correctness[order],
        cmap=CORRECTNESS_CMAP,
        vmin=0.0,
        vmax=1.0,
        s=14 if len(s) <= 2000 else 5,
        alpha=0.8,
        linewidths=0,
        gid="samples",
        zorder=2,
    )
    points.set_offsets(np.column_stack([s.variability[order], s.confidence[order]]))
    cbar = fig.colorbar(points, ax=ax, pad=0.02)
    cbar.set_label("correctness (share of correct epochs)")
    th = split.thresholds
    ax.set_xlim(0.0, max(0.05, float(np.max(s.variability, initial=0.0)) * 1.08))
    ax.set_ylim(-0.02, 1.02)
    for gid, value in (
        ("easy_confidence", th.easy_confidence),
        ("hard_confidence", th.hard_confidence),
        ("ambiguous_variability", th.ambiguous_variability),
    ):
        if math.isfinite(value):
            line = ax.axvline if gid == "ambiguous_variability" else ax.axhline
            line(value, color=MARK, linestyle="--", linewidth=1, zorder=1.5, gid=gid)
    _label_thresholds(ax, split)
    _label_samples(ax, split)
    ax.set_xlabel("variability (std of p(true class) over the epochs)")
    ax.set_ylabel("confidence (mean p(true class) over the epochs)")
    _title(fig, ax, owned, _map_title(split))
    return fig


def _label_thresholds(ax: Axes, split: SplitDynamics) -> None:
    """Each threshold line named at its end with its region and count."""
    th, c = split.thresholds, split.region_counts
    right = ax.get_xlim()[1] * 0.99

    def note(x: float, y: float, text: str, gid: str, *, ha: str = "right", va: str) -> None:
        ax.text(x, y, text, ha=ha, va=va, gid=gid, fontsize="small", color="#333333", zorder=4)

    easy = f"easy-to-learn: confidence ≥ {th.easy_confidence:.3f} ({_count(c['easy-to-learn'])})"
    hard = f"hard-to-learn: confidence ≤ {th.hard_confidence:.3f} ({_count(c['hard-to-learn'])})"
    has_easy, has_hard = math.isfinite(th.easy_confidence), math.isfinite(th.hard_confidence)
    if has_easy and has_hard and th.easy_confidence - th.hard_confidence < 0.08:
        # lines close together: one label under both
        note(right, th.hard_confidence - 0.012, f"{easy}\n{hard}", "region_thresholds", va="top")
    else:
        if has_easy:
            above = th.easy_confidence < 0.95
            y = th.easy_confidence + (0.012 if above else -0.012)
            note(right, y, easy, "region_easy-to-learn", va="bottom" if above else "top")
        if has_hard:
            note(right, th.hard_confidence - 0.012, hard, "region_hard-to-learn", va="top")
    if math.isfinite(th.ambiguous_variability):
        note(
            th.ambiguous_variability + 0.01 * right,
            0.5,
            f"ambiguous →\nvariability ≥ {th.ambiguous_variability:.3f}\n"
            f"({_count(c['ambiguous'])})",
            "region_ambiguous",
            ha="left",
            va="center",
        )


def _label_samples(ax: Axes, split: SplitDynamics) -> None:
    """Write the ids of :func:`labelled_samples`, moving a label off its neighbours'."""
    s = split.samples
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    placed: list[tuple[float, float]] = []
    for i in labelled_samples(split):
        x, y = float(s.variability[i]), float(s.confidence[i])
        fx, fy = (x - x0) / (x1 - x0), (y - y0) / (y1 - y0)
        dx = 6 if fx < 0.8 else -6
        dy = 4.0
        for step in range(12):
            dy = 4.0 + 11.0 * step * (1 if fy < 0.5 else -1)
            spot = (fx + dx / 500, fy + dy / 400)
            if all(abs(spot[0] - p[0]) > 0.09 or abs(spot[1] - p[1]) > 0.03 for p in placed):
                break
        placed.append(spot)
        ax.scatter([x], [y], s=30, facecolors="none", edgecolors="black", linewidths=0.8, zorder=3)
        ax.annotate(
            f"id {literal(s.ids[i])}",
            (x, y),
            xytext=(dx, dy),
            textcoords="offset points",
            ha="left" if dx > 0 else "right",
            fontsize="x-small",
            gid=f"label_{i}",
            zorder=5,
            arrowprops={"arrowstyle": "-", "color": MARK, "linewidth": 0.6}
            if abs(dy) > 8
            else None,
        )


def forgetting_counts(split: SplitDynamics) -> tuple[np.ndarray, int, int]:
    """Samples with 0, 1, ..., max forgetting events, shape (max + 1,); and, of the 0s,
    how many were never learned and how many never forgotten."""
    s = split.samples
    counts = np.bincount(s.forgetting_events, minlength=1)
    never = int(np.count_nonzero(s.never_learned))
    return counts, never, int(counts[0]) - never


def _forgetting_title(split: SplitDynamics) -> str:
    counts, never, _ = forgetting_counts(split)
    n = split.n_samples
    f = split.forgotten_at_least_once
    if f == 0:
        head = f"No sample was forgotten over epochs {split.epochs[0]}–{split.epochs[-1]}"
    else:
        most = len(counts) - 1
        head = (
            f"{_count(f)} of {_count(n)} samples were forgotten at least once "
            f"(up to {most} time{'s' if most != 1 else ''})"
        )
    return f"{head}; {_count(never)} never learned"


def plot_forgetting(split: SplitDynamics, ax: Axes | None = None) -> Figure:
    """Histogram of forgetting events per sample, log count axis, counts written on the bars.

    Artists: bars with gid ``"never_learned"`` (at x = -1), ``"never_forgotten"`` (x = 0)
    and ``"forgotten"`` (x = 1, 2, ...); heights are sample counts.
    """
    fig, ax, owned = _single_axes(ax, (8, 4.8))
    counts, never, kept = forgetting_counts(split)
    # never learned has no forgetting event to count: its own bar, left of 0
    x = np.arange(-1, len(counts))
    heights = np.array([never, kept, *counts[1:]])
    colors = [WRONG, CORRECT] + [CORRECT_TO_WRONG] * (len(counts) - 1)
    gids = ["never_learned", "never_forgotten"] + ["forgotten"] * (len(counts) - 1)
    bars = ax.bar(x, heights, color=colors, width=0.8)
    for patch, gid in zip(bars, gids, strict=True):
        patch.set_gid(gid)
    ax.set_yscale("log")
    top = float(max(heights.max(initial=1), 1))
    ax.set_ylim(0.7, top * 3)
    for xi, n in zip(x, heights, strict=True):
        if n:
            ax.text(float(xi), n * 1.1, _count(int(n)), ha="center", va="bottom", fontsize="small")
    ax.set_xticks(x, labels=["never\nlearned", *(str(k) for k in range(len(counts)))])
    ax.set_xlabel("forgetting events (correct → wrong between consecutive epochs)")
    ax.set_ylabel("samples (log scale)")
    handles = [
        Patch(color=WRONG, label="never learned (correct at no epoch)"),
        Patch(color=CORRECT, label="learned, never forgotten"),
        Patch(color=CORRECT_TO_WRONG, label="forgotten"),
    ]
    _legend_below(fig, ax, owned, handles, ncols=3)
    _title(fig, ax, owned, _forgetting_title(split))
    return fig


def _risers_title(split: SplitDynamics) -> str:
    r = split.risers
    first, last = split.epochs[0], split.epochs[-1]
    if r is None or not r.rows:
        return f"No sample's loss rose from epoch {first} to epoch {last}"
    n = len(r.rows)
    wrong = int(np.count_nonzero(r.wrong_last))
    head = "The sample whose" if n == 1 else f"The {n} samples whose"
    return (
        f"{head} loss rose most from epoch {first} to epoch {last} "
        f"(first to last epoch of the range): {wrong} wrong at epoch {last}"
    )


def plot_loss_trajectories(split: SplitDynamics, ax: Axes | None = None) -> Figure:
    """The per-sample loss over the epochs of the top risers, log loss axis.

    One line per sample (gid ``"loss_<row>"``, x = epoch labels, y = the store's
    per-sample loss, drawn at :data:`LOSS_FLOOR` when below it), vermillion when
    the sample is wrong at the last epoch, else blue; its id written at the right
    end (gid ``"id_<row>"``).
    """
    fig, ax, owned = _single_axes(ax, (8, 5.2))
    r = split.risers
    epochs = np.asarray(split.epochs)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"per-sample loss (log scale, floor {LOSS_FLOOR:g})")
    if r is None or not r.rows:
        ax.text(0.5, 0.5, "no sample's loss rose", ha="center", va="center",
                transform=ax.transAxes, color=MARK)  # fmt: skip
        ax.set_ylim(LOSS_FLOOR, 10.0)
    else:
        ys = np.maximum(np.asarray(r.losses, dtype=float), LOSS_FLOOR)
        ys = np.where(np.isfinite(ys), ys, np.nan)
        ids = split.samples.ids
        for k, row in enumerate(r.rows):
            color = WRONG if r.wrong_last[k] else CORRECT
            ax.plot(epochs, ys[k], color=color, linewidth=1.4, marker="o", markersize=2.5,
                    alpha=0.85, gid=f"loss_{row}")  # fmt: skip
        # the ids at the right end, moved apart (in log space) when the ends crowd
        last = ys[:, -1]
        top = float(np.nanmax(ys)) if np.isfinite(ys).any() else 1.0
        lo, hi = LOSS_FLOOR / 2, max(top * 3, 1.0)
        ax.set_ylim(lo, hi)
        span = math.log10(hi) - math.log10(lo)
        gap = span * 0.045
        order = np.argsort(np.nan_to_num(last, nan=LOSS_FLOOR))
        placed: list[float] = []
        for k in order:
            y = math.log10(float(last[k]) if np.isfinite(last[k]) else LOSS_FLOOR)
            if placed and y < placed[-1] + gap:
                y = placed[-1] + gap
            placed.append(y)
            color = WRONG if r.wrong_last[k] else CORRECT
            ax.annotate(f"id {literal(ids[r.rows[k]])}", (float(epochs[-1]), 10**y),
                        xytext=(6, 0), textcoords="offset points", va="center",
                        fontsize="x-small", color=color, gid=f"id_{r.rows[k]}",
                        annotation_clip=False)  # fmt: skip
        step = (epochs[-1] - epochs[0]) or 1
        ax.set_xlim(float(epochs[0]) - 0.02 * step, float(epochs[-1]) + 0.12 * step)
    handles = [
        Line2D([], [], color=WRONG, label=f"wrong at epoch {split.epochs[-1]}"),
        Line2D([], [], color=CORRECT, label=f"correct at epoch {split.epochs[-1]}"),
    ]
    _legend_below(fig, ax, owned, handles, ncols=2)
    _title(fig, ax, owned, _risers_title(split))
    return fig


_PLOTTERS = {
    "data_map": plot_data_map,
    "forgetting_events": plot_forgetting,
    "loss_trajectories": plot_loss_trajectories,
}


def dynamics_figures_for(
    split: SplitDynamics, folder: Path, *, fmt: str = "png", dpi: int = DPI
) -> list[Path]:
    """The figures ``dynamics --out`` writes for one split: ``data_map.<fmt>``,
    ``forgetting_events.<fmt>`` and ``loss_trajectories.<fmt>``, atomically; returns
    their paths."""
    fmt = _check_format(fmt)
    folder = Path(folder)
    return [
        write_job(folder / f"{name}.{fmt}", partial(_PLOTTERS[name], split), fmt, dpi)
        for name in DYNAMICS_FIGURES
    ]
