"""The result of :class:`~predaudit.dynamics.DynamicsAccumulator`: per-sample dynamics.

The definitions are in :mod:`predaudit.dynamics.accumulate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class DynamicsResult:
    """Per-sample training dynamics of the samples valid at every epoch.

    Every per-sample array has shape ``(n_included,)``, is read-only and is
    aligned with ``index``, the samples' positions in ``0 .. n_samples - 1``.

    Attributes
    ----------
    n_samples : int
        N, the number of samples given to the accumulator.
    n_epochs : int
        E, the number of epochs accumulated.
    first_epoch, last_epoch : int
        Labels of the first and last epoch accumulated.
    input_kind : str
        ``"logits"``, ``"probs"``, ``"log_probs"`` or ``"reduced"`` (pre-reduced records).
    index : int64 array
        Positions of the included samples (valid at every epoch), ascending.
    excluded : int64 array, shape (n_excluded,)
        Positions of the samples invalid at some epoch.
    labels : int64 array or None
        The labels given to ``update`` (None if none were given).
    confidence : float64 array
        Mean of ``p_true`` over the epochs, probability.
    variability : float64 array
        Population std (ddof 0) of ``p_true`` over the epochs, probability.
    correct_epochs : int64 array
        Number of epochs where the prediction was correct.
    correctness : float64 array
        ``correct_epochs / n_epochs``.
    forgetting_events : int64 array
        Number of correct -> wrong changes between consecutive epochs.
    never_learned : bool array
        True where the sample was correct at no epoch.
    first_learned : int64 array
        Label of the first correct epoch; ``last_epoch + 1`` where ``never_learned``.
    aum : float64 array or None
        Mean margin (logit units); None unless margins were given (logits only).
    el2n : float64 array or None
        ``sqrt(brier)`` at epoch ``el2n_epoch``; None if no brier was given there.
    el2n_epoch : int or None
        The epoch label of ``el2n`` (None when ``el2n`` is None).
    suspect_class : int64 array
        The class the wrong predictions went to most (two-slot Misra-Gries, see
        :mod:`predaudit.dynamics.accumulate`); -1 where the sample was never
        wrong (``suspect_epochs == 0``).
    suspect_epochs : int64 array
        Epochs predicting ``suspect_class`` since it entered its slot: exact
        where ``suspect_exact``, else a lower bound.
    suspect_exact : bool array
        True where the wrong predictions went to at most two classes, so that
        ``suspect_epochs`` is the exact count.
    suspect_mean_confidence : float64 array
        Mean ``confidence`` (probability of the predicted class) over those
        epochs; NaN where ``suspect_epochs == 0``.
    suspect_slope : float64 array
        Least-squares slope of that confidence against the epoch label,
        probability per epoch; NaN where ``suspect_epochs < 2``.
    label_votes : bool
        False when the accumulator kept no summary of the wrong predictions
        (``label_votes=False``): the ``suspect_*`` fields then say nothing.
    """

    n_samples: int
    n_epochs: int
    first_epoch: int
    last_epoch: int
    input_kind: str
    index: NDArray[np.int64]
    excluded: NDArray[np.int64]
    labels: NDArray[np.int64] | None
    confidence: NDArray[np.float64]
    variability: NDArray[np.float64]
    correct_epochs: NDArray[np.int64]
    correctness: NDArray[np.float64]
    forgetting_events: NDArray[np.int64]
    never_learned: NDArray[np.bool_]
    first_learned: NDArray[np.int64]
    aum: NDArray[np.float64] | None
    el2n: NDArray[np.float64] | None
    el2n_epoch: int | None
    suspect_class: NDArray[np.int64]
    suspect_epochs: NDArray[np.int64]
    suspect_exact: NDArray[np.bool_]
    suspect_mean_confidence: NDArray[np.float64]
    suspect_slope: NDArray[np.float64]
    label_votes: bool = True

    @property
    def n_included(self) -> int:
        """Number of samples valid at every epoch (the length of every per-sample array)."""
        return int(self.index.size)

    @property
    def n_excluded(self) -> int:
        """Number of samples invalid at some epoch, left out of the result."""
        return int(self.excluded.size)

    @property
    def wrong_epochs(self) -> NDArray[np.int64]:
        """Number of epochs where the prediction was wrong, ``n_epochs - correct_epochs``."""
        return self.n_epochs - self.correct_epochs
