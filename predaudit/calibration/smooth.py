"""Smooth ECE (smECE) of Błasiok & Nakkiran (2024), as their ``relplot`` package computes it.

``smECE_σ(f, y)`` smooths the residuals ``r_i = f_i - y_i`` over the
predictions ``f_i`` with a Gaussian kernel of width ``σ`` reflected at 0 and
1, and averages the absolute smoothed residual under the smoothed density of
``f``. ``smECE(f, y) = smECE_σ*(f, y)`` at the bandwidth that solves
``smECE_σ = σ``, found by bisection on ``[0, 1]``.

The numbers are those of ``relplot.smECE`` / ``relplot.smECE_sigma``
(relplot 1.0.3, ``ReflectedGaussianKernel``, no logit scaling), step by step:

* the predictions are spread linearly onto a grid of ``M = max(2000,
  round(20/σ)) // 2 + 1`` points on ``[0, 1]`` (each sample's value split
  between its two neighbouring grid points);
* the grid is extended by its two mirror images and convolved with the
  Gaussian density ``exp(-(t - 1/2)^2 / 2σ^2) / (σ sqrt(2π))`` sampled at
  ``t = linspace(0, 1, M)`` (unnormalised: a constant factor), keeping the
  middle ``M`` values;
* both the residual sums and the density are interpolated linearly onto
  ``max(round(10/σ), 200)`` evaluation points ``t_j``, the density gets
  ``1e-4`` added, and ``smECE_σ = Σ_j |R(t_j)/D(t_j)| D(t_j) / Σ_j D(t_j)``;
* ``σ*``: if ``1 < smECE_1`` then ``σ* = 1``; else 10 halvings of ``[0, 1]``
  keep the upper end ``σ`` with ``σ >= smECE_σ`` (a point counts as below
  ``σ*`` when ``σ < eps = 1e-3`` or ``σ < smECE_σ``). So ``σ*`` is within
  ``2^-10`` above the fixed point.

``round`` is Python's (half to even), as in relplot. Optional ``weights``
``[N]`` (non-negative) replace the unit mass of each sample; they are scaled
to mean 1 first, so unit weights give relplot's numbers exactly (the ``1e-4``
density floor is in units of samples). smECE is a probability (unitless).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_MESH_POINTS = 200
_DENSITY_FLOOR = 1e-4
_EPS = 1e-3
_REFINE = 10


@dataclass(frozen=True)
class SmoothECE:
    """smECE at the automatic bandwidth ``sigma`` (``smece`` = smECE_sigma)."""

    smece: float
    sigma: float


@dataclass(frozen=True)
class SmoothCurve:
    """The smoothed reliability curve at bandwidth ``sigma``, arrays of shape ``[M]``.

    ``residual[j]`` is the kernel-smoothed ``f - y`` at ``t[j]`` (so the
    smoothed accuracy is ``t - residual`` for a well-spread ``f``) and
    ``density[j]`` the smoothed mass of the predictions there (samples times
    the kernel's unnormalised scale, plus ``1e-4``).
    """

    t: np.ndarray
    residual: np.ndarray
    density: np.ndarray
    sigma: float


def _inputs(
    f: np.ndarray, y: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f64 = np.asarray(f, dtype=np.float64)
    y64 = np.asarray(y, dtype=np.float64)
    if f64.ndim != 1 or y64.shape != f64.shape:
        raise ValueError(f"f and y must both have shape [N], got {f64.shape} and {y64.shape}")
    if f64.shape[0] == 0:
        raise ValueError("no samples")
    if not (np.isfinite(f64).all() and f64.min() >= 0 and f64.max() <= 1):
        raise ValueError("f must be finite and within [0, 1]")
    if not (np.isfinite(y64).all() and y64.min() >= 0 and y64.max() <= 1):
        raise ValueError("y must be finite and within [0, 1]")
    if weights is None:
        w = np.ones_like(f64)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != f64.shape or not (np.isfinite(w).all() and (w >= 0).all()):
            raise ValueError("weights must be finite, non-negative, of shape [N]")
        total = w.sum()
        if total <= 0:
            raise ValueError("weights sum to zero")
        w = w * (w.shape[0] / total)
    return f64, y64, w


def _to_grid(f: np.ndarray, values: np.ndarray, m: int) -> np.ndarray:
    """Spread ``values`` at positions ``f`` linearly onto ``m`` grid points of [0, 1]."""
    pos = f * (m - 1)
    bins = pos.astype(np.int64).clip(0, m - 2)
    frac = pos - bins
    out = np.bincount(bins, (1 - frac) * values, minlength=m)
    out += np.bincount(bins + 1, frac * values, minlength=m)
    return out


def _reflected_convolve(values: np.ndarray, sigma: float) -> np.ndarray:
    m = values.shape[0]
    t = np.linspace(0, 1, m)
    ker = np.exp(-(t - 0.5) * (t - 0.5) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
    ext = np.concatenate([np.flip(values)[:-1], values, np.flip(values)[1:]])
    return np.convolve(ext, ker, "valid")[m // 2 : m // 2 + m]


def _interpolate(t: np.ndarray, grid: np.ndarray) -> np.ndarray:
    m = grid.shape[0]
    step = 1 / (m - 1)
    inds = (t * (m - 1)).astype(np.int64).clip(0, m - 2)
    resid = (t - inds * step) / step
    return grid[inds] * (1 - resid) + grid[inds + 1] * resid


def _curve(f: np.ndarray, y: np.ndarray, w: np.ndarray, sigma: float) -> SmoothCurve:
    if not sigma > 0:
        raise ValueError("sigma must be positive")
    t = np.linspace(0, 1, max(round(10 / sigma), _MESH_POINTS))
    m = max(2000, round(20 / sigma)) // 2 + 1
    num = _interpolate(t, _reflected_convolve(_to_grid(f, w * (f - y), m), sigma))
    dens = _interpolate(t, _reflected_convolve(_to_grid(f, w, m), sigma)) + _DENSITY_FLOOR
    return SmoothCurve(t=t, residual=num / dens, density=dens, sigma=sigma)


def _smece_at(f: np.ndarray, y: np.ndarray, w: np.ndarray, sigma: float) -> float:
    c = _curve(f, y, w, sigma)
    return float(np.sum(np.abs(c.residual) * c.density) / np.sum(c.density))


def smooth_ece_at(
    f: np.ndarray, y: np.ndarray, *, sigma: float, weights: np.ndarray | None = None
) -> float:
    """smECE at a fixed bandwidth ``sigma`` (``relplot.smECE_sigma``); ``f``, ``y`` are ``[N]``.

    ``f`` are predicted probabilities of the event and ``y`` its outcome
    (0/1, or any value in ``[0, 1]``).
    """
    fv, yv, w = _inputs(f, y, weights)
    return _smece_at(fv, yv, w, float(sigma))


def smooth_ece(
    f: np.ndarray,
    y: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    eps: float = _EPS,
) -> SmoothECE:
    """smECE with the automatic bandwidth (``relplot.smECE(f, y, return_width=True)``)."""
    fv, yv, w = _inputs(f, y, weights)

    def below(sigma: float) -> bool:
        return sigma < eps or sigma < _smece_at(fv, yv, w, sigma)

    sigma = 1.0
    if not below(sigma):  # else sigma = 1 stands, as in relplot
        hi, lo = 1.0, 0.0
        for _ in range(_REFINE):
            mid = (hi + lo) / 2
            if below(mid):
                lo = mid
            else:
                hi = mid
        sigma = hi
    return SmoothECE(smece=_smece_at(fv, yv, w, sigma), sigma=sigma)


def smooth_reliability(
    f: np.ndarray, y: np.ndarray, *, sigma: float, weights: np.ndarray | None = None
) -> SmoothCurve:
    """The smoothed residual and density behind :func:`smooth_ece_at`, on its mesh."""
    fv, yv, w = _inputs(f, y, weights)
    return _curve(fv, yv, w, float(sigma))
