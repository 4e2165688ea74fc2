"""Binned calibration errors over per-sample vectors: ECE, MCE, RMSCE, the bin table.

Everything here works on per-sample columns of one epoch, shape ``[N]``:
``confidence`` (the probability the model gave to the event, in ``[0, 1]``),
``correct`` (whether the event happened, bool) and optional non-negative
``weights``. For top-label calibration the event is "the predicted class is
right" and the confidence is the top probability; for the positive class of a
binary model it is "label == 1" with ``p(1)`` (see :func:`binary_top_label`).

Bins. Equal-width (``binning="uniform"``): with ``B`` bins, bin ``b``
(1-based) holds ``(b-1)/B < conf <= b/B``; a confidence of exactly 0 goes in
the first bin and exactly 1.0 in the last. The edges ``k/B`` are compared in
the floating dtype of ``confidence`` (``k/B`` correctly rounded to float16,
float32 or float64; other dtypes are read as float64), and the comparison is
exact. So a value that *is* ``k/B`` in its dtype, e.g. ``np.float32(1/15)`` or
``1/15`` as a float64, is on the edge and goes to the lower bin in both dtypes;
and a float32 value gets the same bin as its exact float64 copy, except for
the float32 edge values ``np.float32(k/B)`` themselves, which the float64 copy
places by their exact side of ``k/B``. (Computing ``ceil(conf * B) - 1`` in
float64 would put ``np.float32(1/15)`` in the second bin: that float32 value is
slightly above 1/15, and ``x * 15`` is exact in float64 for a float32 ``x``.)

Equal-mass (``binning="quantile"``): edge ``k`` (``k = 1..B-1``) is the
smallest confidence whose cumulative weight in ascending order reaches
``k/B`` of the total (with unit weights: the sorted value at rank
``ceil(k N / B)``); repeated edges are merged and an edge at 1.0 dropped, so
ties never straddle two bins and there may be fewer than ``B`` bins. Outer
edges are 0 and 1 and membership follows the same ``(lo, hi]`` rule.

Errors, with ``W_b`` the weight in bin ``b``, ``W`` the total, ``acc_b`` and
``conf_b`` the weighted means of ``correct`` and ``confidence`` in the bin:
``ECE = sum_b (W_b/W) |acc_b - conf_b|``, ``MCE = max`` of the gap over bins
with ``W_b > 0``, ``RMSCE = sqrt(sum_b (W_b/W) (acc_b - conf_b)^2)``. All are
probabilities (unitless, in ``[0, 1]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Binning = Literal["uniform", "quantile"]

_NOISE_DRAWS = 200
_NOISE_ELEMENTS = 1 << 21  # uniforms drawn at once by the noise floor (16 MiB of float64)


@dataclass(frozen=True)
class CalibrationBins:
    """The per-bin table. Arrays have shape ``[n_bins]`` except ``edges`` (``[n_bins + 1]``).

    ``accuracy`` and ``confidence`` are the weighted means in each bin, NaN for
    a bin with no weight (``weight == 0``); ``counts`` are sample counts and
    ``weight`` the summed weights (equal to ``counts`` without weights).
    """

    edges: np.ndarray
    counts: np.ndarray
    weight: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray

    @property
    def n_bins(self) -> int:
        return int(self.counts.shape[0])

    @property
    def nonempty(self) -> np.ndarray:
        """``[n_bins]`` bool: bins with positive weight."""
        return self.weight > 0

    @property
    def gap(self) -> np.ndarray:
        """``[n_bins]`` ``accuracy - confidence`` (NaN for empty bins): > 0 means underconfident."""
        return self.accuracy - self.confidence


@dataclass(frozen=True)
class CalibrationErrors:
    """ECE, MCE and RMSCE of one set of bins, with the table they come from."""

    ece: float
    mce: float
    rmsce: float
    bins: CalibrationBins


@dataclass(frozen=True)
class NoiseFloor:
    """The calibration errors a perfectly calibrated model would show on these confidences.

    Means and standard deviations over ``n_draws`` label draws
    ``correct_i ~ Bernoulli(confidence_i)`` with the bins held fixed.
    """

    ece: float
    ece_std: float
    mce: float
    rmsce: float
    n_draws: int
    seed: int


def _as_confidence(confidence: np.ndarray) -> np.ndarray:
    x = np.asarray(confidence)
    if x.ndim != 1:
        raise ValueError(f"confidence must have shape [N], got {x.shape}")
    if x.dtype.kind != "f" or x.dtype.itemsize > 8:
        x = x.astype(np.float64)
    if x.shape[0] and not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
        raise ValueError("confidence must be finite and within [0, 1]")
    return x


def _as_weights(weights: np.ndarray | None, n: int) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape [{n}], got {w.shape}")
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise ValueError("weights must be finite and non-negative")
    return w


def _as_correct(correct: np.ndarray, n: int) -> np.ndarray:
    c = np.asarray(correct)
    if c.shape != (n,):
        raise ValueError(f"correct must have shape [{n}], got {c.shape}")
    if c.dtype != np.bool_:
        if not np.isin(c, (0, 1)).all():
            raise ValueError("correct must be boolean (or 0/1)")
        c = c.astype(bool)
    return c


def uniform_bin_index(confidence: np.ndarray, *, n_bins: int = 15) -> np.ndarray:
    """Equal-width bin of each confidence: ``[N]`` int64 in ``[0, n_bins)``.

    Bin ``b`` (0-based) holds ``b/B < conf <= (b+1)/B``, 0 in bin 0 and 1.0 in
    bin ``B-1``; the edges are ``k/B`` rounded to the dtype of ``confidence``
    (see the module docstring).
    """
    x = _as_confidence(confidence)
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    inner = (np.arange(1, n_bins, dtype=np.float64) / n_bins).astype(x.dtype)
    return np.searchsorted(inner, x, side="left").astype(np.int64)


def quantile_edges(
    confidence: np.ndarray, *, n_bins: int = 15, weights: np.ndarray | None = None
) -> np.ndarray:
    """Edges ``[n + 1]`` (``n <= n_bins``, float64, from 0 to 1) of equal-mass bins."""
    x = _as_confidence(confidence).astype(np.float64)
    w = _as_weights(weights, x.shape[0])
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    if x.shape[0] == 0:
        return np.array([0.0, 1.0])
    order = np.argsort(x, kind="stable")
    s = x[order]
    cw = np.cumsum(w[order]) if w is not None else np.arange(1, s.shape[0] + 1, dtype=np.float64)
    total = cw[-1]
    if total <= 0:
        raise ValueError("weights sum to zero")
    targets = total * np.arange(1, n_bins, dtype=np.float64) / n_bins
    idx = np.minimum(np.searchsorted(cw, targets, side="left"), s.shape[0] - 1)
    inner = np.unique(s[idx])
    inner = inner[inner < 1.0]
    return np.concatenate([[0.0], inner, [1.0]])


def bin_index(
    confidence: np.ndarray,
    *,
    n_bins: int = 15,
    binning: Binning = "uniform",
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Bin of each sample, ``[N]`` int64, and the edges ``[n + 1]`` float64 of the bins."""
    if binning == "uniform":
        idx = uniform_bin_index(confidence, n_bins=n_bins)
        return idx, np.arange(n_bins + 1, dtype=np.float64) / n_bins
    if binning == "quantile":
        edges = quantile_edges(confidence, n_bins=n_bins, weights=weights)
        x = _as_confidence(confidence).astype(np.float64)
        return np.searchsorted(edges[1:-1], x, side="left").astype(np.int64), edges
    raise ValueError(f"binning must be 'uniform' or 'quantile', got {binning!r}")


def calibration_bins(
    confidence: np.ndarray,
    correct: np.ndarray,
    *,
    n_bins: int = 15,
    binning: Binning = "uniform",
    weights: np.ndarray | None = None,
) -> CalibrationBins:
    """The per-bin table (edges, counts, weight, accuracy, mean confidence) of ``[N]`` vectors."""
    x = _as_confidence(confidence)
    n = x.shape[0]
    ok = _as_correct(correct, n)
    w = _as_weights(weights, n)
    idx, edges = bin_index(x, n_bins=n_bins, binning=binning, weights=w)
    nb = edges.shape[0] - 1
    x64 = x.astype(np.float64)
    counts = np.bincount(idx, minlength=nb).astype(np.int64)
    weight = counts.astype(np.float64) if w is None else np.bincount(idx, w, minlength=nb)
    ww = np.ones(n) if w is None else w
    sum_conf = np.bincount(idx, ww * x64, minlength=nb)
    sum_ok = np.bincount(idx, ww * ok, minlength=nb)
    nonempty = weight > 0
    acc = np.divide(sum_ok, weight, out=np.full(nb, np.nan), where=nonempty)
    conf = np.divide(sum_conf, weight, out=np.full(nb, np.nan), where=nonempty)
    # Rounding can push a mean a hair outside its bin's values; keep it in [0, 1].
    np.clip(conf, 0.0, 1.0, out=conf, where=nonempty)
    return CalibrationBins(edges=edges, counts=counts, weight=weight, accuracy=acc, confidence=conf)


def errors_from_bins(bins: CalibrationBins) -> CalibrationErrors:
    """ECE, MCE and RMSCE of a bin table (raises ValueError when all bins are empty)."""
    ne = bins.nonempty
    total = float(bins.weight.sum())
    if not ne.any() or total <= 0:
        raise ValueError("no samples with positive weight")
    gap = np.abs(bins.accuracy[ne] - bins.confidence[ne])
    share = bins.weight[ne] / total
    ece = float(np.sum(share * gap))
    mce = float(gap.max())
    rmsce = float(np.sqrt(np.sum(share * gap * gap)))
    return CalibrationErrors(ece=ece, mce=mce, rmsce=rmsce, bins=bins)


def calibration_errors(
    confidence: np.ndarray,
    correct: np.ndarray,
    *,
    n_bins: int = 15,
    binning: Binning = "uniform",
    weights: np.ndarray | None = None,
) -> CalibrationErrors:
    """ECE, MCE, RMSCE and the bin table of ``confidence`` ``[N]`` against ``correct`` ``[N]``."""
    bins = calibration_bins(confidence, correct, n_bins=n_bins, binning=binning, weights=weights)
    return errors_from_bins(bins)


def ece_noise_floor(
    confidence: np.ndarray,
    *,
    n_bins: int = 15,
    binning: Binning = "uniform",
    weights: np.ndarray | None = None,
    n_draws: int = _NOISE_DRAWS,
    seed: int = 0,
    max_elements: int = _NOISE_ELEMENTS,
) -> NoiseFloor:
    """Expected calibration errors of a perfectly calibrated model with these confidences.

    Each draw ``r`` relabels every sample ``correct_i = u_ir < confidence_i``
    with ``u`` uniform from ``numpy.random.default_rng(seed)``, filled sample by
    sample (row ``i`` of an ``[N, n_draws]`` array); the bins are those of the
    confidences, fixed across draws. Samples are taken ``max_elements //
    n_draws`` at a time, so memory stays bounded for any ``N``, and the result
    does not depend on ``max_elements``. Returns means (and the ECE's standard
    deviation) over the draws.
    """
    x = _as_confidence(confidence)
    n = x.shape[0]
    w = _as_weights(weights, n)
    if n_draws < 1:
        raise ValueError("n_draws must be at least 1")
    idx, edges = bin_index(x, n_bins=n_bins, binning=binning, weights=w)
    nb = edges.shape[0] - 1
    ww = np.ones(n) if w is None else w
    x64 = x.astype(np.float64)
    weight = np.bincount(idx, ww, minlength=nb)
    total = float(weight.sum())
    if total <= 0:
        raise ValueError("no samples with positive weight")
    sum_conf = np.bincount(idx, ww * x64, minlength=nb)
    rng = np.random.default_rng(seed)
    hits = np.zeros((n_draws, nb))  # weighted count of "correct" per draw and bin
    step = max(1, max_elements // n_draws)
    for a in range(0, n, step):
        b = min(n, a + step)
        u = rng.random((b - a, n_draws))
        ok = (u < x64[a:b, None]) * ww[a:b, None]  # [m, R]
        onehot = np.zeros((b - a, nb))
        onehot[np.arange(b - a), idx[a:b]] = 1.0
        hits += ok.T @ onehot
    ne = weight > 0
    gap = np.abs(hits[:, ne] - sum_conf[ne]) / weight[ne]  # [R, bins]
    share = weight[ne] / total
    ece = gap @ share
    mce = gap.max(axis=1)
    rmsce = np.sqrt((gap * gap) @ share)
    return NoiseFloor(
        ece=float(ece.mean()),
        ece_std=float(ece.std()),
        mce=float(mce.mean()),
        rmsce=float(rmsce.mean()),
        n_draws=n_draws,
        seed=seed,
    )


def binary_top_label(p_positive: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-label ``(confidence, correct)`` ``[N]`` of a binary model from ``p(label = 1)`` ``[N]``.

    The prediction is 1 when ``p > 0.5`` (a tie goes to class 0, as an argmax
    over ``[1 - p, p]`` does) and the confidence is ``max(p, 1 - p)``. For the
    positive-class calibration use ``calibration_errors(p_positive, labels == 1)``.
    """
    p = _as_confidence(p_positive)
    y = np.asarray(labels)
    if y.shape != p.shape:
        raise ValueError(f"labels must have shape {p.shape}, got {y.shape}")
    pred = p > 0.5
    conf = np.where(pred, p, 1 - p)
    return conf, pred == (y == 1)
