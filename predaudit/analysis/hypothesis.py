"""The hypothesis "wrong predictions get more wrong" (docs/design.md)."""

from __future__ import annotations

import numpy as np

from predaudit.analysis.stattests import bootstrap_ci, wilcoxon_greater
from predaudit.report.analyze import Cell, Hypothesis
from predaudit.report.vocab import CELL_PHRASES, CellName


def _fmt_signed(x: float) -> str:
    return f"{x:+.3g}" if abs(x) < 1e-3 else f"{x:+.3f}"


def _fmt_p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.0e}"


def judge(
    cells: dict[CellName, Cell] | None,
    deltas_ww: np.ndarray | None,
    *,
    delta_loss: float,
    n_total: int,
    start: int,
    end: int,
    aligned: bool,
    alpha: float = 0.05,
) -> Hypothesis:
    """Decide the verdict for the comparison ``start -> end``.

    ``cells`` are the transition cells (None when not aligned), ``deltas_ww``
    the Δℓ of the wrong_to_wrong samples.
    """
    rise = f"{_fmt_signed(delta_loss)} nats"

    def not_applicable(reason: str, statement: str, driver: CellName | None = None) -> Hypothesis:
        return Hypothesis(
            verdict="not_applicable",
            share=None,
            p_value=None,
            ci95=None,
            driver=driver,
            reason=reason,
            alpha=alpha,
            statement=statement,
        )

    if not aligned or cells is None or deltas_ww is None:
        return not_applicable(
            "not_aligned",
            (
                "Cannot follow samples across epochs: labels differ between epochs and there "
                "are no sample ids, so positions are not the same samples. Save sample ids "
                "with the predictions."
            ),
        )
    ww = cells["wrong_to_wrong"]
    if delta_loss <= 0:
        return not_applicable(
            "loss_did_not_rise",
            f"Mean loss did not rise from epoch {start} to {end} ({rise}): "
            "there is no rise to explain.",
        )
    if ww.n == 0:
        return not_applicable(
            "no_wrong_to_wrong",
            f"No sample was wrong at both epoch {start} and epoch {end}; the {rise} rise "
            f"comes mostly from {CELL_PHRASES[_driver(cells)]}.",
            driver=_driver(cells),
        )
    share = ww.contribution / delta_loss
    p = wilcoxon_greater(deltas_ww)
    ci = bootstrap_ci(deltas_ww, n_total)
    driver = _driver(cells)
    supported = share >= 0.5 and p < alpha
    pct_n = 100.0 * ww.n / n_total
    mean_delta = ww.mean_delta if ww.mean_delta is not None else 0.0
    facts = (
        f"the {ww.n:,} samples wrong at both epochs ({pct_n:.1f}%) account for "
        f"{_fmt_signed(ww.contribution)} of the {_fmt_signed(delta_loss)} rise in mean loss "
        f"({100 * share:.0f}%); their loss changed by {mean_delta:+.2f} nats each on average "
        f"(p = {_fmt_p(p)})"
    )
    if supported:
        statement = f"Wrong predictions got more wrong: {facts}."
    else:
        why = []
        if share < 0.5:
            why.append("they explain less than half of the rise")
        if p >= alpha:
            why.append(f"their rise is not significant at {alpha:g}")
        statement = (
            f"Not mainly wrong predictions getting more wrong: {facts}; "
            f"{' and '.join(why)}. The largest part of the rise comes from "
            f"{CELL_PHRASES[driver]} ({_fmt_signed(cells[driver].contribution)})."
        )
    return Hypothesis(
        verdict="supported" if supported else "rejected",
        share=share,
        p_value=p,
        ci95=ci,
        driver=driver,
        statement=statement,
        alpha=alpha,
    )


def _driver(cells: dict[CellName, Cell]) -> CellName:
    """The cell with the largest positive contribution (the largest one if none is positive)."""
    return max(cells, key=lambda k: cells[k].contribution)
