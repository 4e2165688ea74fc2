"""Likely label problems: samples the model keeps assigning to one other class.

A mislabeled sample is typically predicted as its *real* class: wrong (against
the given label) at almost every epoch, the wrong prediction going to one class,
with a high (often growing) probability. From a
:class:`~predaudit.dynamics.DynamicsResult`:

``wrong_fraction``
    ``1 - correctness``, the fraction of epochs with a wrong prediction.
``consistency``
    ``suspect_epochs / n_epochs``, the fraction of all epochs predicting the
    suspect class (the class most of the wrong predictions went to).
``score``
    ``consistency * suspect_mean_confidence``: high when the sample is
    predicted as one other class at nearly every epoch with a high probability.

Candidates pass ``wrong_fraction >= min_wrong_fraction`` and ``consistency >=
min_consistency`` (and, if given, ``suspect_slope >= min_slope``), and are ranked
by ``score`` (descending; ties: lower position first). The slope is reported but
not required by default: the predicted class's probability saturates within a
few epochs and memorisation of the given label later pulls it down, so "growing
confidence" as a filter drops many real label flips: on the digits MLP run of
``tests/dynamics`` (30 epochs, 89 flipped labels) a third of the flipped samples
have a negative slope, and ``min_slope=0`` keeps 58 of them instead of 84.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from predaudit.dynamics.result import DynamicsResult

DEFAULT_MIN_WRONG_FRACTION = 0.8
DEFAULT_MIN_CONSISTENCY = 0.5


@dataclass(frozen=True)
class LabelProblems:
    """Ranked candidates for a label problem, best first; arrays of shape (n_found,).

    Attributes
    ----------
    index : int64 array
        Sample positions (as ``DynamicsResult.index``).
    given_label : int64 array or None
        The label given for the sample (None if the result has no labels).
    suspect_class : int64 array
        The class the model keeps predicting instead.
    wrong_fraction, consistency, mean_confidence, slope, score : float64 arrays
        As in the module docstring; ``mean_confidence`` is the probability of
        the suspect class averaged over its epochs, ``slope`` its least-squares
        slope per unit of epoch label (NaN with fewer than two epochs).
    n_candidates : int
        Number of samples that passed the criteria (before ``k``).
    min_wrong_fraction, min_consistency : float
        The criteria used.
    min_slope : float or None
        The slope criterion used (None: not required).
    """

    index: NDArray[np.int64]
    given_label: NDArray[np.int64] | None
    suspect_class: NDArray[np.int64]
    wrong_fraction: NDArray[np.float64]
    consistency: NDArray[np.float64]
    mean_confidence: NDArray[np.float64]
    slope: NDArray[np.float64]
    score: NDArray[np.float64]
    n_candidates: int
    min_wrong_fraction: float
    min_consistency: float
    min_slope: float | None


def label_problem_score(result: DynamicsResult) -> NDArray[np.float64]:
    """``consistency * suspect_mean_confidence`` per included sample (0 if never wrong)."""
    consistency = result.suspect_epochs / result.n_epochs
    mean_conf = np.nan_to_num(result.suspect_mean_confidence, nan=0.0)
    return np.asarray(consistency * mean_conf, dtype=np.float64)


def likely_label_problems(
    result: DynamicsResult,
    *,
    min_wrong_fraction: float = DEFAULT_MIN_WRONG_FRACTION,
    min_consistency: float = DEFAULT_MIN_CONSISTENCY,
    min_slope: float | None = None,
    k: int | None = None,
) -> LabelProblems:
    """Samples likely mislabeled, ranked by :func:`label_problem_score` (best first).

    Parameters
    ----------
    result : DynamicsResult
    min_wrong_fraction : float
        Least fraction of epochs with a wrong prediction, in [0, 1].
    min_consistency : float
        Least fraction of epochs predicting the suspect class, in [0, 1].
    min_slope : float or None
        Least slope of the suspect class's probability (per epoch label); None
        does not look at the slope.
    k : int or None
        Keep the best ``k`` (None: all candidates).
    """
    for name, value in (
        ("min_wrong_fraction", min_wrong_fraction),
        ("min_consistency", min_consistency),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    if k is not None and k < 0:
        raise ValueError(f"k must be >= 0 or None, got {k!r}")
    if not result.label_votes:
        raise ValueError(
            "the result has no summary of the wrong predictions: accumulate with label_votes=True"
        )
    wrong_fraction = 1.0 - result.correctness
    consistency = result.suspect_epochs / result.n_epochs
    ok = (
        (wrong_fraction >= min_wrong_fraction)
        & (consistency >= min_consistency)
        & (result.suspect_epochs > 0)
    )
    if min_slope is not None:
        with np.errstate(invalid="ignore"):
            ok &= result.suspect_slope >= min_slope  # NaN slopes fail
    score = label_problem_score(result)
    pos = np.flatnonzero(ok)
    order = pos[np.lexsort((pos, -score[pos]))]
    if k is not None:
        order = order[:k]
    return LabelProblems(
        index=result.index[order],
        given_label=None if result.labels is None else result.labels[order],
        suspect_class=result.suspect_class[order],
        wrong_fraction=wrong_fraction[order],
        consistency=consistency[order],
        mean_confidence=result.suspect_mean_confidence[order],
        slope=result.suspect_slope[order],
        score=score[order],
        n_candidates=int(pos.size),
        min_wrong_fraction=float(min_wrong_fraction),
        min_consistency=float(min_consistency),
        min_slope=None if min_slope is None else float(min_slope),
    )
