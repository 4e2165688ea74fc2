"""The loss decomposition of docs/design.md (all losses in nats).

* per-epoch split: ``L(e) = contribution_correct(e) + contribution_wrong(e)``;
* transitions a -> b: four cells by correctness at a and at b, whose
  contributions ``(1/N) Σ_{i in cell} Δℓ_i`` sum exactly to ``ΔL``;
* shift-share: ``ΔL = ΔA·(L̄c − L̄w) + ā·ΔLc + (1 − ā)·ΔLw``.
"""

from __future__ import annotations

import numpy as np

from predaudit.analysis.epochs import best_epoch, resolve_epoch, resolve_pair
from predaudit.errors import OptionError
from predaudit.report.analyze import Cell, EpochRow, ShiftShare
from predaudit.report.vocab import CellName, FromReason
from predaudit.store import SplitStats


def per_epoch(stats: SplitStats) -> list[EpochRow]:
    """One :class:`EpochRow` per epoch; means over the samples that count (label not -100).

    From the per-epoch sums of the store (``SplitStats.totals``), so no epoch's
    per-sample columns are read again.
    """
    rows = []
    for epoch, (n_f, nc_f, total, sum_c, sum_w) in zip(
        stats.epochs, stats.totals().tolist(), strict=True
    ):
        n, n_correct = int(n_f), int(nc_f)
        rows.append(
            EpochRow(
                epoch=epoch,
                n_samples=n,
                loss=total / n,
                accuracy=n_correct / n,
                n_correct=n_correct,
                loss_correct=sum_c / n_correct if n_correct else None,
                loss_wrong=sum_w / (n - n_correct) if n > n_correct else None,
                contribution_correct=sum_c / n,
                contribution_wrong=sum_w / n,
            )
        )
    return rows


def transition_masks(stats: SplitStats, *, start: int, end: int) -> dict[CellName, np.ndarray]:
    """Boolean masks (n_counted,) of the four cells, over the samples valid at both epochs."""
    ia, ib = stats.epoch_index(start), stats.epoch_index(end)
    valid = stats.valid[ia] & stats.valid[ib]
    ca, cb = stats.correct[ia][valid], stats.correct[ib][valid]
    return {
        "correct_to_correct": ca & cb,
        "correct_to_wrong": ca & ~cb,
        "wrong_to_correct": ~ca & cb,
        "wrong_to_wrong": ~ca & ~cb,
    }


def loss_deltas(stats: SplitStats, *, start: int, end: int) -> np.ndarray:
    """``Δℓ_i = ℓ_i(end) − ℓ_i(start)`` for the samples valid at both, shape (n,), nats."""
    ia, ib = stats.epoch_index(start), stats.epoch_index(end)
    valid = stats.valid[ia] & stats.valid[ib]
    return stats.loss[ib][valid] - stats.loss[ia][valid]


def transitions(stats: SplitStats, *, start: int, end: int) -> dict[CellName, Cell]:
    """The four transition cells from ``start`` to ``end`` (aligned runs only).

    The contributions sum to ``ΔL`` up to floating-point rounding (they are the
    same sum of Δℓ, grouped differently).
    """
    delta = loss_deltas(stats, start=start, end=end)
    n = delta.shape[0]
    out = {}
    for name, mask in transition_masks(stats, start=start, end=end).items():
        k = int(mask.sum())
        total = float(delta[mask].sum())
        out[name] = Cell(n=k, contribution=total / n, mean_delta=total / k if k else None)
    return out


def shift_share(a: EpochRow, b: EpochRow) -> ShiftShare:
    """Shift-share decomposition of ``b.loss − a.loss`` (needs no alignment).

    A group empty at one epoch takes its mean loss from the other epoch (so its
    severity term is 0); a group empty at both contributes 0.
    """

    def pair(x: float | None, y: float | None) -> tuple[float, float]:
        if x is None and y is None:
            return 0.0, 0.0
        if x is None:
            return y, y  # type: ignore[return-value]
        if y is None:
            return x, x
        return x, y

    lc_a, lc_b = pair(a.loss_correct, b.loss_correct)
    lw_a, lw_b = pair(a.loss_wrong, b.loss_wrong)
    a_bar = (a.accuracy + b.accuracy) / 2
    composition = (b.accuracy - a.accuracy) * ((lc_a + lc_b) / 2 - (lw_a + lw_b) / 2)
    return ShiftShare(
        composition=composition,
        correct_severity=a_bar * (lc_b - lc_a),
        wrong_severity=(1 - a_bar) * (lw_b - lw_a),
    )


def choose_comparison(
    stats: SplitStats, *, start: str | int | None = None, end: str | int | None = None
) -> tuple[int, int, FromReason]:
    """The compared epochs and why: ``(from, to, from_reason)`` per docs/design.md.

    ``to`` defaults to the last epoch; ``from`` to the epoch of lowest mean loss
    up to ``to`` (``best_loss``), or the first epoch when that is ``to`` itself
    (``first``); an explicit ``start`` gives ``given``.
    """
    if start is not None:
        a, b = resolve_pair(stats, start, end if end is not None else "last")
        return a, b, "given"
    to = resolve_epoch(stats, end if end is not None else "last", param="end")
    if to == stats.epochs[0]:
        raise OptionError(
            "",
            template=f"{{end}}{end} is the first epoch ({to}): there is no earlier epoch to "
            "compare it with",
        )
    best = best_epoch(stats, upto=to)
    if best == to:
        return stats.epochs[0], to, "first"
    return best, to, "best_loss"
