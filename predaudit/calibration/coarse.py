"""The cheap parts of a temperature fit: chunks kept as the caller's scores, float32 passes.

Two things make :func:`predaudit.calibration.temperature.fit_temperature_staged` cheap
on large epochs, and neither changes its answer:

* :func:`prepare_raw`: a row-major chunk of float16/float32 logits is kept as the
  caller's own array (a view: memory-mapped rows stay mapped, nothing is copied)
  plus its row maxima, argmax and true-class gap; each float64 pass computes
  ``d0 = z - max z`` again from it, bit for bit as
  :func:`predaudit.calibration.scores.prepare_scores` would (no float64 copy of
  the epoch is kept, and none is made again at every pass);
* :func:`coarse_moments`: ``dℓ/dlogT`` and ``d²ℓ/dlogT²`` summed over a chunk in
  float32 (the exponentials and the sums over classes; the per-row results in
  float64), about half the cost of the float64 pass. Its derivative is off by
  about 1e-9 of the float64 one (rounding of ``d`` and ``exp`` in float32, measured
  by ``tests/calibration/test_staged_fit.py``): good enough to steer Newton's steps
  towards ``T*``, never used for a reported number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from predaudit.calibration.scores import (
    CLASS_MAJOR_MAX,
    PreparedScores,
    check_labels,
)
from predaudit.calibration.temperature import (
    BOUNDS,
    MAX_ITER,
    TOL,
    TemperatureFit,
    TemperatureSums,
    _fit,
    fit_temperature_with,
)

_F32_MAX = float(np.finfo(np.float32).max)
COARSE_STEP = 1e-3
"""The float32 stage ends when its next step in ``log T`` is at most this."""
COARSE_MAX_ITER = 12
_NEAR_BOUND = 0.1  # bracket width in log T within which a step past a bound gives up


def prepare_raw(
    scores: np.ndarray, labels: np.ndarray, *, ignore_index: int
) -> PreparedScores | None:
    """A row-major :class:`PreparedScores` over ``scores`` ``[n, C]`` itself, or None.

    For logits only, float16 or float32, C-contiguous, more than
    ``CLASS_MAJOR_MAX`` classes and every value finite (else None: the caller
    uses :func:`predaudit.calibration.scores.prepare_scores`, which raises or
    floors as it should). Raises ValueError on bad labels. The argmax is the
    first maximum, as in ``prepare_scores``.
    """
    x = scores
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype not in (np.float16, np.float32):
        return None
    n, c = x.shape
    if c <= CLASS_MAJOR_MAX or n == 0 or not x.flags.c_contiguous:
        return None
    r = np.arange(n)
    am = np.argmax(x, axis=1)  # NaN and +inf: the maximum shows them
    top_value = x[r, am].astype(np.float64)
    low = x.min(axis=1)  # -inf shows here
    if not (np.isfinite(top_value).all() and np.isfinite(low).all()):
        return None
    valid = check_labels(labels, n, c, ignore_index)
    y = np.asarray(labels)[valid].astype(np.intp)
    if y.size == 0:
        return None
    rv = r[valid]
    dy0 = x[rv, y].astype(np.float64) - top_value[valid]
    lowest = low[valid].astype(np.float64) - top_value[valid]
    return PreparedScores(
        d0=x,
        class_axis=1,
        top=r * c + am,
        dy0=dy0,
        valid=valid,
        sum_dy0=float(dy0.sum()),
        floor=float(lowest.min()),
        n_correct=int(np.count_nonzero(am[valid] == y)),
        n_wrong=int(np.count_nonzero(dy0 < 0)),
        n_varied=int(np.count_nonzero(lowest < 0)),
        shift=top_value,
    )


def coarse_workspace(elements: int) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 buffers for :func:`coarse_moments` over chunks of up to ``elements``."""
    return np.empty(elements, np.float32), np.empty(elements, np.float32)


def coarse_moments(
    prep: PreparedScores,
    temperature: float,
    work: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[float, float, float, float]:
    """``(T', sum dℓ/dlogT, sum d²ℓ/dlogT², sum d³ℓ/dlogT³)`` over ``prep``'s rows at ``T'``.

    In float32 (the per-row results in float64). With ``s = z / T'`` and ``p =
    softmax(s)``: ``d³ℓ/du³ = -κ₃ - 3 d²ℓ/du² - 2 dℓ/du``, ``κ₃`` the third central
    moment of ``s`` under ``p``.

    ``T' = 1 / float32(1 / temperature)``, the temperature actually used (equal
    to ``temperature`` to float32 rounding): ``d = d0 * float32(1 / T)`` rounded
    to float32, or for a chunk kept by :func:`prepare_raw` ``float32(z - max z)
    * float32(1 / T)``. The exponentials include the argmax's ``exp(0) = 1``.
    """
    b = np.float32(1.0 / temperature)
    inv = float(b)
    t = 1.0 / inv
    m = prep.n
    if m == 0:
        return t, 0.0, 0.0, 0.0
    size = prep.d0.size
    if work is None or work[0].size < size or work[1].size < size:
        work = coarse_workspace(size)
    d = work[0][:size].reshape(prep.d0.shape)
    with np.errstate(over="ignore"):  # to -inf: clamped below
        if prep.shift is None:
            np.multiply(prep.d0, inv, out=d, casting="same_kind")
        else:
            np.subtract(prep.d0, prep.shift.astype(np.float32)[:, None], out=d)
            d *= b
    if prep.floor * inv < -1e38:  # float32 would overflow to -inf, and 0 * -inf is NaN
        np.maximum(d, -_F32_MAX, out=d)
    ax = prep.class_axis
    e = np.exp(d, out=work[1][:size].reshape(prep.d0.shape))
    z = np.add.reduce(e, axis=ax)
    e *= d
    s1 = np.add.reduce(e, axis=ax)
    e *= d
    s2 = np.add.reduce(e, axis=ax)
    e *= d
    s3 = np.add.reduce(e, axis=ax)
    if prep.shift is not None and m != prep.valid.size:
        z, s1, s2, s3 = z[prep.valid], s1[prep.valid], s2[prep.valid], s3[prep.valid]
    w = 1.0 / z.astype(np.float64)
    m1, m2, m3 = s1 * w, s2 * w, s3 * w
    var = m2 - m1 * m1
    grad = prep.sum_dy0 * inv - float(m1.sum())
    hess = float(var.sum()) - grad
    kappa3 = float((m3 - m1 * (3.0 * m2 - 2.0 * m1 * m1)).sum())
    third = -kappa3 - 3.0 * hess - 2.0 * grad
    if not (math.isfinite(grad) and math.isfinite(hess) and math.isfinite(third)):
        return t, math.nan, math.nan, math.nan
    return t, grad, hess, third


def coarse_newton(
    coarse: Callable[[float], tuple[TemperatureSums, float]],
    start: float,
    *,
    bounds: tuple[float, float] = BOUNDS,
    step_tol: float = COARSE_STEP,
    max_iter: int = COARSE_MAX_ITER,
) -> tuple[float | None, int]:
    """Halley's method on ``log T`` over coarse sums from ``start``: ``(T, passes)``.

    ``coarse(T)``: the sums at the temperature actually used and the sum of
    ``d³ℓ/dlogT³``. Each pass gives a step ``Δ = Δ_N / (1 + Δ_N h₃ / 2h)`` (``Δ_N
    = -g / h``, Newton's; Newton's itself when that factor is outside [1/2, 2]),
    kept inside the bracket that the derivative's sign narrows, ``bounds`` at
    first (else bisection). ``T`` is the point one step beyond the last pass,
    once that step is at most ``step_tol`` (its error is then about
    ``step_tol³``; bisection where ``d² <= 0``). ``T`` is None when a step still
    leaves ``bounds`` from a bracket narrower than 0.1 in ``log T``, on a flat or
    one-sided objective or no samples, or after ``max_iter`` passes: the caller's
    float64 fit takes over, which handles those.
    """
    u_lo, u_hi = math.log(bounds[0]), math.log(bounds[1])
    u = min(max(math.log(start), u_lo), u_hi)
    lo, hi = u_lo, u_hi
    for k in range(1, max_iter + 1):
        s, third = coarse(math.exp(u))
        if s.n == 0 or s.n_varied == 0 or s.n_wrong == 0:
            return None, k
        g, h = s.grad / s.n, s.hess / s.n
        ue = math.log(s.temperature)
        if not (math.isfinite(g) and math.isfinite(h)):
            return None, k
        if g > 0:
            hi = min(hi, ue)
        else:
            lo = max(lo, ue)
        step = math.nan  # d² <= 0: not convex here, bisection
        if h > 0:
            newton = -g / h
            factor = 1.0 + 0.5 * newton * third / (s.n * h)
            step = newton / factor if 0.5 <= factor <= 2.0 else newton
        nxt = ue + step
        if u_lo < nxt < u_hi and abs(step) <= step_tol:
            return math.exp(nxt), k
        if not lo < nxt < hi:
            if hi - lo < _NEAR_BOUND and not u_lo < nxt < u_hi:
                return None, k  # the minimum may be at the bound: the float64 fit looks there
            nxt = 0.5 * (lo + hi)
        u = nxt
    return None, max_iter


def fit_temperature_staged(
    evaluate: Callable[[float], TemperatureSums],
    coarse: Callable[[float], tuple[TemperatureSums, float]],
    *,
    start: float = 1.0,
    finish: Callable[[TemperatureSums, float], TemperatureSums | None] | None = None,
    nll_at_one: float | None = None,
    bounds: tuple[float, float] = BOUNDS,
    tol: float = TOL,
    max_iter: int = MAX_ITER,
) -> TemperatureFit:
    """The fit of :func:`fit_temperature_with`, most of its Newton steps on coarse sums.

    ``coarse(T)``: the float32 sums (:func:`coarse_moments`; ``loss`` and
    ``entropy`` may be NaN), whose ``temperature`` is the one actually used, and
    the sum of ``d³ℓ/dlogT³`` there.
    :func:`coarse_newton` from ``start`` to a temperature ``T_a``; then one float64
    pass, ``evaluate(T_a)``. With ``finish``, the Newton step ``Δ`` from it,
    ``finish(sums, Δ)``: the sums at ``T_a e^Δ`` (None when that step is too long
    to take without a pass), converged when ``|d mean NLL / d log T| < tol``
    there; else converged at ``T_a`` when that holds at ``T_a``. Else, and
    whenever the coarse stage fails, :func:`fit_temperature_with` goes
    on from the float64 pass, exactly as from ``T = 1``. ``passes`` counts the
    float64 passes and the coarse ones; ``nll_at_one`` is reported as given.
    """
    t_a, coarse_passes = coarse_newton(coarse, start, bounds=bounds)
    if t_a is not None:
        first = evaluate(t_a)
        n = first.n
        g, h = first.grad / n, first.hess / n
        u_b = math.log(t_a) - g / h if h > 0 else math.nan
        if finish is not None and math.log(bounds[0]) < u_b < math.log(bounds[1]):
            done = finish(first, u_b - math.log(t_a))  # closer to the root, even if |g| < tol
            if done is not None and abs(done.grad / n) < tol:
                return _fit(done, "converged", nll_at_one, coarse_passes + 1, coarse_passes + 1)
        if abs(g) < tol:
            return _fit(first, "converged", nll_at_one, coarse_passes, coarse_passes + 1)
    else:
        first, t_a = None, 1.0  # as the plain fit: from T = 1
    fit = fit_temperature_with(
        evaluate,
        bounds=bounds,
        tol=tol,
        max_iter=max_iter,
        start=t_a,
        first=first,
        nll_at_one=nll_at_one,
    )
    extra = coarse_passes + (first is not None)
    return replace(fit, iterations=fit.iterations + coarse_passes, passes=fit.passes + extra)
