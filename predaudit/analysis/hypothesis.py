"""The hypothesis "wrong predictions get more wrong" (DESIGN.md §5)."""

from __future__ import annotations

import math
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
    """One-sided Wilcoxon signed-rank p-value for "the Δℓ are shifted above 0".

    Zero differences are dropped (Wilcoxon's convention); 1.0 when every Δℓ is
    0. Follows ``scipy.stats.wilcoxon(d, alternative="greater")`` exactly (the
    tests compare the two) without importing scipy, which takes most of a
    second: the exact null distribution for up to 50 values without ties; with
    ties, every sign flip for up to 13 values; otherwise the normal
    approximation with the tie correction and no continuity correction.
    """
    d = np.asarray(deltas, dtype=np.float64)
    d = d[d != 0]
    n = int(d.size)
    if n == 0:
        return 1.0
    a = np.abs(d)
    order = np.argsort(a, kind="stable")
    sorted_a = a[order]
    starts = np.flatnonzero(np.r_[True, sorted_a[1:] != sorted_a[:-1]])
    counts = np.diff(np.r_[starts, n])
    ranks = np.empty(n)
    ranks[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    r_plus = float(ranks[d > 0].sum())
    has_ties = bool((counts > 1).any())
    if n <= 50 and not has_ties:
        pmf = _signed_rank_pmf(n)
        return float(min(1.0, pmf[int(math.floor(r_plus)) :].sum()))
    if n <= 13:
        signs = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        null = signs @ ranks
        eps = np.finfo(np.float64).eps * 100 * abs(r_plus)
        return float(np.mean(null >= r_plus - eps))
    mean = n * (n + 1) / 4.0
    var = (n * (n + 1) * (2 * n + 1) - float((counts**3 - counts).sum()) / 2.0) / 24.0
    z = (r_plus - mean) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _signed_rank_pmf(n: int) -> np.ndarray:
    """P(W+ = w) for w = 0..n(n+1)/2 under the null: subset sums of 1..n, each set 2**-n."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    top = 0
    for k in range(1, n + 1):
        counts[k : top + k + 1] += counts[: top + 1].copy()
        top += k
    return counts / 2.0**n


MAX_EXACT_DRAWS = 2_000_000


def bootstrap_ci(
    deltas_in_cell: np.ndarray,
    n_total: int,
    *,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = BOOTSTRAP_SEED,
    max_exact_draws: int = MAX_EXACT_DRAWS,
) -> tuple[float, float]:
    """95% percentile bootstrap interval of a cell's contribution ``Σ_{cell} Δℓ / N`` (nats).

    Each replicate resamples all ``n_total`` samples with replacement. That is
    done exactly but cheaply: the number of draws that land in the cell is
    Binomial(N, n_cell/N), and those draws are uniform over the cell's samples.
    When the draws would exceed ``max_exact_draws`` in all (a cell of more than
    about a thousand samples), the sum of a replicate's draws from the cell is
    taken from its normal limit, with the cell's mean and variance, so time and
    memory stay bounded; at that size the two agree to well within the
    interval's own sampling error (a test compares them).
    """
    k = deltas_in_cell.shape[0]
    if k == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    counts = rng.binomial(n_total, k / n_total, size=replicates)
    if int(counts.sum()) <= max_exact_draws:
        draws = rng.integers(0, k, size=int(counts.sum()))
        owner = np.repeat(np.arange(replicates), counts)
        sums = np.bincount(owner, weights=deltas_in_cell[draws], minlength=replicates)
    else:
        mean, sd = float(deltas_in_cell.mean()), float(deltas_in_cell.std())
        sums = counts * mean + np.sqrt(counts) * sd * rng.standard_normal(replicates)
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
