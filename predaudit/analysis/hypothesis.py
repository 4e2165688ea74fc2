"""The hypothesis "wrong predictions get more wrong" (DESIGN.md §5)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from predaudit.analysis.decomposition import Cell

HYPOTHESIS_ID = "wrong_get_more_wrong"
VERDICTS = ("supported", "rejected", "not_applicable")
BOOTSTRAP_SEED = 20260101
BOOTSTRAP_REPLICATES = 2000

DRIVER_WORDS = {
    "correct_to_correct": "correct predictions lost confidence",
    "correct_to_wrong": "predictions flipped from correct to wrong",
    "wrong_to_correct": "predictions flipped from wrong to correct",
    "wrong_to_wrong": "wrong predictions got more wrong",
}


@dataclass(frozen=True)
class Hypothesis:
    """The verdict on "wrong predictions get more wrong" for one comparison.

    ``share`` is contribution(wrong_to_wrong) / ΔL; ``p_value`` the one-sided
    Wilcoxon signed-rank test that the wrong_to_wrong samples' Δℓ are positive;
    ``ci95`` a bootstrap interval of the wrong_to_wrong contribution (nats).
    """

    verdict: str
    share: float | None
    p_value: float | None
    ci95: tuple[float, float] | None
    driver: str | None
    statement: str
    reason: str | None = None
    alpha: float = 0.05

    def to_dict(self) -> dict:
        return {
            "id": HYPOTHESIS_ID,
            "verdict": self.verdict,
            "share": self.share,
            "p_value": self.p_value,
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "driver": self.driver,
            "statement": self.statement,
            "reason": self.reason,
            "alpha": self.alpha,
        }


def wilcoxon_greater(deltas: np.ndarray) -> float:
    """One-sided Wilcoxon signed-rank p-value for "the median Δℓ is positive".

    Zero differences are dropped (Wilcoxon's convention); 1.0 when every Δℓ is 0.
    """
    from scipy.stats import wilcoxon

    nonzero = deltas[deltas != 0]
    if nonzero.size == 0:
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(wilcoxon(nonzero, alternative="greater").pvalue)


def bootstrap_ci(
    deltas_in_cell: np.ndarray,
    n_total: int,
    *,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """95% percentile bootstrap interval of a cell's contribution ``Σ_{cell} Δℓ / N``.

    Resampling all ``n_total`` samples with replacement is done exactly but
    cheaply: the number of draws that land in the cell is Binomial(N, n_cell/N),
    and those draws are uniform over the cell's samples.
    """
    k = deltas_in_cell.shape[0]
    if k == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    counts = rng.binomial(n_total, k / n_total, size=replicates)
    draws = rng.integers(0, k, size=int(counts.sum()))
    owner = np.repeat(np.arange(replicates), counts)
    sums = np.bincount(owner, weights=deltas_in_cell[draws], minlength=replicates)
    lo, hi = np.percentile(sums / n_total, [2.5, 97.5])
    return float(lo), float(hi)


def _fmt_signed(x: float) -> str:
    return f"{x:+.3g}" if abs(x) < 1e-3 else f"{x:+.3f}"


def _fmt_p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.0e}"


def judge(
    cells: dict[str, Cell] | None,
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

    def not_applicable(reason: str, statement: str, driver: str | None = None) -> Hypothesis:
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
            f"comes mostly from {DRIVER_WORDS[_driver(cells)]}.",
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
            f"{DRIVER_WORDS[driver]} ({_fmt_signed(cells[driver].contribution)})."
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


def _driver(cells: dict[str, Cell]) -> str:
    """The cell with the largest positive contribution (the largest one if none is positive)."""
    return max(cells, key=lambda k: cells[k].contribution)
