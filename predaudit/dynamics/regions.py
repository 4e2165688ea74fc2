"""Data-map regions (Swayamdipta et al. 2020, Dataset Cartography).

The reference code (github allenai/cartography) sets no numeric region
boundaries: its data-map plot (``plot_data_map`` in
``cartography/selection/train_dy_filtering.py``) writes the words
"easy-to-learn", "ambiguous" and "hard-to-learn" at fixed axes positions
(top left, right, bottom left of the variability x confidence map), and its
data selection (``write_filtered_data``) takes a *fraction* of the training set
ranked by one metric: highest variability for ambiguous, lowest confidence for
hard-to-learn, highest confidence (``--worst``) for easy-to-learn, the paper's
headline subsets being 33 %. So the default thresholds here are those ranks:
:func:`quantile_thresholds` with ``fraction=0.33``. Fixed values can be given
with :meth:`RegionThresholds.fixed`; none are suggested, as the paper has none.

One label per sample, in this order (the map puts ambiguous on the whole
high-variability side): ambiguous if ``variability >= ambiguous_variability``,
else easy-to-learn if ``confidence >= easy_confidence``, else hard-to-learn if
``confidence <= hard_confidence``, else "other". The overlapping memberships
(the reference's three selections) are kept as ``in_*`` masks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

EASY, AMBIGUOUS, HARD, OTHER = 0, 1, 2, 3
REGION_NAMES = ("easy-to-learn", "ambiguous", "hard-to-learn", "other")
DEFAULT_FRACTION = 0.33


@dataclass(frozen=True)
class RegionThresholds:
    """The boundaries of the data-map regions (confidence and variability are probabilities).

    Attributes
    ----------
    easy_confidence : float
        Easy-to-learn: ``confidence >= easy_confidence``.
    hard_confidence : float
        Hard-to-learn: ``confidence <= hard_confidence``.
    ambiguous_variability : float
        Ambiguous: ``variability >= ambiguous_variability``.
    method : {"quantile", "fixed"}
        How they were chosen.
    fraction : float or None
        For ``"quantile"``: the fraction of samples each threshold selects
        (the k-th value of the ranking, k = int(fraction * n)).
    n : int or None
        For ``"quantile"``: the number of samples the ranks were taken over.

    An infinite threshold selects nothing (a quantile over too few samples).
    """

    easy_confidence: float
    hard_confidence: float
    ambiguous_variability: float
    method: str
    fraction: float | None = None
    n: int | None = None

    def __post_init__(self) -> None:
        for name in ("easy_confidence", "hard_confidence", "ambiguous_variability"):
            if math.isnan(getattr(self, name)):
                raise ValueError(f"{name} is NaN")
        if self.method not in ("quantile", "fixed"):
            raise ValueError(f"method must be 'quantile' or 'fixed', got {self.method!r}")
        if self.hard_confidence > self.easy_confidence:
            raise ValueError(
                f"hard_confidence ({self.hard_confidence}) must not exceed "
                f"easy_confidence ({self.easy_confidence})"
            )

    @classmethod
    def fixed(
        cls, *, easy_confidence: float, hard_confidence: float, ambiguous_variability: float
    ) -> RegionThresholds:
        """Thresholds given as values."""
        return cls(
            easy_confidence=float(easy_confidence),
            hard_confidence=float(hard_confidence),
            ambiguous_variability=float(ambiguous_variability),
            method="fixed",
        )


@dataclass(frozen=True)
class RegionResult:
    """One region per sample, and the overlapping memberships; arrays of shape (n,).

    ``codes`` index :data:`REGION_NAMES` (int8: 0 easy-to-learn, 1 ambiguous,
    2 hard-to-learn, 3 other); ``in_easy``, ``in_ambiguous`` and ``in_hard``
    are the three threshold tests on their own (they may overlap).
    """

    codes: NDArray[np.int8]
    in_easy: NDArray[np.bool_]
    in_ambiguous: NDArray[np.bool_]
    in_hard: NDArray[np.bool_]
    thresholds: RegionThresholds

    @property
    def names(self) -> tuple[str, ...]:
        """The region names, in code order."""
        return REGION_NAMES

    def labels(self) -> NDArray[np.str_]:
        """The region name of every sample, shape (n,)."""
        return np.asarray(REGION_NAMES)[self.codes]

    def counts(self) -> dict[str, int]:
        """Number of samples per region, every region listed (in code order)."""
        found = np.bincount(self.codes, minlength=len(REGION_NAMES))
        return {name: int(c) for name, c in zip(REGION_NAMES, found, strict=True)}


def quantile_thresholds(
    confidence: ArrayLike, variability: ArrayLike, *, fraction: float = DEFAULT_FRACTION
) -> RegionThresholds:
    """Thresholds that select ``k = int(fraction * n)`` samples each, as Cartography's selection.

    ``easy_confidence`` is the k-th largest confidence, ``hard_confidence`` the
    k-th smallest, ``ambiguous_variability`` the k-th largest variability; with
    ties a threshold selects every tied sample (more than k). k = 0 gives
    infinite thresholds (nothing selected). ``fraction`` is in (0, 0.5] so the
    easy and hard selections cannot overlap except on ties.
    """
    conf, var = _pair(confidence, variability)
    if not 0.0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction!r}")
    n = conf.size
    k = int(fraction * n)
    if k == 0:
        return RegionThresholds(math.inf, -math.inf, math.inf, "quantile", fraction, n)
    # order statistics by selection (np.partition, linear time), not a full sort
    c_part = np.partition(conf, (k - 1, n - k))
    v_part = np.partition(var, n - k)
    return RegionThresholds(
        easy_confidence=float(c_part[n - k]),
        hard_confidence=float(c_part[k - 1]),
        ambiguous_variability=float(v_part[n - k]),
        method="quantile",
        fraction=float(fraction),
        n=n,
    )


def regions(
    confidence: ArrayLike,
    variability: ArrayLike,
    *,
    thresholds: RegionThresholds | None = None,
) -> RegionResult:
    """Data-map region of every sample, from Cartography confidence and variability.

    Parameters
    ----------
    confidence, variability : float arrays, shape (n,)
        Mean and population std of the true-class probability over epochs
        (:class:`~predaudit.dynamics.DynamicsResult` fields).
    thresholds : RegionThresholds or None
        None: :func:`quantile_thresholds` with ``fraction=0.33``.

    Returns the labels (module docstring for the precedence) and the thresholds used.
    """
    conf, var = _pair(confidence, variability)
    th = quantile_thresholds(conf, var) if thresholds is None else thresholds
    in_amb = var >= th.ambiguous_variability
    in_easy = conf >= th.easy_confidence
    in_hard = conf <= th.hard_confidence
    codes = np.full(conf.shape, OTHER, dtype=np.int8)
    codes[in_hard] = HARD
    codes[in_easy] = EASY
    codes[in_amb] = AMBIGUOUS
    return RegionResult(
        codes=codes, in_easy=in_easy, in_ambiguous=in_amb, in_hard=in_hard, thresholds=th
    )


def _pair(
    confidence: ArrayLike, variability: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    conf = np.asarray(confidence, dtype=np.float64)
    var = np.asarray(variability, dtype=np.float64)
    if conf.ndim != 1 or conf.shape != var.shape:
        raise ValueError(
            f"confidence and variability must be 1-D of one shape, got {conf.shape} and {var.shape}"
        )
    if not (np.isfinite(conf).all() and np.isfinite(var).all()):
        raise ValueError("confidence and variability must be finite")
    return conf, var
