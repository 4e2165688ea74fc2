"""The cheap parts of a temperature fit: chunks kept as the caller's scores, float32 passes.

Two things make :func:`predaudit.calibration.temperature.fit_temperature_staged` cheap
on large epochs, and neither changes its answer:

* :func:`prepare_raw`: a row-major chunk of float16/float32 logits is kept as the
  caller's own array (a view: memory-mapped rows stay mapped, nothing is copied)
  plus its row maxima, argmax and true-class gap; each float64 pass computes
  ``d0 = z - max z`` again from it, bit for bit as
  :func:`predaudit.calibration.scores.prepare_scores` would (no float64 copy of
  the epoch is kept, and none is made again at every pass);
* :func:`coarse_moments`: the derivatives of ``ℓ`` in ``log T``, first to third (or,
  for chunks of many classes, to fifth) summed over a chunk in float32 (the
  exponentials and the sums over classes; the per-row results in float64), about
  half the cost of the float64 pass. Its derivative is off by about 1e-9 of the
  float64 one (rounding of ``d`` and ``exp`` in float32, measured by
  ``tests/calibration/test_staged_fit.py``): good enough to steer the steps towards
  ``T*`` (from a subsample's start the fifth-order step usually lands within about
  1e-9 after one pass), never used for a reported number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from predaudit.calibration.scores import (
    CLASS_MAJOR_MAX,
    PreparedScores,
    check_labels,
    class_sums,
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


Higher = tuple[float, ...]
"""Sums of ``d³ℓ/dlogT³`` and on (:func:`coarse_moments`)."""


ORDER_ROWS = 5
"""Derivatives of ``ℓ`` in ``log T`` a float32 pass sums over a row-major chunk (many
classes: the per-row work is small beside the ``[m, C]`` passes); class-major chunks sum
three (Halley's steps: their per-row work would cost as much as the passes)."""


def coarse_moments(
    prep: PreparedScores,
    temperature: float,
    work: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    order: int = 3,
) -> tuple[float, float, float, tuple[float, ...]]:
    """``(T', sum dℓ/dlogT, sum d²ℓ/dlogT², (sum d³ℓ/dlogT³, ..))`` over ``prep``'s rows.

    The derivatives up to ``order`` (3 or 5), at ``T'``, in float32 (the sums over
    classes; the per-row moments and cumulants in float64). With ``s = z / T'``, ``p =
    softmax(s)``, ``κ_j`` the cumulants of ``s`` under ``p`` and ``g = s_y - κ₁``:
    ``d²ℓ/du² = κ₂ - g``, ``d³ℓ/du³ = g - 3κ₂ - κ₃``, ``d⁴ℓ/du⁴ = -g + 7κ₂ + 6κ₃ +
    κ₄``, ``d⁵ℓ/du⁵ = g - 15κ₂ - 25κ₃ - 10κ₄ - κ₅`` (from ``d/du s_y = -s_y`` and
    ``d/du κ_j = -(j κ_j + κ_{j+1})``: ``s`` scales as ``e^-u``).

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
        return t, 0.0, 0.0, (0.0,) * (order - 2)
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
    sums = [class_sums(e, ax)]
    for _ in range(order):  # |e d^k| <= (k / e)^k: no overflow
        e *= d
        sums.append(class_sums(e, ax))
    if prep.shift is not None and m != prep.valid.size:
        sums = [v[prep.valid] for v in sums]
    w = 1.0 / sums[0].astype(np.float64)
    m1, m2, m3 = sums[1] * w, sums[2] * w, sums[3] * w
    mu2 = m2 - m1 * m1
    mu3 = m3 - m1 * (3.0 * m2 - 2.0 * m1 * m1)
    grad = prep.sum_dy0 * inv - float(m1.sum())
    k2, k3 = float(mu2.sum()), float(mu3.sum())
    hess = k2 - grad
    out = [grad - 3.0 * k2 - k3]
    if order >= 5:
        m4, m5 = sums[4] * w, sums[5] * w
        m1s = m1 * m1
        mu4 = m4 - m1 * (4.0 * m3 - m1 * (6.0 * m2 - 3.0 * m1s))
        mu5 = m5 - m1 * (5.0 * m4 - m1 * (10.0 * m3 - m1 * (10.0 * m2 - 4.0 * m1s)))
        k4 = float((mu4 - 3.0 * mu2 * mu2).sum())
        k5 = float((mu5 - 10.0 * mu3 * mu2).sum())
        out += [-grad + 7.0 * k2 + 6.0 * k3 + k4, grad - 15.0 * k2 - 25.0 * k3 - 10.0 * k4 - k5]
    if not all(math.isfinite(v) for v in (grad, hess, *out)):
        return t, math.nan, math.nan, (math.nan,) * len(out)
    return t, grad, hess, tuple(out)


def coarse_sums(
    prep: PreparedScores, t: float, work: tuple[np.ndarray, np.ndarray], order: int = 3
) -> tuple[TemperatureSums, Higher]:
    """:func:`coarse_moments` as the sums of a pass (loss and entropy NaN) and the higher
    derivatives' sums."""
    te, g, h, higher = coarse_moments(prep, t, work=work, order=order)
    counts = (prep.n_correct, prep.n_wrong, prep.n_varied)
    return TemperatureSums(te, prep.n, math.nan, g, h, math.nan, *counts), higher


_POLY_REACH = 0.5  # the longest step in log T the Taylor polynomial may take
POLY_TOL = 1e-8
"""The polynomial step is the last when its last term (relative to ``d²``) times the step,
about its error, is below this (the default of :func:`coarse_newton`)."""


def _polynomial_step(derivs: Sequence[float]) -> tuple[float, float] | None:
    """The root ``Δ`` of the Taylor polynomial of ``dℓ/du`` from ``derivs`` (means ``g, h,
    h₃, ..``) near Halley's step, and its last term's size relative to ``h`` (about the
    error of a polynomial one order shorter); None if not found."""
    g, h, h3 = derivs[0], derivs[1], derivs[2]
    x = -g / h
    factor = 1.0 + 0.5 * x * h3 / h
    x = x / factor if 0.5 <= factor <= 2.0 else x
    k = len(derivs)
    for _ in range(30):
        val = sum(derivs[i] * x**i / math.factorial(i) for i in range(k))
        slope = sum(derivs[i] * x ** (i - 1) / math.factorial(i - 1) for i in range(1, k))
        if not slope > 0:
            return None
        dx = val / slope
        x -= dx
        if abs(dx) <= 1e-15 * (1.0 + abs(x)):
            break
    else:
        return None
    if not abs(x) <= _POLY_REACH:
        return None
    return x, abs(derivs[-1] * x ** (k - 1) / math.factorial(k - 1) / h)


def coarse_newton(
    coarse: Callable[[float], tuple[TemperatureSums, Higher]],
    start: float,
    *,
    bounds: tuple[float, float] = BOUNDS,
    step_tol: float = COARSE_STEP,
    max_iter: int = COARSE_MAX_ITER,
    poly_tol: float = POLY_TOL,
) -> tuple[float | None, int]:
    """Steps of Halley's method or higher on ``log T`` over coarse sums from ``start``:
    ``(T, passes)``.

    ``coarse(T)``: the sums at the temperature actually used and the sums of
    ``d³ℓ/dlogT³`` (and on). With the third alone, each pass gives Halley's step ``Δ =
    Δ_N / (1 + Δ_N h₃ / 2h)`` (``Δ_N = -g / h``, Newton's; Newton's itself when that
    factor is outside [1/2, 2]); with more, the root of the derivative's Taylor
    polynomial (:func:`_polynomial_step`, found from Halley's step; at most 0.5),
    else Halley's. The step is kept inside the bracket that the derivative's sign
    narrows, ``bounds`` at first (else bisection; also where ``d² <= 0``). ``T`` is
    the point one step beyond the last pass, once that step is at most ``step_tol``
    (Halley's error is then about ``step_tol³``) or the polynomial's last term (relative
    to ``d²``) times the step is below ``poly_tol`` (about its error: the float32 sums'
    own, some 1e-6 of the step, is apart; the float64 pass that follows measures it:
    the caller sets ``poly_tol`` to what its last step can take). ``T`` is
    None when a step still leaves ``bounds`` from a bracket narrower than 0.1 in
    ``log T``, on a flat or one-sided objective or no samples, or after ``max_iter``
    passes: the caller's float64 fit takes over, which handles those.
    """
    u_lo, u_hi = math.log(bounds[0]), math.log(bounds[1])
    u = min(max(math.log(start), u_lo), u_hi)
    lo, hi = u_lo, u_hi
    for k in range(1, max_iter + 1):
        s, higher = coarse(math.exp(u))
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
        poly = None
        if h > 0 and len(higher) > 1:
            poly = _polynomial_step([g, h, *(v / s.n for v in higher)])
        if poly is not None:
            step = poly[0]
        elif h > 0:
            newton = -g / h
            factor = 1.0 + 0.5 * newton * higher[0] / (s.n * h)
            step = newton / factor if 0.5 <= factor <= 2.0 else newton
        nxt = ue + step
        last = abs(step) <= step_tol or poly is not None and poly[1] * abs(step) <= poly_tol
        if u_lo < nxt < u_hi and last:
            return math.exp(nxt), k
        if not lo < nxt < hi:
            if hi - lo < _NEAR_BOUND and not u_lo < nxt < u_hi:
                return None, k  # the minimum may be at the bound: the float64 fit looks there
            nxt = 0.5 * (lo + hi)
        u = nxt
    return None, max_iter


def fit_temperature_staged(
    evaluate: Callable[[float], TemperatureSums],
    coarse: Callable[[float], tuple[TemperatureSums, Higher]],
    *,
    start: float = 1.0,
    finish: Callable[[TemperatureSums, float], TemperatureSums | None] | None = None,
    nll_at_one: float | None = None,
    bounds: tuple[float, float] = BOUNDS,
    tol: float = TOL,
    max_iter: int = MAX_ITER,
    poly_tol: float = POLY_TOL,
) -> TemperatureFit:
    """The fit of :func:`fit_temperature_with`, most of its Newton steps on coarse sums.

    ``coarse(T)``: the float32 sums (:func:`coarse_moments`; ``loss`` and ``entropy``
    may be NaN), whose ``temperature`` is the one actually used, and the sums of
    ``d³ℓ/dlogT³`` (and on) there. :func:`coarse_newton` from ``start`` (with
    ``poly_tol``) to a temperature ``T_a``; then one float64 pass, ``evaluate(T_a)``.
    With ``finish``, the Newton step ``Δ`` from it, ``finish(sums, Δ)``: the sums at
    ``T_a e^Δ`` (None when that step is too long to take without a pass), converged
    when ``|d mean NLL / d log T| < tol`` there; else converged at ``T_a`` when that
    holds at ``T_a``. Else, and whenever the coarse stage fails,
    :func:`fit_temperature_with` goes on from the float64 pass, exactly as from ``T =
    1``. ``passes`` counts the float64 passes and the coarse ones; ``nll_at_one`` is
    reported as given.
    """
    t_a, coarse_passes = coarse_newton(coarse, start, bounds=bounds, poly_tol=poly_tol)
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
