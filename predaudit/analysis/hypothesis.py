"""The hypothesis "wrong predictions get more wrong" (docs/design.md)."""

from __future__ import annotations

import re

import numpy as np

from predaudit.analysis.stattests import bootstrap_ci, wilcoxon_greater
from predaudit.report.analyze import Cell, Hypothesis
from predaudit.report.vocab import CELL_CAUSES, CellName, Verdict


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
            statement=_minus(statement),
        )

    if not aligned or cells is None or deltas_ww is None:
        return not_applicable(
            "not_aligned",
            (
                "Samples cannot be followed across epochs, because labels differ between "
                "epochs and there are no sample ids (save sample ids with the predictions)."
            ),
        )
    ww = cells["wrong_to_wrong"]
    if delta_loss <= 0:
        return not_applicable(
            "loss_did_not_rise",
            f"Mean loss did not rise from epoch {start} to {end} ({rise}), "
            "so there is no rise to explain.",
        )
    driver = _driver(cells)
    if ww.n == 0:
        return not_applicable(
            "no_wrong_to_wrong",
            f"No sample was wrong at both epoch {start} and epoch {end}, so wrong predictions "
            f"cannot have got more wrong; most of the {rise} rise comes from "
            f"{CELL_CAUSES[driver]} ({_fmt_signed(cells[driver].contribution)}).",
            driver=driver,
        )
    share = ww.contribution / delta_loss
    p = wilcoxon_greater(deltas_ww)
    ci = bootstrap_ci(deltas_ww, n_total)
    pct_n = 100.0 * ww.n / n_total
    mean_delta = ww.mean_delta if ww.mean_delta is not None else 0.0
    who = f"the {ww.n:,} {'sample' if ww.n == 1 else 'samples'} wrong at both epochs ({pct_n:.1f}%)"
    part = (
        f"{_fmt_signed(ww.contribution)} of the {_fmt_signed(delta_loss)} rise in mean loss "
        f"({100 * share:.0f}%)"
    )
    each = f"{mean_delta:+.2f} nats {'each ' if ww.n > 1 else ''}on average"
    verdict: Verdict
    if share >= 0.5 and p < alpha:
        verdict = "supported"
        statement = (
            f"Wrong predictions got more wrong: {who} account for {part}, and their loss "
            f"changed by {each} (p = {_fmt_p(p)})."
        )
    elif share >= 0.5:
        verdict = "inconclusive"
        statement = (
            f"Wrong predictions may have got more wrong, but there are too few to tell: {who} "
            f"account for {part}, yet their loss change of {each} is not significant at "
            f"{alpha:g} (p = {_fmt_p(p)})."
        )
    else:
        verdict = "rejected"
        statement = (
            f"The rise does not come mainly from wrong predictions getting more wrong: {who} "
            f"account for only {part}, and the largest part comes from "
            f"{CELL_CAUSES[driver]} ({_fmt_signed(cells[driver].contribution)})."
        )
    return Hypothesis(
        verdict=verdict,
        share=share,
        p_value=p,
        ci95=ci,
        driver=driver,
        statement=_minus(statement),
        alpha=alpha,
    )


def _minus(text: str) -> str:
    """Prose shows negative numbers with the minus sign U+2212, as the tables do."""
    return re.sub(r"(?<![\w.])-(?=\d)", "\u2212", text)


def _driver(cells: dict[CellName, Cell]) -> CellName:
    """The cell with the largest positive contribution (the largest one if none is positive)."""
    return max(cells, key=lambda k: cells[k].contribution)
