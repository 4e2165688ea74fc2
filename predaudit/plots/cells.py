"""The compared epochs of ``analyze``, sample by sample: transitions and loss distributions.

* :func:`plot_transitions` — the four transition cells' contributions to ΔL
  (``transitions.png``);
* :func:`plot_loss_distribution` — per-sample losses at the two compared epochs
  (``loss_distribution.png``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from predaudit.plots.axes import (
    _legend_below,
    _message_figure,
    _pair_axes,
    _single_axes,
    _title,
    compared_labels,
    heading,
)
from predaudit.plots.layout import light_minor_ticks
from predaudit.plots.style import CELL_COLORS, CORRECT, LOSS, LOSS_FLOOR, WRONG
from predaudit.plots.text import _count, _num, _rose, _signed, _signed_pct
from predaudit.report.vocab import CELL_LABELS
from predaudit.report.vocab import CELLS as CELL_ORDER

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from predaudit.report.analyze import SplitAnalysis


# -- transitions --------------------------------------------------------------------------


def _transitions_title(split: SplitAnalysis) -> str:
    comp = split.comparison
    assert comp is not None and comp.transitions is not None
    cells, d = comp.transitions, comp.delta_loss
    if d == 0:
        return heading(split, "mean loss did not change")
    if d > 0:
        key = max(CELL_ORDER, key=lambda k: cells[k].contribution)
        what = f"{_num(d)}-nat rise"
    else:
        key = min(CELL_ORDER, key=lambda k: cells[k].contribution)
        what = f"{_num(-d)}-nat fall"
    share = cells[key].contribution / d
    return heading(split, f"{CELL_LABELS[key]} samples account for {share:.0%} of the {what}")


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
            heading(split, "no transitions, nothing to compare"),
            split.note or "The run has a single epoch; save predictions at more epochs.",
            ax,
        )
    if comp.transitions is None:
        return _message_figure(
            heading(split, "no transitions, samples are not aligned across epochs"),
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
            heading(split, "no loss distributions, nothing to compare"),
            split.note or "The run has a single epoch; save predictions at more epochs.",
        )
    if s is None:
        return _message_figure(
            heading(split, "no loss distributions, per-sample losses are not available"),
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
        light_minor_ticks(ax.xaxis)
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
    _title(fig, ax_w, owned, heading(split, _distribution_title(groups)), suptitle=True)
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


def _distribution_title(groups: dict[str, np.ndarray]) -> str:
    for group in ("wrong", "correct"):
        ma, mb = _median(groups[f"{group}_from"]), _median(groups[f"{group}_to"])
        if ma is not None and mb is not None:
            change = (
                f"stayed at {_num(mb)}"
                if ma == mb
                else f"{_rose(mb - ma)} from {_num(ma)} to {_num(mb)}"
            )
            return f"median loss of {group} samples {change} nats"
    return "per-sample loss"
