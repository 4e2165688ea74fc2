"""The statistics behind the verdict: a one-sided Wilcoxon signed-rank test and a bootstrap."""

from __future__ import annotations

import math

import numpy as np

BOOTSTRAP_SEED = 20260101
BOOTSTRAP_REPLICATES = 2000


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
    sums: np.ndarray
    counts = rng.binomial(n_total, k / n_total, size=replicates)
    if int(counts.sum()) <= max_exact_draws:
        draws = rng.integers(0, k, size=int(counts.sum()))
        owner = np.repeat(np.arange(replicates), counts)
        sums = np.bincount(owner, weights=deltas_in_cell[draws], minlength=replicates)
    else:
        mean, sd = float(deltas_in_cell.mean()), float(deltas_in_cell.std())
        sums = counts.astype(np.float64) * mean + np.sqrt(counts) * sd * rng.standard_normal(
            replicates
        )
    lo, hi = np.percentile(sums / n_total, [2.5, 97.5])
    return float(lo), float(hi)
