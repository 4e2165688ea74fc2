"""The wrong → wrong samples of a comparison, placed on the data map of ``predaudit dynamics``.

The wrong → wrong samples are those of :func:`~predaudit.analysis.decomposition.transition_masks`
(wrong at both compared epochs, valid at both); their region is looked up in a data map
(a :class:`~predaudit.dynamics.DynamicsResult` and its
:class:`~predaudit.dynamics.RegionResult`, from :func:`predaudit.analysis.dynamics.data_map`),
by row position. A sample valid at both compared epochs but ignored (-100) at another
epoch of the map is not in it (``not_in_map``). Pure numpy over the store: only the two
compared epochs' columns are read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from predaudit.analysis.decomposition import transition_masks
from predaudit.dynamics import REGION_NAMES, DynamicsResult, RegionResult
from predaudit.report.vocab import REDUCED, FromReason
from predaudit.report.wrong_to_wrong import (
    WrongToWrongRegions,
    WrongToWrongSample,
    WrongToWrongSamples,
)
from predaudit.store import SplitStats


def wrong_to_wrong_positions(stats: SplitStats, *, start: int, end: int) -> np.ndarray:
    """Row positions (ascending, int64) of the samples wrong at both ``start`` and ``end``."""
    ia, ib = stats.epoch_index(start), stats.epoch_index(end)
    counted = np.flatnonzero(stats.valid[ia] & stats.valid[ib])
    return counted[transition_masks(stats, start=start, end=end)["wrong_to_wrong"]].astype(np.int64)


class DataMapView(Protocol):
    """What the wrong → wrong link reads of a data map: a :class:`DynamicsResult`, or the
    store's :class:`~predaudit.analysis.dynamics.StoredDataMap` (the same numbers)."""

    @property
    def n_epochs(self) -> int: ...
    @property
    def first_epoch(self) -> int: ...
    @property
    def last_epoch(self) -> int: ...
    @property
    def index(self) -> np.ndarray: ...
    @property
    def confidence(self) -> np.ndarray: ...
    @property
    def variability(self) -> np.ndarray: ...


@dataclass(frozen=True)
class StoredDataMap:
    """The data map over every epoch from the store's running moments of ``p_true``
    (``SplitStats.p_true_moments``): the confidence and variability a
    :class:`~predaudit.dynamics.DynamicsAccumulator` over every epoch gives, bit for bit (the same
    :func:`~predaudit.reduce.welford.welford_step` on the same stored values), for the
    rows that count at every epoch (``index``)."""

    n_epochs: int
    first_epoch: int
    last_epoch: int
    index: np.ndarray
    confidence: np.ndarray
    variability: np.ndarray


def stored_data_map(stats: SplitStats) -> StoredDataMap | None:
    """:class:`StoredDataMap` of ``stats``, or None when the store has no moments (built by
    hand, pre-reduced records) or a label changed between epochs (the accumulator refuses
    that, with its message)."""
    moments, keep = stats.p_true_moments, stats.valid_all
    if moments is None or keep is None or not stats.labels_stable or stats.input_kind == REDUCED:
        return None
    e = len(stats.epochs)
    every = bool(keep.all())  # then plain copies, not boolean selections (the same values)
    return StoredDataMap(
        n_epochs=e,
        first_epoch=stats.epochs[0],
        last_epoch=stats.epochs[-1],
        index=np.arange(keep.size, dtype=np.int64)
        if every
        else np.flatnonzero(keep).astype(np.int64),
        confidence=moments[0].copy() if every else moments[0][keep],
        variability=np.sqrt((moments[1] if every else moments[1][keep]) / e),
    )


def map_rows(res: DataMapView, positions: np.ndarray) -> np.ndarray:
    """For each row position, its index in the data map's arrays (``res.index``), or -1."""
    n = res.index.size
    if n and int(res.index[-1]) == n - 1:  # increasing from 0 to n - 1: every row, in order
        return np.where(positions < n, positions, -1).astype(np.int64)
    at = np.searchsorted(res.index, positions)
    inside = at < res.index.size
    found = np.zeros(positions.shape, dtype=bool)
    found[inside] = res.index[at[inside]] == positions[inside]
    return np.where(found, at, -1).astype(np.int64)


def count_regions(res: DataMapView, found: RegionResult, rows: np.ndarray) -> WrongToWrongRegions:
    """The samples at data-map indices ``rows`` (-1: not in the map) counted per region."""
    codes = found.codes[rows[rows >= 0]]
    per = np.bincount(codes, minlength=len(REGION_NAMES))
    return WrongToWrongRegions(
        n=int(rows.size),
        regions={name: int(c) for name, c in zip(REGION_NAMES, per, strict=True)},
        not_in_map=int(np.count_nonzero(rows < 0)),
        data_map_epochs=(res.first_epoch, res.last_epoch),
        n_epochs=res.n_epochs,
    )


def wrong_to_wrong_samples(
    stats: SplitStats,
    res: DynamicsResult,
    found: RegionResult,
    *,
    start: int,
    end: int,
    from_reason: FromReason,
    limit: int,
) -> WrongToWrongSamples:
    """The wrong → wrong samples of ``start -> end`` with their id, label (at ``end``) and
    region, lowest confidence first (ties: row order), those not in the map last."""
    positions = wrong_to_wrong_positions(stats, start=start, end=end)
    rows = map_rows(res, positions)
    inside = rows >= 0
    key = np.where(inside, res.confidence[np.maximum(rows, 0)], np.inf)
    order = np.lexsort((positions, key))
    ids = np.asarray(stats.sample_ids())[positions[order]].tolist()
    labels = stats.labels[stats.epoch_index(end)][positions[order]]
    names = found.labels()
    samples = []
    for sid, label, r in zip(ids, labels.tolist(), rows[order].tolist(), strict=True):
        samples.append(
            WrongToWrongSample(
                id=sid,
                label=int(label),
                region=str(names[r]) if r >= 0 else None,
                confidence=float(res.confidence[r]) if r >= 0 else None,
                variability=float(res.variability[r]) if r >= 0 else None,
            )
        )
    return WrongToWrongSamples(
        from_epoch=start,
        to_epoch=end,
        from_reason=from_reason,
        counts=count_regions(res, found, rows),
        samples=samples,
        limit=limit,
    )
