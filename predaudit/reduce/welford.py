"""Welford's running mean and sum of squared deviations, one epoch at a time.

One function for the two places that follow a per-sample quantity over epochs (the
data map's confidence and variability): the store, as epochs are reduced, and the
dynamics accumulator. The same operations on the same values give bit-identical
results, so ``analyze``'s data-map regions are ``predaudit dynamics``' regions.
"""

from __future__ import annotations

import numpy as np


def welford_step(
    mean: np.ndarray, m2: np.ndarray, x: np.ndarray, valid: np.ndarray, k: int
) -> None:
    """Add epoch ``k`` (1-based) of ``x`` to ``mean`` and ``m2`` in place (float64, shape (n,)).

    An entry where ``valid`` is False is replaced by the running mean (no change), so the
    moments of a sample left out at some epoch stay finite; callers drop such samples.
    The population variance is ``m2 / k`` (ddof 0).
    """
    xs = np.where(valid, x, mean)
    delta = xs - mean
    mean += delta / k
    m2 += delta * (xs - mean)
