"""Counts and top-k lists over a :class:`~predaudit.dynamics.DynamicsResult`.

Sample indices returned here are positions in ``0 .. n_samples - 1`` (as
``DynamicsResult.index``), not positions in the result's arrays. Rankings break
ties by the lower position, so they are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from predaudit.dynamics.regions import RegionResult, RegionThresholds, regions
from predaudit.dynamics.result import DynamicsResult


@dataclass(frozen=True)
class DynamicsSummary:
    """What a report states about a run's training dynamics.

    Attributes
    ----------
    n_samples, n_included, n_excluded, n_epochs : int
        As in :class:`DynamicsResult`.
    first_epoch, last_epoch : int
        The epoch labels accumulated.
    region_counts : dict[str, int]
        Samples per region (every region listed).
    thresholds : RegionThresholds
        The region thresholds used.
    never_learned : int
        Samples correct at no epoch.
    forgotten_at_least_once : int
        Samples with at least one correct -> wrong change.
    most_ambiguous : int64 array, shape (<= k,)
        Highest variability first.
    hardest : int64 array, shape (<= k,)
        Lowest confidence first.
    """

    n_samples: int
    n_included: int
    n_excluded: int
    n_epochs: int
    first_epoch: int
    last_epoch: int
    region_counts: dict[str, int]
    thresholds: RegionThresholds
    never_learned: int
    forgotten_at_least_once: int
    most_ambiguous: NDArray[np.int64]
    hardest: NDArray[np.int64]


def top_k_ambiguous(result: DynamicsResult, k: int) -> NDArray[np.int64]:
    """Positions of the ``k`` samples of highest variability, highest first."""
    return _top(result, -result.variability, k)


def top_k_hardest(result: DynamicsResult, k: int) -> NDArray[np.int64]:
    """Positions of the ``k`` samples of lowest confidence (mean p_true), lowest first."""
    return _top(result, result.confidence, k)


def region_counts(found: RegionResult) -> dict[str, int]:
    """Samples per region, every region listed."""
    return found.counts()


def summarize(
    result: DynamicsResult, *, region_result: RegionResult | None = None, k: int = 10
) -> DynamicsSummary:
    """Counts per region, never-learned and forgotten counts, top-k ambiguous and hardest.

    ``region_result`` defaults to :func:`regions` with its default thresholds.
    """
    found = (
        regions(result.confidence, result.variability) if region_result is None else region_result
    )
    if found.codes.shape != result.confidence.shape:
        raise ValueError("region_result does not match the result's samples")
    return DynamicsSummary(
        n_samples=result.n_samples,
        n_included=result.n_included,
        n_excluded=result.n_excluded,
        n_epochs=result.n_epochs,
        first_epoch=result.first_epoch,
        last_epoch=result.last_epoch,
        region_counts=found.counts(),
        thresholds=found.thresholds,
        never_learned=int(np.count_nonzero(result.never_learned)),
        forgotten_at_least_once=int(np.count_nonzero(result.forgetting_events > 0)),
        most_ambiguous=top_k_ambiguous(result, k),
        hardest=top_k_hardest(result, k),
    )


def _top(result: DynamicsResult, key: NDArray[np.float64], k: int) -> NDArray[np.int64]:
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k!r}")
    order = np.lexsort((result.index, key))[:k]
    return result.index[order]
