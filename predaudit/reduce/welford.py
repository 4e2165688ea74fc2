"""Welford's running mean and sum of squared deviations, one epoch at a time.

One function for the two places that follow a per-sample quantity over epochs (the
data map's confidence and variability): the store, as epochs are reduced, and the
dynamics accumulator. The same operations on the same values give bit-identical
results, so ``analyze``'s data-map regions are ``predaudit dynamics``' regions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from predaudit.reduce.pool import _run_chunks, _threads


def welford_step(
    mean: np.ndarray,
    m2: np.ndarray,
    x: np.ndarray,
    valid: np.ndarray,
    k: int,
    *,
    threads: int | None = 1,
) -> None:
    """Add epoch ``k`` (1-based) of ``x`` to ``mean`` and ``m2`` in place (float64, shape (n,)).

    An entry where ``valid`` is False is replaced by the running mean (no change), so the
    moments of a sample left out at some epoch stay finite; callers drop such samples.
    The population variance is ``m2 / k`` (ddof 0). ``x`` may be float32: it is widened
    to float64 exactly inside the operations.

    The same elementwise operations as ``delta = xs - mean; mean += delta / k;
    m2 += delta * (xs - mean)``, in blocks of :data:`_BLOCK` rows whose scratch stays
    in the CPU cache, on ``threads`` threads of the reduction's pool (None: its default
    count; the result depends on neither).
    """
    every = bool(valid.all())
    n = mean.shape[0]

    def make_worker() -> Callable[[int, int], None]:
        delta = np.empty(min(n, _BLOCK))
        t = np.empty_like(delta)

        def block(a: int, b: int) -> None:
            mu, d, tb = mean[a:b], delta[: b - a], t[: b - a]
            xs = x[a:b] if every else np.where(valid[a:b], x[a:b], mu)
            np.subtract(xs, mu, out=d, dtype=np.float64)
            np.divide(d, k, out=tb)
            mu += tb
            np.subtract(xs, mu, out=tb, dtype=np.float64)
            tb *= d
            m2[a:b] += tb

        return block

    _run_chunks(n, _BLOCK, _threads(threads), make_worker)


_BLOCK = 1 << 15
"""Rows per block of :func:`welford_step` (256 KiB of float64 scratch each)."""
